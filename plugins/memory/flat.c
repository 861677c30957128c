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
 *
 * The first write to each page of the mapping costs a page fault.  A
 * bitmap (one bit per page, 0.003% of the disk, itself allocated
 * lazily by the kernel) remembers which pages have been brought in;
 * a write that covers several pages that are not yet in memory brings
 * them in with one madvise (MADV_POPULATE_WRITE) first, which costs
 * far less than a fault per page.  The bitmap is only a hint: a wrong
 * bit costs a fault or a needless madvise, never wrong data.
 */

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include "allocator.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

struct flat_array {
  char *base;                   /* NULL if the disk is empty */
  size_t map_len;               /* SIZE rounded up to whole pages */
  size_t page_size;
  bool locked;
  /* Bit P set: page P is probably in memory.  NULL if not tracked
   * (mlock, or no memory for the bitmap).
   */
  _Atomic uint64_t *present;
  _Atomic bool no_populate;     /* MADV_POPULATE_WRITE unsupported */
};

/* The bits of pages [first, last] in word W of the bitmap. */
static inline uint64_t
word_mask (uint64_t w, uint64_t first, uint64_t last)
{
  uint64_t m = ~(uint64_t) 0;

  if (w == first / 64)
    m &= ~(uint64_t) 0 << (first % 64);
  if (w == last / 64)
    m &= ~(uint64_t) 0 >> (63 - last % 64);
  return m;
}

/* Before writing [offset, offset+count): bring the pages in with one
 * call if more than one of them is missing.
 */
static void
populate_for_write (struct flat_array *fa, uint64_t offset, uint32_t count)
{
  uint64_t first = offset / fa->page_size;
  uint64_t last = (offset + count - 1) / fa->page_size;
  unsigned missing = 0;
  uint64_t w;

  if (fa->present == NULL || count == 0 ||
      atomic_load_explicit (&fa->no_populate, memory_order_relaxed))
    return;
  for (w = first / 64; w <= last / 64; ++w)
    missing += __builtin_popcountll (~atomic_load_explicit (&fa->present[w],
                                                            memory_order_relaxed)
                                     & word_mask (w, first, last));
  if (missing == 0)
    return;
  if (missing > 1 &&
      madvise (fa->base + first * fa->page_size,
               (last - first + 1) * fa->page_size, MADV_POPULATE_WRITE) == -1
      && errno == EINVAL) {
    atomic_store_explicit (&fa->no_populate, true, memory_order_relaxed);
    return;
  }
  for (w = first / 64; w <= last / 64; ++w)
    atomic_fetch_or_explicit (&fa->present[w], word_mask (w, first, last),
                              memory_order_relaxed);
}

/* Pages [first, last] were given back to the kernel. */
static void
forget_pages (struct flat_array *fa, uint64_t first, uint64_t last)
{
  uint64_t w;

  if (fa->present == NULL)
    return;
  for (w = first / 64; w <= last / 64; ++w)
    atomic_fetch_and_explicit (&fa->present[w], ~word_mask (w, first, last),
                               memory_order_relaxed);
}

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
  if (!use_mlock) {
    /* If there is no memory for it, writes just take a fault per page. */
    fa->present = calloc ((fa->map_len / page_size + 63) / 64,
                          sizeof *fa->present);
  }
  else {
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
  free (fa->present);
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

  populate_for_write (fa, offset, count);
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
      forget_pages (fa, first / fa->page_size, last / fa->page_size - 1);
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
