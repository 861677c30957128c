/* backend.c: the generic layer, between a caller and any layer.
 *
 * The protocol code calls these on the top context; a filter calls
 * them (through next->...) on the context below it.  Either way this
 * file
 *   - opens, prepares, finalizes and closes contexts in nbdkit's order,
 *   - caches get_size, block_size, export_description and every can_*
 *     answer per context (asked once, then free),
 *   - checks what the caller asks for: a request out of range or with
 *     flags the layer did not advertise fails with EINVAL and a message
 *     naming the layer, where nbdkit would abort,
 *   - supplies what all layers share: zeroing by writing zeroes for a
 *     layer that says EMULATE, caching by reading, and one "allocated
 *     data" extent for a layer without extents,
 *   - logs each call with -v (-D nbdkit.backend.datapath=0 and
 *     -D nbdkit.backend.controlpath=0 silence it).
 *
 * What only plugins need (API versions, turning a plugin's failure into
 * an errno, FUA by flush) is in plugin-ops.c; filters.c is the other
 * adapter.  Locking for the thread model is done by the callers.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>

#include "internal.h"

struct backend *top;
size_t nr_layers;

/* Source of zeroes for emulated WRITE_ZEROES.  Never written to. */
#define ZERO_BUF_SIZE (1024 * 1024)
static const char zero_buf[ZERO_BUF_SIZE];

static inline bool
datapath_debug (void)
{
  return unlikely (config.verbose) && nbdkit_debug_backend_datapath;
}

/* What a filter's next pointer leads to: these same functions. */
static const struct nbdkit_next_ops next_ops_template = {
  .prepare = backend_prepare,
  .finalize = backend_finalize,
  .get_size = backend_get_size,
  .export_description = backend_export_description,
  .block_size = backend_block_size,
  .can_write = backend_can_write,
  .can_flush = backend_can_flush,
  .is_rotational = backend_is_rotational,
  .can_trim = backend_can_trim,
  .can_zero = backend_can_zero,
  .can_fast_zero = backend_can_fast_zero,
  .can_extents = backend_can_extents,
  .can_fua = backend_can_fua,
  .can_multi_conn = backend_can_multi_conn,
  .can_cache = backend_can_cache,
  .pread = backend_pread,
  .pwrite = backend_pwrite,
  .flush = backend_flush,
  .trim = backend_trim,
  .zero = backend_zero,
  .extents = backend_extents,
  .cache = backend_cache,
};

/* A shared context belongs to no connection.  While one of its
 * control-path callbacks runs, the thread is outside any connection
 * too, so that what the layer interns lives as long as the server (the
 * answer is cached in the context, which outlives the connection) and
 * it cannot see the client of whichever connection happened to ask.
 */
static inline struct connection *
enter (struct context *c)
{
  struct connection *saved = thread_state.conn;

  if (c->conn == NULL)
    thread_state.conn = NULL;
  return saved;
}

static inline void
leave (struct connection *saved)
{
  thread_state.conn = saved;
}

static int
current_is_tls (void)
{
  struct connection *conn = threadlocal_get_conn ();

  return conn ? conn->using_tls : 0;
}

int
backend_preconnect (struct backend *b, int readonly)
{
  controlpath_debug ("%s: preconnect", b->name);
  return b->preconnect (b, readonly);
}

const char *
backend_default_export (struct backend *b, int readonly)
{
  struct connection *conn = threadlocal_get_conn ();
  struct default_export *d;
  const char *name;

  d = conn && conn->default_exports ? &conn->default_exports[b->index]
    : NULL;
  if (d && d->known)
    return d->name;

  controlpath_debug ("%s: default_export readonly=%d tls=%d",
                     b->name, readonly, current_is_tls ());
  name = b->default_export (b, readonly, current_is_tls ());
  if (name && strlen (name) > NBD_MAX_STRING) {
    nbdkit_error ("%s: default_export: returned name is too long", b->name);
    name = NULL;
  }
  if (d == NULL)
    return name;
  if (name) {
    d->name = strdup (name);
    if (d->name == NULL) {
      nbdkit_error ("strdup: %m");
      return NULL;
    }
  }
  d->known = true;
  return d->name;
}

int
backend_list_exports (struct backend *b, int readonly,
                      struct nbdkit_exports *exports)
{
  controlpath_debug ("%s: list_exports readonly=%d tls=%d",
                     b->name, readonly, current_is_tls ());
  if (b->list_exports (b, readonly, current_is_tls (), exports) == -1)
    return -1;

  /* Each layer may ask for the default export to be listed under its
   * canonical name (nbdkit_use_default_export).
   */
  if (exports_wants_default (exports)) {
    const char *name = backend_default_export (b, readonly);

    if (name && nbdkit_add_export (exports, name, NULL) == -1)
      return -1;
  }
  return 0;
}

struct context *
backend_open (struct backend *b, int readonly, const char *exportname,
              bool shared)
{
  struct connection *conn = threadlocal_get_conn ();
  struct context *c;

  if (!shared && conn == NULL) {
    nbdkit_error ("%s: a context that is not shared can only be opened "
                  "while serving a connection", b->name);
    return NULL;
  }
  if (exportname == NULL)
    exportname = "";
  if (shared)
    thread_state.conn = NULL;   /* see enter() */

  if (config.verbose && nbdkit_debug_backend_controlpath) {
    /* The export name comes from the client: escape it for the log. */
    CLEANUP_FREE char *ename = log_escape (exportname, strlen (exportname));

    debug ("%s: open readonly=%d exportname=\"%s\" tls=%d",
           b->name, readonly, LOG_STR (ename),
           shared ? 0 : current_is_tls ());
  }

  c = malloc (sizeof *c);
  if (c == NULL) {
    nbdkit_error ("malloc: %m");
    thread_state.conn = conn;
    return NULL;
  }
  c->next_ops = next_ops_template;
  c->b = b;
  c->handle = NULL;
  c->c_next = NULL;
  c->conn = shared ? NULL : conn;
  c->state = 0;
  c->exportsize = -1;
  c->can_write = readonly ? 0 : -1;
  c->can_flush = c->is_rotational = c->can_trim = -1;
  c->can_zero = c->can_fast_zero = c->can_fua = -1;
  c->can_multi_conn = c->can_cache = c->can_extents = -1;
  c->block_size_known = false;
  c->block_minimum = c->block_preferred = c->block_maximum = 0;
  c->description_known = false;
  c->description = NULL;

  /* Each layer sees the default export under its own canonical name. */
  if (exportname[0] == '\0') {
    exportname = backend_default_export (b, readonly);
    if (exportname == NULL) {
      nbdkit_error ("%s: the default export (\"\") is not permitted",
                    b->name);
      free (c);
      thread_state.conn = conn;
      return NULL;
    }
  }

  c->handle = b->open (c, readonly, exportname,
                       shared ? 0 : current_is_tls ());
  if (c->handle == NULL) {
    controlpath_debug ("%s: open failed", b->name);
    /* The filter may have opened the layer below before failing. */
    if (c->c_next) {
      if (c->c_next->state & CONTEXT_PREPARED)
        backend_finalize (c->c_next);
      backend_close (c->c_next);
    }
    free (c);
    thread_state.conn = conn;
    return NULL;
  }
  controlpath_debug ("%s: open returned handle %p", b->name, c->handle);
  c->state = CONTEXT_OPEN;
  thread_state.conn = conn;
  return c;
}

/* Prepare from the plugin outwards, matching the usual .open order.
 * A filter that did not open the layer below has no c_next.
 */
int
backend_prepare (struct context *c)
{
  struct backend *b = c->b;
  struct connection *saved;
  int r;

  if (c->state & CONTEXT_PREPARED)
    return 0;
  if (c->c_next && backend_prepare (c->c_next) == -1)
    return -1;
  controlpath_debug ("%s: prepare readonly=%d", b->name, c->can_write == 0);
  saved = enter (c);
  r = b->prepare (c, c->can_write == 0);
  leave (saved);
  if (r == -1)
    return -1;
  c->state |= CONTEXT_PREPARED;
  return 0;
}

/* Finalize from the outside in, matching .close order.  Only prepared
 * contexts are finalized, and a failure is remembered: the connection
 * must then end.
 */
int
backend_finalize (struct context *c)
{
  struct backend *b = c->b;
  struct connection *saved;
  int r;

  if (c->state & CONTEXT_FAILED)
    return -1;
  if (c->state & CONTEXT_PREPARED) {
    controlpath_debug ("%s: finalize", b->name);
    saved = enter (c);
    r = b->finalize (c);
    leave (saved);
    if (r == -1) {
      c->state |= CONTEXT_FAILED;
      return -1;
    }
    c->state &= ~CONTEXT_PREPARED;
  }
  if (c->c_next)
    return backend_finalize (c->c_next);
  return 0;
}

/* Close from the outside in, and free the contexts. */
void
backend_close (struct context *c)
{
  while (c) {
    struct context *c_next = c->c_next;
    struct connection *saved = enter (c);

    controlpath_debug ("%s: close", c->b->name);
    c->b->close (c);
    leave (saved);
    free (c);
    c = c_next;
  }
}

bool
backend_valid_range (struct context *c, uint64_t offset, uint64_t count)
{
  uint64_t size = c->exportsize;

  return c->exportsize >= 0 && offset <= size && count <= size - offset;
}

int64_t
backend_get_size (struct context *c)
{
  if (c->exportsize == -1) {
    struct connection *saved = enter (c);
    int64_t r;

    controlpath_debug ("%s: get_size", c->b->name);
    r = c->b->get_size (c);
    leave (saved);
    if (r < 0) {
      if (r != -1)
        nbdkit_error ("%s: .get_size returned an invalid size %" PRIi64,
                      c->b->name, r);
      return -1;
    }
    c->exportsize = r;
  }
  return c->exportsize;
}

/* Ask a can_* question once; fn's answer must lie in [0, max]
 * (booleans are normalised to 0/1 by the plugin adapter).
 */
static int
ask (struct context *c, const char *what,
     int (*fn) (struct context *), int max, int *cache)
{
  if (*cache == -1) {
    struct connection *saved = enter (c);
    int r;

    controlpath_debug ("%s: %s", c->b->name, what);
    r = fn (c);
    leave (saved);
    if (r == -1)
      return -1;
    if (r < 0 || r > max) {
      nbdkit_error ("%s: .%s returned an invalid value %d",
                    c->b->name, what, r);
      return -1;
    }
    *cache = r;
  }
  return *cache;
}

int
backend_can_write (struct context *c)
{
  return ask (c, "can_write", c->b->can_write, 1, &c->can_write);
}

int
backend_can_flush (struct context *c)
{
  return ask (c, "can_flush", c->b->can_flush, 1, &c->can_flush);
}

int
backend_is_rotational (struct context *c)
{
  return ask (c, "is_rotational", c->b->is_rotational, 1,
              &c->is_rotational);
}

/* Trim, zero and FUA need writing: on a read-only context they are
 * "no" without asking.
 */
static int
ask_if_writable (struct context *c, const char *what,
                 int (*fn) (struct context *), int max, int *cache)
{
  if (*cache == -1) {
    int r = backend_can_write (c);

    if (r == -1)
      return -1;
    if (r == 0) {
      *cache = 0;
      return 0;
    }
  }
  return ask (c, what, fn, max, cache);
}

int
backend_can_trim (struct context *c)
{
  return ask_if_writable (c, "can_trim", c->b->can_trim, 1, &c->can_trim);
}

int
backend_can_zero (struct context *c)
{
  return ask_if_writable (c, "can_zero", c->b->can_zero, NBDKIT_ZERO_NATIVE,
                          &c->can_zero);
}

int
backend_can_fast_zero (struct context *c)
{
  if (c->can_fast_zero == -1) {
    int r = backend_can_zero (c);

    if (r == -1)
      return -1;
    if (r == NBDKIT_ZERO_NONE) {
      c->can_fast_zero = 0;
      return 0;
    }
  }
  return ask (c, "can_fast_zero", c->b->can_fast_zero, 1,
              &c->can_fast_zero);
}

int
backend_can_fua (struct context *c)
{
  return ask_if_writable (c, "can_fua", c->b->can_fua, NBDKIT_FUA_NATIVE,
                          &c->can_fua);
}

int
backend_can_multi_conn (struct context *c)
{
  return ask (c, "can_multi_conn", c->b->can_multi_conn, 1,
              &c->can_multi_conn);
}

int
backend_can_cache (struct context *c)
{
  return ask (c, "can_cache", c->b->can_cache, NBDKIT_CACHE_NATIVE,
              &c->can_cache);
}

int
backend_can_extents (struct context *c)
{
  return ask (c, "can_extents", c->b->can_extents, 1, &c->can_extents);
}

static bool
is_power_of_2 (uint32_t v)
{
  return v != 0 && (v & (v - 1)) == 0;
}

/* All zero means "no constraints". */
int
backend_block_size (struct context *c, uint32_t *minimum,
                    uint32_t *preferred, uint32_t *maximum)
{
  struct backend *b = c->b;

  if (!c->block_size_known) {
    uint32_t mn = 0, pr = 0, mx = 0;
    struct connection *saved = enter (c);
    int r;

    controlpath_debug ("%s: block_size", b->name);
    r = b->block_size (c, &mn, &pr, &mx);
    leave (saved);
    if (r == -1)
      return -1;
    if (mn != 0 || pr != 0 || mx != 0) {
      if (!is_power_of_2 (mn) || mn > 65536) {
        nbdkit_error ("%s: .block_size: minimum block size must be a "
                      "power of 2 between 1 and 64K", b->name);
        return -1;
      }
      if (!is_power_of_2 (pr) || pr < 512 || pr > 32 * 1024 * 1024) {
        nbdkit_error ("%s: .block_size: preferred block size must be a "
                      "power of 2 between 512 and 32M", b->name);
        return -1;
      }
      if (mx != UINT32_MAX && mx % mn != 0) {
        nbdkit_error ("%s: .block_size: maximum block size must be -1 "
                      "or a multiple of the minimum", b->name);
        return -1;
      }
      if (mn > pr || pr > mx) {
        nbdkit_error ("%s: .block_size: sizes must satisfy "
                      "minimum <= preferred <= maximum", b->name);
        return -1;
      }
    }
    c->block_minimum = mn;
    c->block_preferred = pr;
    c->block_maximum = mx;
    c->block_size_known = true;
  }
  *minimum = c->block_minimum;
  *preferred = c->block_preferred;
  *maximum = c->block_maximum;
  return 0;
}

const char *
backend_export_description (struct context *c)
{
  if (!c->description_known) {
    struct connection *saved = enter (c);
    const char *s;

    controlpath_debug ("%s: export_description", c->b->name);
    s = c->b->export_description (c);
    leave (saved);
    if (s && strlen (s) > NBD_MAX_STRING) {
      nbdkit_error ("%s: export_description: description is too long",
                    c->b->name);
      s = NULL;
    }
    c->description = s;
    c->description_known = true;
  }
  return c->description;
}

/* Data path.
 *
 * The checks below cost a few compares.  Requests from the client were
 * already checked against the top context (protocol.c), so they only
 * ever catch a filter asking the layer below for something it must
 * not: nbdkit asserts there; we fail the request instead.
 */

static int
bad_request (struct context *c, const char *op, const char *why, int *err)
{
  nbdkit_error ("%s: invalid %s request from the layer above: %s",
                c->b->name, op, why);
  *err = EINVAL;
  return -1;
}

/* The range must be inside the export, whose size the caller must have
 * asked for (nbdkit-filter(3) requires it; we ask on its behalf).
 * Inline fast path; the rare cases go out of line.
 */
static int __attribute__ ((noinline))
check_range_slow (struct context *c, const char *op, uint64_t offset,
                  uint32_t count, int *err)
{
  if (c->exportsize == -1 && backend_get_size (c) == -1) {
    *err = EIO;
    return -1;
  }
  if (!backend_valid_range (c, offset, count))
    return bad_request (c, op, "offset and count are out of range", err);
  return 0;
}

static inline int
check_range (struct context *c, const char *op, uint64_t offset,
             uint32_t count, int *err)
{
  const uint64_t size = c->exportsize; /* -1 becomes huge, checked below */

  if (likely (c->exportsize >= 0 && offset <= size &&
              count <= size - offset))
    return 0;
  return check_range_slow (c, op, offset, count, err);
}

/* Write-type requests need a writable context, and FUA needs FUA. */
static int __attribute__ ((noinline))
check_write_slow (struct context *c, const char *op, uint32_t flags,
                  int *err)
{
  if (c->can_write != 1 && backend_can_write (c) != 1)
    return bad_request (c, op, "the layer is not writable", err);
  if ((flags & NBDKIT_FLAG_FUA) && c->can_fua <= NBDKIT_FUA_NONE &&
      backend_can_fua (c) <= NBDKIT_FUA_NONE)
    return bad_request (c, op, "FUA is not supported", err);
  return 0;
}

static inline int
check_write (struct context *c, const char *op, uint32_t flags, int *err)
{
  if (likely (c->can_write == 1) &&
      (!(flags & NBDKIT_FLAG_FUA) || likely (c->can_fua > NBDKIT_FUA_NONE)))
    return 0;
  return check_write_slow (c, op, flags, err);
}

/* A layer that failed without choosing an errno. */
static inline int
failed (int r, int *err)
{
  if (r == -1 && *err == 0)
    *err = EIO;
  return r;
}

int
backend_pread (struct context *c, void *buf, uint32_t count,
               uint64_t offset, uint32_t flags, int *err)
{
  if (datapath_debug ())
    debug ("%s: pread count=%" PRIu32 " offset=%" PRIu64,
           c->b->name, count, offset);
  if (check_range (c, "pread", offset, count, err) == -1)
    return -1;
  if (unlikely (flags != 0))
    return bad_request (c, "pread", "unknown flags", err);
  *err = 0;
  return failed (c->b->pread (c, buf, count, offset, flags, err), err);
}

int
backend_pwrite (struct context *c, const void *buf, uint32_t count,
                uint64_t offset, uint32_t flags, int *err)
{
  if (datapath_debug ())
    debug ("%s: pwrite count=%" PRIu32 " offset=%" PRIu64 " fua=%d",
           c->b->name, count, offset, !!(flags & NBDKIT_FLAG_FUA));
  if (check_range (c, "pwrite", offset, count, err) == -1 ||
      check_write (c, "pwrite", flags, err) == -1)
    return -1;
  if (unlikely (flags & ~NBDKIT_FLAG_FUA))
    return bad_request (c, "pwrite", "unknown flags", err);
  *err = 0;
  return failed (c->b->pwrite (c, buf, count, offset, flags, err), err);
}

int
backend_flush (struct context *c, uint32_t flags, int *err)
{
  if (datapath_debug ())
    debug ("%s: flush", c->b->name);
  if (unlikely (c->can_flush != 1) && backend_can_flush (c) != 1)
    return bad_request (c, "flush", "flush is not supported", err);
  if (unlikely (flags != 0))
    return bad_request (c, "flush", "unknown flags", err);
  *err = 0;
  return failed (c->b->flush (c, flags, err), err);
}

int
backend_trim (struct context *c, uint32_t count, uint64_t offset,
              uint32_t flags, int *err)
{
  if (datapath_debug ())
    debug ("%s: trim count=%" PRIu32 " offset=%" PRIu64 " fua=%d",
           c->b->name, count, offset, !!(flags & NBDKIT_FLAG_FUA));
  if (check_range (c, "trim", offset, count, err) == -1 ||
      check_write (c, "trim", flags, err) == -1)
    return -1;
  if (unlikely (c->can_trim != 1) && backend_can_trim (c) != 1)
    return bad_request (c, "trim", "trim is not supported", err);
  if (unlikely (flags & ~NBDKIT_FLAG_FUA))
    return bad_request (c, "trim", "unknown flags", err);
  *err = 0;
  return failed (c->b->trim (c, count, offset, flags, err), err);
}

int
backend_emulate_zero (struct context *c, uint32_t count, uint64_t offset,
                      uint32_t flags, int *err)
{
  flags &= NBDKIT_FLAG_FUA;
  while (count > 0) {
    uint32_t n = MIN (count, ZERO_BUF_SIZE);

    /* FUA on the last piece only: it makes all of them durable. */
    if (backend_pwrite (c, zero_buf, n, offset,
                        n == count ? flags : 0, err) == -1)
      return -1;
    count -= n;
    offset += n;
  }
  return 0;
}

int
backend_zero (struct context *c, uint32_t count, uint64_t offset,
              uint32_t flags, int *err)
{
  const bool fast = flags & NBDKIT_FLAG_FAST_ZERO;

  if (datapath_debug ())
    debug ("%s: zero count=%" PRIu32 " offset=%" PRIu64
           " may_trim=%d fua=%d fast=%d",
           c->b->name, count, offset, !!(flags & NBDKIT_FLAG_MAY_TRIM),
           !!(flags & NBDKIT_FLAG_FUA), fast);
  if (check_range (c, "zero", offset, count, err) == -1 ||
      check_write (c, "zero", flags, err) == -1)
    return -1;
  if (unlikely (c->can_zero == -1) && backend_can_zero (c) == -1) {
    *err = EIO;
    return -1;
  }
  if (unlikely (c->can_zero == NBDKIT_ZERO_NONE))
    return bad_request (c, "zero", "zeroing is not supported", err);
  if (fast && c->can_fast_zero != 1 && backend_can_fast_zero (c) != 1)
    return bad_request (c, "zero", "fast zero is not supported", err);
  if (unlikely (flags & ~(NBDKIT_FLAG_MAY_TRIM | NBDKIT_FLAG_FUA |
                          NBDKIT_FLAG_FAST_ZERO)))
    return bad_request (c, "zero", "unknown flags", err);

  *err = 0;
  if (c->can_zero == NBDKIT_ZERO_EMULATE) {
    /* Writing zeroes is never fast. */
    if (fast) {
      *err = ENOTSUP;
      return -1;
    }
    return backend_emulate_zero (c, count, offset, flags, err);
  }
  return failed (c->b->zero (c, count, offset, flags, err), err);
}

int
backend_extents (struct context *c, uint32_t count, uint64_t offset,
                 uint32_t flags, struct nbdkit_extents *extents, int *err)
{
  if (datapath_debug ())
    debug ("%s: extents count=%" PRIu32 " offset=%" PRIu64 " req_one=%d",
           c->b->name, count, offset, !!(flags & NBDKIT_FLAG_REQ_ONE));
  if (check_range (c, "extents", offset, count, err) == -1)
    return -1;
  if (unlikely (flags & ~NBDKIT_FLAG_REQ_ONE))
    return bad_request (c, "extents", "unknown flags", err);
  if (unlikely (c->can_extents == -1) && backend_can_extents (c) == -1) {
    *err = EIO;
    return -1;
  }

  *err = 0;
  if (c->can_extents == 0) {
    /* Without extents support everything is allocated data. */
    if (nbdkit_add_extent (extents, offset, count, 0) == -1) {
      *err = errno ? errno : ENOMEM;
      return -1;
    }
    return 0;
  }
  if (c->b->extents (c, count, offset, flags, extents, err) == -1)
    return failed (-1, err);
  if (count > 0 && nbdkit_extents_count (extents) == 0) {
    nbdkit_error ("%s: extents: must return at least one extent",
                  c->b->name);
    *err = EINVAL;
    return -1;
  }
  return 0;
}

int
backend_cache (struct context *c, uint32_t count, uint64_t offset,
               uint32_t flags, int *err)
{
  if (datapath_debug ())
    debug ("%s: cache count=%" PRIu32 " offset=%" PRIu64,
           c->b->name, count, offset);
  if (check_range (c, "cache", offset, count, err) == -1)
    return -1;
  if (unlikely (flags != 0))
    return bad_request (c, "cache", "unknown flags", err);
  if (unlikely (c->can_cache == -1) && backend_can_cache (c) == -1) {
    *err = EIO;
    return -1;
  }
  if (unlikely (c->can_cache == NBDKIT_CACHE_NONE))
    return bad_request (c, "cache", "cache is not supported", err);

  *err = 0;
  if (c->can_cache == NBDKIT_CACHE_EMULATE) {
    /* Read the range and throw the data away.  Rare, so a buffer per
     * call is fine (a shared sink would be a data race, if a harmless
     * one).
     */
    const uint32_t chunk = MIN (count, 1024 * 1024);
    CLEANUP_FREE char *buf = malloc (chunk ? chunk : 1);

    if (buf == NULL) {
      *err = ENOMEM;
      return -1;
    }
    while (count > 0) {
      uint32_t n = MIN (count, chunk);

      if (backend_pread (c, buf, n, offset, 0, err) == -1)
        return -1;
      count -= n;
      offset += n;
    }
    return 0;
  }
  return failed (c->b->cache (c, count, offset, flags, err), err);
}
