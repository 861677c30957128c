/* test-extents.c: server/extents.c.
 *
 * Table-driven: each case creates a list for [start, end), adds a
 * sequence of extents (each with its expected result and error text)
 * and compares the final list.  The accept/reject decisions and
 * messages were observed from nbdkit 1.32.5 with a plugin whose
 * .extents replayed the same sequences.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <inttypes.h>

#include "stubs.h"

#define MiB (UINT64_C (1) << 20)
#define HZ (NBDKIT_EXTENT_HOLE | NBDKIT_EXTENT_ZERO)

#define NOT_CONTIGUOUS                                          \
  "nbdkit_add_extent: extents must be added in ascending order " \
  "and must be contiguous"

struct add {
  uint64_t offset, length;
  uint32_t type;
  const char *err;              /* NULL = must succeed */
};

struct extents_test {
  const char *what;
  uint64_t start, end;
  struct add adds[8];
  size_t nr_adds;
  struct nbdkit_extent expected[4];
  size_t nr_expected;
};

#define ADDS(...) { __VA_ARGS__ }, \
    sizeof ((struct add[]) { __VA_ARGS__ }) / sizeof (struct add)
#define EXPECT(...) { __VA_ARGS__ }, \
    sizeof ((struct nbdkit_extent[]) { __VA_ARGS__ }) / \
    sizeof (struct nbdkit_extent)
#define NONE { { 0 } }, 0

static const struct extents_test tests[] = {
  { "one extent covering the range", 0, MiB,
    ADDS ({ 0, MiB, 0 }),
    EXPECT ({ 0, MiB, 0 }) },
  { "REQ_ONE style: one big extent is clipped", 4096, 12288,
    ADDS ({ 0, MiB, HZ }),
    EXPECT ({ 4096, 8192, HZ }) },
  { "merging same types", 0, MiB,
    ADDS ({ 0, 4096, 0 }, { 4096, 4096, 0 }, { 8192, MiB - 8192, HZ }),
    EXPECT ({ 0, 8192, 0 }, { 8192, MiB - 8192, HZ }) },
  { "only the low two type bits count", 0, MiB,
    ADDS ({ 0, 4096, 0xff }, { 4096, MiB, 0xfd }),
    EXPECT ({ 0, 4096, HZ }, { 4096, MiB - 4096, NBDKIT_EXTENT_HOLE }) },
  { "gap", 0, MiB,
    ADDS ({ 0, 4096, 0 }, { 8192, 4096, 0, NOT_CONTIGUOUS }),
    EXPECT ({ 0, 4096, 0 }) },
  { "overlap", 0, MiB,
    ADDS ({ 0, 4096, 0 }, { 2048, 4096, 0, NOT_CONTIGUOUS }),
    EXPECT ({ 0, 4096, 0 }) },
  { "first extent after start", 0, MiB,
    ADDS ({ 4096, 4096, 0,
            "nbdkit_add_extent: first extent must not be > start (0)" }),
    NONE },
  { "first extent after non-zero start", 4096, 12288,
    ADDS ({ 8192, 4096, 0,
            "nbdkit_add_extent: first extent must not be > start (4096)" }),
    NONE },
  { "zero length is ignored, but still must be contiguous", 0, MiB,
    ADDS ({ 0, 0, 0 }, { 0, 4096, HZ }, { 4096, 0, 0 },
          { 5000, 0, 1, NOT_CONTIGUOUS }),
    EXPECT ({ 0, 4096, HZ }) },
  { "zero length then overlap", 0, MiB,
    ADDS ({ 0, 0, 0 }, { 0, 4096, HZ }, { 0, 4096, 0, NOT_CONTIGUOUS }),
    EXPECT ({ 0, 4096, HZ }) },
  { "zero length at start fixes the position", 4096, 12288,
    ADDS ({ 4096, 0, 0 }, { 0, 4096, 0, NOT_CONTIGUOUS }),
    NONE },
  { "zero length after start is not the first extent", 4096, 12288,
    ADDS ({ 8192, 0, 0 },
          { 8192, 4096, 0,
            "nbdkit_add_extent: first extent must not be > start (4096)" }),
    NONE },
  { "clipping before start", 4096, 12288,
    ADDS ({ 0, 1024, 0 }, { 1024, 1024, 1 }, { 2048, 8192, HZ },
          { 10240, 4096, HZ }, { 14336, 4096, 0 }),
    EXPECT ({ 4096, 8192, HZ }) },
  { "gap before start", 4096, 12288,
    ADDS ({ 0, 1024, 0 }, { 2048, 8192, HZ, NOT_CONTIGUOUS }),
    NONE },
  { "exactly at start", 4096, 12288,
    ADDS ({ 4096, 4096, 0 }, { 8192, 4096, 2 }),
    EXPECT ({ 4096, 4096, 0 }, { 8192, 4096, 2 }) },
  { "beyond end is dropped, but still must be contiguous", 0, MiB,
    ADDS ({ 0, MiB, 0 }, { MiB, 4096, 1 },
          { 2 * MiB, 4096, 0, NOT_CONTIGUOUS }),
    EXPECT ({ 0, MiB, 0 }) },
  { "first extent beyond end is silently dropped", 4096, MiB,
    ADDS ({ 2 * MiB, 4096, 0 }),
    NONE },
  { "all before start", 4096, 12288,
    ADDS ({ 0, 1024, 0 }, { 1024, 0, 0 }),
    NONE },
  { "whole-disk length", 0, MiB,
    ADDS ({ 0, UINT64_MAX, 0 }),
    EXPECT ({ 0, MiB, 0 }) },
  { "offset + length overflows", 0, MiB,
    ADDS ({ 0, 4096, HZ }, { 4096, UINT64_MAX - 1000, 0 }),
    EXPECT ({ 0, 4096, HZ }, { 4096, MiB - 4096, 0 }) },
  { "empty range keeps nothing", 0, 0,
    ADDS ({ 0, 4096, 0 }, { 4096, 4096, 0 }),
    NONE },
  { "only a zero-length extent", 0, MiB,
    ADDS ({ 0, 0, 0 }),
    NONE },
};

static void
run_test (const struct extents_test *t)
{
  struct nbdkit_extents *exts;
  size_t i;

  stub_reset ();
  exts = nbdkit_extents_new (t->start, t->end);
  CHECK_MSG (exts != NULL, "%s", t->what);
  if (exts == NULL)
    return;
  CHECK (nbdkit_extents_count (exts) == 0);

  for (i = 0; i < t->nr_adds; ++i) {
    const struct add *a = &t->adds[i];
    int r;

    stub_reset ();
    errno = 0;
    r = nbdkit_add_extent (exts, a->offset, a->length, a->type);
    if (a->err == NULL) {
      CHECK_MSG (r == 0 && stub_error_count == 0,
                 "%s: add #%zu: r=%d %s", t->what, i, r, stub_last_error);
    }
    else {
      CHECK_MSG (r == -1 && errno == ERANGE,
                 "%s: add #%zu: r=%d errno=%d", t->what, i, r, errno);
      CHECK_MSG (stub_error_count == 1 &&
                 strcmp (stub_last_error, a->err) == 0,
                 "%s: add #%zu: got \"%s\"", t->what, i, stub_last_error);
    }
  }

  CHECK_MSG (nbdkit_extents_count (exts) == t->nr_expected,
             "%s: %zu extents, expected %zu",
             t->what, nbdkit_extents_count (exts), t->nr_expected);
  for (i = 0; i < t->nr_expected && i < nbdkit_extents_count (exts); ++i) {
    struct nbdkit_extent e = nbdkit_get_extent (exts, i);
    const struct nbdkit_extent *x = &t->expected[i];

    CHECK_MSG (e.offset == x->offset && e.length == x->length &&
               e.type == x->type,
               "%s: extent %zu is {%" PRIu64 ", %" PRIu64 ", %" PRIu32
               "}, expected {%" PRIu64 ", %" PRIu64 ", %" PRIu32 "}",
               t->what, i, e.offset, e.length, e.type,
               x->offset, x->length, x->type);
  }
  nbdkit_extents_free (exts);
}

static void
test_new_errors (void)
{
  struct nbdkit_extents *exts;

  stub_reset ();
  errno = 0;
  CHECK (nbdkit_extents_new (5, 4) == NULL);
  CHECK (errno == ERANGE);
  CHECK_ERROR ("nbdkit_extents_new: start (5) >= end (4)");

  stub_reset ();
  CHECK (nbdkit_extents_new (0, UINT64_C (9223372036854775808)) == NULL);
  CHECK_ERROR ("nbdkit_extents_new: start (0) or end "
               "(9223372036854775808) > INT64_MAX");

  /* The INT64_MAX check comes first. */
  stub_reset ();
  CHECK (nbdkit_extents_new (UINT64_MAX, 5) == NULL);
  CHECK_ERROR ("nbdkit_extents_new: start (18446744073709551615) or end "
               "(5) > INT64_MAX");

  stub_reset ();
  exts = nbdkit_extents_new (INT64_MAX, INT64_MAX);
  CHECK (exts != NULL);
  nbdkit_extents_free (exts);
  exts = nbdkit_extents_new (1, INT64_MAX);
  CHECK (exts != NULL);
  nbdkit_extents_free (exts);
  CHECK_NO_ERROR ();

  nbdkit_extents_free (NULL);
}

/* Many alternating extents: exercises growth from the inline slot. */
static void
test_many (void)
{
  struct nbdkit_extents *exts = nbdkit_extents_new (0, INT64_MAX);
  const size_t n = 10000;
  size_t i;
  bool ok = true;

  stub_reset ();
  for (i = 0; i < n; ++i)
    if (nbdkit_add_extent (exts, i * 512, 512, i & 1 ? HZ : 0) == -1)
      ok = false;
  CHECK (ok);
  CHECK (nbdkit_extents_count (exts) == n);
  for (i = 0; i < n; ++i) {
    struct nbdkit_extent e = nbdkit_get_extent (exts, i);

    if (e.offset != i * 512 || e.length != 512 ||
        e.type != (i & 1 ? HZ : 0))
      ok = false;
  }
  CHECK (ok);
  CHECK_NO_ERROR ();
  nbdkit_extents_free (exts);
}

/* The list stops growing (silently) at 1M entries, and nothing added
 * after that may be merged into the last kept extent.
 */
static void
test_cap (void)
{
  struct nbdkit_extents *exts = nbdkit_extents_new (0, INT64_MAX);
  const size_t cap = 1024 * 1024;
  size_t i;
  uint64_t off = 0;
  struct nbdkit_extent last;
  bool ok = true;

  stub_reset ();
  for (i = 0; i < cap + 10; ++i, ++off)
    if (nbdkit_add_extent (exts, off, 1, i & 1) == -1)
      ok = false;
  CHECK (ok);
  CHECK (nbdkit_extents_count (exts) == cap);
  last = nbdkit_get_extent (exts, cap - 1);
  CHECK (last.offset == cap - 1 && last.length == 1 && last.type == 1);

  /* Same type as the last kept extent, but not adjacent to it. */
  CHECK (nbdkit_add_extent (exts, off, 100, 1) == 0);
  off += 100;
  last = nbdkit_get_extent (exts, cap - 1);
  CHECK (last.length == 1);
  CHECK (nbdkit_extents_count (exts) == cap);

  /* Ordering is still enforced. */
  CHECK (nbdkit_add_extent (exts, off + 1, 1, 0) == -1);
  CHECK_ERROR (NOT_CONTIGUOUS);
  nbdkit_extents_free (exts);
}

/* extents_limit: a list for a reply that ends at reply_end keeps the
 * extents up to the first one reaching it (and merges into that one
 * while the type stays the same), then nothing -- however much more
 * the plugin describes.  And never more than max_count.
 */
static void
test_limit (void)
{
  struct nbdkit_extents *exts = nbdkit_extents_new (1000, INT64_MAX);
  struct nbdkit_extent e;
  uint64_t off;
  bool ok = true;

  stub_reset ();
  extents_limit (exts, 1512, 100);
  /* 512-byte alternating runs from 0 to 1 GiB. */
  for (off = 0; off < (UINT64_C (1) << 30); off += 512)
    if (nbdkit_add_extent (exts, off, 512, (off / 512) & 1 ? HZ : 0) == -1)
      ok = false;
  CHECK (ok);
  CHECK_NO_ERROR ();
  /* [1000,1024) hole+zero, [1024,1536) data: reaches 1512. */
  CHECK (nbdkit_extents_count (exts) == 2);
  e = nbdkit_get_extent (exts, 0);
  CHECK (e.offset == 1000 && e.length == 24 && e.type == HZ);
  e = nbdkit_get_extent (exts, 1);
  CHECK (e.offset == 1024 && e.length == 512 && e.type == 0);
  /* Ordering is still enforced past the limit. */
  CHECK (nbdkit_add_extent (exts, off + 1, 1, 0) == -1);
  CHECK_ERROR (NOT_CONTIGUOUS);
  nbdkit_extents_free (exts);

  /* Same type after the end: the last extent grows (a longer last
   * descriptor saves the client a round trip), until the type changes.
   */
  exts = nbdkit_extents_new (0, INT64_MAX);
  stub_reset ();
  extents_limit (exts, 512, 100);
  CHECK (nbdkit_add_extent (exts, 0, 4096, 0) == 0);
  CHECK (nbdkit_add_extent (exts, 4096, 4096, 0) == 0);
  CHECK (nbdkit_add_extent (exts, 8192, 4096, HZ) == 0);
  CHECK (nbdkit_add_extent (exts, 12288, 4096, 0) == 0);
  CHECK (nbdkit_extents_count (exts) == 1);
  e = nbdkit_get_extent (exts, 0);
  CHECK (e.offset == 0 && e.length == 8192 && e.type == 0);
  nbdkit_extents_free (exts);

  /* max_count. */
  exts = nbdkit_extents_new (0, INT64_MAX);
  stub_reset ();
  extents_limit (exts, INT64_MAX, 10);
  for (off = 0; off < 100 * 512; off += 512)
    if (nbdkit_add_extent (exts, off, 512, (off / 512) & 1) == -1)
      ok = false;
  CHECK (ok);
  CHECK (nbdkit_extents_count (exts) == 10);
  nbdkit_extents_free (exts);
}

int
main (void)
{
  size_t i;

  for (i = 0; i < ARRAY_SIZE (tests); ++i)
    run_test (&tests[i]);
  test_new_errors ();
  test_many ();
  test_cap ();
  test_limit ();
  return test_finish ("test-extents");
}
