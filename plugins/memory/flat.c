/* flat.c: preallocated RAM store of the memory plugin (allocator=malloc).
 *
 * Part of a clean-room implementation of nbdkit.
 *
 * The whole disk is one anonymous private mapping, so the kernel hands
 * out zero-filled memory lazily and the plugin needs no locks at all:
 * reads and writes are plain memcpy.  Zeroing whole pages with
 * MAY_FREE uses madvise (MADV_DONTNEED), which gives the memory back
 * and makes it read as zeroes again.  With mlock=true the mapping is
 * locked into RAM up front (so it is really allocated), and zeroing
 * always writes zeroes because locked pages cannot be dropped.
 *
 * Memory locks do not survive fork, so the lock is taken twice: once
 * when the store is created, so that a too-low limit is reported on
 * the terminal, and again after the server has forked.
 */

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include "allocator.h"

struct flat_array {
  char *base;                   /* NULL if the disk is empty */
  size_t map_len;               /* SIZE rounded up to whole pages */
  size_t page_size;
  bool locked;
};

static int
lock_memory (struct flat_array *fa)
{
  if (!fa->locked || fa->base == NULL)
    return 0;
  if (mlock (fa->base, fa->map_len) == -1) {
    int err = errno;
    nbdkit_error ("memory: mlock: %m (the locked memory limit may be "
                  "too low: see ulimit -l)");
    errno = err;
    return -1;
  }
  return 0;
}

static void *
flat_create (uint64_t size, bool use_mlock)
{
  struct flat_array *fa;
  long page_size = sysconf (_SC_PAGESIZE);

  if (page_size <= 0) {
    nbdkit_error ("memory: cannot get the system page size: %m");
    return NULL;
  }
  if (size > SIZE_MAX - (size_t) page_size) {
    nbdkit_error ("memory: allocator=malloc: size %" PRIu64
                  " is too large for this machine", size);
    errno = ENOMEM;
    return NULL;
  }

  fa = calloc (1, sizeof *fa);
  if (fa == NULL) {
    nbdkit_error ("memory: calloc: %m");
    return NULL;
  }
  fa->page_size = page_size;
  fa->map_len = (size + page_size - 1) / page_size * page_size;
  if (fa->map_len == 0)
    return fa;

  fa->base = mmap (NULL, fa->map_len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (fa->base == MAP_FAILED) {
    nbdkit_error ("memory: allocator=malloc: cannot allocate %" PRIu64
                  " bytes: %m", size);
    free (fa);
    errno = ENOMEM;
    return NULL;
  }
  if (use_mlock) {
    fa->locked = true;
    if (lock_memory (fa) == -1) {
      int err = errno;
      munmap (fa->base, fa->map_len);
      free (fa);
      errno = err;
      return NULL;
    }
  }
  return fa;
}

static int
flat_after_fork (void *store)
{
  return lock_memory (store);
}

static void
flat_destroy (void *store)
{
  struct flat_array *fa = store;

  if (fa == NULL)
    return;
  if (fa->base != NULL && munmap (fa->base, fa->map_len) == -1)
    nbdkit_error ("memory: munmap: %m");
  free (fa);
}

static int
flat_read (void *store, void *buf, uint32_t count, uint64_t offset)
{
  struct flat_array *fa = store;

  memcpy (buf, fa->base + offset, count);
  return 0;
}

static int
flat_write (void *store, const void *buf, uint32_t count, uint64_t offset)
{
  struct flat_array *fa = store;

  memcpy (fa->base + offset, buf, count);
  return 0;
}

static int
flat_zero (void *store, uint32_t count, uint64_t offset, bool may_free)
{
  struct flat_array *fa = store;
  uint64_t end = offset + count;
  uint64_t first, last;

  if (may_free && !fa->locked) {
    /* Whole pages inside the range can be dropped. */
    first = (offset + fa->page_size - 1) / fa->page_size * fa->page_size;
    last = end / fa->page_size * fa->page_size;
    if (first < last &&
        madvise (fa->base + first, last - first, MADV_DONTNEED) == 0) {
      memset (fa->base + offset, 0, first - offset);
      memset (fa->base + last, 0, end - last);
      return 0;
    }
    /* madvise failed: fall through to writing zeroes. */
  }
  memset (fa->base + offset, 0, count);
  return 0;
}

const struct allocator_ops flat_allocator = {
  .name = "malloc",
  .create = flat_create,
  .destroy = flat_destroy,
  .after_fork = flat_after_fork,
  .read = flat_read,
  .write = flat_write,
  .zero = flat_zero,
  .extents = NULL,
};
