/* test-exports.c: server/exports.c.
 *
 * Limits and messages as observed from nbdkit 1.32.5 (a throwaway
 * filter calling these in .config).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>

#include "stubs.h"

static void
test_basic (void)
{
  struct nbdkit_exports *exports = nbdkit_exports_new ();
  char name[] = "disk";
  struct nbdkit_export e;

  stub_reset ();
  CHECK (exports != NULL);
  CHECK (nbdkit_exports_count (exports) == 0);
  CHECK (!exports_wants_default (exports));

  CHECK (nbdkit_add_export (exports, name, NULL) == 0);
  CHECK (nbdkit_add_export (exports, "b", "the b export") == 0);
  CHECK (nbdkit_add_export (exports, "", "") == 0);
  /* Duplicates are the plugin's business. */
  CHECK (nbdkit_add_export (exports, "b", NULL) == 0);
  CHECK (nbdkit_exports_count (exports) == 4);
  CHECK_NO_ERROR ();

  /* Strings are copied. */
  name[0] = 'X';
  e = nbdkit_get_export (exports, 0);
  CHECK_STREQ (e.name, "disk");
  CHECK (e.description == NULL);
  e = nbdkit_get_export (exports, 1);
  CHECK_STREQ (e.name, "b");
  CHECK_STREQ (e.description, "the b export");
  e = nbdkit_get_export (exports, 2);
  CHECK_STREQ (e.name, "");
  CHECK_STREQ (e.description, "");

  /* Only a flag: the backend adds the default name later. */
  CHECK (nbdkit_use_default_export (exports) == 0);
  CHECK (nbdkit_use_default_export (exports) == 0);
  CHECK (exports_wants_default (exports));
  CHECK (nbdkit_exports_count (exports) == 4);

  stub_reset ();
  errno = 0;
  CHECK (nbdkit_add_export (exports, NULL, "x") == -1);
  CHECK (errno == EINVAL);
  CHECK (stub_error_count == 1);
  CHECK (nbdkit_exports_count (exports) == 4);

  nbdkit_exports_free (exports);
  nbdkit_exports_free (NULL);
}

static void
test_string_limits (void)
{
  struct nbdkit_exports *exports = nbdkit_exports_new ();
  char *big = malloc (5000);

  if (big == NULL)
    abort ();
  memset (big, 'a', 5000);

  big[4096] = '\0';
  stub_reset ();
  CHECK (nbdkit_add_export (exports, big, NULL) == 0);
  CHECK (nbdkit_add_export (exports, "d", big) == 0);
  CHECK_NO_ERROR ();
  CHECK (strlen (nbdkit_get_export (exports, 0).name) == 4096);

  big[4096] = 'a';
  big[4097] = '\0';
  stub_reset ();
  errno = 0;
  CHECK (nbdkit_add_export (exports, big, NULL) == -1);
  CHECK (errno == EINVAL);
  CHECK_ERROR ("nbdkit_add_export: string too long");
  stub_reset ();
  errno = 0;
  CHECK (nbdkit_add_export (exports, "d", big) == -1);
  CHECK (errno == EINVAL);
  CHECK_ERROR ("nbdkit_add_export: string too long");

  /* Not NUL-terminated within reach: must not read it all. */
  big[4097] = 'a';
  big[4999] = '\0';
  stub_reset ();
  CHECK (nbdkit_add_export (exports, big, NULL) == -1);
  CHECK_ERROR ("nbdkit_add_export: string too long");

  CHECK (nbdkit_exports_count (exports) == 2);
  nbdkit_exports_free (exports);
  free (big);
}

static void
test_count_limit (void)
{
  struct nbdkit_exports *exports = nbdkit_exports_new ();
  char name[32];
  int i;

  stub_reset ();
  for (i = 0; i < 20000; ++i) {
    snprintf (name, sizeof name, "e%d", i);
    if (nbdkit_add_export (exports, name, "desc") == -1)
      break;
  }
  CHECK (i == 10000);
  CHECK (nbdkit_exports_count (exports) == 10000);
  CHECK (errno == EINVAL);
  CHECK_ERROR ("nbdkit_add_export: too many exports");
  CHECK_STREQ (nbdkit_get_export (exports, 9999).name, "e9999");

  /* Still allowed: nothing is added by it. */
  CHECK (nbdkit_use_default_export (exports) == 0);
  nbdkit_exports_free (exports);
}

int
main (void)
{
  test_basic ();
  test_string_limits ();
  test_count_limit ();
  return test_finish ("test-exports");
}
