/* test-threads-plugin.c: records how many callbacks run at once.
 *
 * Every .pread counts itself in (globally and per connection), then
 * waits until TARGET preads are inside at the same time or GUARD
 * milliseconds have passed, whichever comes first.  The first time
 * either happens the waiting is switched off for good, so a test
 * pays the guard time at most once.  A model that allows TARGET
 * overlapping requests therefore always reaches TARGET (as long as
 * the client keeps enough requests in flight), and a model that does
 * not is never seen above its limit however the threads are
 * scheduled: the tests only look at the recorded maxima, never at
 * the clock.
 *
 * Configuration keys:
 *   thread_model=serialize_connections|serialize_all_requests|
 *                serialize_requests|parallel   (answer of .thread_model)
 *   target=N      concurrency to wait for (default 2)
 *   guard=MS      longest wait (default 10000)
 *   stats=FILE    where the maxima are written (after every .close
 *                 and in .cleanup):
 *                   max_global=N      callbacks at once, all connections
 *                   max_per_conn=N    callbacks at once on one connection
 *                   max_open=N        connections open at once
 *                   preads=N          number of .pread calls
 *   size=SIZE     disk size (default 1M); reads return zeroes
 */

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NBDKIT_API_VERSION 2
#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL
#include <nbdkit-plugin.h>

static int model = NBDKIT_THREAD_MODEL_PARALLEL;
static int target = 2;
static unsigned guard_ms = 10000;
static char *stats_file;
static int64_t size = 1024 * 1024;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int in_flight;           /* callbacks running now */
static int open_now;            /* handles open now */
static int max_global, max_per_conn, max_open;
static unsigned long preads;
static bool waiting_done;       /* the wait has happened once */

struct handle {
  int in_flight;
  int max;
};

static const char *model_names[] = {
  "serialize_connections", "serialize_all_requests",
  "serialize_requests", "parallel",
};

static int
threads_config (const char *key, const char *value)
{
  if (strcmp (key, "thread_model") == 0) {
    int i;
    for (i = 0; i < 4; i++)
      if (strcmp (value, model_names[i]) == 0)
        break;
    if (i == 4) {
      nbdkit_error ("unknown thread model: %s", value);
      return -1;
    }
    model = i;
  }
  else if (strcmp (key, "target") == 0)
    return nbdkit_parse_int ("target", value, &target);
  else if (strcmp (key, "guard") == 0)
    return nbdkit_parse_unsigned ("guard", value, &guard_ms);
  else if (strcmp (key, "stats") == 0) {
    free (stats_file);
    stats_file = nbdkit_absolute_path (value);
    if (stats_file == NULL)
      return -1;
  }
  else if (strcmp (key, "size") == 0) {
    size = nbdkit_parse_size (value);
    if (size == -1)
      return -1;
  }
  else {
    nbdkit_error ("unknown parameter: %s", key);
    return -1;
  }
  return 0;
}

static int
threads_thread_model (void)
{
  return model;
}

/* Called with lock held. */
static void
write_stats (void)
{
  FILE *fp;
  char tmp[4096];

  if (stats_file == NULL)
    return;
  snprintf (tmp, sizeof tmp, "%s.tmp", stats_file);
  fp = fopen (tmp, "w");
  if (fp == NULL) {
    nbdkit_error ("%s: %m", tmp);
    return;
  }
  fprintf (fp, "max_global=%d\nmax_per_conn=%d\nmax_open=%d\npreads=%lu\n",
           max_global, max_per_conn, max_open, preads);
  if (fclose (fp) == EOF || rename (tmp, stats_file) == -1)
    nbdkit_error ("%s: %m", stats_file);
}

static void
threads_cleanup (void)
{
  pthread_mutex_lock (&lock);
  write_stats ();
  pthread_mutex_unlock (&lock);
}

static void
threads_unload (void)
{
  free (stats_file);
}

static void *
threads_open (int readonly)
{
  struct handle *h = calloc (1, sizeof *h);

  if (h == NULL) {
    nbdkit_error ("calloc: %m");
    return NULL;
  }
  pthread_mutex_lock (&lock);
  open_now++;
  if (open_now > max_open)
    max_open = open_now;
  pthread_mutex_unlock (&lock);
  return h;
}

static void
threads_close (void *handle)
{
  struct handle *h = handle;

  pthread_mutex_lock (&lock);
  open_now--;
  if (h->max > max_per_conn)
    max_per_conn = h->max;
  write_stats ();
  pthread_mutex_unlock (&lock);
  free (h);
}

static int64_t
threads_get_size (void *handle)
{
  return size;
}

static int
threads_can_multi_conn (void *handle)
{
  return 1;
}

static int
threads_pread (void *handle, void *buf, uint32_t count, uint64_t offset,
               uint32_t flags)
{
  struct handle *h = handle;
  struct timespec deadline;

  memset (buf, 0, count);

  clock_gettime (CLOCK_REALTIME, &deadline);
  deadline.tv_sec += guard_ms / 1000;
  deadline.tv_nsec += (guard_ms % 1000) * 1000000L;
  if (deadline.tv_nsec >= 1000000000L) {
    deadline.tv_sec++;
    deadline.tv_nsec -= 1000000000L;
  }

  pthread_mutex_lock (&lock);
  preads++;
  in_flight++;
  h->in_flight++;
  if (in_flight > max_global)
    max_global = in_flight;
  if (h->in_flight > h->max)
    h->max = h->in_flight;
  if (in_flight >= target)
    waiting_done = true;
  pthread_cond_broadcast (&cond);

  while (!waiting_done) {
    int r = pthread_cond_timedwait (&cond, &lock, &deadline);
    if (r == ETIMEDOUT) {
      waiting_done = true;
      pthread_cond_broadcast (&cond);
    }
  }

  in_flight--;
  h->in_flight--;
  pthread_mutex_unlock (&lock);
  return 0;
}

static struct nbdkit_plugin plugin = {
  .name              = "threads",
  .version           = "1.0",
  .config            = threads_config,
  .thread_model      = threads_thread_model,
  .cleanup           = threads_cleanup,
  .unload            = threads_unload,
  .open              = threads_open,
  .close             = threads_close,
  .get_size          = threads_get_size,
  .can_multi_conn    = threads_can_multi_conn,
  .pread             = threads_pread,
};

NBDKIT_REGISTER_PLUGIN (plugin)
