/* context-filter.c: a filter that manages plugin contexts itself and
 * uses the extents helpers, built against our header and Debian's so
 * that test-filter-contexts.sh can compare the two servers.
 *
 * ctxmode=shared   one read-only context opened as shared in
 *                  .after_fork, used by every connection (whose .open
 *                  does not open the plugin at all), closed in
 *                  .cleanup.
 * ctxmode=swap     .open opens the plugin normally, then opens a second
 *                  context by hand and swaps it in with
 *                  nbdkit_context_set_next; the first is kept, prepared,
 *                  used for every other read, finalized and closed by
 *                  the filter.
 * ctxmode=aligned  extents through nbdkit_extents_aligned (align 4K).
 * ctxmode=full     extents through nbdkit_extents_full.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>

#include <nbdkit-filter.h>

enum mode { SHARED, SWAP, ALIGNED, FULL };
static enum mode mode = SWAP;
static nbdkit_next *shared_next;

static int
cf_config (nbdkit_next_config *next, nbdkit_backend *nxdata,
           const char *key, const char *value)
{
  if (strcmp (key, "ctxmode") == 0) {
    if (strcmp (value, "shared") == 0) mode = SHARED;
    else if (strcmp (value, "swap") == 0) mode = SWAP;
    else if (strcmp (value, "aligned") == 0) mode = ALIGNED;
    else if (strcmp (value, "full") == 0) mode = FULL;
    else {
      nbdkit_error ("unknown ctxmode: %s", value);
      return -1;
    }
    return 0;
  }
  return next (nxdata, key, value);
}

static int
cf_after_fork (nbdkit_backend *backend)
{
  if (mode != SHARED)
    return 0;
  shared_next = nbdkit_next_context_open (backend, 1, "", 1);
  if (shared_next == NULL)
    return -1;
  if (shared_next->prepare (shared_next) == -1 ||
      shared_next->get_size (shared_next) == -1)
    return -1;
  return 0;
}

static void
cf_cleanup (nbdkit_backend *backend)
{
  if (shared_next) {
    shared_next->finalize (shared_next);
    nbdkit_next_context_close (shared_next);
    shared_next = NULL;
  }
}

struct handle {
  nbdkit_next *other;           /* SWAP: the context we manage */
  unsigned reads;
};

static void *
cf_open (nbdkit_next_open *next, nbdkit_context *context,
         int readonly, const char *exportname, int is_tls)
{
  struct handle *h = calloc (1, sizeof *h);

  if (h == NULL) {
    nbdkit_error ("calloc: %m");
    return NULL;
  }
  if (mode == SHARED)
    return h;                   /* no per-connection plugin context */
  if (next (context, readonly, exportname) == -1) {
    free (h);
    return NULL;
  }
  if (mode == SWAP) {
    nbdkit_next *second =
      nbdkit_next_context_open (nbdkit_context_get_backend (context),
                                readonly, exportname, 0);

    if (second == NULL) {
      free (h);
      return NULL;
    }
    /* nbdkit now manages the second; we manage the first. */
    h->other = nbdkit_context_set_next (context, second);
  }
  return h;
}

static void
cf_close (void *handle)
{
  struct handle *h = handle;

  if (h->other)
    nbdkit_next_context_close (h->other);
  free (h);
}

static int
cf_prepare (nbdkit_next *next, void *handle, int readonly)
{
  struct handle *h = handle;

  if (h->other && (h->other->prepare (h->other) == -1 ||
                   h->other->get_size (h->other) == -1))
    return -1;
  return 0;
}

static int
cf_finalize (nbdkit_next *next, void *handle)
{
  struct handle *h = handle;

  if (h->other)
    return h->other->finalize (h->other);
  return 0;
}

static nbdkit_next *
pick (nbdkit_next *next)
{
  return mode == SHARED ? shared_next : next;
}

static int64_t
cf_get_size (nbdkit_next *next, void *handle)
{
  return pick (next)->get_size (pick (next));
}

static int
cf_can_write (nbdkit_next *next, void *handle)
{
  return mode == SHARED ? 0 : next->can_write (next);
}

/* Every question goes to the context in use (a filter without a
 * context below must answer them all itself).
 */
#define ASK(method)                                     \
  static int                                            \
  cf_##method (nbdkit_next *next, void *handle)         \
  {                                                     \
    return pick (next)->method (pick (next));           \
  }
ASK (can_flush)
ASK (is_rotational)
ASK (can_trim)
ASK (can_zero)
ASK (can_fast_zero)
ASK (can_extents)
ASK (can_fua)
ASK (can_multi_conn)
ASK (can_cache)

static int
cf_pread (nbdkit_next *next, void *handle, void *buf, uint32_t count,
          uint64_t offset, uint32_t flags, int *err)
{
  struct handle *h = handle;

  /* SWAP: alternate between the two contexts. */
  if (h->other && h->reads++ % 2)
    next = h->other;
  next = pick (next);
  return next->pread (next, buf, count, offset, flags, err);
}

static int
cf_extents (nbdkit_next *next, void *handle, uint32_t count,
            uint64_t offset, uint32_t flags,
            struct nbdkit_extents *extents, int *err)
{
  struct nbdkit_extents *all;
  size_t i;

  next = pick (next);
  switch (mode) {
  case ALIGNED:
    if (offset % 4096 || count % 4096) {
      nbdkit_error ("unaligned extents request");
      *err = EINVAL;
      return -1;
    }
    return nbdkit_extents_aligned (next, count, offset, flags, 4096,
                                   extents, err);
  case FULL:
    all = nbdkit_extents_full (next, count, offset, flags, err);
    if (all == NULL)
      return -1;
    for (i = 0; i < nbdkit_extents_count (all); ++i) {
      struct nbdkit_extent e = nbdkit_get_extent (all, i);

      if (nbdkit_add_extent (extents, e.offset, e.length, e.type) == -1) {
        *err = errno;
        nbdkit_extents_free (all);
        return -1;
      }
    }
    nbdkit_extents_free (all);
    return 0;
  default:
    return next->extents (next, count, offset, flags, extents, err);
  }
}

static const char *
cf_export_description (nbdkit_next *next, void *handle)
{
  return pick (next)->export_description (pick (next));
}

static int
cf_block_size (nbdkit_next *next, void *handle, uint32_t *minimum,
               uint32_t *preferred, uint32_t *maximum)
{
  if (mode == ALIGNED) {
    *minimum = 4096;
    *preferred = 4096;
    *maximum = 0xffffffff;
    return 0;
  }
  *minimum = *preferred = *maximum = 0;
  return 0;
}

static struct nbdkit_filter filter = {
  .name = "context",
  .config = cf_config,
  .after_fork = cf_after_fork,
  .cleanup = cf_cleanup,
  .open = cf_open,
  .close = cf_close,
  .prepare = cf_prepare,
  .finalize = cf_finalize,
  .get_size = cf_get_size,
  .can_write = cf_can_write,
  .can_flush = cf_can_flush,
  .is_rotational = cf_is_rotational,
  .can_trim = cf_can_trim,
  .can_zero = cf_can_zero,
  .can_fast_zero = cf_can_fast_zero,
  .can_extents = cf_can_extents,
  .can_fua = cf_can_fua,
  .can_multi_conn = cf_can_multi_conn,
  .can_cache = cf_can_cache,
  .export_description = cf_export_description,
  .block_size = cf_block_size,
  .pread = cf_pread,
  .extents = cf_extents,
};

NBDKIT_REGISTER_FILTER (filter)
