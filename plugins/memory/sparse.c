/* sparse.c: sparse RAM store of the memory plugin (allocator=sparse).
 *
 * Part of a clean-room implementation of nbdkit.
 *
 * Data layout
 * -----------
 * The disk is cut into 4 KiB pages.  Pages are found through a radix
 * tree of tables of 512 pointers (4 KiB each).  A table at level 0 (a
 * "leaf table") points at pages and covers 2 MiB of the disk; a table
 * at level L > 0 points at tables of level L-1.  The number of levels
 * depends on the disk size: one level up to 2 MiB, two up to 1 GiB ...
 * and six for the largest disk nbdkit can serve (2^63-1 bytes).
 *
 * Nothing is allocated until data is written: an absent table or page
 * reads as zeroes.  Writing a chunk of zeroes to an absent page does
 * not allocate it either.  Once the tree is dense the metadata costs
 * one leaf table per 512 pages, about 0.2% of the data.
 *
 * Concurrency
 * -----------
 * Table slots are C11 atomics.  Tables and pages are created on
 * demand and published with a compare-and-swap, so two writers that
 * race to create the same page agree on one winner.  Readers walk the
 * tree without taking any global lock.
 *
 * Interior tables (level >= 1) are only freed when the store is
 * destroyed, so walking them is always safe.  Pages and leaf tables
 * can be freed by trim/zero while the server is running.  To make
 * that safe each 2 MiB region of the disk (the span of one leaf table)
 * maps to one of NR_STRIPES reader/writer locks.  Every access to a
 * region's leaf table or pages holds that region's lock shared; only an
 * operation that frees memory takes it exclusive.  A request never
 * holds two stripe locks at once, so there is no lock ordering to get
 * wrong.  Adjacent regions use different stripes, so unrelated requests
 * rarely meet on a lock.
 */

#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include "allocator.h"

#define SP_PAGE_SHIFT 12
#define SP_PAGE_SIZE ((uint32_t) 1 << SP_PAGE_SHIFT)
#define SP_TABLE_BITS 9
#define SP_TABLE_ENTRIES ((uint32_t) 1 << SP_TABLE_BITS)
#define SP_LEAF_SHIFT (SP_PAGE_SHIFT + SP_TABLE_BITS)
#define SP_LEAF_SPAN ((uint64_t) 1 << SP_LEAF_SHIFT)
#define SP_MAX_LEVELS 6
#define NR_STRIPES 1024           /* must be a power of 2 */

/* free() keeps freed pages inside the C library's heaps, where they
 * stay part of the process's memory.  Once this much has been freed,
 * ask the library to hand it back to the kernel.
 */
#define TRIM_THRESHOLD ((uint64_t) 32 * 1024 * 1024)

/* A table slot holds either a struct table * or a page (char *). */
struct table {
  _Atomic (void *) slot[SP_TABLE_ENTRIES];
};

/* Each lock gets its own cache line. */
struct stripe {
  pthread_rwlock_t lock;
} __attribute__ ((__aligned__ (64)));

struct sparse_array {
  struct stripe stripes[NR_STRIPES];
  uint64_t size;
  unsigned levels;              /* >= 1; the root is at level levels-1 */
  struct table *root;
  _Atomic uint64_t freed;       /* bytes freed since the last malloc_trim */
};

/* Shift giving the index of the slot covering byte POS in a table of
 * level LEVEL.
 */
static inline unsigned
slot_shift (unsigned level)
{
  return SP_PAGE_SHIFT + level * SP_TABLE_BITS;
}

static inline unsigned
slot_index (uint64_t pos, unsigned level)
{
  return (pos >> slot_shift (level)) & (SP_TABLE_ENTRIES - 1);
}

/* First byte after the slot of level LEVEL that covers POS. */
static inline uint64_t
slot_end (uint64_t pos, unsigned level)
{
  return ((pos >> slot_shift (level)) + 1) << slot_shift (level);
}

static inline uint64_t
min_u64 (uint64_t a, uint64_t b)
{
  return a < b ? a : b;
}

static inline pthread_rwlock_t *
stripe_of (struct sparse_array *sa, uint64_t pos)
{
  return &sa->stripes[(pos >> SP_LEAF_SHIFT) & (NR_STRIPES - 1)].lock;
}

static int
lock_stripe (pthread_rwlock_t *lock, bool exclusive)
{
  int r;

  r = exclusive ? pthread_rwlock_wrlock (lock) : pthread_rwlock_rdlock (lock);
  if (r != 0) {
    nbdkit_error ("memory: cannot lock page region: %s", strerror (r));
    errno = r;
    return -1;
  }
  return 0;
}

static void
unlock_stripe (pthread_rwlock_t *lock)
{
  int r = pthread_rwlock_unlock (lock);

  /* Only possible if we unlock a lock we do not hold: a bug. */
  if (r != 0) {
    nbdkit_error ("memory: pthread_rwlock_unlock: %s", strerror (r));
    abort ();
  }
}

/* True if the LEN bytes at P are all zero. */
static bool
is_zero (const char *p, size_t len)
{
  return len == 0 || (p[0] == 0 && memcmp (p, p + 1, len - 1) == 0);
}

/* Install *OBJ into SLOT if the slot is empty.  If another thread
 * filled it first, *OBJ is freed and replaced by the winner's pointer.
 * Returns true if ours was installed.
 */
static bool
publish (_Atomic (void *) *slot, void **obj)
{
  void *expected = NULL;

  if (atomic_compare_exchange_strong_explicit (slot, &expected, *obj,
                                               memory_order_acq_rel,
                                               memory_order_acquire))
    return true;
  free (*obj);
  *obj = expected;
  return false;
}

static struct table *
new_table (void)
{
  struct table *t = calloc (1, sizeof *t);
  unsigned i;

  if (t == NULL) {
    nbdkit_error ("memory: cannot allocate page table: %m");
    errno = ENOMEM;
    return NULL;
  }
  for (i = 0; i < SP_TABLE_ENTRIES; ++i)
    atomic_init (&t->slot[i], NULL);
  return t;
}

/* Find the leaf table covering POS.  Returns NULL if it does not exist
 * (or, with CREATE, if it could not be allocated: then errno is set).
 * The caller holds the stripe lock of POS.
 */
static struct table *
lookup_leaf (struct sparse_array *sa, uint64_t pos, bool create)
{
  struct table *t = sa->root;
  unsigned level;

  for (level = sa->levels - 1; level > 0; --level) {
    _Atomic (void *) *slot = &t->slot[slot_index (pos, level)];
    void *child = atomic_load_explicit (slot, memory_order_acquire);

    if (child == NULL) {
      if (!create)
        return NULL;
      child = new_table ();
      if (child == NULL)
        return NULL;
      publish (slot, &child);
    }
    t = child;
  }
  return t;
}

/* The level-1 table above the leaf covering POS (levels >= 2 only). */
static struct table *
lookup_parent_of_leaf (struct sparse_array *sa, uint64_t pos)
{
  struct table *t = sa->root;
  unsigned level;

  for (level = sa->levels - 1; level > 1 && t != NULL; --level)
    t = atomic_load_explicit (&t->slot[slot_index (pos, level)],
                              memory_order_acquire);
  return t;
}

static inline _Atomic (void *) *
page_slot (struct table *leaf, uint64_t pos)
{
  return &leaf->slot[slot_index (pos, 0)];
}

/* Length of the piece of [pos, pos+count) inside POS's page or leaf. */
static inline uint32_t
page_piece (uint64_t pos, uint32_t count)
{
  uint32_t room = SP_PAGE_SIZE - (pos & (SP_PAGE_SIZE - 1));
  return count < room ? count : room;
}

static inline uint32_t
leaf_piece (uint64_t pos, uint32_t count)
{
  uint64_t room = SP_LEAF_SPAN - (pos & (SP_LEAF_SPAN - 1));
  return count < room ? count : (uint32_t) room;
}

static void *
sparse_create (uint64_t size, bool use_mlock)
{
  struct sparse_array *sa;
  void *mem;
  unsigned i;
  int r;
  pthread_rwlockattr_t attr;

  if (use_mlock) {
    nbdkit_error ("memory: mlock=true is only supported with "
                  "allocator=malloc");
    errno = EINVAL;
    return NULL;
  }

  r = posix_memalign (&mem, 64, sizeof *sa);
  if (r != 0) {
    nbdkit_error ("memory: cannot allocate sparse array: %s", strerror (r));
    errno = r;
    return NULL;
  }
  sa = mem;
  sa->size = size;
  atomic_init (&sa->freed, 0);
  sa->levels = 1;
  while (sa->levels < SP_MAX_LEVELS &&
         ((uint64_t) 1 << slot_shift (sa->levels)) < size)
    sa->levels++;

  sa->root = new_table ();
  if (sa->root == NULL)
    goto err_free;

  /* Prefer writers so that a trim is not starved by a stream of reads. */
  r = pthread_rwlockattr_init (&attr);
  if (r != 0) {
    nbdkit_error ("memory: pthread_rwlockattr_init: %s", strerror (r));
    goto err_root;
  }
  r = pthread_rwlockattr_setkind_np (&attr,
                                     PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
  if (r != 0) {
    nbdkit_error ("memory: pthread_rwlockattr_setkind_np: %s", strerror (r));
    goto err_attr;
  }
  for (i = 0; i < NR_STRIPES; ++i) {
    r = pthread_rwlock_init (&sa->stripes[i].lock, &attr);
    if (r != 0) {
      nbdkit_error ("memory: pthread_rwlock_init: %s", strerror (r));
      while (i > 0)
        pthread_rwlock_destroy (&sa->stripes[--i].lock);
      goto err_attr;
    }
  }
  pthread_rwlockattr_destroy (&attr);

  nbdkit_debug ("memory: sparse array of %u level(s) for %" PRIu64 " bytes",
                sa->levels, size);
  return sa;

 err_attr:
  pthread_rwlockattr_destroy (&attr);
 err_root:
  free (sa->root);
 err_free:
  free (sa);
  errno = r != 0 ? r : ENOMEM;
  return NULL;
}

/* Free table T of level LEVEL and everything under it; count what was
 * freed.
 */
static void
free_tree (struct table *t, unsigned level,
           uint64_t *pages, uint64_t *tables)
{
  unsigned i;

  for (i = 0; i < SP_TABLE_ENTRIES; ++i) {
    void *p = atomic_load_explicit (&t->slot[i], memory_order_relaxed);

    if (p == NULL)
      continue;
    if (level == 0) {
      free (p);
      (*pages)++;
    }
    else
      free_tree (p, level - 1, pages, tables);
  }
  free (t);
  (*tables)++;
}

static void
sparse_destroy (void *store)
{
  struct sparse_array *sa = store;
  uint64_t pages = 0, tables = 0;
  unsigned i;

  if (sa == NULL)
    return;
  free_tree (sa->root, sa->levels - 1, &pages, &tables);
  nbdkit_debug ("memory: freed %" PRIu64 " data pages and %" PRIu64
                " page tables", pages, tables);
  for (i = 0; i < NR_STRIPES; ++i)
    pthread_rwlock_destroy (&sa->stripes[i].lock);
  free (sa);
}

static int
sparse_read (void *store, void *buf, uint32_t count, uint64_t offset)
{
  struct sparse_array *sa = store;
  char *out = buf;

  while (count > 0) {
    uint32_t n = leaf_piece (offset, count);
    pthread_rwlock_t *lock = stripe_of (sa, offset);
    struct table *leaf;

    if (lock_stripe (lock, false) == -1)
      return -1;
    leaf = lookup_leaf (sa, offset, false);
    count -= n;
    while (n > 0) {
      uint32_t len = page_piece (offset, n);
      char *page = NULL;

      if (leaf != NULL)
        page = atomic_load_explicit (page_slot (leaf, offset),
                                     memory_order_acquire);
      if (page != NULL)
        memcpy (out, page + (offset & (SP_PAGE_SIZE - 1)), len);
      else
        memset (out, 0, len);
      out += len;
      offset += len;
      n -= len;
    }
    unlock_stripe (lock);
  }
  return 0;
}

/* Create the page at POS holding the LEN bytes at IN (at the page
 * offset of POS) and zeroes elsewhere, and publish it in SLOT.  If
 * another writer got there first, write into its page instead.
 */
static int
create_page (_Atomic (void *) *slot, uint64_t pos, const char *in,
             uint32_t len)
{
  uint32_t pgoff = pos & (SP_PAGE_SIZE - 1);
  void *page;

  page = len == SP_PAGE_SIZE ? malloc (SP_PAGE_SIZE) : calloc (1, SP_PAGE_SIZE);
  if (page == NULL) {
    nbdkit_error ("memory: cannot allocate page: %m");
    errno = ENOMEM;
    return -1;
  }
  memcpy ((char *) page + pgoff, in, len);
  if (!publish (slot, &page))
    /* Another writer created the page first: write into theirs. */
    memcpy ((char *) page + pgoff, in, len);
  return 0;
}

static int
sparse_write (void *store, const void *buf, uint32_t count, uint64_t offset)
{
  struct sparse_array *sa = store;
  const char *in = buf;

  while (count > 0) {
    uint32_t n = leaf_piece (offset, count);
    pthread_rwlock_t *lock = stripe_of (sa, offset);
    struct table *leaf;

    if (lock_stripe (lock, false) == -1)
      return -1;
    leaf = lookup_leaf (sa, offset, false);
    count -= n;
    while (n > 0) {
      uint32_t len = page_piece (offset, n);
      char *page = NULL;

      if (leaf != NULL)
        page = atomic_load_explicit (page_slot (leaf, offset),
                                     memory_order_acquire);
      if (page != NULL)
        memcpy (page + (offset & (SP_PAGE_SIZE - 1)), in, len);
      else if (!is_zero (in, len)) {
        if (leaf == NULL)
          leaf = lookup_leaf (sa, offset, true);
        if (leaf == NULL ||
            create_page (page_slot (leaf, offset), offset, in, len) == -1) {
          int err = errno;
          unlock_stripe (lock);
          errno = err;
          return -1;
        }
      }
      in += len;
      offset += len;
      n -= len;
    }
    unlock_stripe (lock);
  }
  return 0;
}

static bool
leaf_is_empty (struct table *leaf)
{
  unsigned i;

  for (i = 0; i < SP_TABLE_ENTRIES; ++i)
    if (atomic_load_explicit (&leaf->slot[i], memory_order_relaxed) != NULL)
      return false;
  return true;
}

/* Zero [offset, offset+n) inside one leaf region.  The caller holds
 * the region's stripe lock, exclusive if MAY_FREE.  Returns the number
 * of bytes of memory freed.
 */
static uint64_t
zero_in_leaf (struct sparse_array *sa, struct table *leaf,
              uint32_t n, uint64_t offset, bool may_free)
{
  uint64_t first = offset;
  uint64_t freed = 0;

  while (n > 0) {
    uint32_t len = page_piece (offset, n);
    _Atomic (void *) *slot = page_slot (leaf, offset);
    char *page = atomic_load_explicit (slot, memory_order_acquire);

    if (page != NULL) {
      if (len < SP_PAGE_SIZE)
        memset (page + (offset & (SP_PAGE_SIZE - 1)), 0, len);
      if (may_free && (len == SP_PAGE_SIZE || is_zero (page, SP_PAGE_SIZE))) {
        atomic_store_explicit (slot, NULL, memory_order_release);
        free (page);
        freed += SP_PAGE_SIZE;
      }
      else if (len == SP_PAGE_SIZE)
        memset (page, 0, SP_PAGE_SIZE);
    }
    offset += len;
    n -= len;
  }

  /* Give back a leaf table that no longer points at anything.  The
   * root is never freed, nor are interior tables (see the top).
   */
  if (freed > 0 && sa->levels > 1 && leaf_is_empty (leaf)) {
    struct table *parent = lookup_parent_of_leaf (sa, first);

    atomic_store_explicit (&parent->slot[slot_index (first, 1)], NULL,
                           memory_order_release);
    free (leaf);
    freed += sizeof *leaf;
  }
  return freed;
}

static int
sparse_zero (void *store, uint32_t count, uint64_t offset, bool may_free)
{
  struct sparse_array *sa = store;
  uint64_t freed = 0;

  while (count > 0) {
    uint32_t n = leaf_piece (offset, count);
    pthread_rwlock_t *lock = stripe_of (sa, offset);
    struct table *leaf;

    if (lock_stripe (lock, may_free) == -1)
      return -1;
    leaf = lookup_leaf (sa, offset, false);
    if (leaf != NULL)
      freed += zero_in_leaf (sa, leaf, n, offset, may_free);
    unlock_stripe (lock);
    offset += n;
    count -= n;
  }

  /* Outside any lock: malloc_trim walks every heap of the process. */
  if (freed > 0 &&
      atomic_fetch_add_explicit (&sa->freed, freed, memory_order_relaxed)
      + freed >= TRIM_THRESHOLD) {
    atomic_store_explicit (&sa->freed, 0, memory_order_relaxed);
    malloc_trim (0);
  }
  return 0;
}

/* Extents are merged into runs of the same type before they are
 * handed to the server.
 */
struct run {
  struct nbdkit_extents *extents;
  uint64_t start, len;
  uint32_t type;
  unsigned emitted;
};

static int
add_to_run (struct run *r, uint64_t pos, uint64_t len, uint32_t type)
{
  if (r->len > 0 && r->type == type && r->start + r->len == pos) {
    r->len += len;
    return 0;
  }
  if (r->len > 0) {
    if (nbdkit_add_extent (r->extents, r->start, r->len, r->type) == -1)
      return -1;
    r->emitted++;
  }
  r->start = pos;
  r->len = len;
  r->type = type;
  return 0;
}

/* Describe the pages of LEAF (may be NULL) in [pos, end), which lie in
 * one leaf region.
 */
static int
scan_leaf (struct run *r, struct table *leaf, uint64_t pos, uint64_t end)
{
  const uint32_t hole = NBDKIT_EXTENT_HOLE | NBDKIT_EXTENT_ZERO;

  if (leaf == NULL)
    return add_to_run (r, pos, end - pos, hole);

  while (pos < end) {
    uint64_t next = min_u64 (slot_end (pos, 0), end);
    void *page = atomic_load_explicit (page_slot (leaf, pos),
                                       memory_order_acquire);

    if (add_to_run (r, pos, next - pos, page != NULL ? 0 : hole) == -1)
      return -1;
    pos = next;
  }
  return 0;
}

static int
sparse_extents (void *store, uint32_t count, uint64_t offset,
                bool req_one, struct nbdkit_extents *extents)
{
  struct sparse_array *sa = store;
  struct run r = { .extents = extents };
  const uint64_t end = offset + count;
  uint64_t pos = offset;

  while (pos < end && !(req_one && r.emitted > 0)) {
    struct table *t = sa->root;
    unsigned level = sa->levels - 1;
    uint64_t next;
    pthread_rwlock_t *lock;
    int ret;

    /* Interior tables are never freed: walk them without locks and
     * skip whole empty subtrees at once.
     */
    while (level > 1) {
      struct table *child =
        atomic_load_explicit (&t->slot[slot_index (pos, level)],
                              memory_order_acquire);
      if (child == NULL)
        break;
      t = child;
      level--;
    }
    if (level > 1) {
      next = min_u64 (slot_end (pos, level), end);
      if (add_to_run (&r, pos, next - pos,
                      NBDKIT_EXTENT_HOLE | NBDKIT_EXTENT_ZERO) == -1)
        return -1;
      pos = next;
      continue;
    }

    next = min_u64 (slot_end (pos, 1), end);
    if (level == 0) {
      /* Single-level tree: the root is the leaf and lives forever. */
      if (scan_leaf (&r, t, pos, next) == -1)
        return -1;
    }
    else {
      lock = stripe_of (sa, pos);
      if (lock_stripe (lock, false) == -1)
        return -1;
      ret = scan_leaf (&r, atomic_load_explicit (&t->slot[slot_index (pos, 1)],
                                                 memory_order_acquire),
                       pos, next);
      unlock_stripe (lock);
      if (ret == -1)
        return -1;
    }
    pos = next;
  }

  if (r.len > 0 &&
      nbdkit_add_extent (extents, r.start, r.len, r.type) == -1)
    return -1;
  return 0;
}

const struct allocator_ops sparse_allocator = {
  .name = "sparse",
  .create = sparse_create,
  .destroy = sparse_destroy,
  .after_fork = NULL,
  .read = sparse_read,
  .write = sparse_write,
  .zero = sparse_zero,
  .extents = sparse_extents,
};
