/* watchdog.c: noticing requests that run too long on a reading thread.
 *
 * Under the parallel thread model a connection's reading thread runs
 * fast requests itself (see requests.c): handing each one to another
 * thread would cost a wake-up per request.  But a request that turns
 * out to be slow -- a cache miss, a remote call -- must not hold up
 * the requests queued behind it.  The reading thread cannot notice
 * that by itself while it is inside the plugin, so this thread looks
 * instead: every TICK_NS it reads each registered connection's role
 * word, and a word that still says "running request N" one tick later
 * means request N has run for at least one tick.  It then calls the
 * connection's rescue function, which passes the reading to another
 * thread of the connection.
 *
 * A request costs the reading thread nothing for this but the store of
 * the role word and a load of `sleeping'.  The watchdog itself sleeps
 * without a timeout once no registered connection has started a
 * request for IDLE_TICKS ticks, so an idle server burns no CPU; the
 * first request after that wakes it.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <time.h>

#include "internal.h"
#include "watchdog.h"

#define TICK_NS (2 * 1000 * 1000)
#define IDLE_TICKS 50

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static struct watched *watched;         /* registered, under lock */
static bool started;                    /* the thread exists */
_Atomic bool watchdog_sleeping;

/* One look at every registered connection.  Returns true if any of
 * them started a request since the previous look.  Called with the
 * lock held.
 */
static bool
look (void)
{
  struct watched *w;
  bool active = false;

  for (w = watched; w != NULL; w = w->next) {
    /* seq_cst: pairs with the reader's store and load of `sleeping'. */
    uint64_t word = atomic_load (w->role);

    if (word != w->last_word)
      active = true;
    else if (role_state (word) == ROLE_RUNNING) {
      /* The same request has been running since the last look. */
      w->rescue (w, word);
      word = atomic_load (w->role);
    }
    w->last_word = word;
  }
  return active;
}

static void *
watchdog_thread (void *arg)
{
  unsigned idle = 0;

  (void) arg;
  thread_state.name = "watchdog";
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&lock);
  for (;;) {
    struct timespec ts;

    if (idle >= IDLE_TICKS) {
      /* Announce the sleep, then look once more: a reader that set its
       * role word before seeing `sleeping' is caught by this look, and
       * one that sets it after sees `sleeping' and wakes us (it needs
       * the lock for that, which we hold until we wait).
       */
      atomic_store (&watchdog_sleeping, true);
      if (!look ()) {
        pthread_cond_wait (&cond, &lock);
      }
      atomic_store (&watchdog_sleeping, false);
      idle = 0;
      continue;
    }

    clock_gettime (CLOCK_MONOTONIC, &ts);
    ts.tv_nsec += TICK_NS;
    if (ts.tv_nsec >= 1000000000) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000;
    }
    /* The condition is only signalled to end a sleep, so waiting on it
     * here is just a timed sleep that releases the lock.
     */
    while (pthread_cond_clockwait (&cond, &lock, CLOCK_MONOTONIC, &ts) == 0)
      ;
    if (look ())
      idle = 0;
    else
      idle++;
  }
  return NULL;
}

void
watchdog_register (struct watched *w)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&lock);

  w->last_word = atomic_load (w->role);
  w->prev = NULL;
  w->next = watched;
  if (watched)
    watched->prev = w;
  watched = w;

  if (!started) {
    if (start_detached_thread (watchdog_thread, NULL) == -1)
      /* Requests still run; slow ones just are not rescued. */
      nbdkit_error ("pthread_create: watchdog: %m");
    else
      started = true;
  }
}

void
watchdog_unregister (struct watched *w)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&lock);

  if (w->prev)
    w->prev->next = w->next;
  else
    watched = w->next;
  if (w->next)
    w->next->prev = w->prev;
}

void
watchdog_wake (void)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&lock);
  pthread_cond_signal (&cond);
}
