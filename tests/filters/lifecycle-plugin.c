/* lifecycle-plugin.c: a 1 MiB RAM disk that logs every callback, the
 * bottom layer of test-filter-lifecycle.sh (see lifecycle-filter.c).
 * The plugin ABI is stable, so one build serves both servers.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#define SIZE (1024 * 1024)
static char disk[SIZE];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void
logf_ (const char *what, const char *detail)
{
  const char *path = getenv ("LIFECYCLE_LOG");
  char line[256];
  int fd, n;

  if (path == NULL)
    return;
  n = snprintf (line, sizeof line, "plugin: %s%s%s\n", what,
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

static void lp_load (void) { logf_ ("load", NULL); }
static void lp_unload (void) { logf_ ("unload", NULL); }

static int
lp_config (const char *key, const char *value)
{
  logf_ ("config", key);
  return 0;
}

static int lp_config_complete (void) { logf_ ("config_complete", NULL); return 0; }
static int lp_thread_model (void) { logf_ ("thread_model", NULL); return NBDKIT_THREAD_MODEL_PARALLEL; }
static int lp_get_ready (void) { logf_ ("get_ready", NULL); return 0; }
static int lp_after_fork (void) { logf_ ("after_fork", NULL); return 0; }
static void lp_cleanup (void) { logf_ ("cleanup", NULL); }
static int lp_preconnect (int ro) { logf_ ("preconnect", NULL); return 0; }

static int
lp_list_exports (int readonly, int is_tls, struct nbdkit_exports *exports)
{
  logf_ ("list_exports", NULL);
  return nbdkit_add_export (exports, "", NULL);
}

static const char *
lp_default_export (int readonly, int is_tls)
{
  logf_ ("default_export", NULL);
  return "";
}

static void *
lp_open (int readonly)
{
  logf_ ("open", NULL);
  return NBDKIT_HANDLE_NOT_NEEDED;
}

static void lp_close (void *h) { logf_ ("close", NULL); }

static int64_t
lp_get_size (void *h)
{
  logf_ ("query", "get_size");
  return SIZE;
}

#define QUERY(name, answer)                     \
  static int                                    \
  lp_##name (void *h)                           \
  {                                             \
    logf_ ("query", #name);                     \
    return answer;                              \
  }
QUERY (can_write, 1)
QUERY (can_flush, 1)
QUERY (is_rotational, 0)
QUERY (can_trim, 1)
QUERY (can_zero, 1)
QUERY (can_fast_zero, 1)
QUERY (can_extents, 0)
QUERY (can_fua, NBDKIT_FUA_EMULATE)
QUERY (can_multi_conn, 1)
QUERY (can_cache, NBDKIT_CACHE_EMULATE)

static int
lp_pread (void *h, void *buf, uint32_t count, uint64_t offset,
          uint32_t flags)
{
  logf_ ("pread", NULL);
  pthread_mutex_lock (&lock);
  memcpy (buf, disk + offset, count);
  pthread_mutex_unlock (&lock);
  return 0;
}

static int
lp_pwrite (void *h, const void *buf, uint32_t count, uint64_t offset,
           uint32_t flags)
{
  logf_ ("pwrite", (flags & NBDKIT_FLAG_FUA) ? "fua" : NULL);
  pthread_mutex_lock (&lock);
  memcpy (disk + offset, buf, count);
  pthread_mutex_unlock (&lock);
  return 0;
}

static int
lp_flush (void *h, uint32_t flags)
{
  logf_ ("flush", NULL);
  return 0;
}

static int
lp_trim (void *h, uint32_t count, uint64_t offset, uint32_t flags)
{
  logf_ ("trim", NULL);
  return 0;
}

static int
lp_zero (void *h, uint32_t count, uint64_t offset, uint32_t flags)
{
  logf_ ("zero", NULL);
  pthread_mutex_lock (&lock);
  memset (disk + offset, 0, count);
  pthread_mutex_unlock (&lock);
  return 0;
}

static struct nbdkit_plugin plugin = {
  .name = "lifecycle",
  .load = lp_load,
  .unload = lp_unload,
  .config = lp_config,
  .config_complete = lp_config_complete,
  .thread_model = lp_thread_model,
  .get_ready = lp_get_ready,
  .after_fork = lp_after_fork,
  .cleanup = lp_cleanup,
  .preconnect = lp_preconnect,
  .list_exports = lp_list_exports,
  .default_export = lp_default_export,
  .open = lp_open,
  .close = lp_close,
  .get_size = lp_get_size,
  .can_write = lp_can_write,
  .can_flush = lp_can_flush,
  .is_rotational = lp_is_rotational,
  .can_trim = lp_can_trim,
  .can_zero = lp_can_zero,
  .can_fast_zero = lp_can_fast_zero,
  .can_extents = lp_can_extents,
  .can_fua = lp_can_fua,
  .can_multi_conn = lp_can_multi_conn,
  .can_cache = lp_can_cache,
  .pread = lp_pread,
  .pwrite = lp_pwrite,
  .flush = lp_flush,
  .trim = lp_trim,
  .zero = lp_zero,
};

#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL
NBDKIT_REGISTER_PLUGIN (plugin)
