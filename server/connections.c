/* connections.c: the life of a client connection, and its I/O.
 *
 * Each client is served by one thread (plus, with the parallel thread
 * model, a crew of helpers: see requests.c).  The thread runs
 * preconnect, the handshake, then the request loop, then closes the
 * plugin handle.
 *
 * Input is buffered: one read(2) usually brings in several requests
 * (and tells the request loop whether more are already waiting).
 * Output is never buffered here: each reply, or batch of replies, is
 * one writev(2) under the connection's write lock.
 *
 * Shutting down.  The rule is that every request that had arrived
 * (header and payload) when the server was told to quit gets its reply,
 * and nothing that arrives later is read.  A reader notices `quit'
 * before each read and from then on takes only what is already queued
 * (FIONREAD, read once) before it sees end of input, so that a TCP
 * client that keeps sending cannot keep the server alive.  A reader
 * already blocked in read(2) on an idle client is woken by shutting the
 * read side of its socket down (SHUT_RD) -- but only once none of its
 * requests awaits a reply and nothing is queued: a client whose next
 * send fails with EPIPE (as it does on a Unix socket after SHUT_RD)
 * gives up the replies it has not read yet, so that must only happen
 * when there are none.  The thread that sends the last outstanding
 * reply does it then.  The reply direction stays open throughout.  For
 * -s on pipes, where shutdown(2) does not apply, reads poll quit_fd as
 * well.  A writer that stays blocked because its client stopped reading
 * is cut off after WRITE_STALL_SECONDS.
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
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "internal.h"

/* Size of the input buffer: big enough for a few dozen small requests
 * or one small write, small enough that idle connections are cheap.
 */
#define RBUF_SIZE (64 * 1024)

/* At shutdown, a connection whose reply has not gone out for this long
 * (its client does not read) is cut off.
 */
#define WRITE_STALL_SECONDS 10

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
  conn->is_socket = fstat (sockin, &st) == 0 && S_ISSOCK (st.st_mode);
  if (conn->is_socket &&
      getsockname (sockin, (struct sockaddr *) &ss, &sslen) == 0)
    conn->family = ss.ss_family;
  atomic_init (&conn->status, STATUS_ACTIVE);
  atomic_init (&conn->soft_disconnect, false);
  atomic_init (&conn->disconnect_efd, -1);
  atomic_init (&conn->writes_started, 0);
  atomic_init (&conn->writes_done, 0);
  atomic_init (&conn->in_read, false);
  atomic_init (&conn->busy, 0);
  conn->drain_left = -1;
  conn->rbuf_size = RBUF_SIZE;
  conn->rbuf = malloc (RBUF_SIZE);
  if (conn->rbuf == NULL) {
    nbdkit_error ("malloc: %m");
    free (conn);
    return NULL;
  }
  conn->default_exports = calloc (nr_layers, sizeof *conn->default_exports);
  if (conn->default_exports == NULL) {
    nbdkit_error ("calloc: %m");
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
  int efd;

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
  efd = atomic_load (&conn->disconnect_efd);
  if (efd >= 0)
    close (efd);
  pthread_mutex_destroy (&conn->write_lock);
  free (conn->rbuf);
  free (conn->exportname);
  free (conn->plugin_exportname);
  if (conn->default_exports) {
    size_t i;

    for (i = 0; i < nr_layers; ++i)
      free (conn->default_exports[i].name);
    free (conn->default_exports);
  }
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

  thread_state.name = plugin_name ();
  thread_state.instance = conn->id;
  thread_state.conn = conn;

  if (conn_get_status (conn) == STATUS_ACTIVE) {
    int r;

    lock_request ();
    r = backend_preconnect (top, config.readonly);
    unlock_request ();
    if (r == 0 && protocol_handshake (conn) == 0)
      protocol_serve (conn);
  }

  if (conn->top) {
    lock_request ();
    backend_finalize (conn->top);
    backend_close (conn->top);
    conn->top = NULL;
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

  if (start_detached_thread (connection_thread, args) == -1) {
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

/* Wake the reader of a connection if it is blocked in read(2) while
 * quitting, with no request outstanding and no input queued (see the
 * comment at the top).  Called by the main thread and by the thread
 * that sends the last outstanding reply, whichever comes last.
 */
void
conn_wake_idle_reader (struct connection *conn)
{
  int queued = 0;

  if (!conn->is_socket || !atomic_load (&conn->in_read) ||
      atomic_load (&conn->busy) > 0)
    return;
  if (ioctl (conn->sockin, FIONREAD, &queued) == 0 && queued > 0)
    return;                     /* it is about to wake by itself */
  shutdown (conn->sockin, SHUT_RD);
}

/* Called with connections_lock held. */
static void
wake_idle_readers (void)
{
  struct connection *conn;

  waking = true;
  for (conn = connections; conn != NULL; conn = conn->next) {
    int expected = STATUS_ACTIVE;

    atomic_compare_exchange_strong (&conn->status, &expected,
                                    STATUS_SHUTDOWN);
    conn_wake_idle_reader (conn);
  }
}

/* At shutdown the writers of this many connections at most are
 * watched at a time; more stuck clients than that are dealt with in
 * later rounds.
 */
#define MAX_STALL_LOOKS 256

struct stall_look {
  struct connection *conn;
  uint64_t write;               /* writes_started when first seen */
  time_t since;                 /* when first seen inside that write */
};

/* Called with connections_lock held.  A connection whose writer has
 * been inside the same reply for WRITE_STALL_SECONDS belongs to a
 * client that stopped reading: cutting the socket is the only way to
 * unblock the writer.  looks holds what the previous call saw.
 */
static void
cut_stalled_writers (struct stall_look *looks, size_t *nr_looks, time_t now)
{
  struct stall_look fresh[MAX_STALL_LOOKS];
  struct connection *conn;
  size_t i, n = 0;

  for (conn = connections; conn != NULL && n < MAX_STALL_LOOKS;
       conn = conn->next) {
    uint64_t started = atomic_load (&conn->writes_started);
    uint64_t done = atomic_load (&conn->writes_done);
    time_t since = now;

    if (started == done || !conn->is_socket)
      continue;
    for (i = 0; i < *nr_looks; ++i)
      if (looks[i].conn == conn && looks[i].write == started)
        since = looks[i].since;
    if (now - since >= WRITE_STALL_SECONDS) {
      nbdkit_error ("client has not read its replies for %d seconds "
                    "while the server is shutting down: closing the "
                    "connection", WRITE_STALL_SECONDS);
      shutdown (conn->sockout, SHUT_RDWR);
      continue;
    }
    fresh[n++] = (struct stall_look) {
      .conn = conn, .write = started, .since = since,
    };
  }
  memcpy (looks, fresh, n * sizeof *looks);
  *nr_looks = n;
}

void
connections_shutdown_all (void)
{
  struct stall_look looks[MAX_STALL_LOOKS];
  size_t nr_looks = 0;

  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&connections_lock);
  wake_idle_readers ();
  while (nr_threads > 0) {
    struct timespec ts;

    clock_gettime (CLOCK_REALTIME, &ts);
    ts.tv_sec += 1;
    pthread_cond_timedwait (&connections_cond, &connections_lock, &ts);
    if (nr_threads > 0) {
      struct timespec mono;

      /* The wake-ups above are not expected to miss anyone; looking
       * again once a second costs nothing and makes sure of it.
       */
      wake_idle_readers ();
      clock_gettime (CLOCK_MONOTONIC, &mono);
      cut_stalled_writers (looks, &nr_looks, mono.tv_sec);
    }
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

int
conn_disconnect_fd (struct connection *conn)
{
  int fd = atomic_load (&conn->disconnect_efd);
  int expected = -1;

  if (fd >= 0)
    return fd;
  fd = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd == -1) {
    nbdkit_error ("eventfd: %m");
    return -1;
  }
  /* Another thread of the connection may have made one meanwhile. */
  if (!atomic_compare_exchange_strong (&conn->disconnect_efd, &expected,
                                       fd)) {
    close (fd);
    return expected;
  }
  return fd;
}

void
conn_disconnect (struct connection *conn, bool force)
{
  int efd;

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
  /* Wake nbdkit_nanosleep in this connection.  One that has not made
   * the eventfd yet looks at the status and soft_disconnect after
   * making it, so it cannot miss this.
   */
  efd = atomic_load (&conn->disconnect_efd);
  if (efd >= 0) {
    uint64_t one = 1;
    ssize_t r = write (efd, &one, sizeof one);
    (void) r;
  }
}

/* Once the server is quitting, only what had arrived may be read:
 * returns how many bytes a read may take (at most len), 0 when that is
 * used up.
 */
static size_t
drain_limit (struct connection *conn, size_t len)
{
  if (conn->drain_left < 0) {
    int avail = 0;

    if (ioctl (conn->sockin, FIONREAD, &avail) == -1 || avail < 0)
      avail = 0;
    conn->drain_left = avail;
    debug ("server is shutting down: %d more bytes of input will be read",
           avail);
  }
  return MIN (len, (uint64_t) conn->drain_left);
}

/* Spinning for input.  A reader that blocks in read(2) and is woken
 * by the next request pays a sleep and a wake-up, which on a VM whose
 * other vCPU has to be woken through the hypervisor adds tens of
 * microseconds to every request at queue depth 1.  Polling a little
 * first avoids that when the next request is about to arrive -- and
 * only then is it worth the CPU.  So the budget adapts per connection:
 *
 *   - a spin that gets input after t ns sets the budget to 2t (at
 *     least SPIN_MIN_NS, at most SPIN_MAX_NS), following the client's
 *     pace;
 *   - two spins in a row that get nothing switch spinning off (budget
 *     0): the client is thinking, or gone quiet;
 *   - while off, one read in SPIN_PROBE_EVERY spins for SPIN_MAX_NS to
 *     see whether the pace has changed.
 *
 * So an idle or slow client costs at most two budgets and then nothing,
 * and a busy one at most SPIN_MAX_NS a request (SPIN_MAX_NS /
 * SPIN_PROBE_EVERY when spinning does not pay).  Between polls the
 * reader yields the CPU, which lets a client on the same CPU run.
 */
#define SPIN_MIN_NS 2000
#ifndef SPIN_MAX_NS             /* -DSPIN_MAX_NS=0 to compare without */
#define SPIN_MAX_NS 20000
#endif
#define SPIN_PROBE_EVERY 64

/* Returns the byte count, or -1 with errno EAGAIN if no input came in
 * time, or another error.
 */
static ssize_t
spin_recv (struct connection *conn, void *buf, size_t len)
{
  uint32_t budget = conn->spin_budget_ns;
  uint64_t t0, t;
  ssize_t r;

  if (budget == 0) {
    if (++conn->spin_misses < SPIN_PROBE_EVERY) {
      errno = EAGAIN;
      return -1;
    }
    budget = SPIN_MAX_NS;
  }

  t0 = now_ns ();
  for (;;) {
    r = recv (conn->sockin, buf, len, MSG_DONTWAIT);
    if (r >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
      break;
    t = now_ns () - t0;
    if (t >= budget) {
      /* Missed: off after the second miss in a row (or a failed probe). */
      if (conn->spin_budget_ns == 0 || conn->spin_misses++ > 0) {
        conn->spin_budget_ns = 0;
        conn->spin_misses = 0;
      }
      errno = EAGAIN;
      return -1;
    }
    sched_yield ();
  }
  if (r >= 0) {
    t = 2 * (now_ns () - t0);
    conn->spin_budget_ns = MIN (MAX (t, SPIN_MIN_NS), SPIN_MAX_NS);
    conn->spin_misses = 0;
  }
  return r;
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
    if (unlikely (quit)) {
      /* Only what is queued already, so the read cannot block. */
      len = drain_limit (conn, len);
      if (len == 0)
        return 0;
    }
    else if (!conn->is_socket) {
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
      if (!(fds[0].revents & (POLLIN | POLLHUP | POLLERR)))
        continue;               /* quitting */
    }
    else {
      if (likely (conn->family != 0)) {
        r = spin_recv (conn, buf, len);
        if (r >= 0)
          goto got;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
          goto error;
      }
      /* seq_cst: pairs with the main thread's store of quit and load
       * of in_read (see conn_wake_idle_reader).
       */
      atomic_store (&conn->in_read, true);
      if (unlikely (quit)) {
        atomic_store_explicit (&conn->in_read, false, memory_order_relaxed);
        continue;
      }
    }

    r = read (conn->sockin, buf, len);
    atomic_store_explicit (&conn->in_read, false, memory_order_relaxed);
    if (r >= 0)
      goto got;
    if (errno == EINTR)
      continue;
  error:
    if (errno == ECONNRESET || conn_get_status (conn) == STATUS_DEAD)
      debug ("read: %m");
    else
      nbdkit_error ("read: %m");
    return -1;

  got:
    if (unlikely (conn->drain_left > 0))
      conn->drain_left -= r;
    return r;
  }
}

bool
conn_wait_input (struct connection *conn, int timeout_ms)
{
  struct pollfd fds[2] = {
    { .fd = conn->sockin, .events = POLLIN },
    { .fd = quit_fd, .events = POLLIN },
  };
  int r;

  do
    r = poll (fds, 2, timeout_ms);
  while (r == -1 && errno == EINTR);
  return r != 0;
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
    atomic_fetch_add_explicit (&conn->writes_started, 1,
                               memory_order_relaxed);
    r = write_all_iov (conn->sockout, iov, iovcnt);
    atomic_fetch_add_explicit (&conn->writes_done, 1, memory_order_relaxed);
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
