/* filter-stubs.c: filter-only exports that need filter support.
 *
 * The server does not load filters yet, but the symbols are part of
 * the exported ABI (see nbdkit.syms), so they exist and fail cleanly:
 * nbdkit_error, errno = ENOTSUP (and *err too where there is one),
 * and the documented failure value.  They could only be reached by a
 * plugin calling filter API it has no business calling.
 *
 * The filter header's opaque types (nbdkit_next, nbdkit_backend,
 * nbdkit_context) are all pointers, so void * gives the same ABI.
 */

#include <errno.h>

#include "internal.h"

/* Server debug flags, settable with -D nbdkit.FLAG=N (debugflags.c
 * finds them with dlsym, hence exported).
 */
NBDKIT_DLL_PUBLIC int nbdkit_debug_backend_controlpath = 1;
NBDKIT_DLL_PUBLIC int nbdkit_debug_backend_datapath = 1;
NBDKIT_DLL_PUBLIC int nbdkit_debug_tls_log = 0;
NBDKIT_DLL_PUBLIC int nbdkit_debug_tls_session = 0;

/* No public header declares these for the server yet. */
int nbdkit_extents_aligned (void *next, uint32_t count, uint64_t offset,
                            uint32_t flags, uint32_t align,
                            struct nbdkit_extents *extents, int *err);
struct nbdkit_extents *nbdkit_extents_full (void *next, uint32_t count,
                                            uint64_t offset, uint32_t flags,
                                            int *err);
void *nbdkit_context_get_backend (void *context);
void *nbdkit_next_context_open (void *backend, int readonly,
                                const char *exportname, int shared);
void nbdkit_next_context_close (void *next);
void *nbdkit_context_set_next (void *context, void *next);

static void
no_filter_support (const char *fn, int *err)
{
  nbdkit_error ("%s requires filter support, which is not available", fn);
  if (err)
    *err = ENOTSUP;
  errno = ENOTSUP;
}

NBDKIT_DLL_PUBLIC int
nbdkit_extents_aligned (void *next, uint32_t count, uint64_t offset,
                        uint32_t flags, uint32_t align,
                        struct nbdkit_extents *extents, int *err)
{
  no_filter_support (__func__, err);
  return -1;
}

NBDKIT_DLL_PUBLIC struct nbdkit_extents *
nbdkit_extents_full (void *next, uint32_t count, uint64_t offset,
                     uint32_t flags, int *err)
{
  no_filter_support (__func__, err);
  return NULL;
}

NBDKIT_DLL_PUBLIC void *
nbdkit_context_get_backend (void *context)
{
  no_filter_support (__func__, NULL);
  return NULL;
}

NBDKIT_DLL_PUBLIC void *
nbdkit_next_context_open (void *backend, int readonly,
                          const char *exportname, int shared)
{
  no_filter_support (__func__, NULL);
  return NULL;
}

/* Nothing can have been opened, so closing NULL is fine. */
NBDKIT_DLL_PUBLIC void
nbdkit_next_context_close (void *next)
{
  if (next != NULL)
    no_filter_support (__func__, NULL);
}

NBDKIT_DLL_PUBLIC void *
nbdkit_context_set_next (void *context, void *next)
{
  no_filter_support (__func__, NULL);
  return NULL;
}
