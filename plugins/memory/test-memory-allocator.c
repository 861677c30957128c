/* test-memory-allocator.c: stress test and microbenchmark of the
 * memory plugin's allocators, called directly (no server, no client).
 *
 * Part of a clean-room implementation of nbdkit.
 *
 *   test-memory-allocator            run the tests (meson test)
 *   test-memory-allocator --bench [THREADS [SECONDS]]
 *                                    time the sparse allocator
 *   test-memory-allocator --overhead measure its memory overhead
 *
 * The stress test runs several threads against one store at once.  The
 * disk is cut into "units" (byte ranges, deliberately not page aligned
 * in some runs, and crossing 2 MiB regions in others) and each unit
 * belongs to one thread, so every thread can check what it reads
 * against its own copy of the data while the other threads change the
 * neighbouring bytes, pages and regions.  Threads write random data,
 * zeroes and mostly-zero data, read and compare, zero with and without
 * permission to free, and check block status.  Another thread keeps
 * reading and asking for extents over everything.  At the end the whole
 * disk is checked, then trimmed, and must be empty again.  Build with
 * -Db_sanitize=thread or address,undefined to check the locking and
 * the memory handling.
 */

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include "allocator.h"

#define PAGE 4096
#define REGION ((uint64_t) 2 << 20)
#define HOLE (NBDKIT_EXTENT_HOLE | NBDKIT_EXTENT_ZERO)

static bool verbose;

/* ------------------------------------------------------------------ */
/* Stand-ins for the server functions the allocators use. */

void
nbdkit_error (const char *fs, ...)
{
  va_list args;

  va_start (args, fs);
  fprintf (stderr, "error: ");
  vfprintf (stderr, fs, args);
  fprintf (stderr, "\n");
  va_end (args);
}

void
nbdkit_debug (const char *fs, ...)
{
  va_list args;

  if (!verbose)
    return;
  va_start (args, fs);
  fprintf (stderr, "debug: ");
  vfprintf (stderr, fs, args);
  fprintf (stderr, "\n");
  va_end (args);
}

/* Collects the extents of one request and checks the rules the server
 * enforces: contiguous from the requested offset, inside the request,
 * no empty extents, known types.
 */
struct nbdkit_extents {
  uint64_t start, end, next;
  size_t n, cap;
  struct { uint64_t off, len; uint32_t type; } *e;
};

int
nbdkit_add_extent (struct nbdkit_extents *x, uint64_t off, uint64_t len,
                   uint32_t type)
{
  if (off != x->next || len == 0 || off + len > x->end ||
      (type != 0 && type != HOLE)) {
    fprintf (stderr, "FAIL: bad extent %" PRIu64 "+%" PRIu64 " type %u "
             "(request %" PRIu64 "..%" PRIu64 ", expected start %" PRIu64
             ")\n", off, len, type, x->start, x->end, x->next);
    abort ();
  }
  if (x->n == x->cap) {
    x->cap = x->cap ? x->cap * 2 : 16;
    x->e = realloc (x->e, x->cap * sizeof *x->e);
    if (x->e == NULL) {
      perror ("realloc");
      abort ();
    }
  }
  x->e[x->n].off = off;
  x->e[x->n].len = len;
  x->e[x->n].type = type;
  x->n++;
  x->next = off + len;
  return 0;
}

static void
get_extents (const struct allocator_ops *ops, void *store,
             uint64_t off, uint32_t count, bool req_one,
             struct nbdkit_extents *x)
{
  x->start = x->next = off;
  x->end = off + count;
  x->n = 0;
  if (ops->extents (store, count, off, req_one, x) == -1) {
    fprintf (stderr, "FAIL: extents %" PRIu64 "+%" PRIu32 ": %m\n",
             off, count);
    abort ();
  }
  /* With req_one the server keeps only the first extent. */
  if (x->n == 0 || (!req_one && x->next != x->end)) {
    fprintf (stderr, "FAIL: extents %" PRIu64 "+%" PRIu32 " req_one=%d "
             "returned %zu extents up to %" PRIu64 "\n",
             off, count, req_one, x->n, x->next);
    abort ();
  }
}

/* Type of byte POS according to extents X (which must cover it). */
static uint32_t
type_at (const struct nbdkit_extents *x, uint64_t pos)
{
  size_t lo = 0, hi = x->n;

  while (hi - lo > 1) {
    size_t mid = (lo + hi) / 2;
    if (x->e[mid].off <= pos)
      lo = mid;
    else
      hi = mid;
  }
  return x->e[lo].type;
}

/* ------------------------------------------------------------------ */
/* Helpers. */

#define CHECK(ok, ...)                                                  \
  do {                                                                  \
    if (!(ok)) {                                                        \
      fprintf (stderr, "FAIL: %s:%d: ", __FILE__, __LINE__);            \
      fprintf (stderr, __VA_ARGS__);                                    \
      fprintf (stderr, "\n");                                           \
      abort ();                                                         \
    }                                                                   \
  } while (0)

static uint64_t
rnd (uint64_t *s)
{
  /* xorshift64* */
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return *s * 0x2545F4914F6CDD1DULL;
}

static uint64_t
rnd_below (uint64_t *s, uint64_t n)
{
  return n ? rnd (s) % n : 0;
}

static void
fill_random (uint64_t *s, char *p, size_t len)
{
  while (len >= 8) {
    uint64_t r = rnd (s);
    memcpy (p, &r, 8);
    p += 8;
    len -= 8;
  }
  while (len-- > 0)
    *p++ = rnd (s) | 1;
}

static void *
xmalloc (size_t n)
{
  void *p = malloc (n);
  if (p == NULL) {
    perror ("malloc");
    exit (EXIT_FAILURE);
  }
  return p;
}

static bool
all_zero (const char *p, size_t n)
{
  while (n-- > 0)
    if (*p++)
      return false;
  return true;
}

static double
now (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
do_read (const struct allocator_ops *ops, void *store, void *buf,
         uint32_t n, uint64_t off)
{
  CHECK (ops->read (store, buf, n, off) == 0,
         "read %" PRIu64 "+%" PRIu32 ": %m", off, n);
}

static void
do_write (const struct allocator_ops *ops, void *store, const void *buf,
          uint32_t n, uint64_t off)
{
  CHECK (ops->write (store, buf, n, off) == 0,
         "write %" PRIu64 "+%" PRIu32 ": %m", off, n);
}

static void
do_zero (const struct allocator_ops *ops, void *store, uint32_t n,
         uint64_t off, bool may_free)
{
  CHECK (ops->zero (store, n, off, may_free) == 0,
         "zero %" PRIu64 "+%" PRIu32 ": %m", off, n);
}

/* ------------------------------------------------------------------ */
/* The multi-threaded stress test. */

struct zone {
  uint64_t off, len;
  char *shadow;                 /* what the zone should contain */
};

struct config {
  const char *name;
  const struct allocator_ops *ops;
  uint64_t size;
  uint64_t unit;                /* bytes per unit */
  unsigned nthreads;
  unsigned nops;                /* per thread */
  unsigned nzones;
  struct zone zones[8];
};

struct stress {
  struct config *c;
  void *store;
  atomic_bool stop;
};

struct worker {
  struct stress *st;
  unsigned id;
  pthread_t thread;
};

static inline unsigned
owner (const struct config *c, unsigned z, uint64_t unit)
{
  return (z + unit) % c->nthreads;
}

/* Pick a random piece [*off, *off + *len) of a random unit owned by
 * thread ID, as a zone number and an offset inside the zone.
 */
static unsigned
pick (const struct config *c, unsigned id, uint64_t *s,
      uint64_t *zoff, uint32_t *len)
{
  for (;;) {
    unsigned z = rnd_below (s, c->nzones);
    const struct zone *zn = &c->zones[z];
    uint64_t nunits = (zn->len + c->unit - 1) / c->unit;
    uint64_t u = rnd_below (s, nunits);
    uint64_t us, ue, a, b;

    if (owner (c, z, u) != id)
      continue;
    us = u * c->unit;
    ue = us + c->unit < zn->len ? us + c->unit : zn->len;
    switch (rnd_below (s, 4)) {
    case 0:                     /* the whole unit */
      a = us, b = ue;
      break;
    case 1: {                   /* whole pages of it */
      a = (us + PAGE - 1) / PAGE * PAGE;
      b = a + (1 + rnd_below (s, 3)) * PAGE;
      if (a >= ue)
        a = us;
      if (b > ue)
        b = ue;
      break;
    }
    default:                    /* anything */
      a = us + rnd_below (s, ue - us);
      b = a + 1 + rnd_below (s, ue - a);
      break;
    }
    *zoff = a;
    *len = b - a;
    return z;
  }
}

static void *
worker_thread (void *arg)
{
  struct worker *w = arg;
  struct config *c = w->st->c;
  const struct allocator_ops *ops = c->ops;
  void *store = w->st->store;
  uint64_t s = 0x9E3779B97F4A7C15ULL * (w->id + 1) + c->size;
  char *buf = xmalloc (c->unit + PAGE), *data = xmalloc (c->unit + PAGE);
  struct nbdkit_extents x = { 0 };
  unsigned i;

  for (i = 0; i < c->nops; ++i) {
    uint64_t zoff;
    uint32_t len;
    unsigned z = pick (c, w->id, &s, &zoff, &len);
    struct zone *zn = &c->zones[z];
    uint64_t off = zn->off + zoff;
    unsigned op = rnd_below (&s, 100);

    if (op < 40) {              /* write */
      switch (rnd_below (&s, 6)) {
      case 0:
        memset (data, 0, len);
        break;
      case 1:
        memset (data, 0, len);
        data[rnd_below (&s, len)] = 1 + rnd_below (&s, 255);
        break;
      default:
        fill_random (&s, data, len);
      }
      do_write (ops, store, data, len, off);
      memcpy (zn->shadow + zoff, data, len);
    }
    else if (op < 70) {         /* read and compare */
      do_read (ops, store, buf, len, off);
      CHECK (memcmp (buf, zn->shadow + zoff, len) == 0,
             "%s: thread %u: data differs at %" PRIu64 "+%" PRIu32,
             c->name, w->id, off, len);
    }
    else if (op < 80) {         /* zero (trim) */
      do_zero (ops, store, len, off, true);
      memset (zn->shadow + zoff, 0, len);
    }
    else if (op < 90) {         /* zero, keep allocated */
      do_zero (ops, store, len, off, false);
      memset (zn->shadow + zoff, 0, len);
    }
    else if (ops->extents) {    /* non-zero data is reported as data */
      uint64_t p;

      get_extents (ops, store, off, len, rnd_below (&s, 4) == 0, &x);
      for (p = off; p < x.next; ++p)
        if (zn->shadow[p - zn->off] != 0)
          CHECK (type_at (&x, p) == 0,
                 "%s: thread %u: byte %" PRIu64 " holds data but is "
                 "reported as a hole", c->name, w->id, p);
    }
  }
  free (x.e);
  free (buf);
  free (data);
  return NULL;
}

/* Reads and asks for extents everywhere until told to stop.  Nothing
 * is checked: this is for the race detectors.
 */
static void *
scanner_thread (void *arg)
{
  struct stress *st = arg;
  struct config *c = st->c;
  uint64_t s = 12345;
  char *buf = xmalloc (1 << 20);
  struct nbdkit_extents x = { 0 };

  while (!atomic_load (&st->stop)) {
    const struct zone *zn = &c->zones[rnd_below (&s, c->nzones)];
    uint64_t off, len = 1 + rnd_below (&s, 1 << 20);

    /* Read just before or after a zone: the same leaves and pages as
     * the workers use, but not the same bytes (their data is theirs).
     */
    if (rnd_below (&s, 2) && zn->off > 0) {
      if (len > zn->off)
        len = zn->off;
      off = zn->off - len;
    }
    else {
      off = zn->off + zn->len;
      if (len > c->size - off)
        len = c->size - off;
    }
    if (len > 0)
      do_read (c->ops, st->store, buf, len, off);
    if (c->ops->extents) {
      uint64_t start = rnd_below (&s, c->size);
      uint32_t n = 1 + rnd_below (&s, UINT32_MAX);

      if (n > c->size - start)
        n = c->size - start;
      get_extents (c->ops, st->store, start, n, false, &x);
      start = zn->off + rnd_below (&s, zn->len);
      n = 1 + rnd_below (&s, 64 << 20);
      if (n > c->size - start)
        n = c->size - start;
      get_extents (c->ops, st->store, start, n, rnd_below (&s, 4) == 0, &x);
    }
  }
  free (x.e);
  free (buf);
  return NULL;
}

/* Check the whole of every zone, then trim everything and check that
 * the store is empty.
 */
static void
final_check (struct config *c, void *store)
{
  const struct allocator_ops *ops = c->ops;
  const uint32_t chunk = 1 << 20;
  char *buf = xmalloc (chunk);
  struct nbdkit_extents x = { 0 };
  unsigned z;
  uint64_t p;

  for (z = 0; z < c->nzones; ++z) {
    struct zone *zn = &c->zones[z];

    for (p = 0; p < zn->len; p += chunk) {
      uint32_t n = zn->len - p < chunk ? zn->len - p : chunk;
      uint64_t q;

      do_read (ops, store, buf, n, zn->off + p);
      CHECK (memcmp (buf, zn->shadow + p, n) == 0,
             "%s: final contents differ in %" PRIu64 "+%" PRIu32,
             c->name, zn->off + p, n);
      if (ops->extents) {
        get_extents (ops, store, zn->off + p, n, false, &x);
        for (q = 0; q < n; ++q)
          if (zn->shadow[p + q] != 0)
            CHECK (type_at (&x, zn->off + p + q) == 0,
                   "%s: final: byte %" PRIu64 " reported as a hole",
                   c->name, zn->off + p + q);
      }
    }
  }

  /* Trim everything: all of it must read as zeroes and, for the
   * sparse allocator, be reported as a hole.
   */
  for (z = 0; z < c->nzones; ++z) {
    struct zone *zn = &c->zones[z];

    for (p = 0; p < zn->len; p += chunk) {
      uint32_t n = zn->len - p < chunk ? zn->len - p : chunk;
      do_zero (ops, store, n, zn->off + p, true);
      do_read (ops, store, buf, n, zn->off + p);
      CHECK (all_zero (buf, n), "%s: not zero after trim", c->name);
    }
    memset (zn->shadow, 0, zn->len);
  }
  if (ops->extents) {
    uint64_t pos = 0;

    /* Whole-disk walk, in the biggest pieces a request can ask for. */
    while (pos < c->size) {
      uint32_t n = c->size - pos < 0xfffff000 ? c->size - pos : 0xfffff000;

      get_extents (ops, store, pos, n, false, &x);
      CHECK (x.n == 1 && x.e[0].type == HOLE,
             "%s: store not empty after trimming everything "
             "(%zu extents at %" PRIu64 ")", c->name, x.n, pos);
      pos += n;
      if (pos > ((uint64_t) 1 << 40))
        break;                  /* far enough: the zones are checked */
    }
    for (z = 0; z < c->nzones; ++z) {
      get_extents (ops, store, c->zones[z].off, c->zones[z].len, false, &x);
      CHECK (x.n == 1 && x.e[0].type == HOLE,
             "%s: zone %u not empty after trimming everything",
             c->name, z);
    }
  }
  free (x.e);
  free (buf);
}

static void
run_stress (struct config *c)
{
  struct stress st = { .c = c };
  struct worker *w;
  pthread_t scanner;
  unsigned i;
  double t = now ();

  st.store = c->ops->create (c->size, false);
  CHECK (st.store != NULL, "%s: create: %m", c->name);
  for (i = 0; i < c->nzones; ++i) {
    CHECK (c->zones[i].off + c->zones[i].len <= c->size, "bad zone");
    c->zones[i].shadow = calloc (1, c->zones[i].len);
    CHECK (c->zones[i].shadow != NULL, "calloc");
  }

  w = calloc (c->nthreads, sizeof *w);
  CHECK (w != NULL, "calloc");
  CHECK (pthread_create (&scanner, NULL, scanner_thread, &st) == 0,
         "pthread_create");
  for (i = 0; i < c->nthreads; ++i) {
    w[i].st = &st;
    w[i].id = i;
    CHECK (pthread_create (&w[i].thread, NULL, worker_thread, &w[i]) == 0,
           "pthread_create");
  }
  for (i = 0; i < c->nthreads; ++i)
    pthread_join (w[i].thread, NULL);
  atomic_store (&st.stop, true);
  pthread_join (scanner, NULL);

  final_check (c, st.store);
  c->ops->destroy (st.store);
  for (i = 0; i < c->nzones; ++i)
    free (c->zones[i].shadow);
  free (w);
  printf ("ok: %s (%.1f s)\n", c->name, now () - t);
  fflush (stdout);
}

/* ------------------------------------------------------------------ */
/* Single-threaded: walk one region through every leaf shape. */

static void
check_region (const struct allocator_ops *ops, void *store, uint64_t base,
              const char *shadow, char *buf, struct nbdkit_extents *x)
{
  unsigned k;

  do_read (ops, store, buf, REGION, base);
  CHECK (memcmp (buf, shadow, REGION) == 0, "shapes: contents differ");
  get_extents (ops, store, base, REGION, false, x);
  for (k = 0; k < REGION / PAGE; ++k) {
    bool data = !all_zero (shadow + k * PAGE, PAGE);
    /* Pages are freed exactly when they become zero here. */
    CHECK ((type_at (x, base + k * PAGE) == 0) == data,
           "shapes: page %u: extent type %u, data %d", k,
           type_at (x, base + k * PAGE), data);
  }
}

static void
test_shapes (uint64_t size, uint64_t base)
{
  const struct allocator_ops *ops = &sparse_allocator;
  void *store = ops->create (size, false);
  char *shadow = calloc (1, REGION), *buf = xmalloc (REGION);
  char page[PAGE];
  unsigned order[REGION / PAGE], k, n = REGION / PAGE;
  uint64_t s = 42 + size;
  struct nbdkit_extents x = { 0 };

  CHECK (store != NULL && shadow != NULL, "shapes: create");
  for (k = 0; k < n; ++k)
    order[k] = k;
  for (k = n - 1; k > 0; --k) {
    unsigned j = rnd_below (&s, k + 1), t = order[k];
    order[k] = order[j];
    order[j] = t;
  }

  /* Add pages one by one (some partial), through single, compact and
   * full leaves.
   */
  for (k = 0; k < n; ++k) {
    unsigned p = order[k];
    uint32_t a = k % 3 == 0 ? rnd_below (&s, PAGE) : 0;
    uint32_t len = k % 3 == 0 ? 1 + rnd_below (&s, PAGE - a) : PAGE;

    fill_random (&s, page, len);
    do_write (ops, store, page, len, base + p * PAGE + a);
    memcpy (shadow + p * PAGE + a, page, len);
    if (k < 80 || k % 37 == 0)
      check_region (ops, store, base, shadow, buf, &x);
  }
  check_region (ops, store, base, shadow, buf, &x);

  /* Zero with NO_HOLE keeps pages; zeroing a page in two halves with
   * permission to free frees it.
   */
  do_zero (ops, store, 3 * PAGE, base, false);
  memset (shadow, 0, 3 * PAGE);
  do_read (ops, store, buf, REGION, base);
  CHECK (memcmp (buf, shadow, REGION) == 0, "shapes: after NO_HOLE zero");
  get_extents (ops, store, base, 3 * PAGE, false, &x);
  CHECK (x.n == 1 && x.e[0].type == 0, "shapes: NO_HOLE zero freed pages");
  do_zero (ops, store, 3 * PAGE, base, true);

  /* Now remove them one by one, half of them in two partial steps. */
  for (k = 0; k < n; ++k) {
    unsigned p = order[(k * 7) % n];

    if (k % 2) {
      do_zero (ops, store, PAGE / 2, base + p * PAGE + PAGE / 2, true);
      memset (shadow + p * PAGE + PAGE / 2, 0, PAGE / 2);
      do_zero (ops, store, PAGE / 2, base + p * PAGE, true);
    }
    else
      do_zero (ops, store, PAGE, base + p * PAGE, true);
    memset (shadow + p * PAGE, 0, PAGE);
    if (n - k < 80 || k % 41 == 0)
      check_region (ops, store, base, shadow, buf, &x);
  }
  get_extents (ops, store, 0, size < UINT32_MAX ? size : UINT32_MAX,
               false, &x);
  CHECK (x.n == 1 && x.e[0].type == HOLE, "shapes: not empty at the end");

  /* Big writes straight into an empty region, and an unaligned write
   * across two regions.
   */
  if (base + 2 * REGION <= size) {
    char *src = xmalloc (REGION);

    fill_random (&s, src, REGION);
    do_write (ops, store, src, REGION, base);
    do_write (ops, store, src, REGION - 100, base + REGION / 2 + 50);
    memcpy (shadow, src, REGION / 2 + 50);
    memcpy (shadow + REGION / 2 + 50, src, REGION / 2 - 50);
    check_region (ops, store, base, shadow, buf, &x);
    do_read (ops, store, buf, REGION / 2 - 50, base + REGION);
    CHECK (memcmp (buf, src + REGION / 2 - 50, REGION / 2 - 50) == 0,
           "shapes: second region");
    free (src);
    do_zero (ops, store, REGION, base, true);
    do_zero (ops, store, REGION, base + REGION, true);
    get_extents (ops, store, base, 2 * REGION, false, &x);
    CHECK (x.n == 1 && x.e[0].type == HOLE, "shapes: not empty after trim");
  }

  ops->destroy (store);
  free (x.e);
  free (shadow);
  free (buf);
  printf ("ok: leaf shapes, size %" PRIu64 "\n", size);
}

#if defined (__SANITIZE_THREAD__)
#define FAR_FILL_MIB 16
#define TSAN 1                  /* everything is ~10x slower */
#else
#define FAR_FILL_MIB 520
#define TSAN 0
#endif

/* Writes far apart on the largest disk, and reads of what is around. */
static void
test_far_apart (void)
{
  const struct allocator_ops *ops = &sparse_allocator;
  const uint64_t size = INT64_MAX;
  void *store = ops->create (size, false);
  uint64_t s = 7, offs[2000];
  char page[PAGE], buf[PAGE];
  struct nbdkit_extents x = { 0 };
  unsigned k, n = sizeof offs / sizeof offs[0];

  CHECK (store != NULL, "far: create");

  /* First use more than 2^17 pages, so that the far pages get page
   * numbers too big to be stored in the root.  (Not under TSan, whose
   * shadow memory would make this too big.)
   */
  {
    char *big = xmalloc (1 << 20);
    uint64_t off;

    fill_random (&s, big, 1 << 20);
    for (off = 0; off < (uint64_t) FAR_FILL_MIB << 20; off += 1 << 20)
      do_write (ops, store, big, 1 << 20, ((uint64_t) 1 << 61) + off);
    free (big);
  }

  for (k = 0; k < n; ++k) {
    offs[k] = rnd_below (&s, size / PAGE) * PAGE;
    memcpy (page, &offs[k], sizeof offs[k]);
    memset (page + 8, k & 0xff, PAGE - 8);
    do_write (ops, store, page, PAGE, offs[k]);
  }
  /* The last byte of the disk. */
  do_write (ops, store, "x", 1, size - 1);
  for (k = 0; k < n; ++k) {
    do_read (ops, store, buf, PAGE, offs[k]);
    CHECK (memcmp (buf, &offs[k], 8) == 0, "far: page %u lost", k);
    get_extents (ops, store, offs[k] - PAGE * (offs[k] >= PAGE),
                 size - offs[k] > 2 * PAGE ? 3 * PAGE : 2 * PAGE, false, &x);
    CHECK (type_at (&x, offs[k]) == 0, "far: page %u is a hole", k);
  }
  do_read (ops, store, buf, 1, size - 1);
  CHECK (buf[0] == 'x', "far: last byte");
  for (k = 0; k < n; ++k)
    do_zero (ops, store, PAGE, offs[k], true);
  do_zero (ops, store, 1, size - 1, true);
  for (k = 0; k < n; ++k) {
    get_extents (ops, store, offs[k], PAGE, false, &x);
    CHECK (x.n == 1 && x.e[0].type == HOLE, "far: page %u not freed", k);
  }
  do_zero (ops, store, (uint32_t) FAR_FILL_MIB << 20, (uint64_t) 1 << 61,
           true);
  get_extents (ops, store, 0, UINT32_MAX, false, &x);
  CHECK (x.n == 1 && x.e[0].type == HOLE, "far: not empty at the end");
  ops->destroy (store);
  free (x.e);
  printf ("ok: far apart writes on a %" PRIu64 " byte disk\n", size);
}

/* Large requests, as nbdcopy sends them (256 KiB, also unaligned and
 * across regions), on both allocators.  The sparse allocator copies
 * runs of pages whose page numbers follow each other with one memcpy:
 * this builds runs that are broken in every way (pages left out
 * because their data is zero, pages freed and handed out again in
 * another order, requests written backwards, compact and full leaves)
 * and checks every byte and the extents against a shadow copy.
 */
static void
check_runs (const struct allocator_ops *ops, void *store, uint64_t base,
            const char *shadow, uint64_t len, char *buf, uint64_t *s,
            struct nbdkit_extents *x)
{
  static const uint32_t sizes[] = { 256 << 10, (1 << 20) + 123, 3 << 20,
                                    7 * PAGE + 1, PAGE - 1 };
  uint64_t off, p;
  unsigned k;

  for (k = 0; k < sizeof sizes / sizeof sizes[0] - TSAN; ++k) {
    uint64_t skew = k == 0 ? 0 : rnd_below (s, PAGE);
    for (off = skew; off < len; off += sizes[k]) {
      uint32_t n = len - off < sizes[k] ? len - off : sizes[k];

      do_read (ops, store, buf, n, base + off);
      CHECK (memcmp (buf, shadow + off, n) == 0,
             "runs: %s: data differs in %" PRIu64 "+%" PRIu32,
             ops->name, base + off, n);
    }
  }
  if (ops->extents == NULL)
    return;
  for (off = 0; off < len; off += 4 << 20) {
    get_extents (ops, store, base + off, 4 << 20, false, x);
    for (p = 0; p < (4 << 20); p += PAGE)
      if (!all_zero (shadow + off + p, PAGE))
        CHECK (type_at (x, base + off + p) == 0,
               "runs: page at %" PRIu64 " holds data but is a hole",
               base + off + p);
  }
}

static void
test_runs (const struct allocator_ops *ops, uint64_t size, uint64_t base)
{
  const uint64_t len = 16 << 20;
  const uint32_t req = 256 << 10;
  void *store = ops->create (size, false);
  char *shadow = calloc (1, len), *buf = xmalloc (4 << 20);
  char *data = xmalloc (req + PAGE);
  struct nbdkit_extents x = { 0 };
  uint64_t s = 99 + size, off;
  unsigned pass, k;

  CHECK (store != NULL && shadow != NULL, "runs: create");
  for (pass = 0; pass < (TSAN ? 3 : 4); ++pass) {
    unsigned nreq = len / req;

    for (k = 0; k < nreq; ++k) {
      /* Pass 1 writes backwards; passes 2 and 3 are not aligned. */
      unsigned r = pass == 1 ? nreq - 1 - k : k;
      uint32_t skew = pass >= 2 ? rnd_below (&s, PAGE) : 0;
      uint32_t n = req;
      unsigned pg;

      off = (uint64_t) r * req + skew;
      if (off + n > len)
        n = len - off;
      fill_random (&s, data, n);
      /* Leave out some pages: whole zero pages are not stored. */
      for (pg = 0; pg < n / PAGE; ++pg)
        if (rnd_below (&s, 8) == 0)
          memset (data + pg * PAGE, 0, PAGE);
      do_write (ops, store, data, n, base + off);
      memcpy (shadow + off, data, n);
    }
    check_runs (ops, store, base, shadow, len, buf, &s, &x);

    /* Free scattered pages and runs, so that their numbers are handed
     * out again, in another order, by the next pass.
     */
    for (k = 0; k < 300; ++k) {
      uint64_t pg = rnd_below (&s, len / PAGE);
      uint32_t n = (1 + (k % 5 == 0 ? rnd_below (&s, 40) : 0)) * PAGE;

      if (pg * PAGE + n > len)
        n = len - pg * PAGE;
      do_zero (ops, store, n, base + pg * PAGE, k % 7 != 0);
      memset (shadow + pg * PAGE, 0, n);
    }
    check_runs (ops, store, base, shadow, len, buf, &s, &x);
  }
  /* Compact leaves: a region with a few runs of pages written into it
   * when empty, and one trimmed down to a few runs.
   */
  {
    static const struct { unsigned first, n; } w[] = {
      { 3, 5 }, { 9, 1 }, { 10, 6 }, { 40, 2 }, { 100, 9 }, { 511, 1 },
    }, keep[] = { { 0, 7 }, { 150, 12 }, { 300, 1 }, { 505, 7 } };
    const uint64_t r2 = base + 2 * REGION - base % REGION;
    const uint64_t r3 = r2 + REGION;
    unsigned prev = 0;

    do_zero (ops, store, REGION, r2, true);
    memset (shadow + (r2 - base), 0, REGION);
    for (k = 0; k < sizeof w / sizeof w[0]; ++k) {
      fill_random (&s, data, w[k].n * PAGE);
      do_write (ops, store, data, w[k].n * PAGE, r2 + w[k].first * PAGE);
      memcpy (shadow + (r2 - base) + w[k].first * PAGE, data,
              w[k].n * PAGE);
    }
    for (k = 0; k < sizeof keep / sizeof keep[0]; ++k) {
      if (keep[k].first > prev) {
        do_zero (ops, store, (keep[k].first - prev) * PAGE, r3 + prev * PAGE,
                 true);
        memset (shadow + (r3 - base) + prev * PAGE, 0,
                (keep[k].first - prev) * PAGE);
      }
      prev = keep[k].first + keep[k].n;
    }
    /* And a region with a single page left: pages 0-199 and 201-511. */
    do_zero (ops, store, 200 * PAGE, r3 + REGION, true);
    do_zero (ops, store, 311 * PAGE, r3 + REGION + 201 * PAGE, true);
    memset (shadow + (r3 + REGION - base), 0, 200 * PAGE);
    memset (shadow + (r3 + REGION - base) + 201 * PAGE, 0, 311 * PAGE);
    check_runs (ops, store, base, shadow, len, buf, &s, &x);
  }

  /* A zero of a large range that keeps the pages, then data again. */
  do_zero (ops, store, 3 << 20, base + (5 << 20) + 77, false);
  memset (shadow + (5 << 20) + 77, 0, 3 << 20);
  check_runs (ops, store, base, shadow, len, buf, &s, &x);

  ops->destroy (store);
  free (x.e);
  free (data);
  free (buf);
  free (shadow);
  printf ("ok: large requests, %s, size %" PRIu64 "\n", ops->name, size);
}

/* Many threads scatter pages over the largest disk, so that interior
 * nodes are created and grow (and are replaced) all the time while
 * other threads walk them.  Each thread owns its pages; a page holds
 * either zeroes or a pattern made from its offset.
 */
struct scatter {
  void *store;
  unsigned id, npages, nops;
  atomic_bool *stop;
};

static uint64_t
scatter_offset (unsigned id, unsigned k)
{
  uint64_t s = ((uint64_t) id << 32 | k) * 0x9E3779B97F4A7C15ULL + 1;

  /* A few values at each level, so that nodes at every level fill up,
   * and (id, k) in the low bits so that no two pages are the same.
   */
  return rnd_below (&s, 8) << 60 | rnd_below (&s, 4) << 51
    | rnd_below (&s, 4) << 42 | rnd_below (&s, 4) << 33
    | (uint64_t) (id & 15) << 28 | (uint64_t) (k >> 9 & 127) << 21
    | (uint64_t) (k & 511) << 12;
}

static void
pattern (char *page, uint64_t off)
{
  unsigned i;
  for (i = 0; i < PAGE; i += 8) {
    uint64_t v = off + i;
    memcpy (page + i, &v, 8);
  }
}

static void *
scatter_thread (void *arg)
{
  struct scatter *sc = arg;
  const struct allocator_ops *ops = &sparse_allocator;
  uint64_t *offs = xmalloc (sc->npages * sizeof *offs), s = sc->id + 1;
  bool *full = calloc (sc->npages, 1);
  char page[PAGE], buf[PAGE];
  struct nbdkit_extents x = { 0 };
  unsigned i, k;

  CHECK (full != NULL, "calloc");
  for (k = 0; k < sc->npages; ++k)
    offs[k] = scatter_offset (sc->id, k);
  for (i = 0; i < sc->nops; ++i) {
    unsigned op = rnd_below (&s, 10);

    k = rnd_below (&s, sc->npages);
    /* Pages of one thread may collide only with themselves. */
    if (op < 5) {
      pattern (page, offs[k]);
      do_write (ops, sc->store, page, PAGE, offs[k]);
      full[k] = true;
    }
    else if (op < 7) {
      do_zero (ops, sc->store, PAGE, offs[k], op == 5);
      full[k] = false;
    }
    else if (op < 9) {
      do_read (ops, sc->store, buf, PAGE, offs[k]);
      if (full[k]) {
        pattern (page, offs[k]);
        CHECK (memcmp (buf, page, PAGE) == 0, "scatter: page lost");
      }
      else
        CHECK (all_zero (buf, PAGE), "scatter: page not zero");
    }
    else {
      get_extents (ops, sc->store, offs[k], PAGE, false, &x);
      CHECK (!full[k] || (x.n == 1 && x.e[0].type == 0),
             "scatter: page reported as a hole");
    }
  }
  free (x.e);
  free (offs);
  free (full);
  return NULL;
}

static void *
scatter_walker (void *arg)
{
  struct scatter *sc = arg;
  struct nbdkit_extents x = { 0 };
  uint64_t s = 77;

  while (!atomic_load (sc->stop)) {
    uint64_t off = rnd_below (&s, INT64_MAX);
    uint32_t n = 1 + rnd_below (&s, UINT32_MAX);

    if (n > INT64_MAX - off)
      n = INT64_MAX - off;
    get_extents (&sparse_allocator, sc->store, off, n, false, &x);
  }
  free (x.e);
  return NULL;
}

static void
test_scatter (unsigned nthreads, unsigned npages, unsigned nops)
{
  struct scatter sc[16], walker;
  pthread_t th[16], wth;
  atomic_bool stop = false;
  unsigned i;
  double t = now ();
  void *store = sparse_allocator.create (INT64_MAX, false);

  CHECK (store != NULL, "scatter: create");
  walker = (struct scatter) { .store = store, .stop = &stop };
  CHECK (pthread_create (&wth, NULL, scatter_walker, &walker) == 0,
         "pthread_create");
  for (i = 0; i < nthreads; ++i) {
    sc[i] = (struct scatter) { store, i, npages, nops, &stop };
    CHECK (pthread_create (&th[i], NULL, scatter_thread, &sc[i]) == 0,
           "pthread_create");
  }
  for (i = 0; i < nthreads; ++i)
    pthread_join (th[i], NULL);
  atomic_store (&stop, true);
  pthread_join (wth, NULL);
  sparse_allocator.destroy (store);
  printf ("ok: scattered pages, %u threads (%.1f s)\n", nthreads, now () - t);
}

/* Threads that write neighbouring ranges of new pages at the same
 * moment, over and over: each range is several pages long, starts and
 * ends in the middle of a page, and shares those pages with the ranges
 * of the threads on either side, so two writers often try to install
 * the same new page in a full leaf and one of them must put its bytes
 * into the other's page.
 */
#define RACE_THREADS 3
#define RACE_SPAN (5 * PAGE + 1234)

struct race {
  void *store;
  unsigned id, rounds;
  pthread_barrier_t *barrier;
};

static uint64_t
race_base (unsigned round)
{
  /* Another part of the region every round (the pages before and after
   * stay allocated, so the leaf stays full).
   */
  return REGION + PAGE + (round % 16) * 24 * PAGE;
}

static void
race_pattern (char *p, unsigned id, unsigned round)
{
  memset (p, 1 + (id * 37 + round) % 255, RACE_SPAN);
}

static void *
race_thread (void *arg)
{
  struct race *r = arg;
  char *data = xmalloc (RACE_SPAN);
  unsigned round;

  for (round = 0; round < r->rounds; ++round) {
    race_pattern (data, r->id, round);
    pthread_barrier_wait (r->barrier);  /* the pages have been freed */
    do_write (&sparse_allocator, r->store, data, RACE_SPAN,
              race_base (round) + 100 + (uint64_t) r->id * RACE_SPAN);
    pthread_barrier_wait (r->barrier);  /* everyone has written */
    pthread_barrier_wait (r->barrier);  /* checked */
  }
  free (data);
  return NULL;
}

static void
test_install_race (unsigned rounds)
{
  const uint32_t len = 100 + RACE_THREADS * RACE_SPAN;
  void *store = sparse_allocator.create (64 << 20, false);
  char *fill = xmalloc (REGION), *buf = xmalloc (len), *want = xmalloc (len);
  struct race r[RACE_THREADS];
  pthread_t th[RACE_THREADS];
  pthread_barrier_t barrier;
  unsigned i, round;

  CHECK (store != NULL, "race: create");
  memset (fill, 0xee, REGION);
  do_write (&sparse_allocator, store, fill, REGION, REGION);
  CHECK (pthread_barrier_init (&barrier, NULL, RACE_THREADS + 1) == 0,
         "pthread_barrier_init");
  for (i = 0; i < RACE_THREADS; ++i) {
    r[i] = (struct race) { store, i, rounds, &barrier };
    CHECK (pthread_create (&th[i], NULL, race_thread, &r[i]) == 0,
           "pthread_create");
  }
  for (round = 0; round < rounds; ++round) {
    uint64_t base = race_base (round);

    do_zero (&sparse_allocator, store, len + PAGE, base, true);
    pthread_barrier_wait (&barrier);
    pthread_barrier_wait (&barrier);
    memset (want, 0, 100);
    for (i = 0; i < RACE_THREADS; ++i)
      race_pattern (want + 100 + i * RACE_SPAN, i, round);
    do_read (&sparse_allocator, store, buf, len, base);
    CHECK (memcmp (buf, want, len) == 0, "race: round %u: data differs",
           round);
    /* Make the part used again all 0xee, for the next rounds. */
    do_write (&sparse_allocator, store, fill, len + PAGE, base);
    pthread_barrier_wait (&barrier);
  }
  for (i = 0; i < RACE_THREADS; ++i)
    pthread_join (th[i], NULL);
  pthread_barrier_destroy (&barrier);
  sparse_allocator.destroy (store);
  free (fill);
  free (buf);
  free (want);
  printf ("ok: racing writers of new pages, %u rounds\n", rounds);
}

static int
run_tests (void)
{
  /* Under TSan every operation is ~10x slower: half the operations
   * still race every pair of paths many times over.
   */
  const unsigned nops = getenv ("STRESS_OPS") ? atoi (getenv ("STRESS_OPS"))
    : TSAN ? 10000 : 20000;
  struct config configs[] = {
    /* Units of one page: threads share every leaf. */
    { "sparse 64M, page units", &sparse_allocator, 64 << 20, PAGE, 4, nops,
      2, { { 0, 8 << 20 }, { 60 << 20, 4 << 20 } } },
    /* Units that are not page aligned: threads share pages too. */
    { "sparse 1T, 3000-byte units", &sparse_allocator, (uint64_t) 1 << 40,
      3000, 4, nops, 3,
      { { 0, 4 << 20 }, { ((uint64_t) 1 << 39) - (1 << 20), 2 << 20 },
        { ((uint64_t) 1 << 40) - (3 << 20), 3 << 20 } } },
    /* Units of several pages that are not page aligned: requests
     * write runs of new pages while other threads install the pages
     * they share at both ends.
     */
    { "sparse 64M, 20000-byte units", &sparse_allocator, 64 << 20, 20000,
      4, nops / (TSAN ? 4 : 2), 2, { { 0, 6 << 20 }, { (40 << 20) - 5000, 5 << 20 } } },
    /* Units that cross regions; zones spread over the biggest disk. */
    { "sparse 2^63-1, 3M units", &sparse_allocator, INT64_MAX,
      3 << 20, 3, nops / 20, 4,
      { { 0, 12 << 20 }, { (uint64_t) 1 << 50, 9 << 20 },
        { ((uint64_t) 1 << 62) + 12345, 9 << 20 },
        { INT64_MAX - (9 << 20), 9 << 20 } } },
    /* Sparse within the zones: few pages per region. */
    { "sparse 2^62, page units, wide", &sparse_allocator, (uint64_t) 1 << 62,
      PAGE, 4, nops, 2,
      { { 0, 64 << 20 }, { (uint64_t) 1 << 45, 64 << 20 } } },
    /* A disk of a single region (one-level tree). */
    { "sparse 1M", &sparse_allocator, 1 << 20, 1000, 4, nops, 1,
      { { 0, 1 << 20 } } },
    { "malloc 64M", &flat_allocator, 64 << 20, 3000, 4, nops, 2,
      { { 0, 8 << 20 }, { 56 << 20, 8 << 20 } } },
  };
  unsigned i;

  test_shapes (REGION, 0);
  test_shapes (1 << 30, 5 * REGION);
  test_shapes (INT64_MAX, ((uint64_t) 1 << 62) - REGION);
  test_far_apart ();
  test_runs (&sparse_allocator, 64 << 20, 5 * REGION);
  test_runs (&sparse_allocator, (uint64_t) 1 << 40,
             ((uint64_t) 1 << 39) - (3 << 20) + PAGE);
  if (!TSAN)                    /* no locks to check in this one */
    test_runs (&flat_allocator, 64 << 20, (1 << 20) + 512);
  test_install_race (nops / (TSAN ? 10 : 4));
  test_scatter (4, 4000, nops);
  for (i = 0; i < sizeof configs / sizeof configs[0]; ++i)
    run_stress (&configs[i]);
  return 0;
}

/* ------------------------------------------------------------------ */
/* Microbenchmark. */

struct bench {
  void *store;
  uint64_t size;                /* of the region used */
  double seconds;
  int op;                       /* 0 read, 1 write */
  atomic_bool go, stop;
  atomic_uint_fast64_t ops;
};

struct bench_thread {
  struct bench *b;
  unsigned id;
  pthread_t thread;
};

static void *
bench_thread (void *arg)
{
  struct bench_thread *t = arg;
  struct bench *b = t->b;
  uint64_t s = 99 + t->id, n = 0;
  char buf[PAGE];

  fill_random (&s, buf, PAGE);
  while (!atomic_load_explicit (&b->go, memory_order_acquire))
    ;
  while (!atomic_load_explicit (&b->stop, memory_order_relaxed)) {
    unsigned k;
    for (k = 0; k < 64; ++k) {
      uint64_t off = rnd_below (&s, b->size / PAGE) * PAGE;
      if (b->op == 0)
        sparse_allocator.read (b->store, buf, PAGE, off);
      else
        sparse_allocator.write (b->store, buf, PAGE, off);
    }
    n += 64;
  }
  atomic_fetch_add (&b->ops, n);
  return NULL;
}

static double
bench_run (struct bench *b, unsigned nthreads, int op)
{
  struct bench_thread t[64];
  struct timespec ts = { (time_t) b->seconds,
                         (long) ((b->seconds - (time_t) b->seconds) * 1e9) };
  double t0;
  unsigned i;

  b->op = op;
  atomic_store (&b->go, false);
  atomic_store (&b->stop, false);
  atomic_store (&b->ops, 0);
  for (i = 0; i < nthreads; ++i) {
    t[i].b = b;
    t[i].id = i;
    pthread_create (&t[i].thread, NULL, bench_thread, &t[i]);
  }
  t0 = now ();
  atomic_store_explicit (&b->go, true, memory_order_release);
  nanosleep (&ts, NULL);
  atomic_store (&b->stop, true);
  for (i = 0; i < nthreads; ++i)
    pthread_join (t[i].thread, NULL);
  return atomic_load (&b->ops) / (now () - t0);
}

/* Random writes of whole pages into an empty store: the allocation
 * path.  Each thread writes its share of NPAGES distinct pages.
 */
struct fresh {
  void *store;
  uint64_t *pages;
  size_t n;
};

static void *
fresh_thread (void *arg)
{
  struct fresh *f = arg;
  char buf[PAGE];
  uint64_t s = f->n;
  size_t k;

  fill_random (&s, buf, PAGE);
  for (k = 0; k < f->n; ++k)
    sparse_allocator.write (f->store, buf, PAGE, f->pages[k] * PAGE);
  return NULL;
}

static long
rss_kib (void)
{
  FILE *fp = fopen ("/proc/self/status", "r");
  char line[256];
  long kib = -1;

  if (fp == NULL)
    return -1;
  while (fgets (line, sizeof line, fp))
    if (sscanf (line, "VmRSS: %ld", &kib) == 1)
      break;
  fclose (fp);
  return kib;
}

static int
run_bench (unsigned nthreads, double seconds)
{
  struct bench b = { .seconds = seconds, .size = 1 << 30 };
  const uint64_t fresh_size = (uint64_t) 4 << 30, npages = 1 << 18;
  struct fresh f[64];
  pthread_t th[64];
  uint64_t *perm, s = 1, k;
  char *buf = xmalloc (1 << 20);
  double t0, t;
  long rss0, rss1;
  unsigned i;

  if (nthreads < 1 || nthreads > 64)
    nthreads = 1;

  /* Read and overwrite a full 1 GiB store. */
  b.store = sparse_allocator.create (1 << 30, false);
  fill_random (&s, buf, 1 << 20);
  for (k = 0; k < b.size; k += 1 << 20)
    sparse_allocator.write (b.store, buf, 1 << 20, k);
  printf ("bench: 1 GiB full, %u thread(s): randread %.0f ops/s\n",
          nthreads, bench_run (&b, nthreads, 0));
  printf ("bench: 1 GiB full, %u thread(s): randwrite %.0f ops/s\n",
          nthreads, bench_run (&b, nthreads, 1));
  sparse_allocator.destroy (b.store);

  /* 1 GiB of random page writes into an empty 4 GiB store (the
   * "random" memory benchmark pattern), then trim it all.
   */
  perm = xmalloc ((fresh_size / PAGE) * sizeof *perm);
  for (k = 0; k < fresh_size / PAGE; ++k)
    perm[k] = k;
  for (k = 0; k < npages; ++k) {
    uint64_t j = k + rnd_below (&s, fresh_size / PAGE - k), x = perm[k];
    perm[k] = perm[j];
    perm[j] = x;
  }
  rss0 = rss_kib ();
  b.store = sparse_allocator.create (fresh_size, false);
  t0 = now ();
  for (i = 0; i < nthreads; ++i) {
    f[i].store = b.store;
    f[i].pages = perm + npages / nthreads * i;
    f[i].n = npages / nthreads;
    pthread_create (&th[i], NULL, fresh_thread, &f[i]);
  }
  for (i = 0; i < nthreads; ++i)
    pthread_join (th[i], NULL);
  t = now () - t0;
  rss1 = rss_kib ();
  printf ("bench: 1 GiB random pages into empty 4 GiB, %u thread(s): "
          "%.0f ops/s, RSS overhead %.2f%%\n", nthreads, npages / t,
          100.0 * (rss1 - rss0 - (long) (npages * 4)) / (npages * 4));
  t0 = now ();
  for (k = 0; k < fresh_size; k += 1 << 20)
    sparse_allocator.zero (b.store, 1 << 20, k, true);
  t = now () - t0;
  printf ("bench: trim all of it in 1 MiB requests: %.3f s, "
          "RSS left %ld KiB\n", t, rss_kib () - rss0);
  sparse_allocator.destroy (b.store);
  free (perm);
  free (buf);
  return 0;
}

/* Memory overhead of the sparse allocator for some write patterns:
 * growth of the process's RSS minus the data written.
 */
static void
overhead (const char *what, uint64_t size, uint64_t npages,
          uint64_t stride, bool scatter)
{
  long rss0, rss1;
  uint64_t s = 1, k;
  char page[PAGE];
  void *store;
  pid_t pid;

  /* In a new process each time: freed memory stays in the heap. */
  fflush (stdout);
  pid = fork ();
  CHECK (pid != -1, "fork: %m");
  if (pid > 0) {
    CHECK (waitpid (pid, NULL, 0) == pid, "waitpid: %m");
    return;
  }
  fill_random (&s, page, PAGE);
  rss0 = rss_kib ();
  store = sparse_allocator.create (size, false);
  for (k = 0; k < npages; ++k) {
    uint64_t off = k * stride;

    if (scatter) {
      /* A bijection of [0, 2^bits): distinct pages in random places. */
      unsigned bits = 63 - __builtin_clzll (size / PAGE), half = bits / 2;
      uint64_t mask = ((uint64_t) 1 << bits) - 1, x = k;

      x ^= x >> half;
      x = (x * 0x9E3779B97F4A7C15ULL) & mask;
      x ^= x >> half;
      x = (x * 0xD6E8FEB86659FD93ULL) & mask;
      x ^= x >> half;
      off = x * PAGE;
    }
    sparse_allocator.write (store, page, PAGE, off);
  }
  rss1 = rss_kib ();
  printf ("overhead: %s: %" PRIu64 " KiB written, RSS +%ld KiB, "
          "overhead %+ld KiB = %.2f%%\n", what, npages * 4, rss1 - rss0,
          (long) (rss1 - rss0 - npages * 4),
          100.0 * (rss1 - rss0 - (long) npages * 4) / (npages * 4));
  sparse_allocator.destroy (store);
  fflush (stdout);
  _exit (EXIT_SUCCESS);
}

static int
run_overhead (void)
{
  overhead ("one page (fixed costs)", (uint64_t) 64 << 30, 1, 0, false);
  overhead ("1 page every 1 MiB of 64 GiB", (uint64_t) 64 << 30, 65536,
            1 << 20, false);
  overhead ("1 page every 2 MiB of 128 GiB", (uint64_t) 128 << 30, 65536,
            2 << 20, false);
  overhead ("1 page every 1 GiB of 64 TiB", (uint64_t) 64 << 40, 65536,
            1 << 30, false);
  overhead ("8192 pages scattered over 2^62", (uint64_t) 1 << 62, 8192,
            0, true);
  overhead ("65536 pages scattered over 2^62", (uint64_t) 1 << 62, 65536,
            0, true);
  overhead ("65536 pages scattered over 2^63-1", INT64_MAX, 65536,
            0, true);
  overhead ("262144 pages scattered over 4 GiB", (uint64_t) 4 << 30, 262144,
            0, true);
  return 0;
}

int
main (int argc, char *argv[])
{
  verbose = getenv ("VERBOSE") != NULL;
  setvbuf (stdout, NULL, _IOLBF, 0);
  if (argc >= 2 && strcmp (argv[1], "--overhead") == 0)
    return run_overhead ();
  if (argc >= 2 && strcmp (argv[1], "--bench") == 0)
    return run_bench (argc >= 3 ? atoi (argv[2]) : 1,
                      argc >= 4 ? atof (argv[3]) : 2.0);
  return run_tests ();
}
