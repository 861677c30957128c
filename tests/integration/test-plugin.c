/* test-plugin.c: a plugin for the integration tests that implements
 * every callback of struct nbdkit_plugin and logs each call.
 *
 * It is compiled four times (see meson.build): against Debian's
 * <nbdkit-plugin.h> and against ours, each with NBDKIT_API_VERSION 1
 * and 2.  TEST_VARIANT names the build.
 *
 * Every call is appended to the file named by log=FILE as one line:
 *   NAME [key=value ...]
 * Lines produced before log= is seen (load, the first config calls)
 * are kept in memory and written when the file becomes known.
 *
 * Configuration keys:
 *   log=FILE            call log (see above)
 *   size=SIZE           disk size (default 1M), held in memory ...
 *   file=FILE           ... or in FILE (created and sized if needed)
 *   can_write=BOOL can_flush=BOOL can_trim=BOOL can_zero=BOOL
 *   can_fast_zero=BOOL can_multi_conn=BOOL can_extents=BOOL
 *   is_rotational=BOOL  answers of the corresponding callbacks
 *   can_fua=none|emulate|native  can_cache=none|emulate|native
 *   thread_model=serialize_connections|serialize_all_requests|
 *                serialize_requests|parallel   (answer of .thread_model)
 *   fail=CALLBACK:ERRNO[@OFFSET]
 *                       make CALLBACK fail (repeatable); with @OFFSET
 *                       only requests that cover OFFSET, and CALLBACK
 *                       may be "*" (any data callback but flush).
 *                       ERRNO is a name such as ENOSPC; it reaches the
 *                       server through nbdkit_set_error, or through
 *                       errno (errno_is_preserved) with errno_style=errno
 *   exports=A,B,...     names returned by .list_exports
 *   default_export=NAME answer of .default_export
 *   description=TEXT    answer of .export_description
 *   block_size=MIN:PREF:MAX  answer of .block_size (default 0:0:0)
 *   delay_ms=N          .pwrite sleeps N ms before writing
 * A bare argument is taken as size= (magic_config_key).
 */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL
#include <nbdkit-plugin.h>

#ifndef TEST_VARIANT
#define TEST_VARIANT "unknown"
#endif

#define MAX_FAILS 64
#define MAX_EXPORTS 16

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static int log_fd = -1;
static char *pending;           /* log text not written yet */
static size_t pending_len;

static pthread_mutex_t store_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t size = 1024 * 1024;
static char *filename;
static int store_fd = -1;
static unsigned char *mem;

/* Answers of the negotiation callbacks. */
static int ans_can_write = 1;
static int ans_can_flush = 1;
static int ans_can_trim = 1;
static int ans_can_zero = 1;
static int ans_can_fast_zero = 1;
static int ans_can_multi_conn = 1;
static int ans_can_extents = 1;
static int ans_is_rotational = 0;
static int ans_can_fua = NBDKIT_FUA_NATIVE;
static int ans_can_cache = NBDKIT_CACHE_NATIVE;
static int ans_thread_model = NBDKIT_THREAD_MODEL_PARALLEL;

static struct {
  char *callback;
  int err;
  bool has_offset;              /* fail only requests covering offset */
  uint64_t offset;
} fails[MAX_FAILS];
static int nr_fails;
static bool errno_style;

static char *exports[MAX_EXPORTS];
static int nr_exports;
static char *default_export_name;
static char *description;
static uint32_t bs_min, bs_pref, bs_max;
static unsigned delay_ms;

/* Append one formatted line to the log. */
static void log_call (const char *fmt, ...)
  __attribute__ ((format (printf, 1, 2)));

static void
log_call (const char *fmt, ...)
{
  char line[1024];
  va_list args;
  int n;
  int saved_errno = errno;

  va_start (args, fmt);
  n = vsnprintf (line, sizeof line - 1, fmt, args);
  va_end (args);
  if (n < 0)
    goto out;
  if ((size_t) n > sizeof line - 2)
    n = sizeof line - 2;
  line[n++] = '\n';

  pthread_mutex_lock (&log_lock);
  if (log_fd >= 0) {
    if (write (log_fd, line, n) != n)
      abort ();
  }
  else {
    char *p = realloc (pending, pending_len + n);
    if (p == NULL)
      abort ();
    memcpy (p + pending_len, line, n);
    pending = p;
    pending_len += n;
  }
  pthread_mutex_unlock (&log_lock);
 out:
  errno = saved_errno;
}

static const char *
flags_str (uint32_t flags, char *buf, size_t len)
{
  buf[0] = '\0';
  if (flags & NBDKIT_FLAG_MAY_TRIM)
    strncat (buf, "may_trim,", len - strlen (buf) - 1);
  if (flags & NBDKIT_FLAG_FUA)
    strncat (buf, "fua,", len - strlen (buf) - 1);
  if (flags & NBDKIT_FLAG_REQ_ONE)
    strncat (buf, "req_one,", len - strlen (buf) - 1);
  if (flags & NBDKIT_FLAG_FAST_ZERO)
    strncat (buf, "fast_zero,", len - strlen (buf) - 1);
  if (flags & ~(uint32_t) (NBDKIT_FLAG_MAY_TRIM | NBDKIT_FLAG_FUA |
                           NBDKIT_FLAG_REQ_ONE | NBDKIT_FLAG_FAST_ZERO))
    strncat (buf, "unknown,", len - strlen (buf) - 1);
  if (buf[0] == '\0')
    return "none";
  buf[strlen (buf) - 1] = '\0';
  return buf;
}

static const struct { const char *name; int err; } errno_names[] = {
  { "EPERM", EPERM }, { "EIO", EIO }, { "ENOMEM", ENOMEM },
  { "EINVAL", EINVAL }, { "ENOSPC", ENOSPC }, { "EROFS", EROFS },
  { "EDQUOT", EDQUOT }, { "EFBIG", EFBIG }, { "ESHUTDOWN", ESHUTDOWN },
  { "ENOTSUP", ENOTSUP }, { "EOPNOTSUPP", EOPNOTSUPP },
  { "EOVERFLOW", EOVERFLOW }, { "EBADF", EBADF }, { "EACCES", EACCES },
  { "ENOENT", ENOENT }, { "EAGAIN", EAGAIN }, { "ERANGE", ERANGE },
  { "ENODEV", ENODEV }, { "ETIMEDOUT", ETIMEDOUT },
};

static int
parse_errno (const char *name)
{
  size_t i;

  for (i = 0; i < sizeof errno_names / sizeof errno_names[0]; i++)
    if (strcmp (errno_names[i].name, name) == 0)
      return errno_names[i].err;
  return -1;
}

/* Does rule I apply to CALLBACK? */
static bool
fail_matches (int i, const char *callback)
{
  return strcmp (fails[i].callback, callback) == 0 ||
    (strcmp (fails[i].callback, "*") == 0 && strcmp (callback, "flush") != 0);
}

/* Report the failure of rule I and pass its errno to the server. */
static void
inject (int i, const char *callback)
{
  log_call ("%s failing errno=%d", callback, fails[i].err);
  nbdkit_error ("%s: injected failure", callback);
  if (errno_style)
    errno = fails[i].err;
  else
    nbdkit_set_error (fails[i].err);
}

/* If a rule with @OFFSET makes CALLBACK fail for the request
 * [offset, offset+count), report it and return true: the caller then
 * returns its error value.
 */
static bool
should_fail_range (const char *callback, uint64_t offset, uint64_t count)
{
  int i;

  for (i = 0; i < nr_fails; i++) {
    if (fails[i].has_offset &&
        fails[i].offset >= offset && fails[i].offset - offset < count &&
        fail_matches (i, callback)) {
      inject (i, callback);
      return true;
    }
  }
  return false;
}

/* The same for rules without @OFFSET: every call of CALLBACK fails. */
static bool
should_fail (const char *callback)
{
  int i;

  for (i = 0; i < nr_fails; i++) {
    if (!fails[i].has_offset && fail_matches (i, callback)) {
      inject (i, callback);
      return true;
    }
  }
  return false;
}

static int
parse_bool_key (const char *key, const char *value, int *r)
{
  int b = nbdkit_parse_bool (value);

  if (b == -1)
    return -1;
  *r = b;
  (void) key;
  return 0;
}

static int
parse_tristate (const char *key, const char *value, int *r)
{
  if (strcmp (value, "none") == 0)
    *r = 0;
  else if (strcmp (value, "emulate") == 0)
    *r = 1;
  else if (strcmp (value, "native") == 0)
    *r = 2;
  else {
    nbdkit_error ("%s: expected none, emulate or native", key);
    return -1;
  }
  return 0;
}

static const char *thread_model_names[] = {
  "serialize_connections", "serialize_all_requests",
  "serialize_requests", "parallel",
};

static void
test_load (void)
{
  log_call ("load");
}

static void
test_unload (void)
{
  int i;

  log_call ("unload");
  if (log_fd >= 0)
    close (log_fd);
  free (pending);
  free (filename);
  free (mem);
  if (store_fd >= 0)
    close (store_fd);
  for (i = 0; i < nr_fails; i++)
    free (fails[i].callback);
  for (i = 0; i < nr_exports; i++)
    free (exports[i]);
  free (default_export_name);
  free (description);
}

static void
test_dump_plugin (void)
{
  log_call ("dump_plugin");
  printf ("test_variant=%s\n", TEST_VARIANT);
  printf ("test_api_version=%d\n", NBDKIT_API_VERSION);
  printf ("test_header_version=%s\n", NBDKIT_VERSION_STRING);
  fflush (stdout);
}

static int
test_config (const char *key, const char *value)
{
  log_call ("config key=%s value=%s", key, value);

  if (strcmp (key, "log") == 0) {
    pthread_mutex_lock (&log_lock);
    if (log_fd >= 0)
      close (log_fd);
    log_fd = open (value, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd == -1) {
      pthread_mutex_unlock (&log_lock);
      nbdkit_error ("open: %s: %m", value);
      return -1;
    }
    if (pending_len > 0 &&
        write (log_fd, pending, pending_len) != (ssize_t) pending_len)
      abort ();
    free (pending);
    pending = NULL;
    pending_len = 0;
    pthread_mutex_unlock (&log_lock);
  }
  else if (strcmp (key, "size") == 0) {
    size = nbdkit_parse_size (value);
    if (size == -1)
      return -1;
  }
  else if (strcmp (key, "file") == 0) {
    free (filename);
    filename = nbdkit_absolute_path (value);
    if (filename == NULL)
      return -1;
  }
  else if (strcmp (key, "can_write") == 0)
    return parse_bool_key (key, value, &ans_can_write);
  else if (strcmp (key, "can_flush") == 0)
    return parse_bool_key (key, value, &ans_can_flush);
  else if (strcmp (key, "can_trim") == 0)
    return parse_bool_key (key, value, &ans_can_trim);
  else if (strcmp (key, "can_zero") == 0)
    return parse_bool_key (key, value, &ans_can_zero);
  else if (strcmp (key, "can_fast_zero") == 0)
    return parse_bool_key (key, value, &ans_can_fast_zero);
  else if (strcmp (key, "can_multi_conn") == 0)
    return parse_bool_key (key, value, &ans_can_multi_conn);
  else if (strcmp (key, "can_extents") == 0)
    return parse_bool_key (key, value, &ans_can_extents);
  else if (strcmp (key, "is_rotational") == 0)
    return parse_bool_key (key, value, &ans_is_rotational);
  else if (strcmp (key, "can_fua") == 0)
    return parse_tristate (key, value, &ans_can_fua);
  else if (strcmp (key, "can_cache") == 0)
    return parse_tristate (key, value, &ans_can_cache);
  else if (strcmp (key, "thread_model") == 0) {
    int i;

    for (i = 0; i < 4; i++)
      if (strcmp (value, thread_model_names[i]) == 0)
        break;
    if (i == 4) {
      nbdkit_error ("unknown thread model: %s", value);
      return -1;
    }
    ans_thread_model = i;
  }
  else if (strcmp (key, "fail") == 0) {
    const char *colon = strchr (value, ':');
    const char *at;
    char name[32];
    int err;

    if (colon == NULL || nr_fails == MAX_FAILS) {
      nbdkit_error ("fail=CALLBACK:ERRNO[@OFFSET]");
      return -1;
    }
    at = strchr (colon, '@');
    snprintf (name, sizeof name, "%.*s",
              (int) (at ? at - colon - 1 : (ptrdiff_t) strlen (colon + 1)),
              colon + 1);
    err = parse_errno (name);
    if (err == -1) {
      nbdkit_error ("unknown errno name: %s", name);
      return -1;
    }
    fails[nr_fails].has_offset = false;
    if (at) {
      fails[nr_fails].has_offset = true;
      if (nbdkit_parse_uint64_t ("fail offset", at + 1,
                                 &fails[nr_fails].offset) == -1)
        return -1;
    }
    fails[nr_fails].callback = strndup (value, colon - value);
    if (fails[nr_fails].callback == NULL)
      return -1;
    fails[nr_fails].err = err;
    nr_fails++;
  }
  else if (strcmp (key, "errno_style") == 0) {
    if (strcmp (value, "errno") == 0)
      errno_style = true;
    else if (strcmp (value, "set_error") == 0)
      errno_style = false;
    else {
      nbdkit_error ("errno_style=errno|set_error");
      return -1;
    }
  }
  else if (strcmp (key, "exports") == 0) {
    char *copy = strdup (value), *p, *saveptr = NULL;

    if (copy == NULL)
      return -1;
    for (p = strtok_r (copy, ",", &saveptr); p != NULL;
         p = strtok_r (NULL, ",", &saveptr)) {
      if (nr_exports == MAX_EXPORTS ||
          (exports[nr_exports] = strdup (p)) == NULL) {
        free (copy);
        nbdkit_error ("too many exports");
        return -1;
      }
      nr_exports++;
    }
    free (copy);
  }
  else if (strcmp (key, "default_export") == 0) {
    free (default_export_name);
    default_export_name = strdup (value);
  }
  else if (strcmp (key, "description") == 0) {
    free (description);
    description = strdup (value);
  }
  else if (strcmp (key, "block_size") == 0) {
    if (sscanf (value, "%" SCNu32 ":%" SCNu32 ":%" SCNu32,
                &bs_min, &bs_pref, &bs_max) != 3) {
      nbdkit_error ("block_size=MIN:PREF:MAX");
      return -1;
    }
  }
  else if (strcmp (key, "delay_ms") == 0) {
    if (nbdkit_parse_unsigned ("delay_ms", value, &delay_ms) == -1)
      return -1;
  }
  else {
    nbdkit_error ("unknown parameter: %s", key);
    return -1;
  }
  return 0;
}

static int
test_config_complete (void)
{
  log_call ("config_complete");
  if (should_fail ("config_complete"))
    return -1;

  if (filename != NULL) {
    off_t end;

    store_fd = open (filename, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (store_fd == -1) {
      nbdkit_error ("open: %s: %m", filename);
      return -1;
    }
    end = lseek (store_fd, 0, SEEK_END);
    if (end == -1) {
      nbdkit_error ("lseek: %m");
      return -1;
    }
    if (end < size && ftruncate (store_fd, size) == -1) {
      nbdkit_error ("ftruncate: %m");
      return -1;
    }
  }
  else {
    mem = calloc (1, size);
    if (mem == NULL) {
      nbdkit_error ("calloc: %m");
      return -1;
    }
  }
  return 0;
}

static int
test_thread_model (void)
{
  log_call ("thread_model -> %s", thread_model_names[ans_thread_model]);
  return ans_thread_model;
}

static int
test_get_ready (void)
{
  log_call ("get_ready");
  if (should_fail ("get_ready"))
    return -1;
  return 0;
}

static int
test_after_fork (void)
{
  log_call ("after_fork");
  if (should_fail ("after_fork"))
    return -1;
  return 0;
}

static void
test_cleanup (void)
{
  log_call ("cleanup");
}

static int
test_preconnect (int readonly)
{
  log_call ("preconnect readonly=%d", readonly);
  if (should_fail ("preconnect"))
    return -1;
  return 0;
}

static int
test_list_exports (int readonly, int is_tls, struct nbdkit_exports *list)
{
  int i;

  log_call ("list_exports readonly=%d is_tls=%d", readonly, is_tls);
  if (should_fail ("list_exports"))
    return -1;
  if (nr_exports == 0)
    return nbdkit_use_default_export (list);
  for (i = 0; i < nr_exports; i++) {
    char desc[256];

    snprintf (desc, sizeof desc, "export %s", exports[i]);
    if (nbdkit_add_export (list, exports[i], desc) == -1)
      return -1;
  }
  return 0;
}

static const char *
test_default_export (int readonly, int is_tls)
{
  const char *r = default_export_name ? default_export_name : "";

  log_call ("default_export readonly=%d is_tls=%d -> %s", readonly, is_tls, r);
  if (should_fail ("default_export"))
    return NULL;
  return r;
}

struct handle {
  int readonly;
};

static void *
test_open (int readonly)
{
  struct handle *h;
  const char *name = nbdkit_export_name ();

  log_call ("open readonly=%d exportname=%s", readonly, name ? name : "(null)");
  if (should_fail ("open"))
    return NULL;
  h = malloc (sizeof *h);
  if (h == NULL) {
    nbdkit_error ("malloc: %m");
    return NULL;
  }
  h->readonly = readonly;
  return h;
}

static void
test_close (void *handle)
{
  log_call ("close");
  free (handle);
}

static int64_t
test_get_size (void *handle)
{
  log_call ("get_size -> %" PRIi64, size);
  if (should_fail ("get_size"))
    return -1;
  return size;
}

static const char *
test_export_description (void *handle)
{
  log_call ("export_description -> %s", description ? description : "(null)");
  if (should_fail ("export_description"))
    return NULL;
  return description;
}

static int
test_block_size (void *handle,
                 uint32_t *minimum, uint32_t *preferred, uint32_t *maximum)
{
  log_call ("block_size -> %" PRIu32 ":%" PRIu32 ":%" PRIu32,
            bs_min, bs_pref, bs_max);
  if (should_fail ("block_size"))
    return -1;
  *minimum = bs_min;
  *preferred = bs_pref;
  *maximum = bs_max;
  return 0;
}

/* The can_* callbacks all look the same. */
#define CAN_CALLBACK(name, var)                 \
  static int                                    \
  test_##name (void *handle)                    \
  {                                             \
    log_call ("%s -> %d", #name, var);          \
    if (should_fail (#name))                    \
      return -1;                                \
    return var;                                 \
  }
CAN_CALLBACK (can_write, ans_can_write)
CAN_CALLBACK (can_flush, ans_can_flush)
CAN_CALLBACK (is_rotational, ans_is_rotational)
CAN_CALLBACK (can_trim, ans_can_trim)
CAN_CALLBACK (can_zero, ans_can_zero)
CAN_CALLBACK (can_fast_zero, ans_can_fast_zero)
CAN_CALLBACK (can_fua, ans_can_fua)
CAN_CALLBACK (can_multi_conn, ans_can_multi_conn)
CAN_CALLBACK (can_extents, ans_can_extents)
CAN_CALLBACK (can_cache, ans_can_cache)

/* Backing store access. */
static int
store_read (void *buf, uint32_t count, uint64_t offset)
{
  if (store_fd >= 0) {
    ssize_t r = pread (store_fd, buf, count, offset);
    if (r != (ssize_t) count) {
      nbdkit_error ("pread: short read or %m");
      nbdkit_set_error (EIO);
      return -1;
    }
    return 0;
  }
  pthread_mutex_lock (&store_lock);
  memcpy (buf, mem + offset, count);
  pthread_mutex_unlock (&store_lock);
  return 0;
}

static int
store_write (const void *buf, uint32_t count, uint64_t offset)
{
  if (store_fd >= 0) {
    ssize_t r = pwrite (store_fd, buf, count, offset);
    if (r != (ssize_t) count) {
      nbdkit_error ("pwrite: short write or %m");
      nbdkit_set_error (EIO);
      return -1;
    }
    return 0;
  }
  pthread_mutex_lock (&store_lock);
  memcpy (mem + offset, buf, count);
  pthread_mutex_unlock (&store_lock);
  return 0;
}

static int
store_zero (uint32_t count, uint64_t offset)
{
  if (store_fd >= 0) {
    static const char zeroes[65536];

    while (count > 0) {
      uint32_t n = count < sizeof zeroes ? count : sizeof zeroes;
      if (store_write (zeroes, n, offset) == -1)
        return -1;
      count -= n;
      offset += n;
    }
    return 0;
  }
  pthread_mutex_lock (&store_lock);
  memset (mem + offset, 0, count);
  pthread_mutex_unlock (&store_lock);
  return 0;
}

static int
store_flush (void)
{
  if (store_fd >= 0 && fdatasync (store_fd) == -1) {
    nbdkit_error ("fdatasync: %m");
    nbdkit_set_error (EIO);
    return -1;
  }
  return 0;
}

/* The data callbacks, written once with a flags argument; the v1
 * entry points below pass 0 (or MAY_TRIM) as flags.
 */
static int
do_pread (void *handle, void *buf, uint32_t count, uint64_t offset,
          uint32_t flags)
{
  char f[64];

  log_call ("pread count=%" PRIu32 " offset=%" PRIu64 " flags=%s",
            count, offset, flags_str (flags, f, sizeof f));
  if (should_fail ("pread") || should_fail_range ("pread", offset, count))
    return -1;
  return store_read (buf, count, offset);
}

static int
do_pwrite (void *handle, const void *buf, uint32_t count, uint64_t offset,
           uint32_t flags)
{
  char f[64];

  log_call ("pwrite count=%" PRIu32 " offset=%" PRIu64 " flags=%s",
            count, offset, flags_str (flags, f, sizeof f));
  if (should_fail ("pwrite") || should_fail_range ("pwrite", offset, count))
    return -1;
  if (delay_ms > 0) {
    struct timespec ts = { delay_ms / 1000, (delay_ms % 1000) * 1000000L };
    while (nanosleep (&ts, &ts) == -1 && errno == EINTR)
      ;
  }
  if (store_write (buf, count, offset) == -1)
    return -1;
  if ((flags & NBDKIT_FLAG_FUA) && store_flush () == -1)
    return -1;
  return 0;
}

static int
do_flush (void *handle, uint32_t flags)
{
  char f[64];

  log_call ("flush flags=%s", flags_str (flags, f, sizeof f));
  if (should_fail ("flush"))
    return -1;
  return store_flush ();
}

static int
do_trim (void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
  char f[64];

  log_call ("trim count=%" PRIu32 " offset=%" PRIu64 " flags=%s",
            count, offset, flags_str (flags, f, sizeof f));
  if (should_fail ("trim") || should_fail_range ("trim", offset, count))
    return -1;
  /* Trimmed data reads back as zeroes here. */
  return store_zero (count, offset);
}

static int
do_zero (void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
  char f[64];

  log_call ("zero count=%" PRIu32 " offset=%" PRIu64 " flags=%s",
            count, offset, flags_str (flags, f, sizeof f));
  if (should_fail ("zero") || should_fail_range ("zero", offset, count))
    return -1;
  return store_zero (count, offset);
}

static int
test_extents (void *handle, uint32_t count, uint64_t offset, uint32_t flags,
              struct nbdkit_extents *extents)
{
  char f[64];
  uint64_t pos, end = offset + count;
  const uint64_t blk = 4096;

  log_call ("extents count=%" PRIu32 " offset=%" PRIu64 " flags=%s",
            count, offset, flags_str (flags, f, sizeof f));
  if (should_fail ("extents") || should_fail_range ("extents", offset, count))
    return -1;

  if (store_fd >= 0)
    return nbdkit_add_extent (extents, offset, count, 0);

  /* Memory store: all-zero 4K blocks are reported as holes. */
  for (pos = offset - offset % blk; pos < end; pos += blk) {
    uint64_t len = blk;
    uint64_t i;
    uint32_t type = NBDKIT_EXTENT_HOLE | NBDKIT_EXTENT_ZERO;

    if (pos + len > (uint64_t) size)
      len = size - pos;
    pthread_mutex_lock (&store_lock);
    for (i = 0; i < len; i++) {
      if (mem[pos + i] != 0) {
        type = 0;
        break;
      }
    }
    pthread_mutex_unlock (&store_lock);
    if (nbdkit_add_extent (extents, pos, len, type) == -1)
      return -1;
    if (flags & NBDKIT_FLAG_REQ_ONE)
      break;
  }
  return 0;
}

static int
test_cache (void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
  char f[64];

  log_call ("cache count=%" PRIu32 " offset=%" PRIu64 " flags=%s",
            count, offset, flags_str (flags, f, sizeof f));
  if (should_fail ("cache") || should_fail_range ("cache", offset, count))
    return -1;
  return 0;
}

#if NBDKIT_API_VERSION == 1
static int
test_pread_v1 (void *handle, void *buf, uint32_t count, uint64_t offset)
{
  return do_pread (handle, buf, count, offset, 0);
}

static int
test_pwrite_v1 (void *handle, const void *buf, uint32_t count, uint64_t offset)
{
  return do_pwrite (handle, buf, count, offset, 0);
}

static int
test_flush_v1 (void *handle)
{
  return do_flush (handle, 0);
}

static int
test_trim_v1 (void *handle, uint32_t count, uint64_t offset)
{
  return do_trim (handle, count, offset, 0);
}

static int
test_zero_v1 (void *handle, uint32_t count, uint64_t offset, int may_trim)
{
  return do_zero (handle, count, offset, may_trim ? NBDKIT_FLAG_MAY_TRIM : 0);
}
#endif

static struct nbdkit_plugin plugin = {
  .name               = "testplugin",
  .longname           = "nbdkit integration test plugin",
  .version            = "1.0",
  .description        = "Implements and logs every plugin callback",
  .load               = test_load,
  .unload             = test_unload,
  .config             = test_config,
  .config_complete    = test_config_complete,
  .config_help        = "log=FILE size=SIZE file=FILE can_*=... fail=CB:ERRNO",
  .open               = test_open,
  .close              = test_close,
  .get_size           = test_get_size,
  .can_write          = test_can_write,
  .can_flush          = test_can_flush,
  .is_rotational      = test_is_rotational,
  .can_trim           = test_can_trim,
#if NBDKIT_API_VERSION == 1
  .pread              = test_pread_v1,
  .pwrite             = test_pwrite_v1,
  .flush              = test_flush_v1,
  .trim               = test_trim_v1,
  .zero               = test_zero_v1,
#else
  .pread              = do_pread,
  .pwrite             = do_pwrite,
  .flush              = do_flush,
  .trim               = do_trim,
  .zero               = do_zero,
#endif
  .errno_is_preserved = 1,
  .magic_config_key   = "size",
  .dump_plugin        = test_dump_plugin,
  .can_zero           = test_can_zero,
  .can_fua            = test_can_fua,
  .can_multi_conn     = test_can_multi_conn,
  .can_extents        = test_can_extents,
  .extents            = test_extents,
  .can_cache          = test_can_cache,
  .cache              = test_cache,
  .thread_model       = test_thread_model,
  .can_fast_zero      = test_can_fast_zero,
  .preconnect         = test_preconnect,
  .get_ready          = test_get_ready,
  .after_fork         = test_after_fork,
  .list_exports       = test_list_exports,
  .default_export     = test_default_export,
  .export_description = test_export_description,
  .cleanup            = test_cleanup,
  .block_size         = test_block_size,
};

NBDKIT_REGISTER_PLUGIN (plugin)
