/* backend.c: calling the plugin while serving.
 *
 * Everything the protocol code asks of the plugin goes through here.
 * This layer
 *   - hides the difference between API versions 1 and 2,
 *   - caches get_size and every can_* answer per connection (they are
 *     asked once, when the export is opened),
 *   - supplies the defaults for callbacks the plugin leaves NULL,
 *   - emulates what the plugin lacks: FUA by a flush after the write,
 *     zeroing by writing zeroes, caching by reading, extents by one
 *     "allocated data" extent,
 *   - turns a failed callback into an errno: the value the plugin gave
 *     nbdkit_set_error, else errno if the plugin declared
 *     errno_is_preserved, else EIO.
 *
 * Locking for the thread model is done by the callers (protocol and
 * handshake code), not here.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>

#include "internal.h"

#define P (plugin.p)

/* Source of zeroes for emulated WRITE_ZEROES.  Never written to. */
#define ZERO_BUF_SIZE (1024 * 1024)
static char zero_buf[ZERO_BUF_SIZE];

/* The errno to report after a callback returned -1.  saved_errno is
 * the value of errno right after the callback returned.
 */
static int
callback_error (int saved_errno)
{
  int err = thread_state.error;

  if (err == 0 && P.errno_is_preserved)
    err = saved_errno;
  if (err == 0)
    err = EIO;
  return err;
}

/* -D nbdkit.backend.datapath=0 and -D nbdkit.backend.controlpath=0
 * silence the per-request and the per-connection callback messages.
 */
static inline bool
datapath_debug (void)
{
  return unlikely (config.verbose) && nbdkit_debug_backend_datapath;
}

#define controlpath_debug(fmt, ...)                                     \
  do {                                                                  \
    if (nbdkit_debug_backend_controlpath)                               \
      debug (fmt, ##__VA_ARGS__);                                       \
  } while (0)

int
backend_preconnect (int readonly)
{
  controlpath_debug ("%s: preconnect", plugin.name);
  if (P.preconnect && P.preconnect (readonly) == -1)
    return -1;
  return 0;
}

/* Returns the canonical name of the default export ("" if the plugin
 * has no opinion), or NULL if the plugin refuses the default export.
 * The string belongs to the plugin (or is interned); copy it.
 */
const char *
backend_default_export (struct connection *conn, int readonly)
{
  const char *name = "";

  if (conn->default_export_known)
    return conn->default_exportname;

  controlpath_debug ("%s: default_export readonly=%d tls=%d",
                     plugin.name, readonly, 0);
  if (P.default_export) {
    name = P.default_export (readonly, 0);
    if (name && strlen (name) > NBD_MAX_STRING) {
      nbdkit_error ("%s: default_export: returned name is too long",
                    plugin.name);
      name = NULL;
    }
  }
  if (name) {
    conn->default_exportname = strdup (name);
    if (conn->default_exportname == NULL) {
      nbdkit_error ("strdup: %m");
      return NULL;
    }
  }
  conn->default_export_known = true;
  return conn->default_exportname;
}

int
backend_list_exports (struct connection *conn, int readonly,
                      struct nbdkit_exports *exports)
{
  controlpath_debug ("%s: list_exports readonly=%d tls=%d", plugin.name, readonly, 0);

  if (P.list_exports) {
    if (P.list_exports (readonly, 0, exports) == -1)
      return -1;
  }
  else if (nbdkit_use_default_export (exports) == -1)
    return -1;

  if (exports_wants_default (exports)) {
    const char *name = backend_default_export (conn, readonly);

    if (name && nbdkit_add_export (exports, name, NULL) == -1)
      return -1;
  }
  return 0;
}

int
backend_open (struct connection *conn, int readonly)
{
  void *h;

  if (config.verbose && nbdkit_debug_backend_controlpath) {
    /* The export name comes from the client: escape it for the log. */
    const char *name = conn->exportname ? conn->exportname : "";
    CLEANUP_FREE char *ename = log_escape (name, strlen (name));

    debug ("%s: open readonly=%d exportname=\"%s\" tls=%d",
           plugin.name, readonly, LOG_STR (ename), conn->using_tls);
  }

  h = P.open (readonly);
  if (h == NULL) {
    controlpath_debug ("%s: open failed", plugin.name);
    return -1;
  }
  controlpath_debug ("%s: open returned handle %p", plugin.name, h);

  conn->handle = h;
  conn->handle_open = true;
  conn->exportsize = -1;
  conn->can_write = readonly ? 0 : -1;
  conn->can_flush = conn->is_rotational = conn->can_trim = -1;
  conn->can_zero = conn->can_fast_zero = conn->can_fua = -1;
  conn->can_multi_conn = conn->can_cache = conn->can_extents = -1;
  conn->have_block_size = false;
  conn->block_minimum = conn->block_preferred = conn->block_maximum = 0;
  conn->description = NULL;
  return 0;
}

void
backend_close (struct connection *conn)
{
  if (!conn->handle_open)
    return;
  controlpath_debug ("%s: close", plugin.name);
  if (P.close)
    P.close (conn->handle);
  conn->handle = NULL;
  conn->handle_open = false;
}

bool
backend_valid_range (struct connection *conn, uint64_t offset,
                     uint32_t count)
{
  uint64_t size = conn->exportsize;

  return offset <= size && count <= size - offset;
}

int64_t
backend_get_size (struct connection *conn)
{
  if (conn->exportsize == -1) {
    int64_t r;

    controlpath_debug ("%s: get_size", plugin.name);
    r = P.get_size (conn->handle);
    if (r < 0) {
      if (r != -1)
        nbdkit_error ("%s: .get_size returned an invalid size %" PRIi64,
                      plugin.name, r);
      return -1;
    }
    conn->exportsize = r;
  }
  return conn->exportsize;
}

/* Ask a boolean can_* question once.  When the plugin has no callback
 * the default is dflt.
 */
static int
ask_bool (struct connection *conn, const char *what, int (*fn) (void *),
          int dflt, int *cache)
{
  if (*cache == -1) {
    int r;

    controlpath_debug ("%s: %s", plugin.name, what);
    if (fn) {
      r = fn (conn->handle);
      if (r == -1)
        return -1;
      r = r != 0;
    }
    else
      r = dflt;
    *cache = r;
  }
  return *cache;
}

int
backend_can_write (struct connection *conn)
{
  return ask_bool (conn, "can_write", P.can_write,
                   P.pwrite != NULL || P._pwrite_v1 != NULL,
                   &conn->can_write);
}

int
backend_can_flush (struct connection *conn)
{
  return ask_bool (conn, "can_flush", P.can_flush,
                   P.flush != NULL || P._flush_v1 != NULL,
                   &conn->can_flush);
}

int
backend_is_rotational (struct connection *conn)
{
  return ask_bool (conn, "is_rotational", P.is_rotational, 0,
                   &conn->is_rotational);
}

int
backend_can_trim (struct connection *conn)
{
  int r;

  if (conn->can_trim == -1) {
    r = backend_can_write (conn);
    if (r <= 0) {
      if (r == 0)
        conn->can_trim = 0;
      return r;
    }
  }
  return ask_bool (conn, "can_trim", P.can_trim,
                   P.trim != NULL || P._trim_v1 != NULL, &conn->can_trim);
}

/* Plugins answer can_zero with a boolean, but the server thinks in
 * three states: NONE (read-only), EMULATE (write zeroes with pwrite),
 * NATIVE (call .zero).  Zeroing is advertised whenever writing is.
 */
int
backend_can_zero (struct connection *conn)
{
  if (conn->can_zero == -1) {
    int r = backend_can_write (conn);

    if (r <= 0) {
      if (r == 0)
        conn->can_zero = NBDKIT_FUA_NONE;
      return r;
    }
    controlpath_debug ("%s: can_zero", plugin.name);
    if (P.can_zero) {
      r = P.can_zero (conn->handle);
      if (r == -1)
        return -1;
      r = r ? NBDKIT_FUA_NATIVE : NBDKIT_FUA_EMULATE;
    }
    else
      r = (P.zero || P._zero_v1) ? NBDKIT_FUA_NATIVE : NBDKIT_FUA_EMULATE;
    conn->can_zero = r;
  }
  return conn->can_zero;
}

int
backend_can_fast_zero (struct connection *conn)
{
  if (conn->can_fast_zero == -1) {
    int r = backend_can_zero (conn);

    if (r <= NBDKIT_FUA_NONE) {
      if (r == NBDKIT_FUA_NONE)
        conn->can_fast_zero = 0;
      return r;
    }
    controlpath_debug ("%s: can_fast_zero", plugin.name);
    if (P.can_fast_zero) {
      r = P.can_fast_zero (conn->handle);
      if (r == -1)
        return -1;
      r = r != 0;
    }
    else
      /* Without a (v2) .zero, or when .can_zero said no, a fast zero
       * request can be refused at once, which is a valid answer.
       */
      r = P.zero == NULL || conn->can_zero == NBDKIT_FUA_EMULATE;
    conn->can_fast_zero = r;
  }
  return conn->can_fast_zero;
}

int
backend_can_fua (struct connection *conn)
{
  if (conn->can_fua == -1) {
    int r = backend_can_write (conn);

    if (r <= 0) {
      if (r == 0)
        conn->can_fua = NBDKIT_FUA_NONE;
      return r;
    }
    controlpath_debug ("%s: can_fua", plugin.name);
    if (P.can_fua) {
      r = P.can_fua (conn->handle);
      if (r == -1)
        return -1;
      if (r < NBDKIT_FUA_NONE || r > NBDKIT_FUA_NATIVE) {
        nbdkit_error ("%s: .can_fua returned an invalid value %d",
                      plugin.name, r);
        return -1;
      }
      /* Version 1 callbacks have no flags argument. */
      if (P._api_version == 1 && r == NBDKIT_FUA_NATIVE)
        r = NBDKIT_FUA_EMULATE;
    }
    else
      r = (P.flush || P._flush_v1) ? NBDKIT_FUA_EMULATE : NBDKIT_FUA_NONE;
    conn->can_fua = r;
  }
  return conn->can_fua;
}

int
backend_can_multi_conn (struct connection *conn)
{
  return ask_bool (conn, "can_multi_conn", P.can_multi_conn, 0,
                   &conn->can_multi_conn);
}

int
backend_can_cache (struct connection *conn)
{
  if (conn->can_cache == -1) {
    int r;

    controlpath_debug ("%s: can_cache", plugin.name);
    if (P.can_cache) {
      r = P.can_cache (conn->handle);
      if (r == -1)
        return -1;
      if (r < NBDKIT_CACHE_NONE || r > NBDKIT_CACHE_NATIVE) {
        nbdkit_error ("%s: .can_cache returned an invalid value %d",
                      plugin.name, r);
        return -1;
      }
    }
    else
      r = P.cache ? NBDKIT_CACHE_NATIVE : NBDKIT_CACHE_NONE;
    conn->can_cache = r;
  }
  return conn->can_cache;
}

int
backend_can_extents (struct connection *conn)
{
  return ask_bool (conn, "can_extents", P.can_extents, P.extents != NULL,
                   &conn->can_extents);
}

static bool
is_power_of_2 (uint32_t v)
{
  return v != 0 && (v & (v - 1)) == 0;
}

/* Returns 0 (with conn->have_block_size set if the plugin gave any
 * constraints) or -1.
 */
int
backend_block_size (struct connection *conn, uint32_t *minimum,
                    uint32_t *preferred, uint32_t *maximum)
{
  uint32_t mn = 0, pr = 0, mx = 0;

  controlpath_debug ("%s: block_size", plugin.name);
  if (P.block_size) {
    if (P.block_size (conn->handle, &mn, &pr, &mx) == -1)
      return -1;
    if (mn != 0 || pr != 0 || mx != 0) {
      if (!is_power_of_2 (mn) || mn > 65536) {
        nbdkit_error ("%s: .block_size: minimum block size must be a "
                      "power of 2 between 1 and 64K", plugin.name);
        return -1;
      }
      if (!is_power_of_2 (pr) || pr < 512 || pr > 32 * 1024 * 1024) {
        nbdkit_error ("%s: .block_size: preferred block size must be a "
                      "power of 2 between 512 and 32M", plugin.name);
        return -1;
      }
      if (mx != UINT32_MAX && mx % mn != 0) {
        nbdkit_error ("%s: .block_size: maximum block size must be -1 "
                      "or a multiple of the minimum", plugin.name);
        return -1;
      }
      if (mn > pr || pr > mx) {
        nbdkit_error ("%s: .block_size: sizes must satisfy "
                      "minimum <= preferred <= maximum", plugin.name);
        return -1;
      }
      conn->have_block_size = true;
    }
  }
  conn->block_minimum = mn;
  conn->block_preferred = pr;
  conn->block_maximum = mx;
  *minimum = mn;
  *preferred = pr;
  *maximum = mx;
  return 0;
}

const char *
backend_export_description (struct connection *conn)
{
  const char *s = NULL;

  controlpath_debug ("%s: export_description", plugin.name);
  if (P.export_description) {
    s = P.export_description (conn->handle);
    if (s && strlen (s) > NBD_MAX_STRING) {
      nbdkit_error ("%s: export_description: description is too long",
                    plugin.name);
      s = NULL;
    }
  }
  conn->description = s;
  return s;
}

/* Data path. */

int
backend_pread (struct connection *conn, void *buf, uint32_t count,
               uint64_t offset, uint32_t flags, int *err)
{
  int r;

  if (datapath_debug ())
    debug ("%s: pread count=%" PRIu32 " offset=%" PRIu64,
           plugin.name, count, offset);
  thread_state.error = 0;
  if (P.pread)
    r = P.pread (conn->handle, buf, count, offset, 0);
  else
    r = P._pread_v1 (conn->handle, buf, count, offset);
  if (r == -1)
    *err = callback_error (errno);
  return r;
}

int
backend_flush (struct connection *conn, uint32_t flags, int *err)
{
  int r;

  if (datapath_debug ())
    debug ("%s: flush", plugin.name);
  thread_state.error = 0;
  if (P.flush)
    r = P.flush (conn->handle, 0);
  else if (P._flush_v1)
    r = P._flush_v1 (conn->handle);
  else {
    nbdkit_error ("%s: plugin does not have a .flush callback",
                  plugin.name);
    *err = EINVAL;
    return -1;
  }
  if (r == -1)
    *err = callback_error (errno);
  return r;
}

/* After a successful write-type operation with FUA that the plugin
 * could not honour itself, make it durable with a flush.
 */
static int
finish_fua (struct connection *conn, bool emulate_fua, int r, int *err)
{
  if (r == 0 && emulate_fua)
    return backend_flush (conn, 0, err);
  return r;
}

static int
call_pwrite (struct connection *conn, const void *buf, uint32_t count,
             uint64_t offset, uint32_t flags, int *err)
{
  int r;

  thread_state.error = 0;
  if (P.pwrite)
    r = P.pwrite (conn->handle, buf, count, offset, flags);
  else if (P._pwrite_v1)
    r = P._pwrite_v1 (conn->handle, buf, count, offset);
  else {
    nbdkit_error ("%s: plugin does not have a .pwrite callback",
                  plugin.name);
    *err = EROFS;
    return -1;
  }
  if (r == -1)
    *err = callback_error (errno);
  return r;
}

int
backend_pwrite (struct connection *conn, const void *buf, uint32_t count,
                uint64_t offset, uint32_t flags, int *err)
{
  bool emulate_fua = false;
  int r;

  if (datapath_debug ())
    debug ("%s: pwrite count=%" PRIu32 " offset=%" PRIu64 " fua=%d",
           plugin.name, count, offset, !!(flags & NBDKIT_FLAG_FUA));
  if ((flags & NBDKIT_FLAG_FUA) && conn->can_fua == NBDKIT_FUA_EMULATE) {
    flags &= ~NBDKIT_FLAG_FUA;
    emulate_fua = true;
  }
  r = call_pwrite (conn, buf, count, offset, flags, err);
  return finish_fua (conn, emulate_fua, r, err);
}

int
backend_trim (struct connection *conn, uint32_t count, uint64_t offset,
              uint32_t flags, int *err)
{
  bool emulate_fua = false;
  int r = 0;

  if (datapath_debug ())
    debug ("%s: trim count=%" PRIu32 " offset=%" PRIu64 " fua=%d",
           plugin.name, count, offset, !!(flags & NBDKIT_FLAG_FUA));
  if ((flags & NBDKIT_FLAG_FUA) && conn->can_fua == NBDKIT_FUA_EMULATE) {
    flags &= ~NBDKIT_FLAG_FUA;
    emulate_fua = true;
  }
  thread_state.error = 0;
  /* Trimming is advisory: a plugin that claims can_trim without a
   * .trim callback simply keeps its data.
   */
  if (P.trim)
    r = P.trim (conn->handle, count, offset, flags);
  else if (P._trim_v1)
    r = P._trim_v1 (conn->handle, count, offset);
  if (r == -1)
    *err = callback_error (errno);
  return finish_fua (conn, emulate_fua, r, err);
}

/* Write zeroes with .pwrite, in chunks taken from zero_buf. */
static int
emulate_zero (struct connection *conn, uint32_t count, uint64_t offset,
              uint32_t flags, int *err)
{
  flags &= NBDKIT_FLAG_FUA;
  while (count > 0) {
    uint32_t n = MIN (count, ZERO_BUF_SIZE);

    if (call_pwrite (conn, zero_buf, n, offset, flags, err) == -1)
      return -1;
    count -= n;
    offset += n;
  }
  return 0;
}

int
backend_zero (struct connection *conn, uint32_t count, uint64_t offset,
              uint32_t flags, int *err)
{
  const bool fast = flags & NBDKIT_FLAG_FAST_ZERO;
  bool emulate_fua = false;
  int r;

  if (datapath_debug ())
    debug ("%s: zero count=%" PRIu32 " offset=%" PRIu64
           " may_trim=%d fua=%d fast=%d",
           plugin.name, count, offset, !!(flags & NBDKIT_FLAG_MAY_TRIM),
           !!(flags & NBDKIT_FLAG_FUA), fast);
  if ((flags & NBDKIT_FLAG_FUA) && conn->can_fua == NBDKIT_FUA_EMULATE) {
    flags &= ~NBDKIT_FLAG_FUA;
    emulate_fua = true;
  }

  if (conn->can_zero == NBDKIT_FUA_NATIVE && (P.zero || P._zero_v1)) {
    thread_state.error = 0;
    if (P.zero)
      r = P.zero (conn->handle, count, offset, flags);
    else if (fast) {
      /* A version 1 .zero cannot promise to be fast. */
      *err = ENOTSUP;
      return -1;
    }
    else
      r = P._zero_v1 (conn->handle, count, offset,
                      !!(flags & NBDKIT_FLAG_MAY_TRIM));
    if (r == 0)
      return finish_fua (conn, emulate_fua, 0, err);
    *err = callback_error (errno);
    if (*err != ENOTSUP && *err != EOPNOTSUPP)
      return -1;
    if (fast) {
      *err = ENOTSUP;
      return -1;
    }
    debug ("%s: zero falling back to pwrite", plugin.name);
  }
  else if (fast) {
    *err = ENOTSUP;
    return -1;
  }

  r = emulate_zero (conn, count, offset, flags, err);
  return finish_fua (conn, emulate_fua, r, err);
}

int
backend_extents (struct connection *conn, uint32_t count, uint64_t offset,
                 uint32_t flags, struct nbdkit_extents *extents, int *err)
{
  int r;

  if (datapath_debug ())
    debug ("%s: extents count=%" PRIu32 " offset=%" PRIu64 " req_one=%d",
           plugin.name, count, offset, !!(flags & NBDKIT_FLAG_REQ_ONE));

  if (conn->can_extents != 1 || P.extents == NULL) {
    /* Without extents support everything is allocated data. */
    if (nbdkit_add_extent (extents, offset, count, 0) == -1) {
      *err = errno ? errno : EIO;
      return -1;
    }
    return 0;
  }

  thread_state.error = 0;
  r = P.extents (conn->handle, count, offset, flags, extents);
  if (r == -1) {
    *err = callback_error (errno);
    return -1;
  }
  if (nbdkit_extents_count (extents) == 0) {
    nbdkit_error ("extents: plugin must return at least one extent");
    *err = EINVAL;
    return -1;
  }
  return 0;
}

int
backend_cache (struct connection *conn, uint32_t count, uint64_t offset,
               uint32_t flags, int *err)
{
  int r;

  if (datapath_debug ())
    debug ("%s: cache count=%" PRIu32 " offset=%" PRIu64,
           plugin.name, count, offset);

  if (conn->can_cache == NBDKIT_CACHE_EMULATE) {
    /* Read the range and throw the data away. */
    const uint32_t chunk = MIN (count, 1024 * 1024);
    CLEANUP_FREE char *buf = malloc (chunk ? chunk : 1);

    if (buf == NULL) {
      *err = ENOMEM;
      return -1;
    }
    while (count > 0) {
      uint32_t n = MIN (count, chunk);

      if (backend_pread (conn, buf, n, offset, 0, err) == -1)
        return -1;
      count -= n;
      offset += n;
    }
    return 0;
  }

  if (P.cache == NULL)
    return 0;
  thread_state.error = 0;
  r = P.cache (conn->handle, count, offset, flags);
  if (r == -1)
    *err = callback_error (errno);
  return r;
}
