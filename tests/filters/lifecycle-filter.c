/* lifecycle-filter.c: a pass-through filter that logs every callback.
 *
 * Built against our header and against Debian's, under two names
 * (LAYER_NAME), so that test-filter-lifecycle.sh can stack two of them
 * over lifecycle-plugin.c in both servers and compare the order in
 * which each server calls every layer.  Each call appends one line,
 * "NAME: CALLBACK [detail]", to $LIFECYCLE_LOG (one write with
 * O_APPEND, so lines from different threads never mix).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include <nbdkit-filter.h>

#ifndef LAYER_NAME
#error "define LAYER_NAME and LAYER_ID"
#endif

/* -D LAYER.flag=N sets this (the log shows it at get_ready). */
#define CAT_(a, b) a ## b
#define CAT(a, b) CAT_ (a, b)
NBDKIT_DLL_PUBLIC int CAT (LAYER_ID, _debug_flag) = 0;

static void
logf_ (const char *what, const char *detail)
{
  const char *path = getenv ("LIFECYCLE_LOG");
  char line[256];
  int fd, n;

  if (path == NULL)
    return;
  n = snprintf (line, sizeof line, "%s: %s%s%s\n", LAYER_NAME, what,
                detail ? " " : "", detail ? detail : "");
  if (n < 0 || (size_t) n >= sizeof line)
    return;
  fd = open (path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd == -1)
    return;
  if (write (fd, line, n) != n)
    nbdkit_debug ("short write to %s", path);
  close (fd);
}

static void lc_load (void) { logf_ ("load", NULL); }
static void lc_unload (void) { logf_ ("unload", NULL); }

static int
lc_config (nbdkit_next_config *next, nbdkit_backend *nxdata,
           const char *key, const char *value)
{
  logf_ ("config", key);
  return next (nxdata, key, value);
}

static int
lc_config_complete (nbdkit_next_config_complete *next,
                    nbdkit_backend *nxdata)
{
  logf_ ("config_complete", NULL);
  return next (nxdata);
}

static int
lc_thread_model (void)
{
  logf_ ("thread_model", NULL);
  return NBDKIT_THREAD_MODEL_PARALLEL;
}

static int
lc_get_ready (int model)
{
  char flag[32];

  snprintf (flag, sizeof flag, "flag=%d", CAT (LAYER_ID, _debug_flag));
  logf_ ("get_ready", flag);
  return 0;
}

static int
lc_after_fork (nbdkit_backend *backend)
{
  logf_ ("after_fork", NULL);
  return 0;
}

static void
lc_cleanup (nbdkit_backend *backend)
{
  logf_ ("cleanup", NULL);
}

static int
lc_preconnect (nbdkit_next_preconnect *next, nbdkit_backend *nxdata,
               int readonly)
{
  logf_ ("preconnect", NULL);
  return next (nxdata, readonly);
}

static int
lc_list_exports (nbdkit_next_list_exports *next, nbdkit_backend *nxdata,
                 int readonly, int is_tls, struct nbdkit_exports *exports)
{
  logf_ ("list_exports", NULL);
  return next (nxdata, readonly, exports);
}

static const char *
lc_default_export (nbdkit_next_default_export *next, nbdkit_backend *nxdata,
                   int readonly, int is_tls)
{
  logf_ ("default_export", NULL);
  return next (nxdata, readonly);
}

static void *
lc_open (nbdkit_next_open *next, nbdkit_context *context,
         int readonly, const char *exportname, int is_tls)
{
  logf_ ("open", exportname);
  if (next (context, readonly, exportname) == -1)
    return NULL;
  logf_ ("open returned", NULL);
  return NBDKIT_HANDLE_NOT_NEEDED;
}

static void lc_close (void *handle) { logf_ ("close", NULL); }

static int
lc_prepare (nbdkit_next *next, void *handle, int readonly)
{
  logf_ ("prepare", NULL);
  return 0;
}

static int
lc_finalize (nbdkit_next *next, void *handle)
{
  logf_ ("finalize", NULL);
  return 0;
}

#define QUERY(name)                                     \
  static int                                            \
  lc_##name (nbdkit_next *next, void *handle)           \
  {                                                     \
    logf_ ("query", #name);                             \
    return next->name (next);                           \
  }
QUERY (can_write)
QUERY (can_flush)
QUERY (is_rotational)
QUERY (can_trim)
QUERY (can_zero)
QUERY (can_fast_zero)
QUERY (can_extents)
QUERY (can_fua)
QUERY (can_multi_conn)
QUERY (can_cache)

static int64_t
lc_get_size (nbdkit_next *next, void *handle)
{
  logf_ ("query", "get_size");
  return next->get_size (next);
}

static int
lc_pread (nbdkit_next *next, void *handle, void *buf, uint32_t count,
          uint64_t offset, uint32_t flags, int *err)
{
  logf_ ("pread", NULL);
  return next->pread (next, buf, count, offset, flags, err);
}

static int
lc_pwrite (nbdkit_next *next, void *handle, const void *buf,
           uint32_t count, uint64_t offset, uint32_t flags, int *err)
{
  logf_ ("pwrite", (flags & NBDKIT_FLAG_FUA) ? "fua" : NULL);
  return next->pwrite (next, buf, count, offset, flags, err);
}

static int
lc_flush (nbdkit_next *next, void *handle, uint32_t flags, int *err)
{
  logf_ ("flush", NULL);
  return next->flush (next, flags, err);
}

static int
lc_trim (nbdkit_next *next, void *handle, uint32_t count, uint64_t offset,
         uint32_t flags, int *err)
{
  logf_ ("trim", NULL);
  return next->trim (next, count, offset, flags, err);
}

static int
lc_zero (nbdkit_next *next, void *handle, uint32_t count, uint64_t offset,
         uint32_t flags, int *err)
{
  logf_ ("zero", NULL);
  return next->zero (next, count, offset, flags, err);
}

static int
lc_extents (nbdkit_next *next, void *handle, uint32_t count,
            uint64_t offset, uint32_t flags,
            struct nbdkit_extents *extents, int *err)
{
  logf_ ("extents", NULL);
  return next->extents (next, count, offset, flags, extents, err);
}

static int
lc_cache (nbdkit_next *next, void *handle, uint32_t count, uint64_t offset,
          uint32_t flags, int *err)
{
  logf_ ("cache", NULL);
  return next->cache (next, count, offset, flags, err);
}

static struct nbdkit_filter filter = {
  .name = LAYER_NAME,
  .longname = "lifecycle test filter " LAYER_NAME,
  .load = lc_load,
  .unload = lc_unload,
  .config = lc_config,
  .config_complete = lc_config_complete,
  .thread_model = lc_thread_model,
  .get_ready = lc_get_ready,
  .after_fork = lc_after_fork,
  .cleanup = lc_cleanup,
  .preconnect = lc_preconnect,
  .list_exports = lc_list_exports,
  .default_export = lc_default_export,
  .open = lc_open,
  .close = lc_close,
  .prepare = lc_prepare,
  .finalize = lc_finalize,
  .get_size = lc_get_size,
  .can_write = lc_can_write,
  .can_flush = lc_can_flush,
  .is_rotational = lc_is_rotational,
  .can_trim = lc_can_trim,
  .can_zero = lc_can_zero,
  .can_fast_zero = lc_can_fast_zero,
  .can_extents = lc_can_extents,
  .can_fua = lc_can_fua,
  .can_multi_conn = lc_can_multi_conn,
  .can_cache = lc_can_cache,
  .pread = lc_pread,
  .pwrite = lc_pwrite,
  .flush = lc_flush,
  .trim = lc_trim,
  .zero = lc_zero,
  .extents = lc_extents,
  .cache = lc_cache,
};

NBDKIT_REGISTER_FILTER (filter)
