/* exports.c: the export list a plugin fills in for NBD_OPT_LIST.
 *
 * Names and descriptions are copied, so plugins may pass temporary
 * strings.  The limits (4096 bytes per string, 10000 exports) and the
 * error messages are those of nbdkit 1.32.5; they keep a single
 * NBD_OPT_LIST reply to a sane size.
 *
 * nbdkit_use_default_export only records a wish: the plugin cannot
 * know the default export's name here (.default_export may depend on
 * readonly/TLS), so backend_list_exports asks exports_wants_default
 * afterwards and adds the name itself.
 */

#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <assert.h>

#include "internal.h"

#define MAX_EXPORTS 10000
#define MAX_EXPORT_STRING 4096

struct nbdkit_exports {
  struct nbdkit_export *ptr;
  size_t len, cap;
  bool use_default;
};

NBDKIT_DLL_PUBLIC struct nbdkit_exports *
nbdkit_exports_new (void)
{
  struct nbdkit_exports *exports = calloc (1, sizeof *exports);

  if (exports == NULL)
    nbdkit_error ("nbdkit_exports_new: calloc: %m");
  return exports;
}

NBDKIT_DLL_PUBLIC void
nbdkit_exports_free (struct nbdkit_exports *exports)
{
  size_t i;

  if (exports == NULL)
    return;
  for (i = 0; i < exports->len; ++i) {
    free (exports->ptr[i].name);
    free (exports->ptr[i].description);
  }
  free (exports->ptr);
  free (exports);
}

NBDKIT_DLL_PUBLIC size_t
nbdkit_exports_count (const struct nbdkit_exports *exports)
{
  return exports->len;
}

/* The header declares the return type const (it is part of the filter
 * API); a const on a returned value means nothing, so we leave it off.
 */
NBDKIT_DLL_PUBLIC struct nbdkit_export
nbdkit_get_export (const struct nbdkit_exports *exports, size_t i)
{
  assert (i < exports->len);
  return exports->ptr[i];
}

bool
exports_wants_default (const struct nbdkit_exports *exports)
{
  return exports->use_default;
}

NBDKIT_DLL_PUBLIC int
nbdkit_use_default_export (struct nbdkit_exports *exports)
{
  exports->use_default = true;
  return 0;
}

static bool
too_long (const char *s)
{
  return strnlen (s, MAX_EXPORT_STRING + 1) > MAX_EXPORT_STRING;
}

NBDKIT_DLL_PUBLIC int
nbdkit_add_export (struct nbdkit_exports *exports,
                   const char *name, const char *description)
{
  struct nbdkit_export e = { NULL, NULL };

  if (name == NULL) {
    nbdkit_error ("nbdkit_add_export: export name must not be NULL");
    errno = EINVAL;
    return -1;
  }
  if (exports->len >= MAX_EXPORTS) {
    nbdkit_error ("nbdkit_add_export: too many exports");
    errno = EINVAL;
    return -1;
  }
  if (too_long (name) || (description && too_long (description))) {
    nbdkit_error ("nbdkit_add_export: string too long");
    errno = EINVAL;
    return -1;
  }

  if (exports->len == exports->cap) {
    size_t ncap = exports->cap ? exports->cap * 2 : 16;
    struct nbdkit_export *nptr;

    nptr = realloc (exports->ptr, ncap * sizeof *nptr);
    if (nptr == NULL) {
      nbdkit_error ("nbdkit_add_export: realloc: %m");
      return -1;
    }
    exports->ptr = nptr;
    exports->cap = ncap;
  }

  e.name = strdup (name);
  if (e.name == NULL)
    goto nomem;
  if (description) {
    e.description = strdup (description);
    if (e.description == NULL)
      goto nomem;
  }
  exports->ptr[exports->len++] = e;
  return 0;

 nomem:
  nbdkit_error ("nbdkit_add_export: strdup: %m");
  free (e.name);
  return -1;
}
