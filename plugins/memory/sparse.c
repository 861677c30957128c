/* sparse.c: sparse RAM store of the memory plugin (allocator=sparse).
 *
 * Part of a clean-room implementation of nbdkit.
 *
 * The aim is a store whose bookkeeping costs well under 1% of the data
 * it holds, whatever the pattern of writes, without slowing down reads
 * and writes.
 *
 * Page arena
 * ----------
 * The disk is cut into 4 KiB pages.  The pages holding data live in one
 * big anonymous mapping, the arena, reserved (PROT_NONE) when the store
 * is created and made writable in 4 MiB steps as it fills.  A page is
 * named by its 32-bit number in the arena (a "ref"; 0 means "no page"),
 * so a page costs no allocator header and a reference costs 4 bytes.
 * The arena is as large as the disk, but no larger than RAM plus swap
 * (the data cannot outgrow that anyway) nor 2^32 pages (16 TiB).
 * Reserving address space costs nothing: the kernel only gives the
 * process memory for pages that have been written.
 *
 * Free page numbers wait in a global stack and in a few small caches
 * (one per CPU, so that threads on different CPUs do not meet on a
 * lock).  Every free page reads as zeroes: when data is freed the page
 * is handed back to the kernel with madvise (MADV_DONTNEED), which both
 * drops it from the process's memory and makes it read as zeroes the
 * next time it is used.  Frees are batched and sorted so that runs of
 * neighbouring pages go back in one call.
 *
 * Pages allocated one after the other are mostly neighbours in the
 * arena, so a large request (nbdcopy sends 256 KiB) is copied with one
 * memcpy per run of pages whose numbers follow each other, not one per
 * 4 KiB page, and the new pages of a write are brought into memory
 * with one madvise (MADV_POPULATE_WRITE) per run instead of one page
 * fault each.
 *
 * Tree
 * ----
 * Pages are found through a radix tree.  A leaf covers one 2 MiB region
 * (512 pages); interior nodes have 512 slots at each level above, up to
 * six levels for the largest disk (2^63-1 bytes).  A slot of an
 * interior node holds a 64-bit value that is one of:
 *
 *   0                         nothing below: reads as zeroes
 *   pointer                   a full node: 512 slots (interior, 4 KiB)
 *                             or 512 refs plus a count (leaf, 2 KiB)
 *   pointer | TAG_COMPACT     a compact node: a short list of entries
 *   ref, where | TAG_SINGLE   the only page under this slot, stored in
 *                             the slot itself (at level 1 this is the
 *                             leaf of a region holding one page)
 *
 * A compact leaf is a sorted array of (slot, ref) pairs, six bytes a
 * page; it becomes a full leaf when it would hold more than
 * COMPACT_LEAF_MAX pages, and a full leaf goes back to compact when
 * trimming leaves it with few pages.  A compact interior node is an
 * append-only list of (index, child) entries that grows from 1 to 4 to
 * 16 entries and then becomes a full node.  A single page is stored as
 * high in the tree as it fits and pushed down when a neighbour arrives.
 * So an isolated page costs nothing beyond its slot in an interior
 * node, a region with a few pages costs a few dozen bytes, and a dense
 * region 2 KiB (0.4% of its data).
 *
 * Concurrency
 * -----------
 * Each 2 MiB region maps to one of NR_STRIPES reader/writer locks.
 * Every access to a region's leaf or pages holds that lock: shared for
 * reads, writes and zeroing, exclusive to change the shape of a
 * non-full leaf (adding a page to it, or freeing pages).  In a full
 * leaf, new pages are installed with a compare-and-swap under the
 * shared lock, so parallel writers of a dense region never wait for
 * each other.  A request never holds two stripe locks at once.
 *
 * Interior nodes are walked without any lock.  They are changed only
 * under the global tree_lock mutex (taken while holding the exclusive
 * lock of the region concerned, never the other way round): slots are
 * atomic, compact nodes only ever get entries appended (the entry count
 * is published after the entry), and a compact node that grows is
 * replaced by a copy and kept until the store is destroyed, so a reader
 * still walking the old copy is safe.  Entries of a replaced copy may go
 * stale, but only for regions whose leaf changes later; anyone who
 * dereferences a leaf walks the tree again after taking the region's
 * lock, and then sees the latest copy (the change to that region's leaf
 * happened under its lock, after the copy was published).  Interior
 * nodes are never freed while the server runs; leaves are, but only
 * under the exclusive region lock.
 */

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sysinfo.h>

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

/* A compact leaf holds at most this many pages.  A full leaf that
 * trimming leaves with at most half of that goes back to compact.
 */
#define COMPACT_LEAF_MAX 64

/* Page number caches: how many, how many numbers each holds, and how
 * many to take from the global stack when one runs dry.
 */
#define NR_CACHES 16              /* must be a power of 2 */
#define CACHE_SIZE 64
#define CACHE_REFILL 32

/* The arena is made writable this many pages (4 MiB) at a time. */
#define COMMIT_PAGES 1024

/* Freed pages are given back to the kernel in batches of up to this
 * many (at least SP_TABLE_ENTRIES).
 */
#define FREE_BATCH 1024

/* Tags in the low bits of a slot value (see the top of the file). */
#define TAG_MASK ((uint64_t) 3)
#define TAG_FULL ((uint64_t) 0)
#define TAG_COMPACT ((uint64_t) 1)
#define TAG_SINGLE ((uint64_t) 2)

typedef uint32_t ref_t;

/* A full interior node. */
struct inode_full {
  _Atomic uint64_t slot[SP_TABLE_ENTRIES];
};

/* A compact interior node: N entries in use out of CAP.  Entry K is
 * the child CHILD[K] at index IDX[K] (the idx array follows the child
 * array).  Entries are only appended; N is published last.
 */
struct inode_compact {
  _Atomic uint32_t n;
  uint32_t cap;
  _Atomic uint64_t child[];
};

/* A full leaf: the page of every slot, and how many are non-zero. */
struct leaf_full {
  _Atomic uint32_t count;
  _Atomic ref_t ref[SP_TABLE_ENTRIES];
};

/* A compact leaf: N pages out of room for CAP, sorted by slot.  The
 * slot array follows the ref array.  Only changed (or freed) under the
 * region's exclusive lock, so it needs no atomics.
 */
struct leaf_compact {
  uint16_t n, cap;
  ref_t ref[];
};

/* Each lock gets its own cache line. */
struct stripe {
  pthread_rwlock_t lock;
} __attribute__ ((__aligned__ (64)));

struct page_cache {
  pthread_mutex_t lock;
  unsigned n;
  ref_t refs[CACHE_SIZE];
} __attribute__ ((__aligned__ (64)));

struct sparse_array {
  struct stripe stripes[NR_STRIPES];
  struct page_cache caches[NR_CACHES];

  uint64_t size;
  unsigned levels;              /* >= 1; the root is at level levels-1 */
  uint64_t root;                /* full interior node, or full leaf if
                                 * levels == 1; never changes */

  /* Changes to interior nodes. */
  pthread_mutex_t tree_lock;
  void **retired;               /* replaced compact nodes */
  size_t nr_retired, retired_alloc;

  /* The page arena. */
  char *arena;
  uint64_t arena_pages;         /* refs are 1 .. arena_pages-1 */
  pthread_mutex_t pool_lock;    /* protects the fields below */
  uint64_t top;                 /* pages >= top have never been used */
  uint64_t committed;           /* pages < committed are writable */
  ref_t *free_refs;             /* stack of free page numbers */
  size_t nr_free, free_alloc;
};

/* Pages freed by one zero request, given back to the kernel together. */
struct freed {
  unsigned n;
  ref_t refs[FREE_BATCH];
};

/* ------------------------------------------------------------------ */
/* Small helpers. */

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

/* For mutexes that cannot fail unless the program is broken. */
static void
xlock (pthread_mutex_t *m)
{
  int r = pthread_mutex_lock (m);
  if (r != 0) {
    nbdkit_error ("memory: pthread_mutex_lock: %s", strerror (r));
    abort ();
  }
}

static void
xunlock (pthread_mutex_t *m)
{
  int r = pthread_mutex_unlock (m);
  if (r != 0) {
    nbdkit_error ("memory: pthread_mutex_unlock: %s", strerror (r));
    abort ();
  }
}

/* True if the LEN bytes at P are all zero. */
static bool
is_zero (const char *p, size_t len)
{
  return len == 0 || (p[0] == 0 && memcmp (p, p + 1, len - 1) == 0);
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

static inline void *
untag (uint64_t v)
{
  return (void *) (uintptr_t) (v & ~TAG_MASK);
}

/* The tree owns what a tagged value points to.  (gcc -fanalyzer cannot
 * follow a pointer through this integer encoding and reports a leak in
 * build_leaf's callers: a false positive.)
 */
static inline uint64_t
tag (void *p, uint64_t t)
{
  return (uint64_t) (uintptr_t) p | t;
}

static int
compare_refs (const void *a, const void *b)
{
  ref_t x = *(const ref_t *) a, y = *(const ref_t *) b;
  return x < y ? -1 : x > y;
}

/* ------------------------------------------------------------------ */
/* The page arena. */

static inline char *
page_addr (struct sparse_array *sa, ref_t ref)
{
  return sa->arena + ((size_t) ref << SP_PAGE_SHIFT);
}

static bool
arena_create (struct sparse_array *sa)
{
  const uint64_t slack = 1 + (uint64_t) NR_CACHES * CACHE_SIZE;
  const uint64_t min_pages = 16384 + slack;     /* 64 MiB */
  uint64_t pages = ((sa->size + SP_PAGE_SIZE - 1) >> SP_PAGE_SHIFT) + slack;
  struct sysinfo si;
  void *p;

  /* The data cannot outgrow RAM plus swap. */
  if (sysinfo (&si) == 0) {
    uint64_t mem = ((uint64_t) si.totalram + si.totalswap) * si.mem_unit;
    uint64_t mem_pages = (mem >> SP_PAGE_SHIFT) + slack;
    if (mem_pages < min_pages)
      mem_pages = min_pages;
    if (pages > mem_pages)
      pages = mem_pages;
  }
  if (pages > UINT32_MAX)
    pages = UINT32_MAX;
  if ((uint64_t) SIZE_MAX >> SP_PAGE_SHIFT < pages)
    pages = (uint64_t) SIZE_MAX >> (SP_PAGE_SHIFT + 1);

  /* Address space may be limited (ulimit -v): settle for less. */
  for (;;) {
    p = mmap (NULL, (size_t) pages << SP_PAGE_SHIFT, PROT_NONE,
              MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p != MAP_FAILED)
      break;
    if (pages <= min_pages) {
      nbdkit_error ("memory: cannot reserve address space for the data: %m");
      return false;
    }
    pages /= 2;
    if (pages < min_pages)
      pages = min_pages;
  }
#ifdef MADV_NOHUGEPAGE
  /* A huge page would make a single 4 KiB write cost 2 MiB. */
  madvise (p, (size_t) pages << SP_PAGE_SHIFT, MADV_NOHUGEPAGE);
#endif
  sa->arena = p;
  sa->arena_pages = pages;
  sa->top = 1;                  /* ref 0 means "no page" */
  sa->committed = 0;
  return true;
}

/* Take up to WANT free page numbers from the global stack or the
 * never-used part of the arena.  Returns how many were taken; if fewer,
 * *ERR says why (ENOSPC: the arena is full).
 */
static unsigned
pool_take (struct sparse_array *sa, ref_t *out, unsigned want, int *err)
{
  unsigned got = 0;

  *err = ENOSPC;

  xlock (&sa->pool_lock);
  /* Off the top of the stack, in the order they were pushed (frees are
   * pushed sorted), so that a run of freed pages is reused in order.
   */
  got = want < sa->nr_free ? want : sa->nr_free;
  if (got > 0) {
    sa->nr_free -= got;
    memcpy (out, &sa->free_refs[sa->nr_free], got * sizeof *out);
  }
  /* After a big trim the stack can be large: shrink it as it empties. */
  if (sa->free_alloc > 65536 && sa->nr_free < sa->free_alloc / 4) {
    ref_t *p = realloc (sa->free_refs, sa->free_alloc / 2 * sizeof *p);
    if (p != NULL) {
      sa->free_refs = p;
      sa->free_alloc /= 2;
    }
  }
  while (got < want && sa->top < sa->arena_pages) {
    if (sa->top >= sa->committed) {
      uint64_t end = min_u64 (sa->committed + COMMIT_PAGES, sa->arena_pages);

      if (mprotect (page_addr (sa, sa->committed),
                    (size_t) (end - sa->committed) << SP_PAGE_SHIFT,
                    PROT_READ | PROT_WRITE) == -1) {
        *err = errno;
        break;
      }
      sa->committed = end;
    }
    out[got++] = sa->top++;
  }
  xunlock (&sa->pool_lock);
  return got;
}

/* Put N free (all-zero) page numbers on the global stack. */
static void
pool_put (struct sparse_array *sa, const ref_t *refs, unsigned n)
{
  xlock (&sa->pool_lock);
  if (sa->nr_free + n > sa->free_alloc) {
    size_t want = sa->free_alloc * 2;
    ref_t *p;

    if (want < sa->nr_free + n)
      want = sa->nr_free + n + 1024;
    p = realloc (sa->free_refs, want * sizeof *p);
    if (p == NULL) {
      /* The pages are lost for reuse, but they hold no memory. */
      xunlock (&sa->pool_lock);
      nbdkit_debug ("memory: cannot remember %u free pages", n);
      return;
    }
    sa->free_refs = p;
    sa->free_alloc = want;
  }
  memcpy (&sa->free_refs[sa->nr_free], refs, n * sizeof *refs);
  sa->nr_free += n;
  xunlock (&sa->pool_lock);
}

static struct page_cache *
my_cache (struct sparse_array *sa)
{
  int cpu = sched_getcpu ();
  unsigned i;

  if (cpu >= 0)
    i = cpu;
  else
    i = (unsigned) (((uint64_t) pthread_self () >> 12) * 0x9E3779B97F4A7C15
                    >> 60);
  return &sa->caches[i & (NR_CACHES - 1)];
}

/* Give back N pages that were never written (still all zero). */
static void
pool_unused (struct sparse_array *sa, const ref_t *refs, unsigned n)
{
  struct page_cache *c = my_cache (sa);

  xlock (&c->lock);
  while (n > 0 && c->n < CACHE_SIZE)
    c->refs[c->n++] = refs[--n];
  xunlock (&c->lock);
  if (n > 0)
    pool_put (sa, refs, n);
}

/* Allocate N all-zero pages.  On failure sets errno and reports. */
static int
pool_alloc (struct sparse_array *sa, ref_t *refs, unsigned n)
{
  struct page_cache *c;
  unsigned got = 0;
  int err = 0;

  if (n > CACHE_SIZE)
    got = pool_take (sa, refs, n, &err);
  else {
    c = my_cache (sa);
    xlock (&c->lock);
    if (c->n < n) {
      unsigned i, j;

      i = c->n;
      j = i + pool_take (sa, &c->refs[i],
                         (n > CACHE_REFILL ? n : CACHE_REFILL) - i, &err);
      c->n = j;
      /* The cache is a stack and fresh pages come in ascending order:
       * store them reversed so that pages allocated one after the
       * other (a sequential write) are in ascending order in the arena.
       * Sequential reads of them then run forwards through memory,
       * which is about twice as fast as backwards, page by page.
       */
      for (; i + 1 < j; ++i, --j) {
        ref_t t = c->refs[i];
        c->refs[i] = c->refs[j - 1];
        c->refs[j - 1] = t;
      }
    }
    while (got < n && c->n > 0)
      refs[got++] = c->refs[--c->n];
    xunlock (&c->lock);
  }
  if (got < n) {
    if (got > 0)
      pool_unused (sa, refs, got);
    if (err == ENOSPC)
      nbdkit_error ("memory: no room for more data: the store can hold "
                    "%" PRIu64 " pages (limited by RAM plus swap, and by "
                    "the address space available)", sa->arena_pages - 1);
    else
      nbdkit_error ("memory: cannot allocate memory for data: %s",
                    strerror (err));
    errno = err;
    return -1;
  }
  return 0;
}

/* Give the memory of N pages back to the kernel (which also makes them
 * read as zeroes) and make them free.  REFS is reordered.
 */
static void
pool_release (struct sparse_array *sa, ref_t *refs, unsigned n)
{
  unsigned i, j;

  if (n == 0)
    return;
  qsort (refs, n, sizeof *refs, compare_refs);
  for (i = 0; i < n; i = j) {
    for (j = i + 1; j < n && refs[j] == refs[j - 1] + 1; ++j)
      ;
    if (madvise (page_addr (sa, refs[i]), (size_t) (j - i) << SP_PAGE_SHIFT,
                 MADV_DONTNEED) == -1)
      memset (page_addr (sa, refs[i]), 0, (size_t) (j - i) << SP_PAGE_SHIFT);
  }
  pool_put (sa, refs, n);
}

static void
freed_flush (struct sparse_array *sa, struct freed *f)
{
  pool_release (sa, f->refs, f->n);
  f->n = 0;
}

/* ------------------------------------------------------------------ */
/* A single page stored in a slot. */

/* In a slot of a node at level L the value holds the page's number
 * relative to the start of the slot's span (9*L bits) and, above that,
 * its ref.  Up to level 3 any ref fits; at levels 4 and 5 only refs
 * below 2^26 and 2^17 do (other pages get a node instead).  At level 1
 * the relative number is the page's slot in its region's leaf, and the
 * value is the leaf of a region holding one page.
 */
#define MAX_INLINE_LEVEL 5

static inline bool
single_fits (ref_t ref, unsigned level)
{
  return level <= 3 || ((uint64_t) ref >> (62 - SP_TABLE_BITS * level)) == 0;
}

static inline uint64_t
make_single_at (unsigned level, uint64_t rel, ref_t ref)
{
  return ((uint64_t) ref << (2 + SP_TABLE_BITS * level)) | (rel << 2)
    | TAG_SINGLE;
}

static inline ref_t
single_ref_at (uint64_t v, unsigned level)
{
  return (ref_t) (v >> (2 + SP_TABLE_BITS * level));
}

static inline uint64_t
single_rel_at (uint64_t v, unsigned level)
{
  return (v >> 2) & (((uint64_t) 1 << (SP_TABLE_BITS * level)) - 1);
}

/* Single-page leaves. */
static inline uint64_t
make_single (unsigned slot, ref_t ref)
{
  return make_single_at (1, slot, ref);
}

static inline ref_t
single_ref (uint64_t v)
{
  return single_ref_at (v, 1);
}

static inline unsigned
single_slot (uint64_t v)
{
  return single_rel_at (v, 1);
}

/* Number of the page of POS relative to the span of a slot at LEVEL. */
static inline uint64_t
rel_page (uint64_t pos, unsigned level)
{
  return (pos >> SP_PAGE_SHIFT)
    & (((uint64_t) 1 << (SP_TABLE_BITS * level)) - 1);
}

/* Single page V in a slot at LEVEL, seen from the region of POS: the
 * single-page leaf of that region, or 0 if the page is elsewhere.
 */
static inline uint64_t
single_for_region (uint64_t v, unsigned level, uint64_t pos)
{
  uint64_t rel = single_rel_at (v, level);

  if (rel >> SP_TABLE_BITS != rel_page (pos, level) >> SP_TABLE_BITS)
    return 0;
  return make_single (rel & (SP_TABLE_ENTRIES - 1), single_ref_at (v, level));
}

/* Can single-page leaf V be stored in a slot at LEVEL? */
static inline bool
single_inline (uint64_t v, unsigned level)
{
  return (v & TAG_MASK) == TAG_SINGLE && level <= MAX_INLINE_LEVEL &&
    single_fits (single_ref (v), level);
}

/* Single-page leaf V of the region of POS, encoded for LEVEL. */
static inline uint64_t
single_at_level (uint64_t v, unsigned level, uint64_t pos)
{
  return make_single_at (level,
                         (rel_page (pos, level)
                          & ~(uint64_t) (SP_TABLE_ENTRIES - 1))
                         | single_slot (v),
                         single_ref (v));
}

/* ------------------------------------------------------------------ */
/* Interior nodes. */

static inline uint16_t *
ic_idx (struct inode_compact *c)
{
  return (uint16_t *) &c->child[c->cap];
}

static struct inode_compact *
new_inode_compact (uint32_t cap)
{
  struct inode_compact *c;

  c = malloc (sizeof *c + cap * (sizeof (uint64_t) + sizeof (uint16_t)));
  if (c == NULL)
    return NULL;
  atomic_init (&c->n, 0);
  c->cap = cap;
  return c;
}

static struct inode_full *
new_inode_full (void)
{
  struct inode_full *f = malloc (sizeof *f);
  unsigned i;

  if (f == NULL)
    return NULL;
  for (i = 0; i < SP_TABLE_ENTRIES; ++i)
    atomic_init (&f->slot[i], 0);
  return f;
}

/* The slot of interior node NODE for index I, or NULL if NODE is
 * compact and has no entry for I.  Safe without any lock.
 */
static inline _Atomic uint64_t *
node_slot (uint64_t node, unsigned i)
{
  struct inode_compact *c;
  const uint16_t *idx;
  uint32_t k, n;

  if ((node & TAG_MASK) == TAG_FULL)
    return &((struct inode_full *) untag (node))->slot[i];
  c = untag (node);
  n = atomic_load_explicit (&c->n, memory_order_acquire);
  idx = ic_idx (c);
  for (k = 0; k < n; ++k)
    if (idx[k] == i)
      return &c->child[k];
  return NULL;
}

/* The leaf of POS's region (0 if none).  The caller holds the region's
 * lock, and must not keep the result after dropping it.
 */
static inline uint64_t
leaf_value (struct sparse_array *sa, uint64_t pos)
{
  uint64_t node = sa->root;
  unsigned level = sa->levels - 1;

  if (sa->levels == 1)
    return node;
  for (;;) {
    _Atomic uint64_t *slot = node_slot (node, slot_index (pos, level));
    uint64_t v;

    if (slot == NULL)
      return 0;
    v = atomic_load_explicit (slot, memory_order_acquire);
    if (level == 1 || v == 0)
      return v;
    if ((v & TAG_MASK) == TAG_SINGLE)
      return single_for_region (v, level, pos);
    node = v;
    level--;
  }
}

static void
retire (struct sparse_array *sa, void *node)
{
  if (sa->nr_retired == sa->retired_alloc) {
    size_t want = sa->retired_alloc ? 2 * sa->retired_alloc : 64;
    void **p = realloc (sa->retired, want * sizeof *p);

    if (p == NULL)
      return;                   /* leak it: it must not be freed now */
    sa->retired = p;
    sa->retired_alloc = want;
  }
  sa->retired[sa->nr_retired++] = node;
}

/* Add CHILD at index I of interior node NODE, which has no entry for
 * I, and return the slot now holding it.  A full compact node is
 * replaced by a bigger copy, published in PARENT_SLOT.  Called with
 * tree_lock held.
 */
static _Atomic uint64_t *
node_insert (struct sparse_array *sa, _Atomic uint64_t *parent_slot,
             uint64_t node, unsigned i, uint64_t child)
{
  struct inode_compact *c, *nc;
  struct inode_full *f;
  uint32_t n, k;
  uint16_t *idx;

  if ((node & TAG_MASK) == TAG_FULL) {
    _Atomic uint64_t *slot = &((struct inode_full *) untag (node))->slot[i];
    atomic_store_explicit (slot, child, memory_order_release);
    return slot;
  }

  c = untag (node);
  n = atomic_load_explicit (&c->n, memory_order_relaxed);
  idx = ic_idx (c);
  if (n < c->cap) {
    idx[n] = i;
    atomic_store_explicit (&c->child[n], child, memory_order_relaxed);
    atomic_store_explicit (&c->n, n + 1, memory_order_release);
    return &c->child[n];
  }

  if (c->cap < 16) {
    nc = new_inode_compact (c->cap * 4);
    if (nc == NULL)
      return NULL;
    for (k = 0; k < n; ++k) {
      ic_idx (nc)[k] = idx[k];
      atomic_init (&nc->child[k],
                   atomic_load_explicit (&c->child[k], memory_order_relaxed));
    }
    ic_idx (nc)[n] = i;
    atomic_init (&nc->child[n], child);
    atomic_init (&nc->n, n + 1);
    atomic_store_explicit (parent_slot, tag (nc, TAG_COMPACT),
                           memory_order_release);
    retire (sa, c);
    return &nc->child[n];
  }

  f = new_inode_full ();
  if (f == NULL)
    return NULL;
  for (k = 0; k < n; ++k)
    atomic_init (&f->slot[idx[k]],
                 atomic_load_explicit (&c->child[k], memory_order_relaxed));
  atomic_init (&f->slot[i], child);
  atomic_store_explicit (parent_slot, tag (f, TAG_FULL), memory_order_release);
  retire (sa, c);
  return &f->slot[i];
}

/* Make V the leaf of POS's region, creating interior nodes on the way
 * if needed.  A single page is stored as high up as it can be, and
 * pushed down when another region below that slot needs room.  The
 * caller holds the region's exclusive lock.  Storing 0 (removing a
 * leaf) never fails, nor does replacing an existing leaf by a single
 * page or a compact leaf.
 */
static int
set_leaf_value (struct sparse_array *sa, uint64_t pos, uint64_t v)
{
  _Atomic uint64_t *parent_slot = NULL;
  uint64_t node = sa->root;
  unsigned level = sa->levels - 1;

  xlock (&sa->tree_lock);
  for (;;) {
    unsigned i = slot_index (pos, level);
    _Atomic uint64_t *slot = node_slot (node, i);
    uint64_t cur = slot ? atomic_load_explicit (slot, memory_order_relaxed)
                        : 0;
    uint64_t put;
    bool last = true;

    if (level == 1) {
      if (slot == NULL && v == 0)
        break;                  /* nothing to remove */
      put = v;
    }
    else if (cur == 0) {
      if (v == 0)
        break;                  /* nothing to remove */
      if (single_inline (v, level))
        put = single_at_level (v, level, pos);
      else {
        struct inode_compact *c = new_inode_compact (1);
        if (c == NULL)
          goto enomem;
        put = tag (c, TAG_COMPACT);
        last = false;
      }
    }
    else if ((cur & TAG_MASK) == TAG_SINGLE) {
      bool ours = single_for_region (cur, level, pos) != 0;
      uint64_t rel = single_rel_at (cur, level);
      unsigned below = SP_TABLE_BITS * (level - 1);
      struct inode_compact *c;

      if (ours && v == 0)
        put = 0;
      else if (ours && single_inline (v, level))
        put = single_at_level (v, level, pos);
      else if (v == 0)
        break;                  /* another region's page: nothing to do */
      else {
        /* Push the page one level down, into a new node. */
        c = new_inode_compact (ours ? 1 : 4);
        if (c == NULL)
          goto enomem;
        ic_idx (c)[0] = (rel >> below) & (SP_TABLE_ENTRIES - 1);
        atomic_init (&c->child[0],
                     make_single_at (level - 1,
                                     rel & (((uint64_t) 1 << below) - 1),
                                     single_ref_at (cur, level)));
        atomic_init (&c->n, 1);
        put = tag (c, TAG_COMPACT);
        last = false;
      }
    }
    else {
      parent_slot = slot;
      node = cur;
      level--;
      continue;
    }

    if (slot != NULL)
      atomic_store_explicit (slot, put, memory_order_release);
    else {
      slot = node_insert (sa, parent_slot, node, i, put);
      if (slot == NULL) {
        if (!last)
          free (untag (put));
        goto enomem;
      }
    }
    if (last)
      break;
    parent_slot = slot;
    node = put;
    level--;
  }
  xunlock (&sa->tree_lock);
  return 0;

 enomem:
  xunlock (&sa->tree_lock);
  nbdkit_error ("memory: cannot allocate page table: %m");
  errno = ENOMEM;
  return -1;
}

/* ------------------------------------------------------------------ */
/* Leaves. */

static inline uint16_t *
lc_slots (struct leaf_compact *l)
{
  return (uint16_t *) &l->ref[l->cap];
}

/* Room to allocate in a compact leaf for N pages. */
static uint16_t
lc_cap_for (unsigned n)
{
  static const uint16_t caps[] = { 3, 6, 10, 16, 24, 32, 48, COMPACT_LEAF_MAX };
  unsigned i;

  for (i = 0; caps[i] < n; ++i)
    ;
  return caps[i];
}

static struct leaf_compact *
new_leaf_compact (unsigned cap)
{
  struct leaf_compact *l;

  l = malloc (sizeof *l + cap * (sizeof (ref_t) + sizeof (uint16_t)));
  if (l == NULL)
    return NULL;
  l->n = 0;
  l->cap = cap;
  return l;
}

static struct leaf_full *
new_leaf_full (void)
{
  struct leaf_full *l = malloc (sizeof *l);
  unsigned i;

  if (l == NULL)
    return NULL;
  atomic_init (&l->count, 0);
  for (i = 0; i < SP_TABLE_ENTRIES; ++i)
    atomic_init (&l->ref[i], 0);
  return l;
}

/* Index of the first slot >= SLOT in compact leaf L (l->n if none). */
static inline int
lc_lower_bound (struct leaf_compact *l, unsigned slot)
{
  const uint16_t *s = lc_slots (l);
  int lo = 0, hi = l->n;

  while (lo < hi) {
    int mid = (lo + hi) / 2;
    if (s[mid] < slot)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

/* Index of SLOT in compact leaf L, or -1. */
static inline int
lc_find (struct leaf_compact *l, unsigned slot)
{
  int i = lc_lower_bound (l, slot);

  return i < l->n && lc_slots (l)[i] == slot ? i : -1;
}

/* The page of SLOT in leaf V, or 0. */
static inline ref_t
leaf_get (uint64_t v, unsigned slot)
{
  switch (v & TAG_MASK) {
  case TAG_FULL:
    if (v == 0)
      return 0;
    return atomic_load_explicit (&((struct leaf_full *) untag (v))->ref[slot],
                                 memory_order_acquire);
  case TAG_COMPACT: {
    struct leaf_compact *l = untag (v);
    int k = lc_find (l, slot);
    return k >= 0 ? l->ref[k] : 0;
  }
  default:
    return single_slot (v) == slot ? single_ref (v) : 0;
  }
}

/* REF is the page of SLOT in leaf V.  Returns how many of the MAX
 * pages from SLOT on (at least 1) continue the run: the next pages in
 * the arena (REF+1, REF+2, ...) if REF is a page, or no page at all if
 * REF is 0.  A run can be copied with one memcpy or memset: pages
 * written one after the other are mostly handed out in ascending order
 * (see pool_alloc), so a large sequential request is one or a few runs
 * rather than one copy per 4 KiB page.
 */
static inline unsigned
leaf_run (uint64_t v, unsigned slot, unsigned max, ref_t ref)
{
  unsigned k = 1;

  switch (v & TAG_MASK) {
  case TAG_FULL:
    if (v == 0)
      return max;
    else {
      _Atomic ref_t *r = &((struct leaf_full *) untag (v))->ref[slot];

      if (ref == 0)
        while (k < max &&
               atomic_load_explicit (&r[k], memory_order_acquire) == 0)
          k++;
      else
        while (k < max &&
               atomic_load_explicit (&r[k], memory_order_acquire)
               == (uint64_t) ref + k)
          k++;
      return k;
    }
  case TAG_COMPACT: {
    struct leaf_compact *l = untag (v);
    const uint16_t *s = lc_slots (l);
    int i;

    if (ref == 0) {
      /* Up to the next slot that has a page. */
      int lo = lc_lower_bound (l, slot);

      if (lo == l->n || s[lo] - slot >= max)
        return max;
      return s[lo] - slot;
    }
    i = lc_find (l, slot);
    while (k < max && i + k < l->n && s[i + k] == slot + k &&
           l->ref[i + k] == (uint64_t) ref + k)
      k++;
    return k;
  }
  default:
    if (ref != 0)
      return 1;
    /* A single page elsewhere in the region. */
    if (single_slot (v) > slot && single_slot (v) - slot < max)
      return single_slot (v) - slot;
    return max;
  }
}

/* Number of pages that [pos, pos+n) touches. */
static inline unsigned
pages_touched (uint64_t pos, uint32_t n)
{
  return ((pos & (SP_PAGE_SIZE - 1)) + (uint64_t) n + SP_PAGE_SIZE - 1)
    >> SP_PAGE_SHIFT;
}

/* Length of the first RUN pages of [pos, pos+n). */
static inline uint32_t
run_bytes (uint64_t pos, uint32_t n, unsigned run)
{
  uint64_t room = ((uint64_t) run << SP_PAGE_SHIFT)
    - (pos & (SP_PAGE_SIZE - 1));
  return n < room ? n : (uint32_t) room;
}

/* Number of pages in leaf V. */
static unsigned
leaf_count (uint64_t v)
{
  switch (v & TAG_MASK) {
  case TAG_FULL:
    if (v == 0)
      return 0;
    return atomic_load_explicit (&((struct leaf_full *) untag (v))->count,
                                 memory_order_relaxed);
  case TAG_COMPACT:
    return ((struct leaf_compact *) untag (v))->n;
  default:
    return 1;
  }
}

/* The pages of non-full leaf V as sorted (slot, ref) arrays.  Returns
 * the count.
 */
static unsigned
leaf_entries (uint64_t v, uint16_t *slots, ref_t *refs)
{
  if (v == 0)
    return 0;
  if ((v & TAG_MASK) == TAG_SINGLE) {
    slots[0] = single_slot (v);
    refs[0] = single_ref (v);
    return 1;
  }
  else {
    struct leaf_compact *l = untag (v);
    memcpy (slots, lc_slots (l), l->n * sizeof *slots);
    memcpy (refs, l->ref, l->n * sizeof *refs);
    return l->n;
  }
}

/* Build a leaf from N sorted entries (N >= 1), reusing compact leaf
 * REUSE if it is big enough.  Returns 0 on ENOMEM.
 */
static uint64_t
build_leaf (const uint16_t *slots, const ref_t *refs, unsigned n,
            struct leaf_compact *reuse)
{
  unsigned k;

  if (n == 1)
    return make_single (slots[0], refs[0]);
  if (n <= COMPACT_LEAF_MAX) {
    struct leaf_compact *l = reuse;

    if (l == NULL || l->cap < n) {
      l = new_leaf_compact (lc_cap_for (n));
      if (l == NULL)
        return 0;
    }
    memcpy (l->ref, refs, n * sizeof *refs);
    memcpy (lc_slots (l), slots, n * sizeof *slots);
    l->n = n;
    return tag (l, TAG_COMPACT);
  }
  else {
    struct leaf_full *l = new_leaf_full ();

    if (l == NULL)
      return 0;
    for (k = 0; k < n; ++k)
      atomic_init (&l->ref[slots[k]], refs[k]);
    atomic_init (&l->count, n);
    return tag (l, TAG_FULL);
  }
}

/* Free leaf object V (not the pages). */
static void
free_leaf (uint64_t v)
{
  if (v != 0 && (v & TAG_MASK) != TAG_SINGLE)
    free (untag (v));
}

/* ------------------------------------------------------------------ */
/* Create and destroy. */

static void
free_subtree (uint64_t node, unsigned level, uint64_t *pages, uint64_t *nodes);

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
  memset (sa, 0, sizeof *sa);
  sa->size = size;
  sa->levels = 1;
  while (sa->levels < SP_MAX_LEVELS &&
         ((uint64_t) 1 << slot_shift (sa->levels)) < size)
    sa->levels++;

  if (sa->levels == 1) {
    struct leaf_full *l = new_leaf_full ();
    if (l == NULL)
      goto err_nomem;
    sa->root = tag (l, TAG_FULL);
  }
  else {
    struct inode_full *f = new_inode_full ();
    if (f == NULL)
      goto err_nomem;
    sa->root = tag (f, TAG_FULL);
  }

  if (!arena_create (sa)) {
    r = errno ? errno : ENOMEM;
    goto err_root;
  }

  pthread_mutex_init (&sa->tree_lock, NULL);
  pthread_mutex_init (&sa->pool_lock, NULL);
  for (i = 0; i < NR_CACHES; ++i)
    pthread_mutex_init (&sa->caches[i].lock, NULL);

  /* Prefer writers so that a trim is not starved by a stream of reads. */
  r = pthread_rwlockattr_init (&attr);
  if (r != 0) {
    nbdkit_error ("memory: pthread_rwlockattr_init: %s", strerror (r));
    goto err_mutexes;
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

  nbdkit_debug ("memory: sparse array of %u level(s) for %" PRIu64 " bytes, "
                "room for %" PRIu64 " pages of data",
                sa->levels, size, sa->arena_pages - 1);
  return sa;

 err_attr:
  pthread_rwlockattr_destroy (&attr);
 err_mutexes:
  for (i = 0; i < NR_CACHES; ++i)
    pthread_mutex_destroy (&sa->caches[i].lock);
  pthread_mutex_destroy (&sa->pool_lock);
  pthread_mutex_destroy (&sa->tree_lock);
  munmap (sa->arena, (size_t) sa->arena_pages << SP_PAGE_SHIFT);
 err_root:
  free (untag (sa->root));
  free (sa);
  errno = r;
  return NULL;

 err_nomem:
  nbdkit_error ("memory: cannot allocate page table: %m");
  free (sa);
  errno = ENOMEM;
  return NULL;
}

/* Free the subtree under slot value NODE of a node at level LEVEL+1
 * (so NODE is a leaf if LEVEL is 0).  Pages live in the arena and are
 * only counted.
 */
static void
free_subtree (uint64_t node, unsigned level, uint64_t *pages, uint64_t *nodes)
{
  unsigned k;

  if (node == 0)
    return;
  if ((node & TAG_MASK) == TAG_SINGLE) {
    (*pages)++;
    return;
  }
  if (level == 0) {
    *pages += leaf_count (node);
    if ((node & TAG_MASK) != TAG_SINGLE)
      (*nodes)++;
    free_leaf (node);
    return;
  }
  if ((node & TAG_MASK) == TAG_FULL) {
    struct inode_full *f = untag (node);
    for (k = 0; k < SP_TABLE_ENTRIES; ++k)
      free_subtree (atomic_load_explicit (&f->slot[k], memory_order_relaxed),
                    level - 1, pages, nodes);
  }
  else {
    struct inode_compact *c = untag (node);
    uint32_t n = atomic_load_explicit (&c->n, memory_order_relaxed);
    for (k = 0; k < n; ++k)
      free_subtree (atomic_load_explicit (&c->child[k], memory_order_relaxed),
                    level - 1, pages, nodes);
  }
  free (untag (node));
  (*nodes)++;
}

static void
sparse_destroy (void *store)
{
  struct sparse_array *sa = store;
  uint64_t pages = 0, nodes = 0;
  size_t k;
  unsigned i;

  if (sa == NULL)
    return;
  free_subtree (sa->root, sa->levels - 1, &pages, &nodes);
  for (k = 0; k < sa->nr_retired; ++k)
    free (sa->retired[k]);
  free (sa->retired);
  nbdkit_debug ("memory: freed %" PRIu64 " data pages, %" PRIu64
                " page tables and %zu replaced tables",
                pages, nodes, sa->nr_retired);
  munmap (sa->arena, (size_t) sa->arena_pages << SP_PAGE_SHIFT);
  free (sa->free_refs);
  for (i = 0; i < NR_STRIPES; ++i)
    pthread_rwlock_destroy (&sa->stripes[i].lock);
  for (i = 0; i < NR_CACHES; ++i)
    pthread_mutex_destroy (&sa->caches[i].lock);
  pthread_mutex_destroy (&sa->pool_lock);
  pthread_mutex_destroy (&sa->tree_lock);
  free (sa);
}

/* ------------------------------------------------------------------ */
/* Read and write. */

static int
sparse_read (void *store, void *buf, uint32_t count, uint64_t offset)
{
  struct sparse_array *sa = store;
  char *out = buf;

  while (count > 0) {
    uint32_t n = leaf_piece (offset, count);
    pthread_rwlock_t *lock = stripe_of (sa, offset);
    uint64_t v;

    if (lock_stripe (lock, false) == -1)
      return -1;
    v = leaf_value (sa, offset);
    count -= n;
    if (v == 0) {
      memset (out, 0, n);
      out += n;
      offset += n;
    }
    else {
      while (n > 0) {
        unsigned slot = slot_index (offset, 0);
        ref_t ref = leaf_get (v, slot);
        unsigned run = leaf_run (v, slot, pages_touched (offset, n), ref);
        uint32_t len = run_bytes (offset, n, run);

        if (ref != 0)
          memcpy (out, page_addr (sa, ref) + (offset & (SP_PAGE_SIZE - 1)),
                  len);
        else
          memset (out, 0, len);
        out += len;
        offset += len;
        n -= len;
      }
    }
    unlock_stripe (lock);
  }
  return 0;
}

/* New pages are usually not in memory yet (never used, or given back
 * with MADV_DONTNEED), and the first write to each 4 KiB page costs a
 * page fault.  For a run of new pages, one madvise (MADV_POPULATE_WRITE,
 * Linux >= 5.14) brings them all in at once, which is cheaper than a
 * fault per page, especially in a virtual machine.  Only pages that are
 * about to be written are populated, so this costs no memory.
 */
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#define POPULATE_MIN 2

static _Atomic bool populate_unsupported;

static void
populate (void *p, size_t len)
{
  if (atomic_load_explicit (&populate_unsupported, memory_order_relaxed))
    return;
  if (madvise (p, len, MADV_POPULATE_WRITE) == -1 && errno == EINVAL)
    atomic_store_explicit (&populate_unsupported, true, memory_order_relaxed);
}

/* The part of [start, start+total) (inside one region) that falls in
 * the N pages at sorted SLOTS of that region is copied from IN (which
 * holds the bytes of [start, start+total)) into the new pages REFS:
 * one memcpy for each stretch where both slots and refs follow each
 * other.
 */
static void
copy_to_new_pages (struct sparse_array *sa, const char *in, uint64_t start,
                   uint32_t total, const uint16_t *slots, const ref_t *refs,
                   unsigned n)
{
  const uint64_t base = start & ~(SP_LEAF_SPAN - 1);
  const uint64_t end = start + total;
  unsigned i, j;

  for (i = 0; i < n; i = j) {
    uint64_t ps, pe, from, to;

    for (j = i + 1; j < n && slots[j] == slots[j - 1] + 1 &&
           refs[j] == (uint64_t) refs[j - 1] + 1; ++j)
      ;
    ps = base + ((uint64_t) slots[i] << SP_PAGE_SHIFT);
    pe = base + ((uint64_t) (slots[j - 1] + 1) << SP_PAGE_SHIFT);
    from = ps > start ? ps : start;
    to = min_u64 (pe, end);
    if (j - i >= POPULATE_MIN)
      populate (page_addr (sa, refs[i]), (size_t) (j - i) << SP_PAGE_SHIFT);
    memcpy (page_addr (sa, refs[i]) + (from - ps), in + (from - start),
            to - from);
  }
}

/* Write [pos, pos+len), a run of pages that have no page in full leaf
 * L, holding the region's lock shared.  New pages are installed with a
 * compare-and-swap; where another writer installed one first, write
 * into that one instead.  Pages that would be all zero are not added.
 */
static int
install_pages (struct sparse_array *sa, struct leaf_full *l, uint64_t pos,
               const char *in, uint32_t len)
{
  const uint64_t start = pos;
  const uint32_t total = len;
  uint16_t slots[SP_TABLE_ENTRIES];
  ref_t refs[SP_TABLE_ENTRIES];
  unsigned n = 0, nlost = 0, k;
  uint32_t off;

  for (off = 0; off < total; ) {
    uint32_t piece = page_piece (pos + off, total - off);

    if (!is_zero (in + off, piece))
      slots[n++] = slot_index (pos + off, 0);
    off += piece;
  }
  if (n == 0)
    return 0;
  if (pool_alloc (sa, refs, n) == -1)
    return -1;
  copy_to_new_pages (sa, in, start, total, slots, refs, n);

  for (k = 0; k < n; ++k) {
    ref_t expected = 0;
    uint64_t ps, from, to;

    if (atomic_compare_exchange_strong_explicit (&l->ref[slots[k]], &expected,
                                                 refs[k],
                                                 memory_order_release,
                                                 memory_order_acquire))
      continue;
    /* Lost the race: clean our page and write into the winner's. */
    ps = (start & ~(SP_LEAF_SPAN - 1))
      + ((uint64_t) slots[k] << SP_PAGE_SHIFT);
    from = ps > start ? ps : start;
    to = min_u64 (ps + SP_PAGE_SIZE, start + total);
    memset (page_addr (sa, refs[k]) + (from - ps), 0, to - from);
    memcpy (page_addr (sa, expected) + (from - ps), in + (from - start),
            to - from);
    refs[nlost++] = refs[k];    /* nlost <= k: reuse the array */
  }
  if (n > nlost)
    atomic_fetch_add_explicit (&l->count, n - nlost, memory_order_relaxed);
  if (nlost > 0)
    pool_unused (sa, refs, nlost);
  return 0;
}

/* Write [pos, pos+n), inside one region, holding the region's lock
 * shared.  Returns 0 when done, -1 on error, or 1 if a page must be
 * added to a non-full leaf: then the caller retries with the lock held
 * exclusive.
 */
static int
write_shared (struct sparse_array *sa, const char *in, uint32_t n,
              uint64_t pos)
{
  uint64_t v = leaf_value (sa, pos);
  const bool full = v != 0 && (v & TAG_MASK) == TAG_FULL;

  while (n > 0) {
    unsigned slot = slot_index (pos, 0);
    ref_t ref = leaf_get (v, slot);
    unsigned run = leaf_run (v, slot, pages_touched (pos, n), ref);
    uint32_t len = run_bytes (pos, n, run);

    if (ref != 0)
      memcpy (page_addr (sa, ref) + (pos & (SP_PAGE_SIZE - 1)), in, len);
    else if (full) {
      if (install_pages (sa, untag (v), pos, in, len) == -1)
        return -1;
    }
    else if (!is_zero (in, len))
      return 1;
    in += len;
    pos += len;
    n -= len;
  }
  return 0;
}

/* Write [pos, pos+n), inside one region, holding the region's lock
 * exclusive: may add pages to the leaf and change its shape.
 */
static int
write_exclusive (struct sparse_array *sa, const char *in, uint32_t n,
                 uint64_t pos)
{
  const uint64_t start = pos;
  const uint32_t total = n;
  const char *const in0 = in;
  uint64_t v = leaf_value (sa, pos), nv;
  uint16_t miss[SP_TABLE_ENTRIES];
  ref_t new_refs[SP_TABLE_ENTRIES];
  uint16_t old_slots[COMPACT_LEAF_MAX], slots[SP_TABLE_ENTRIES];
  ref_t old_refs[COMPACT_LEAF_MAX], refs[SP_TABLE_ENTRIES];
  unsigned nmiss = 0, nold, i, j, k;

  /* Someone made the leaf full meanwhile: no need for this lock. */
  if (v != 0 && (v & TAG_MASK) == TAG_FULL)
    return write_shared (sa, in, n, pos);

  /* Write into the pages that exist; list those that must be added. */
  while (n > 0) {
    unsigned slot = slot_index (pos, 0);
    ref_t ref = leaf_get (v, slot);
    unsigned run = leaf_run (v, slot, pages_touched (pos, n), ref);
    uint32_t len = run_bytes (pos, n, run);

    if (ref != 0)
      memcpy (page_addr (sa, ref) + (pos & (SP_PAGE_SIZE - 1)), in, len);
    else {
      /* Pages that would be all zero are not added. */
      uint32_t off, piece;

      for (off = 0; off < len; off += piece) {
        piece = page_piece (pos + off, len - off);
        if (!is_zero (in + off, piece))
          miss[nmiss++] = slot_index (pos + off, 0);
      }
    }
    in += len;
    pos += len;
    n -= len;
  }
  if (nmiss == 0)
    return 0;

  /* Fill new pages. */
  if (pool_alloc (sa, new_refs, nmiss) == -1)
    return -1;
  copy_to_new_pages (sa, in0, start, total, miss, new_refs, nmiss);

  /* Merge them into the leaf's entries (both lists are sorted). */
  nold = leaf_entries (v, old_slots, old_refs);
  for (i = j = k = 0; i < nold || j < nmiss; ++k) {
    if (j == nmiss || (i < nold && old_slots[i] < miss[j])) {
      slots[k] = old_slots[i];
      refs[k] = old_refs[i++];
    }
    else {
      slots[k] = miss[j];
      refs[k] = new_refs[j++];
    }
  }
  nv = build_leaf (slots, refs, k,
                   (v & TAG_MASK) == TAG_COMPACT ? untag (v) : NULL);
  if (nv == 0) {
    nbdkit_error ("memory: cannot allocate page table: %m");
    errno = ENOMEM;
    goto undo;
  }
  if (nv != v) {
    if (set_leaf_value (sa, start, nv) == -1) {
      free_leaf (nv);
      goto undo;
    }
    free_leaf (v);
  }
  return 0;

 undo:
  {
    int err = errno;
    pool_release (sa, new_refs, nmiss);
    errno = err;
  }
  return -1;
}

static int
sparse_write (void *store, const void *buf, uint32_t count, uint64_t offset)
{
  struct sparse_array *sa = store;
  const char *in = buf;

  while (count > 0) {
    uint32_t n = leaf_piece (offset, count);
    pthread_rwlock_t *lock = stripe_of (sa, offset);
    int r;

    if (lock_stripe (lock, false) == -1)
      return -1;
    r = write_shared (sa, in, n, offset);
    unlock_stripe (lock);
    if (r == 1) {
      if (lock_stripe (lock, true) == -1)
        return -1;
      r = write_exclusive (sa, in, n, offset);
      unlock_stripe (lock);
    }
    if (r == -1)
      return -1;
    in += n;
    offset += n;
    count -= n;
  }
  return 0;
}

/* ------------------------------------------------------------------ */
/* Zero and trim. */

/* Zero [pos, pos+n) inside one region, leaving pages allocated.  The
 * caller holds the region's lock shared.
 */
static void
zero_keep (struct sparse_array *sa, uint32_t n, uint64_t pos)
{
  uint64_t v = leaf_value (sa, pos);

  if (v == 0)
    return;
  while (n > 0) {
    unsigned slot = slot_index (pos, 0);
    ref_t ref = leaf_get (v, slot);
    unsigned run = leaf_run (v, slot, pages_touched (pos, n), ref);
    uint32_t len = run_bytes (pos, n, run);

    if (ref != 0)
      memset (page_addr (sa, ref) + (pos & (SP_PAGE_SIZE - 1)), 0, len);
    pos += len;
    n -= len;
  }
}

/* Zero [pos, pos+n) inside one region and free the pages that end up
 * all zero, adding them to F.  The caller holds the region's lock
 * exclusive.
 */
static void
zero_free (struct sparse_array *sa, uint32_t n, uint64_t pos, struct freed *f)
{
  const uint64_t start = pos;
  uint64_t v = leaf_value (sa, pos), nv;
  uint16_t gone[SP_TABLE_ENTRIES];
  unsigned ngone = 0, k, m;

  if (v == 0)
    return;
  while (n > 0) {
    uint32_t len = page_piece (pos, n);
    unsigned slot = slot_index (pos, 0);
    ref_t ref = leaf_get (v, slot);

    if (ref != 0) {
      char *page = page_addr (sa, ref);

      if (len < SP_PAGE_SIZE)
        memset (page + (pos & (SP_PAGE_SIZE - 1)), 0, len);
      if (len == SP_PAGE_SIZE || is_zero (page, SP_PAGE_SIZE)) {
        gone[ngone++] = slot;
        f->refs[f->n++] = ref;
      }
    }
    pos += len;
    n -= len;
  }
  if (ngone == 0)
    return;

  switch (v & TAG_MASK) {
  case TAG_FULL: {
    struct leaf_full *l = untag (v);
    uint32_t left;

    for (k = 0; k < ngone; ++k)
      atomic_store_explicit (&l->ref[gone[k]], 0, memory_order_relaxed);
    left = atomic_load_explicit (&l->count, memory_order_relaxed) - ngone;
    atomic_store_explicit (&l->count, left, memory_order_relaxed);
    if (sa->levels == 1 || left > COMPACT_LEAF_MAX / 2)
      return;                   /* the root leaf stays */
    if (left == 0)
      nv = 0;
    else {
      uint16_t slots[COMPACT_LEAF_MAX / 2];
      ref_t refs[COMPACT_LEAF_MAX / 2];

      for (k = m = 0; k < SP_TABLE_ENTRIES && m < left; ++k) {
        ref_t ref = atomic_load_explicit (&l->ref[k], memory_order_relaxed);
        if (ref != 0) {
          slots[m] = k;
          refs[m++] = ref;
        }
      }
      nv = build_leaf (slots, refs, m, NULL);
      if (nv == 0)
        return;                 /* no memory: keep it full */
    }
    break;
  }
  case TAG_COMPACT: {
    struct leaf_compact *l = untag (v);
    uint16_t *slots = lc_slots (l);
    unsigned j = 0;

    /* Both lists are sorted: drop the slots that are gone. */
    for (k = m = 0; k < l->n; ++k) {
      if (j < ngone && slots[k] == gone[j]) {
        j++;
        continue;
      }
      slots[m] = slots[k];
      l->ref[m++] = l->ref[k];
    }
    l->n = m;
    if (m == 0)
      nv = 0;
    else if (m == 1)
      nv = make_single (slots[0], l->ref[0]);
    else if (lc_cap_for (m) * 2 <= l->cap) {
      nv = build_leaf (slots, l->ref, m, NULL);
      if (nv == 0)
        return;                 /* no memory: keep the big one */
    }
    else
      return;
    break;
  }
  default:
    nv = 0;
  }

  set_leaf_value (sa, start, nv); /* cannot fail: the slot exists */
  free_leaf (v);
}

static int
sparse_zero (void *store, uint32_t count, uint64_t offset, bool may_free)
{
  struct sparse_array *sa = store;
  struct freed freed = { .n = 0 };
  struct freed *f = may_free ? &freed : NULL;

  while (count > 0) {
    uint32_t n = leaf_piece (offset, count);
    pthread_rwlock_t *lock = stripe_of (sa, offset);

    if (lock_stripe (lock, may_free) == -1) {
      if (f)
        freed_flush (sa, f);
      return -1;
    }
    if (may_free)
      zero_free (sa, n, offset, f);
    else
      zero_keep (sa, n, offset);
    unlock_stripe (lock);

    /* Outside the lock: give the freed pages back to the kernel. */
    if (f && f->n > FREE_BATCH - SP_TABLE_ENTRIES)
      freed_flush (sa, f);
    offset += n;
    count -= n;
  }

  if (f)
    freed_flush (sa, f);
  return 0;
}

/* ------------------------------------------------------------------ */
/* Extents. */

/* Extents are merged into runs of the same type before they are
 * handed to the server.
 */
struct run {
  struct nbdkit_extents *extents;
  uint64_t start, len;
  uint32_t type;
  unsigned emitted;
  bool req_one;
};

/* With req_one the server keeps only the first extent: stop early. */
static inline bool
run_done (const struct run *r)
{
  return r->req_one && r->emitted > 0;
}

#define HOLE (NBDKIT_EXTENT_HOLE | NBDKIT_EXTENT_ZERO)

static int
add_to_run (struct run *r, uint64_t pos, uint64_t len, uint32_t type)
{
  if (len == 0)
    return 0;
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

/* Describe leaf V in [pos, end), which lie in one region. */
static int
scan_leaf (struct run *r, uint64_t v, uint64_t pos, uint64_t end)
{
  const uint64_t base = pos & ~(SP_LEAF_SPAN - 1);
  uint16_t one_slot;
  ref_t one_ref;
  const uint16_t *slots;
  unsigned n, k;

  if (v == 0)
    return add_to_run (r, pos, end - pos, HOLE);

  if ((v & TAG_MASK) == TAG_FULL) {
    struct leaf_full *l = untag (v);

    while (pos < end && !run_done (r)) {
      uint64_t next = min_u64 (slot_end (pos, 0), end);
      ref_t ref = atomic_load_explicit (&l->ref[slot_index (pos, 0)],
                                        memory_order_relaxed);

      if (add_to_run (r, pos, next - pos, ref != 0 ? 0 : HOLE) == -1)
        return -1;
      pos = next;
    }
    return 0;
  }

  if ((v & TAG_MASK) == TAG_SINGLE) {
    one_slot = single_slot (v);
    one_ref = single_ref (v);
    slots = &one_slot;
    n = 1;
    (void) one_ref;
  }
  else {
    struct leaf_compact *l = untag (v);
    slots = lc_slots (l);
    n = l->n;
  }
  for (k = 0; k < n && pos < end && !run_done (r); ++k) {
    uint64_t ps = base + ((uint64_t) slots[k] << SP_PAGE_SHIFT);
    uint64_t pe = min_u64 (ps + SP_PAGE_SIZE, end);

    if (pe <= pos)
      continue;
    if (ps >= end)
      break;
    if (ps > pos) {
      if (add_to_run (r, pos, ps - pos, HOLE) == -1)
        return -1;
      pos = ps;
    }
    if (add_to_run (r, pos, pe - pos, 0) == -1)
      return -1;
    pos = pe;
  }
  if (run_done (r))
    return 0;
  return add_to_run (r, pos, end - pos, HOLE);
}

/* POS lies in interior node NODE at level LEVEL, in a slot that is
 * empty.  Return the start of the next slot of NODE that holds
 * something, or the end of NODE's span (UINT64_MAX if past 2^64).
 */
static uint64_t
next_used (uint64_t node, unsigned level, uint64_t pos)
{
  const unsigned shift = slot_shift (level);
  const unsigned i = slot_index (pos, level);
  const uint64_t base = shift + SP_TABLE_BITS >= 64 ? 0
    : pos & ~(((uint64_t) 1 << (shift + SP_TABLE_BITS)) - 1);
  unsigned best = SP_TABLE_ENTRIES, k;

  if ((node & TAG_MASK) == TAG_FULL) {
    struct inode_full *f = untag (node);
    for (k = i + 1; k < SP_TABLE_ENTRIES; ++k)
      if (atomic_load_explicit (&f->slot[k], memory_order_relaxed) != 0) {
        best = k;
        break;
      }
  }
  else {
    struct inode_compact *c = untag (node);
    uint32_t n = atomic_load_explicit (&c->n, memory_order_acquire);
    const uint16_t *idx = ic_idx (c);
    for (k = 0; k < n; ++k)
      if (idx[k] > i && idx[k] < best &&
          atomic_load_explicit (&c->child[k], memory_order_relaxed) != 0)
        best = idx[k];
  }
  /* base + best << shift, saturating. */
  if (best > (UINT64_MAX - base) >> shift)
    return UINT64_MAX;
  return base + ((uint64_t) best << shift);
}

static int
sparse_extents (void *store, uint32_t count, uint64_t offset,
                bool req_one, struct nbdkit_extents *extents)
{
  struct sparse_array *sa = store;
  struct run r = { .extents = extents, .req_one = req_one };
  const uint64_t end = offset + count;
  uint64_t pos = offset;

  while (pos < end && !run_done (&r)) {
    uint64_t next = min_u64 (slot_end (pos, 1), end);
    pthread_rwlock_t *lock;
    int ret;

    if (sa->levels > 1) {
      /* Walk without locks and skip empty parts of the tree at once.
       * Interior nodes are never freed while the store exists.
       */
      uint64_t node = sa->root;
      unsigned level = sa->levels - 1;
      bool known = false;
      uint32_t type = HOLE;

      for (;;) {
        _Atomic uint64_t *slot = node_slot (node, slot_index (pos, level));
        uint64_t child = slot ? atomic_load_explicit (slot,
                                                      memory_order_acquire)
                              : 0;

        if (child == 0) {
          next = min_u64 (next_used (node, level, pos), end);
          known = true;
          break;
        }
        if (level == 1)
          break;
        if ((child & TAG_MASK) == TAG_SINGLE) {
          /* One page in this slot's span, stored in the slot. */
          uint64_t span = (uint64_t) 1 << slot_shift (level);
          uint64_t ps = (pos & ~(span - 1))
            + (single_rel_at (child, level) << SP_PAGE_SHIFT);

          if (pos < ps)
            next = min_u64 (ps, end);
          else if (pos < ps + SP_PAGE_SIZE) {
            next = min_u64 (ps + SP_PAGE_SIZE, end);
            type = 0;
          }
          else
            next = min_u64 (slot_end (pos, level), end);
          known = true;
          break;
        }
        node = child;
        level--;
      }
      if (known) {
        if (add_to_run (&r, pos, next - pos, type) == -1)
          return -1;
        pos = next;
        continue;
      }
    }

    /* A region with a leaf: look at it again under its lock. */
    lock = stripe_of (sa, pos);
    if (lock_stripe (lock, false) == -1)
      return -1;
    ret = scan_leaf (&r, leaf_value (sa, pos), pos, next);
    unlock_stripe (lock);
    if (ret == -1)
      return -1;
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
