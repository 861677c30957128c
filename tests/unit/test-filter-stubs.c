/* test-filter-stubs.c: server/filter-stubs.c.
 *
 * Until filters exist, the filter-only exports must fail cleanly, and
 * the exported debug flags must have nbdkit's defaults.
 */

#include <stdio.h>
#include <stdlib.h>
#include <errno.h>

#include "stubs.h"

/* As in filter-stubs.c (there is no filter header yet). */
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

#define EXPECT_FAILURE(fn)                                              \
  do {                                                                  \
    CHECK (errno == ENOTSUP);                                           \
    CHECK_ERROR (#fn " requires filter support, which is not available"); \
  } while (0)

int
main (void)
{
  int dummy, err;

  CHECK (nbdkit_debug_backend_controlpath == 1);
  CHECK (nbdkit_debug_backend_datapath == 1);
  CHECK (nbdkit_debug_tls_log == 0);
  CHECK (nbdkit_debug_tls_session == 0);

  stub_reset ();
  errno = err = 0;
  CHECK (nbdkit_extents_aligned (&dummy, 512, 0, 0, 512, NULL, &err) == -1);
  CHECK (err == ENOTSUP);
  EXPECT_FAILURE (nbdkit_extents_aligned);

  stub_reset ();
  errno = err = 0;
  CHECK (nbdkit_extents_full (&dummy, 512, 0, 0, &err) == NULL);
  CHECK (err == ENOTSUP);
  EXPECT_FAILURE (nbdkit_extents_full);

  stub_reset ();
  errno = 0;
  CHECK (nbdkit_context_get_backend (&dummy) == NULL);
  EXPECT_FAILURE (nbdkit_context_get_backend);

  stub_reset ();
  errno = 0;
  CHECK (nbdkit_next_context_open (&dummy, 1, "", 0) == NULL);
  EXPECT_FAILURE (nbdkit_next_context_open);

  stub_reset ();
  errno = 0;
  CHECK (nbdkit_context_set_next (&dummy, &dummy) == NULL);
  EXPECT_FAILURE (nbdkit_context_set_next);

  stub_reset ();
  errno = 0;
  nbdkit_next_context_close (&dummy);
  EXPECT_FAILURE (nbdkit_next_context_close);

  /* Nothing to close. */
  stub_reset ();
  nbdkit_next_context_close (NULL);
  CHECK_NO_ERROR ();

  return test_finish ("test-filter-stubs");
}
