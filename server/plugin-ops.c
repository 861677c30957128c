/* plugin-ops.c: the plugin's layer while serving.
 *
 * This adapter makes a plugin look like any other layer, so that the
 * filters above it see what nbdkit's filters see.  What only plugins
 * need lives here:
 *   - the difference between API versions 1 and 2,
 *   - the defaults for callbacks the plugin leaves NULL (can_write is
 *     true if there is a .pwrite, and so on),
 *   - booleans turned into the three-valued answers filters use
 *     (can_zero NATIVE/EMULATE, can_fua, can_cache),
 *   - FUA emulated by a flush after the write,
 *   - .zero falling back to writing zeroes when the plugin gives up,
 *   - a failed callback turned into an errno: the value the plugin gave
 *     nbdkit_set_error, else errno if the plugin declared
 *     errno_is_preserved, else EIO.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>

#include "internal.h"
#include "plugin.h"

#define P (plugin.p)

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

static int
plugin_preconnect (struct backend *b, int readonly)
{
  if (P.preconnect && P.preconnect (readonly) == -1)
    return -1;
  return 0;
}

static int
plugin_list_exports (struct backend *b, int readonly, int is_tls,
                     struct nbdkit_exports *exports)
{
  if (P.list_exports)
    return P.list_exports (readonly, is_tls, exports);
  return nbdkit_use_default_export (exports);
}

static const char *
plugin_default_export (struct backend *b, int readonly, int is_tls)
{
  if (P.default_export)
    return P.default_export (readonly, is_tls);
  return "";
}

static void *
plugin_open (struct context *c, int readonly, const char *exportname,
             int is_tls)
{
  struct connection *conn = c->conn;

  /* nbdkit_export_name tells the plugin the name it is opened with,
   * which a filter may have changed.
   */
  if (conn) {
    char *copy = strdup (exportname);

    if (copy == NULL) {
      nbdkit_error ("strdup: %m");
      return NULL;
    }
    free (conn->plugin_exportname);
    conn->plugin_exportname = copy;
  }
  return P.open (readonly);
}

static int
plugin_prepare (struct context *c, int readonly)
{
  return 0;
}

static int
plugin_finalize (struct context *c)
{
  return 0;
}

static void
plugin_close (struct context *c)
{
  if (P.close)
    P.close (c->handle);
}

static int64_t
plugin_get_size (struct context *c)
{
  return P.get_size (c->handle);
}

static const char *
plugin_export_description (struct context *c)
{
  if (P.export_description)
    return P.export_description (c->handle);
  return NULL;
}

static int
plugin_block_size (struct context *c, uint32_t *minimum,
                   uint32_t *preferred, uint32_t *maximum)
{
  if (P.block_size)
    return P.block_size (c->handle, minimum, preferred, maximum);
  *minimum = *preferred = *maximum = 0;
  return 0;
}

/* A boolean callback, or dflt when the plugin has none. */
static int
ask_bool (struct context *c, int (*fn) (void *), int dflt)
{
  int r;

  if (fn == NULL)
    return dflt;
  r = fn (c->handle);
  if (r == -1)
    return -1;
  return r != 0;
}

static int
plugin_can_write (struct context *c)
{
  return ask_bool (c, P.can_write, P.pwrite != NULL || P._pwrite_v1 != NULL);
}

static int
plugin_can_flush (struct context *c)
{
  return ask_bool (c, P.can_flush, P.flush != NULL || P._flush_v1 != NULL);
}

static int
plugin_is_rotational (struct context *c)
{
  return ask_bool (c, P.is_rotational, 0);
}

static int
plugin_can_trim (struct context *c)
{
  return ask_bool (c, P.can_trim, P.trim != NULL || P._trim_v1 != NULL);
}

/* Plugins answer can_zero with a boolean, filters in three states:
 * zeroing is always possible on a writable plugin (by writing zeroes),
 * NATIVE means "try .zero first".
 */
static int
plugin_can_zero (struct context *c)
{
  int r;

  if (P.can_zero) {
    r = P.can_zero (c->handle);
    if (r == -1)
      return -1;
    return r ? NBDKIT_ZERO_NATIVE : NBDKIT_ZERO_EMULATE;
  }
  return (P.zero || P._zero_v1) ? NBDKIT_ZERO_NATIVE : NBDKIT_ZERO_EMULATE;
}

static int
plugin_can_fast_zero (struct context *c)
{
  int r;

  if (P.can_fast_zero) {
    r = P.can_fast_zero (c->handle);
    if (r == -1)
      return -1;
    return r != 0;
  }
  /* Without a (v2) .zero, or when .can_zero said no, a fast zero
   * request can be refused at once, which is a valid answer.
   */
  r = backend_can_zero (c);
  if (r == -1)
    return -1;
  return P.zero == NULL || r == NBDKIT_ZERO_EMULATE;
}

static int
plugin_can_fua (struct context *c)
{
  int r;

  if (P.can_fua) {
    r = P.can_fua (c->handle);
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
    return r;
  }
  return (P.flush || P._flush_v1) ? NBDKIT_FUA_EMULATE : NBDKIT_FUA_NONE;
}

static int
plugin_can_multi_conn (struct context *c)
{
  return ask_bool (c, P.can_multi_conn, 0);
}

static int
plugin_can_cache (struct context *c)
{
  if (P.can_cache) {
    int r = P.can_cache (c->handle);

    if (r == -1)
      return -1;
    if (r < NBDKIT_CACHE_NONE || r > NBDKIT_CACHE_NATIVE) {
      nbdkit_error ("%s: .can_cache returned an invalid value %d",
                    plugin.name, r);
      return -1;
    }
    return r;
  }
  return P.cache ? NBDKIT_CACHE_NATIVE : NBDKIT_CACHE_NONE;
}

static int
plugin_can_extents (struct context *c)
{
  return ask_bool (c, P.can_extents, P.extents != NULL);
}

/* Data path. */

static int
plugin_pread (struct context *c, void *buf, uint32_t count,
              uint64_t offset, uint32_t flags, int *err)
{
  int r;

  thread_state.error = 0;
  if (P.pread)
    r = P.pread (c->handle, buf, count, offset, 0);
  else
    r = P._pread_v1 (c->handle, buf, count, offset);
  if (r == -1)
    *err = callback_error (errno);
  return r;
}

static int
plugin_flush (struct context *c, uint32_t flags, int *err)
{
  int r;

  thread_state.error = 0;
  if (P.flush)
    r = P.flush (c->handle, 0);
  else if (P._flush_v1)
    r = P._flush_v1 (c->handle);
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

/* FUA that the plugin cannot honour itself is a flush afterwards. */
static inline bool
take_emulated_fua (struct context *c, uint32_t *flags)
{
  if ((*flags & NBDKIT_FLAG_FUA) && c->can_fua != NBDKIT_FUA_NATIVE) {
    *flags &= ~NBDKIT_FLAG_FUA;
    return true;
  }
  return false;
}

static int
finish_fua (struct context *c, bool emulate_fua, int r, int *err)
{
  if (r == 0 && emulate_fua)
    return plugin_flush (c, 0, err);
  return r;
}

static int
plugin_pwrite (struct context *c, const void *buf, uint32_t count,
               uint64_t offset, uint32_t flags, int *err)
{
  const bool emulate_fua = take_emulated_fua (c, &flags);
  int r;

  thread_state.error = 0;
  if (P.pwrite)
    r = P.pwrite (c->handle, buf, count, offset, flags);
  else if (P._pwrite_v1)
    r = P._pwrite_v1 (c->handle, buf, count, offset);
  else {
    nbdkit_error ("%s: plugin does not have a .pwrite callback",
                  plugin.name);
    *err = EROFS;
    return -1;
  }
  if (r == -1)
    *err = callback_error (errno);
  return finish_fua (c, emulate_fua, r, err);
}

static int
plugin_trim (struct context *c, uint32_t count, uint64_t offset,
             uint32_t flags, int *err)
{
  const bool emulate_fua = take_emulated_fua (c, &flags);
  int r = 0;

  thread_state.error = 0;
  /* Trimming is advisory: a plugin that claims can_trim without a
   * .trim callback simply keeps its data.
   */
  if (P.trim)
    r = P.trim (c->handle, count, offset, flags);
  else if (P._trim_v1)
    r = P._trim_v1 (c->handle, count, offset);
  if (r == -1)
    *err = callback_error (errno);
  return finish_fua (c, emulate_fua, r, err);
}

/* Called only when can_zero is NATIVE (backend.c emulates EMULATE). */
static int
plugin_zero (struct context *c, uint32_t count, uint64_t offset,
             uint32_t flags, int *err)
{
  const bool fast = flags & NBDKIT_FLAG_FAST_ZERO;
  const bool emulate_fua = take_emulated_fua (c, &flags);
  int r;

  if (P.zero || P._zero_v1) {
    thread_state.error = 0;
    if (P.zero)
      r = P.zero (c->handle, count, offset, flags);
    else if (fast) {
      /* A version 1 .zero cannot promise to be fast. */
      *err = ENOTSUP;
      return -1;
    }
    else
      r = P._zero_v1 (c->handle, count, offset,
                      !!(flags & NBDKIT_FLAG_MAY_TRIM));
    if (r == 0)
      return finish_fua (c, emulate_fua, 0, err);
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

  *err = 0;
  if (emulate_fua)
    flags |= NBDKIT_FLAG_FUA;
  return backend_emulate_zero (c, count, offset, flags, err);
}

static int
plugin_extents (struct context *c, uint32_t count, uint64_t offset,
                uint32_t flags, struct nbdkit_extents *extents, int *err)
{
  int r;

  thread_state.error = 0;
  r = P.extents (c->handle, count, offset, flags, extents);
  if (r == -1)
    *err = callback_error (errno);
  return r;
}

static int
plugin_cache (struct context *c, uint32_t count, uint64_t offset,
              uint32_t flags, int *err)
{
  int r;

  if (P.cache == NULL)
    return 0;
  thread_state.error = 0;
  r = P.cache (c->handle, count, offset, flags);
  if (r == -1)
    *err = callback_error (errno);
  return r;
}

void
plugin_ops_init (struct backend *b)
{
  b->unload = plugin_unload;
  b->usage = plugin_usage;
  b->version = plugin_version;
  b->dump_fields = plugin_dump_fields;
  b->config = plugin_config;
  b->config_complete = plugin_config_complete;
  b->magic_config_key = plugin_magic_config_key;
  b->thread_model = plugin_thread_model;
  b->get_ready = plugin_get_ready;
  b->after_fork = plugin_after_fork;
  b->cleanup = plugin_cleanup;

  b->preconnect = plugin_preconnect;
  b->list_exports = plugin_list_exports;
  b->default_export = plugin_default_export;
  b->open = plugin_open;
  b->prepare = plugin_prepare;
  b->finalize = plugin_finalize;
  b->close = plugin_close;

  b->get_size = plugin_get_size;
  b->export_description = plugin_export_description;
  b->block_size = plugin_block_size;
  b->can_write = plugin_can_write;
  b->can_flush = plugin_can_flush;
  b->is_rotational = plugin_is_rotational;
  b->can_trim = plugin_can_trim;
  b->can_zero = plugin_can_zero;
  b->can_fast_zero = plugin_can_fast_zero;
  b->can_extents = plugin_can_extents;
  b->can_fua = plugin_can_fua;
  b->can_multi_conn = plugin_can_multi_conn;
  b->can_cache = plugin_can_cache;

  b->pread = plugin_pread;
  b->pwrite = plugin_pwrite;
  b->flush = plugin_flush;
  b->trim = plugin_trim;
  b->zero = plugin_zero;
  b->extents = plugin_extents;
  b->cache = plugin_cache;
}
