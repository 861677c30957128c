/* extents.c: the extents list a plugin fills in for NBD_CMD_BLOCK_STATUS.
 *
 * The server creates the list for a range [start, end) and the plugin
 * calls nbdkit_add_extent in ascending, contiguous order.  What is kept
 * is the part of each extent inside [start, end), with neighbours of
 * the same type merged, so the list always describes a prefix of the
 * range starting exactly at start.
 *
 * nbdkit 1.32.5 checks things in a particular order, which plugins can
 * observe, and we follow it (all found by experiment):
 *
 *  1. Every extent, even a zero-length one or one past end, must start
 *     where the previous one stopped.
 *  2. Zero-length extents are then ignored, as is anything wholly
 *     before start or at/after end.
 *  3. The first extent actually kept must not begin after start.
 *
 * Errors set errno to ERANGE, like nbdkit.
 *
 * Most plugins add a single extent (and REQ_ONE asks for exactly one),
 * so the first extent is stored inside the struct and the array is
 * only allocated when a second distinct extent arrives.
 *
 * The list the server makes for a BLOCK_STATUS request runs to the end
 * of the export, because plugins may describe more than was asked for;
 * but the reply never goes past the first extent that reaches the end
 * of the request.  extents_limit tells the list so: from then on it
 * keeps nothing new (only a longer last extent of the same type), and
 * never more than max_count extents -- so a small query costs a small
 * list, whatever the plugin adds.
 */

#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <assert.h>

#include "internal.h"

/* The protocol layer never sends more extents than this in one reply,
 * so storing more would only waste memory.  Extents beyond the cap are
 * silently dropped (the reply covers less than was asked, which the
 * NBD protocol allows).
 */
#define MAX_EXTENTS (1024 * 1024)

struct nbdkit_extents {
  struct nbdkit_extent *ptr;    /* == &first until the array grows */
  size_t len, cap;

  uint64_t start, end;

  bool seen_any;                /* has nbdkit_add_extent been called */
  uint64_t next;                /* if seen_any, where the next must begin */
  bool full;                    /* hit the cap: keep nothing more */
  uint64_t reply_end;           /* see extents_limit */
  size_t max_count;

  struct nbdkit_extent first;   /* inline storage for one extent */
};

NBDKIT_DLL_PUBLIC struct nbdkit_extents *
nbdkit_extents_new (uint64_t start, uint64_t end)
{
  struct nbdkit_extents *exts;

  if (start > INT64_MAX || end > INT64_MAX) {
    nbdkit_error ("nbdkit_extents_new: "
                  "start (%" PRIu64 ") or end (%" PRIu64 ") > INT64_MAX",
                  start, end);
    errno = ERANGE;
    return NULL;
  }
  /* start == end is allowed: an empty list that keeps nothing. */
  if (start > end) {
    nbdkit_error ("nbdkit_extents_new: "
                  "start (%" PRIu64 ") >= end (%" PRIu64 ")",
                  start, end);
    errno = ERANGE;
    return NULL;
  }

  exts = calloc (1, sizeof *exts);
  if (exts == NULL) {
    nbdkit_error ("nbdkit_extents_new: calloc: %m");
    return NULL;
  }
  exts->ptr = &exts->first;
  exts->cap = 1;
  exts->start = start;
  exts->end = end;
  exts->reply_end = UINT64_MAX;
  exts->max_count = MAX_EXTENTS;
  return exts;
}

void
extents_limit (struct nbdkit_extents *exts, uint64_t reply_end,
               size_t max_count)
{
  exts->reply_end = reply_end;
  exts->max_count = MIN (max_count, (size_t) MAX_EXTENTS);
}

NBDKIT_DLL_PUBLIC void
nbdkit_extents_free (struct nbdkit_extents *exts)
{
  if (exts == NULL)
    return;
  if (exts->ptr != &exts->first)
    free (exts->ptr);
  free (exts);
}

NBDKIT_DLL_PUBLIC size_t
nbdkit_extents_count (const struct nbdkit_extents *exts)
{
  return exts->len;
}

NBDKIT_DLL_PUBLIC struct nbdkit_extent
nbdkit_get_extent (const struct nbdkit_extents *exts, size_t i)
{
  assert (i < exts->len);
  return exts->ptr[i];
}

/* Make room for one more extent.  Doubling keeps appends amortized
 * O(1).
 */
static int
grow (struct nbdkit_extents *exts)
{
  size_t ncap;
  struct nbdkit_extent *nptr;

  if (exts->len < exts->cap)
    return 0;

  ncap = exts->cap < 16 ? 16 : exts->cap * 2;
  if (ncap > exts->max_count)
    ncap = exts->max_count;

  if (exts->ptr == &exts->first) {
    nptr = malloc (ncap * sizeof *nptr);
    if (nptr != NULL)
      memcpy (nptr, exts->ptr, exts->len * sizeof *nptr);
  }
  else
    nptr = realloc (exts->ptr, ncap * sizeof *nptr);
  if (nptr == NULL) {
    nbdkit_error ("nbdkit_add_extent: realloc: %m");
    return -1;
  }
  exts->ptr = nptr;
  exts->cap = ncap;
  return 0;
}

NBDKIT_DLL_PUBLIC int
nbdkit_add_extent (struct nbdkit_extents *exts,
                   uint64_t offset, uint64_t length, uint32_t type)
{
  uint64_t stop;

  /* Only HOLE and ZERO mean anything; other bits are dropped. */
  type &= NBDKIT_EXTENT_HOLE | NBDKIT_EXTENT_ZERO;

  if (exts->seen_any && offset != exts->next) {
    nbdkit_error ("nbdkit_add_extent: "
                  "extents must be added in ascending order and "
                  "must be contiguous");
    errno = ERANGE;
    return -1;
  }

  /* A plugin may describe "the rest of the disk" with a huge length;
   * saturate instead of wrapping.
   */
  stop = offset + length;
  if (stop < offset)
    stop = UINT64_MAX;
  exts->seen_any = true;
  exts->next = stop;

  if (length == 0 || stop <= exts->start || offset >= exts->end)
    return 0;

  if (exts->len == 0 && offset > exts->start) {
    nbdkit_error ("nbdkit_add_extent: "
                  "first extent must not be > start (%" PRIu64 ")",
                  exts->start);
    errno = ERANGE;
    return -1;
  }

  if (exts->full)
    return 0;

  /* Clip to [start, end). */
  if (offset < exts->start)
    offset = exts->start;
  if (stop > exts->end)
    stop = exts->end;

  if (exts->len > 0 && exts->ptr[exts->len-1].type == type) {
    exts->ptr[exts->len-1].length += stop - offset;
    return 0;
  }

  /* The last extent kept reaches the end of the reply: nothing after
   * it would be sent.
   */
  if (exts->len > 0 &&
      exts->ptr[exts->len-1].offset + exts->ptr[exts->len-1].length >=
      exts->reply_end) {
    exts->full = true;
    return 0;
  }

  if (exts->len >= exts->max_count) {
    /* Once one extent is dropped nothing later may be merged into
     * the last kept one, or it would swallow the dropped range.
     */
    exts->full = true;
    return 0;
  }
  if (grow (exts) == -1)
    return -1;
  exts->ptr[exts->len++] = (struct nbdkit_extent) {
    .offset = offset, .length = stop - offset, .type = type,
  };
  return 0;
}

/* Helpers for filters. */

/* Ask next for extents of [offset, offset+count) into a new list
 * ending at end, repeating until the range is covered.
 */
static struct nbdkit_extents *
gather (struct context *next, uint32_t count, uint64_t offset,
        uint64_t end, uint32_t flags, int *err)
{
  struct nbdkit_extents *exts = nbdkit_extents_new (offset, end);
  const uint64_t stop = offset + count;

  if (exts == NULL) {
    *err = errno ? errno : ENOMEM;
    return NULL;
  }
  flags &= ~NBDKIT_FLAG_REQ_ONE;
  while (offset < stop) {
    struct nbdkit_extents *part = nbdkit_extents_new (offset, stop);
    size_t i, n;

    if (part == NULL) {
      *err = errno ? errno : ENOMEM;
      goto err;
    }
    if (next->next_ops.extents (next, stop - offset, offset, flags,
                                part, err) == -1) {
      nbdkit_extents_free (part);
      goto err;
    }
    n = nbdkit_extents_count (part);
    for (i = 0; i < n; ++i) {
      struct nbdkit_extent e = nbdkit_get_extent (part, i);

      if (nbdkit_add_extent (exts, e.offset, e.length, e.type) == -1) {
        *err = errno ? errno : ENOMEM;
        nbdkit_extents_free (part);
        goto err;
      }
      offset = e.offset + e.length;
    }
    nbdkit_extents_free (part);
    /* backend_extents guarantees at least one extent, so offset moved;
     * a list that hit its cap stops growing, so stop too.
     */
    if (n == 0 || exts->full)
      break;
  }
  return exts;

 err:
  nbdkit_extents_free (exts);
  return NULL;
}

NBDKIT_DLL_PUBLIC struct nbdkit_extents *
nbdkit_extents_full (struct context *next, uint32_t count, uint64_t offset,
                     uint32_t flags, int *err)
{
  int64_t size;

  if (next == NULL) {
    nbdkit_error ("nbdkit_extents_full: next must not be NULL");
    *err = EINVAL;
    return NULL;
  }
  size = next->next_ops.get_size (next);
  if (size == -1) {
    *err = EIO;
    return NULL;
  }
  return gather (next, count, offset, size, flags, err);
}

/* Every extent boundary the caller sees is a multiple of align.  Where
 * the layer below changes type inside one aligned block, that block
 * becomes one extent whose HOLE and ZERO bits are those all its parts
 * share (a block is only a hole if all of it is).  Extents after the
 * first that cannot be aligned are dropped: the client asks again from
 * there, and that query starts with the merged block.
 */
NBDKIT_DLL_PUBLIC int
nbdkit_extents_aligned (struct context *next, uint32_t count,
                        uint64_t offset, uint32_t flags, uint32_t align,
                        struct nbdkit_extents *extents, int *err)
{
  struct nbdkit_extents *got;
  uint64_t block_end;
  uint32_t type;
  size_t i, n;
  int r = -1;

  if (next == NULL || align == 0 || (align & (align - 1)) != 0 ||
      (offset & (align - 1)) != 0 || (count & (align - 1)) != 0) {
    nbdkit_error ("nbdkit_extents_aligned: offset and count must be "
                  "multiples of align, a power of 2");
    *err = EINVAL;
    return -1;
  }
  if (next->next_ops.extents (next, count, offset, flags, extents,
                              err) == -1)
    return -1;
  n = nbdkit_extents_count (extents);
  if (n == 0)
    return 0;

  /* Usually every boundary is already aligned: keep the list. */
  for (i = 0; i < n; ++i) {
    uint64_t e_end = extents->ptr[i].offset + extents->ptr[i].length;

    if ((e_end & (align - 1)) != 0 && e_end < extents->end)
      break;
  }
  if (i == n)
    return 0;

  if (i > 0 || extents->ptr[0].length >= align) {
    /* Cut extent i back to its last aligned boundary, or drop it. */
    struct nbdkit_extent *e = &extents->ptr[i];
    uint64_t cut = (e->offset + e->length) & ~(uint64_t) (align - 1);

    if (cut > e->offset) {
      e->length = cut - e->offset;
      extents->len = i + 1;
    }
    else
      extents->len = i;
    extents->full = true;
    return 0;
  }

  /* The first aligned block has several types: merge them, asking the
   * layer below for the rest of the block if needed.
   */
  block_end = MIN (offset + align, (uint64_t) extents->end);
  got = gather (next, block_end - offset, offset, block_end, flags, err);
  if (got == NULL)
    return -1;
  type = NBDKIT_EXTENT_HOLE | NBDKIT_EXTENT_ZERO;
  for (i = 0; i < got->len; ++i)
    type &= got->ptr[i].type;
  extents->len = 1;
  extents->ptr[0] = (struct nbdkit_extent) {
    .offset = offset, .length = block_end - offset, .type = type,
  };
  extents->full = true;
  r = 0;
  nbdkit_extents_free (got);
  return r;
}
