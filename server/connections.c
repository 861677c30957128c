/* connections.c: the life of a client connection, and its I/O.
 *
 * Each client is served by one thread (plus, with the parallel thread
 * model, a pool of workers: see requests.c).  The thread runs
 * preconnect, the handshake, then the request loop, then closes the
 * plugin handle.
 *
 * Input is buffered: one read(2) usually brings in several requests
 * (and tells the request loop whether more are already waiting).
 * Output is never buffered: each reply is one writev(2) under the
 * connection's write lock.
 *
 * To shut down, the main thread calls connections_shutdown_all.  Request
 * loops notice `quit' between requests and stop reading; requests
 * already read still run and get their replies.  A connection whose
 * reader is blocked waiting for input has its socket shut down, which
 * wakes the reader -- but only once it has no request left to answer,
 * so no reply is ever lost.  (For -s on pipes, where shutdown(2) does
 * not apply, reads poll quit_fd as well.)
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "internal.h"

/* Size of the input buffer: big enough for a few dozen small requests
 * or one small write, small enough that idle connections are cheap.
 */
#define RBUF_SIZE (64 * 1024)

/* How many times a reader polls for input before blocking. */
#define SPIN_ITERATIONS 50

static pthread_mutex_t connections_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t connections_cond = PTHREAD_COND_INITIALIZER;
static struct connection *connections;  /* live connections */
static size_t nr_threads;               /* connection threads running */
static bool waking;                     /* shutting down: serve no new client */
static uint64_t next_id = 1;

static struct connection *
new_connection (int sockin, int sockout)
{
  struct connection *conn;
  struct stat st;
  struct sockaddr_storage ss;
  socklen_t sslen = sizeof ss;

  conn = calloc (1, sizeof *conn);
  if (conn == NULL) {
    nbdkit_error ("calloc: %m");
    return NULL;
  }
  conn->sockin = sockin;
  conn->sockout = sockout;
  conn->disconnect_fd[0] = conn->disconnect_fd[1] = -1;
  conn->is_socket = fstat (sockin, &st) == 0 && S_ISSOCK (st.st_mode);
  if (conn->is_socket &&
      getsockname (sockin, (struct sockaddr *) &ss, &sslen) == 0)
    conn->family = ss.ss_family;
  atomic_init (&conn->status, STATUS_ACTIVE);
  atomic_init (&conn->soft_disconnect, false);
  conn->rbuf_size = RBUF_SIZE;
  conn->rbuf = malloc (RBUF_SIZE);
  if (conn->rbuf == NULL) {
    nbdkit_error ("malloc: %m");
    free (conn);
    return NULL;
  }
  if (pipe2 (conn->disconnect_fd, O_CLOEXEC | O_NONBLOCK) == -1) {
    nbdkit_error ("pipe2: %m");
    free (conn->rbuf);
    free (conn);
    return NULL;
  }
  if (pthread_mutex_init (&conn->write_lock, NULL) != 0)
    abort ();

  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&connections_lock);
  conn->id = next_id++;
  conn->next = connections;
  if (connections)
    connections->prev = conn;
  connections = conn;
  /* A connection that arrives while we are shutting down is not
   * served: it would miss the wake-up.
   */
  if (waking || quit)
    atomic_store (&conn->status, STATUS_SHUTDOWN);
  return conn;
}

static void
free_connection (struct connection *conn)
{
  {
    ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&connections_lock);
    if (conn->prev)
      conn->prev->next = conn->next;
    else
      connections = conn->next;
    if (conn->next)
      conn->next->prev = conn->prev;
  }

  if (conn->sockout != conn->sockin)
    close (conn->sockout);
  close (conn->sockin);
  close (conn->disconnect_fd[0]);
  close (conn->disconnect_fd[1]);
  pthread_mutex_destroy (&conn->write_lock);
  free (conn->rbuf);
  free (conn->exportname);
  free (conn->default_exportname);
  free (conn->meta_exportname);
  string_vector_free_all (&conn->interned);
  free (conn);
}

void
handle_single_connection (int sockin, int sockout)
{
  struct connection *conn;

  lock_connection ();

  conn = new_connection (sockin, sockout);
  if (conn == NULL) {
    if (sockout != sockin)
      close (sockout);
    close (sockin);
    unlock_connection ();
    return;
  }

  thread_state.name = plugin.name;
  thread_state.instance = conn->id;
  thread_state.conn = conn;

  if (conn_get_status (conn) == STATUS_ACTIVE) {
    int r;

    lock_request ();
    r = backend_preconnect (config.readonly);
    unlock_request ();
    if (r == 0 && protocol_handshake (conn) == 0)
      protocol_serve (conn);
  }

  if (conn->handle_open) {
    lock_request ();
    backend_close (conn);
    unlock_request ();
  }

  free_connection (conn);
  thread_state.conn = NULL;
  thread_state.instance = 0;
  thread_state.name = NULL;

  unlock_connection ();
}

struct thread_args {
  int sockin, sockout;
};

static void *
connection_thread (void *vp)
{
  struct thread_args args = *(struct thread_args *) vp;

  free (vp);
  handle_single_connection (args.sockin, args.sockout);
  /* With -s the server exists for this one client. */
  if (config.single)
    handle_quit (0);

  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&connections_lock);
  if (--nr_threads == 0)
    pthread_cond_broadcast (&connections_cond);
  return NULL;
}

/* Serve a new client on its own (detached) thread. */
void
start_connection_thread (int sockin, int sockout)
{
  struct thread_args *args;
  pthread_attr_t attr;
  pthread_t thread;
  int err;

  args = malloc (sizeof *args);
  if (args == NULL) {
    nbdkit_error ("malloc: %m");
    goto fail;
  }
  args->sockin = sockin;
  args->sockout = sockout;

  {
    ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&connections_lock);
    nr_threads++;
  }

  if (pthread_attr_init (&attr) != 0)
    abort ();
  pthread_attr_setdetachstate (&attr, PTHREAD_CREATE_DETACHED);
  err = pthread_create (&thread, &attr, connection_thread, args);
  pthread_attr_destroy (&attr);
  if (err != 0) {
    errno = err;
    nbdkit_error ("pthread_create: %m");
    free (args);
    ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&connections_lock);
    if (--nr_threads == 0)
      pthread_cond_broadcast (&connections_cond);
    goto fail;
  }
  return;

 fail:
  if (sockout != sockin)
    close (sockout);
  close (sockin);
}

/* Called with connections_lock held. */
static void
wake_idle_connections (void)
{
  struct connection *conn;

  waking = true;
  for (conn = connections; conn != NULL; conn = conn->next) {
    int expected = STATUS_ACTIVE;

    atomic_compare_exchange_strong (&conn->status, &expected,
                                    STATUS_SHUTDOWN);
    /* Cutting the socket wakes a reader blocked in read(2).  Only do
     * that once every request read so far has been answered: a busy
     * connection's reader notices `quit' by itself after its current
     * requests, and the client must still be able to receive those
     * replies (and to go on sending, without EPIPE, meanwhile).
     */
    if (conn->is_socket &&
        atomic_load_explicit (&conn->busy, memory_order_acquire) == 0)
      shutdown (conn->sockin, SHUT_RDWR);
  }
}

void
connections_shutdown_all (void)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&connections_lock);
  while (nr_threads > 0) {
    struct timespec ts;

    wake_idle_connections ();
    /* Busy connections become idle without telling us: look again
     * every few milliseconds.
     */
    clock_gettime (CLOCK_REALTIME, &ts);
    ts.tv_nsec += 20 * 1000 * 1000;
    if (ts.tv_nsec >= 1000 * 1000 * 1000) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000 * 1000 * 1000;
    }
    pthread_cond_timedwait (&connections_cond, &connections_lock, &ts);
  }
}

void
conn_set_status (struct connection *conn, enum conn_status status)
{
  int old = atomic_load (&conn->status);

  /* Status only ever moves towards DEAD. */
  while ((int) status < old &&
         !atomic_compare_exchange_weak (&conn->status, &old, status))
    ;
}

void
conn_disconnect (struct connection *conn, bool force)
{
  char c = 0;
  ssize_t r;

  if (force) {
    debug ("plugin requested a forced disconnect");
    conn_set_status (conn, STATUS_DEAD);
    if (conn->is_socket)
      shutdown (conn->sockin, SHUT_RDWR);
  }
  else {
    debug ("plugin requested a disconnect");
    atomic_store (&conn->soft_disconnect, true);
  }
  /* Wake nbdkit_nanosleep in this connection. */
  r = write (conn->disconnect_fd[1], &c, 1);
  (void) r;
}

/* One read(2), restarting on EINTR.  For fds that are not sockets, wait
 * with poll so that quitting the server can interrupt us.  Returns the
 * byte count, 0 at end of input, -1 on error.
 */
static ssize_t
conn_read (struct connection *conn, void *buf, size_t len)
{
  ssize_t r;

  for (;;) {
    if (!conn->is_socket) {
      struct pollfd fds[2] = {
        { .fd = conn->sockin, .events = POLLIN },
        { .fd = quit_fd, .events = POLLIN },
      };

      if (poll (fds, 2, -1) == -1) {
        if (errno == EINTR)
          continue;
        nbdkit_error ("poll: %m");
        return -1;
      }
      if (quit)
        return 0;
    }
    else {
      /* Before going to sleep in read(2), look for input a few times,
       * yielding the CPU in between.  A client that is about to send
       * its next request (the normal case while it is busy) is then
       * served without a sleep and wake-up, which on a VM costs tens of
       * microseconds; if the client runs on this CPU, sched_yield lets
       * it run, so the spin takes nothing from it.
       */
      int i;

      for (i = 0; i < SPIN_ITERATIONS; ++i) {
        r = recv (conn->sockin, buf, len, MSG_DONTWAIT);
        if (r >= 0)
          return r;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
          break;
        sched_yield ();
      }
    }
    r = read (conn->sockin, buf, len);
    if (r >= 0)
      return r;
    if (errno == EINTR)
      continue;
    if (errno == ECONNRESET || conn_get_status (conn) == STATUS_DEAD)
      debug ("read: %m");
    else
      nbdkit_error ("read: %m");
    return -1;
  }
}

int
conn_recv_full (struct connection *conn, void *buf, size_t count)
{
  char *p = buf;
  size_t got = 0;

  while (got < count) {
    size_t avail = conn->rbuf_end - conn->rbuf_start;
    size_t want = count - got;
    ssize_t r;

    if (avail > 0) {
      size_t n = MIN (avail, want);

      memcpy (p + got, conn->rbuf + conn->rbuf_start, n);
      conn->rbuf_start += n;
      got += n;
      continue;
    }

    conn->rbuf_start = conn->rbuf_end = 0;
    if (want >= conn->rbuf_size / 2) {
      /* Big payload: read straight into the destination. */
      r = conn_read (conn, p + got, want);
      if (r > 0)
        got += r;
    }
    else {
      r = conn_read (conn, conn->rbuf, conn->rbuf_size);
      if (r > 0)
        conn->rbuf_end = r;
    }
    if (r == 0) {
      if (got == 0)
        return 0;
      debug ("client closed the connection in the middle of a message");
      return -1;
    }
    if (r == -1)
      return -1;
  }
  return 1;
}

int
conn_recv_discard (struct connection *conn, uint64_t count)
{
  while (count > 0) {
    size_t avail = conn->rbuf_end - conn->rbuf_start;
    ssize_t r;

    if (avail > 0) {
      size_t n = MIN (avail, count);
      conn->rbuf_start += n;
      count -= n;
      continue;
    }
    conn->rbuf_start = conn->rbuf_end = 0;
    r = conn_read (conn, conn->rbuf, conn->rbuf_size);
    if (r <= 0) {
      if (r == 0)
        debug ("client closed the connection in the middle of a message");
      return -1;
    }
    conn->rbuf_end = r;
  }
  return 0;
}

bool
conn_input_pending (struct connection *conn)
{
  return conn->rbuf_end > conn->rbuf_start;
}

void *
conn_take_buffered (struct connection *conn, size_t count)
{
  void *p;

  if (conn->rbuf_end - conn->rbuf_start < count)
    return NULL;
  p = conn->rbuf + conn->rbuf_start;
  conn->rbuf_start += count;
  return p;
}

/* Write all of iov, which we may modify.  Caller holds write_lock. */
static int
write_all_iov (int fd, struct iovec *iov, int iovcnt)
{
  while (iovcnt > 0) {
    ssize_t r = writev (fd, iov, iovcnt);

    if (r == -1) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    while (iovcnt > 0 && (size_t) r >= iov->iov_len) {
      r -= iov->iov_len;
      iov++;
      iovcnt--;
    }
    if (iovcnt > 0) {
      iov->iov_base = (char *) iov->iov_base + r;
      iov->iov_len -= r;
    }
  }
  return 0;
}

int
conn_send_iov (struct connection *conn, struct iovec *iov, int iovcnt)
{
  int r;

  if (conn_get_status (conn) == STATUS_DEAD)
    return -1;

  {
    ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&conn->write_lock);
    r = write_all_iov (conn->sockout, iov, iovcnt);
  }
  if (r == -1) {
    if (errno == EPIPE || errno == ECONNRESET)
      debug ("write: %m");
    else
      nbdkit_error ("write: %m");
    conn_set_status (conn, STATUS_DEAD);
    return -1;
  }
  return 0;
}

int
conn_send_full (struct connection *conn, const void *buf, size_t count)
{
  struct iovec iov = { .iov_base = (void *) buf, .iov_len = count };

  return conn_send_iov (conn, &iov, 1);
}
