/* locks.c: the thread model, expressed as locks.
 *
 *   SERIALIZE_CONNECTIONS   connection_lock is held for the whole life
 *                           of a connection, so clients are served one
 *                           after another.
 *   SERIALIZE_ALL_REQUESTS  all_requests_lock is held around every group
 *                           of plugin calls (a request, an open, a close,
 *                           the capability questions of a handshake), so
 *                           at most one callback runs at any time.
 *   SERIALIZE_REQUESTS      a connection processes its requests one at a
 *                           time on its own thread; no lock is needed.
 *   PARALLEL                requests of one connection run concurrently
 *                           on worker threads (connections.c).
 *
 * Lock order: connection_lock -> all_requests_lock -> a connection's
 * write_lock.
 */

#include <stdlib.h>

#include "internal.h"

int thread_model = NBDKIT_THREAD_MODEL_PARALLEL;

static pthread_mutex_t connection_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t all_requests_lock = PTHREAD_MUTEX_INITIALIZER;

void
lock_init_thread_model (void)
{
  thread_model = top->thread_model (top);
  debug ("using thread model: %s", name_of_thread_model (thread_model));
}

void
lock_connection (void)
{
  if (thread_model <= NBDKIT_THREAD_MODEL_SERIALIZE_CONNECTIONS &&
      pthread_mutex_lock (&connection_lock) != 0)
    abort ();
}

void
unlock_connection (void)
{
  if (thread_model <= NBDKIT_THREAD_MODEL_SERIALIZE_CONNECTIONS &&
      pthread_mutex_unlock (&connection_lock) != 0)
    abort ();
}

void
lock_request (void)
{
  if (thread_model <= NBDKIT_THREAD_MODEL_SERIALIZE_ALL_REQUESTS &&
      pthread_mutex_lock (&all_requests_lock) != 0)
    abort ();
}

void
unlock_request (void)
{
  if (thread_model <= NBDKIT_THREAD_MODEL_SERIALIZE_ALL_REQUESTS &&
      pthread_mutex_unlock (&all_requests_lock) != 0)
    abort ();
}
