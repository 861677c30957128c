/* requests.c: the transmission phase of one connection.
 *
 * Reading.  A connection has one "read role" (watchdog.h).  The thread
 * holding it reads the next request (header, and a write's payload)
 * and validates it.  Under every thread model but PARALLEL, and with
 * -t 1, the connection's own thread holds the role for good and runs
 * every request itself, in order.
 *
 * Under PARALLEL a connection is served by a crew of up to -t threads,
 * started as needed, any of which may hold the role (leader/followers).
 * After reading a request the holder either
 *
 *   - passes the role on and runs the request: when the plugin's
 *     requests have lately spent a while blocked (a moving average of
 *     wall-clock less CPU time, sampled) and a thread is free to take
 *     over, or can be started.  Reading
 *     never stops while requests block in the plugin, and a request
 *     runs on the thread that read it, so there is no hand-over of the
 *     request itself; or
 *
 *   - keeps the role and runs the request itself ("inline"), the
 *     common case for a fast plugin (RAM disks, page-cache hits): a
 *     hand-over would cost a thread wake-up per request, more than the
 *     request.  Should the request turn out to be slow after all, the
 *     watchdog (watchdog.c) notices within a few milliseconds and
 *     frees the role for another thread of the crew, so the requests
 *     behind it are read and run meanwhile -- whatever the average
 *     said.
 *
 * Replies to requests run inline are batched while more input is
 * already buffered, and go out in one writev when the buffered input
 * runs dry: at queue depth N one read(2) and one writev(2) serve up to
 * N requests.  The batch belongs to the role, like the input buffer.
 * A request run off the role sends its own reply when it is done.
 *
 * Memory.  Requests and their data buffers are recycled, so the steady
 * state does no malloc per request.  Large buffers are mmap'd, so that
 * freeing them really returns the memory.  A connection that has been
 * idle for IDLE_TRIM_MS gives back all but a couple of small requests,
 * and idle crew threads exit after CREW_IDLE_SECONDS.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <endian.h>
#include <malloc.h>
#include <time.h>
#include <sys/mman.h>

#include "internal.h"
#include "watchdog.h"

/* Buffers up to this size come from malloc, bigger ones from mmap. */
#define SMALL_BUF_MAX (128 * 1024)
/* Buffers bigger than this are freed as soon as their request is done;
 * smaller ones stay with the recycled request.
 */
#define RETAIN_BUF_SIZE (4 * 1024 * 1024)

/* An idle connection holding more than KEEP_BYTES of buffers (or an
 * unusual number of requests) trims them after this long without
 * input, keeping KEEP_REQUESTS requests with buffers of at most
 * TRIM_BUF_MAX.  Below those limits it does not even look at the
 * clock, so small requests at any queue depth cost no extra syscall.
 */
#define IDLE_TRIM_MS 1000
#define KEEP_BYTES (512 * 1024)
#define KEEP_MAX_REQUESTS 64
#define KEEP_REQUESTS 2
#define TRIM_BUF_MAX (64 * 1024)

/* A crew thread other than the connection's own exits after waiting
 * this long for the read role.
 */
#define CREW_IDLE_SECONDS 5

/* Reply batching limits. */
#define BATCH_MAX_REQUESTS 16
#define BATCH_MAX_BYTES (1024 * 1024)

/* A plugin whose requests spend less than this waiting (blocked, not
 * computing) on average runs inline: other threads would only help it
 * by overlapping the waits.  A plugin that computes (a RAM disk copying
 * 256 KiB) gains nothing from more threads than there are connections
 * to keep the CPUs busy, and pays a wake-up per hand-over.
 */
#define INLINE_THRESHOLD_NS 20000
/* Start by assuming the plugin blocks, so that a blocking plugin gets
 * its parallelism from the first request.
 */
#define INITIAL_WAIT_NS (4 * INLINE_THRESHOLD_NS)

struct batch {
  struct request *reqs[BATCH_MAX_REQUESTS];
  struct iovec iov[2 * BATCH_MAX_REQUESTS];
  unsigned nr_reqs, nr_iov;
  size_t bytes;
};

struct crew {
  struct connection *conn;
  unsigned max_threads;         /* -t; 1 = the connection thread only */

  /* The read role (watchdog.h), and its registration. */
  _Atomic uint64_t role;
  struct watched watch;

  /* Owned by the holder of the read role. */
  struct batch batch;
  struct request *free_list;
  unsigned sample;              /* which inline requests to time */

  pthread_mutex_t lock;
  pthread_cond_t role_cond;     /* followers wait here for the role */
  pthread_cond_t exit_cond;     /* the connection thread waits here */
  /* Under lock. */
  struct request *returned;     /* recycled by threads not holding it */
  unsigned nr_threads;          /* including the connection thread */
  unsigned nr_waiting;          /* threads waiting for the role */

  /* Relaxed atomics. */
  _Atomic unsigned nr_requests; /* requests allocated */
  _Atomic size_t buf_bytes;     /* their buffers */
  /* Moving average of the time a request spends blocked in the plugin
   * (wall-clock time less the thread's CPU time), in ns.
   */
  _Atomic uint64_t wait_ns;
};

static void *
buf_alloc (struct crew *crew, size_t size, size_t *allocated)
{
  void *p;

  if (size <= SMALL_BUF_MAX) {
    p = malloc (size ? size : 1);
    if (p == NULL)
      return NULL;
  }
  else {
    size = (size + 4095) & ~(size_t) 4095;
    p = mmap (NULL, size, PROT_READ | PROT_WRITE,
              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
      return NULL;
  }
  *allocated = size;
  atomic_fetch_add_explicit (&crew->buf_bytes, size, memory_order_relaxed);
  return p;
}

static void
buf_free (struct crew *crew, void *p, size_t size)
{
  if (p == NULL)
    return;
  if (size <= SMALL_BUF_MAX)
    free (p);
  else
    munmap (p, size);
  atomic_fetch_sub_explicit (&crew->buf_bytes, size, memory_order_relaxed);
}

static int
request_reserve (struct crew *crew, struct request *req, size_t size)
{
  if (req->buf_size >= size)
    return 0;
  buf_free (crew, req->buf, req->buf_size);
  req->buf_size = 0;
  req->buf = buf_alloc (crew, size, &req->buf_size);
  return req->buf ? 0 : -1;
}

static void
request_drop_buffer (struct crew *crew, struct request *req)
{
  buf_free (crew, req->buf, req->buf_size);
  req->buf = NULL;
  req->buf_size = 0;
}

static void
request_recycle (struct crew *crew, struct request *req)
{
  protocol_release_reply (req);
  if (req->extents) {
    nbdkit_extents_free (req->extents);
    req->extents = NULL;
  }
  if (req->buf_size > RETAIN_BUF_SIZE)
    request_drop_buffer (crew, req);
  req->error = 0;
  req->data = NULL;
}

static void
request_free (struct crew *crew, struct request *req)
{
  request_recycle (crew, req);
  request_drop_buffer (crew, req);
  free (req);
  atomic_fetch_sub_explicit (&crew->nr_requests, 1, memory_order_relaxed);
}

static void
free_request_list (struct crew *crew, struct request *list)
{
  while (list) {
    struct request *next = list->next;

    request_free (crew, list);
    list = next;
  }
}

/* Role holder: a free request. */
static struct request *
get_free_request (struct crew *crew)
{
  struct request *req = crew->free_list;

  if (req == NULL && crew->max_threads > 1) {
    pthread_mutex_lock (&crew->lock);
    req = crew->returned;
    crew->returned = NULL;
    pthread_mutex_unlock (&crew->lock);
  }
  if (req) {
    crew->free_list = req->next;
    return req;
  }

  req = calloc (1, sizeof *req);
  if (req == NULL) {
    nbdkit_error ("calloc: %m");
    return NULL;
  }
  atomic_fetch_add_explicit (&crew->nr_requests, 1, memory_order_relaxed);
  return req;
}

/* Role holder: back on the free list. */
static void
put_free_request (struct crew *crew, struct request *req)
{
  request_recycle (crew, req);
  req->next = crew->free_list;
  crew->free_list = req;
}

/* Any other thread. */
static void
return_request (struct crew *crew, struct request *req)
{
  request_recycle (crew, req);
  pthread_mutex_lock (&crew->lock);
  req->next = crew->returned;
  crew->returned = req;
  pthread_mutex_unlock (&crew->lock);
}

/* Role holder, connection idle: give memory back. */
static bool
should_trim (struct crew *crew)
{
  return
    atomic_load_explicit (&crew->buf_bytes, memory_order_relaxed) >
    KEEP_BYTES ||
    atomic_load_explicit (&crew->nr_requests, memory_order_relaxed) >
    KEEP_MAX_REQUESTS;
}

static void
trim (struct crew *crew)
{
  struct request *list, *req, *keep = NULL;
  unsigned kept = 0;

  pthread_mutex_lock (&crew->lock);
  list = crew->returned;
  crew->returned = NULL;
  pthread_mutex_unlock (&crew->lock);

  /* Join the two lists. */
  for (req = crew->free_list; req && req->next; req = req->next)
    ;
  if (req)
    req->next = list;
  else
    crew->free_list = list;

  list = crew->free_list;
  while (list) {
    req = list;
    list = list->next;
    if (kept < KEEP_REQUESTS) {
      if (req->buf_size > TRIM_BUF_MAX)
        request_drop_buffer (crew, req);
      req->next = keep;
      keep = req;
      kept++;
    }
    else
      request_free (crew, req);
  }
  crew->free_list = keep;
  /* Freed small buffers may sit in malloc's arenas. */
  malloc_trim (0);
  debug ("connection idle: trimmed to %u requests, %zu bytes of buffers",
         atomic_load (&crew->nr_requests), atomic_load (&crew->buf_bytes));
}

/* Read and validate the next request.  Returns 1 if req holds a request
 * to run and reply to, 0 when the client is done (EOF or DISC), -1 on a
 * fatal error (the connection must be dropped).  If in_place, a write's
 * payload may be left in the input buffer (valid until the next read).
 */
static int
recv_request (struct crew *crew, struct request *req, bool in_place)
{
  struct connection *conn = crew->conn;
  struct nbd_request wire;
  int r;

  r = conn_recv_full (conn, &wire, sizeof wire);
  if (r == 0) {
    debug ("client closed input socket, closing connection");
    return 0;
  }
  if (r == -1)
    return -1;

  req->hdr.magic = be32toh (wire.magic);
  req->hdr.flags = be16toh (wire.flags);
  req->hdr.type = be16toh (wire.type);
  req->hdr.cookie = be64toh (wire.cookie);
  req->hdr.offset = be64toh (wire.offset);
  req->hdr.count = be32toh (wire.count);

  if (req->hdr.magic != NBD_REQUEST_MAGIC) {
    nbdkit_error ("invalid request: 'magic' field is incorrect (0x%x)",
                  req->hdr.magic);
    return -1;
  }

  if (req->hdr.type == NBD_CMD_DISC) {
    debug ("client sent NBD_CMD_DISC, closing connection");
    return 0;
  }

  req->error = protocol_validate_request (conn, &req->hdr);

  if (req->hdr.type == NBD_CMD_WRITE) {
    if (req->error == 0 && in_place &&
        (req->data = conn_take_buffered (conn, req->hdr.count)) != NULL)
      return 1;
    if (req->error == 0 && request_reserve (crew, req, req->hdr.count) == -1)
      req->error = ENOMEM;
    if (req->error) {
      /* Stay in step with the client by skipping the payload, unless it
       * is absurdly large: then the client is broken or hostile.
       */
      if (req->hdr.count > 2 * (uint64_t) MAX_REQUEST_SIZE) {
        nbdkit_error ("write request too large to skip (%" PRIu32
                      " bytes), closing connection", req->hdr.count);
        return -1;
      }
      if (conn_recv_discard (conn, req->hdr.count) == -1)
        return -1;
      return 1;
    }
    req->data = req->buf;
    r = conn_recv_full (conn, req->buf, req->hdr.count);
    if (r != 1) {
      if (r == 0)
        debug ("client closed the connection in the middle of a write");
      return -1;
    }
  }
  else if (req->hdr.type == NBD_CMD_READ && req->error == 0) {
    if (request_reserve (crew, req, req->hdr.count) == -1)
      req->error = ENOMEM;
    req->data = req->buf;
  }
  return 1;
}

static inline uint64_t
thread_cpu_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * UINT64_C (1000000000) + ts.tv_nsec;
}

/* Run a request (not sending the reply), measuring how long it waited
 * in the plugin if asked.
 */
static void
handle_request (struct crew *crew, struct request *req, bool timed)
{
  uint64_t t0 = 0, c0 = 0;

  if (timed) {
    t0 = now_ns ();
    c0 = thread_cpu_ns ();
  }
  lock_request ();
  protocol_handle_request (crew->conn, req);
  unlock_request ();
  if (timed) {
    uint64_t cpu = thread_cpu_ns () - c0;
    uint64_t t = now_ns () - t0;
    uint64_t avg = atomic_load_explicit (&crew->wait_ns,
                                         memory_order_relaxed);

    t = t > cpu ? t - cpu : 0;
    /* avg += (t - avg) / 8, with t capped so one stall doesn't stick */
    t = MIN (t, 64 * (uint64_t) INLINE_THRESHOLD_NS);
    avg = avg - avg / 8 + t / 8;
    atomic_store_explicit (&crew->wait_ns, avg, memory_order_relaxed);
  }
}

static void
send_reply (struct connection *conn, struct request *req)
{
  struct iovec iov[2];
  int n;

  if (conn_get_status (conn) != STATUS_DEAD) {
    n = protocol_prepare_reply (conn, req, iov);
    conn_send_iov (conn, iov, n);
  }
  conn_requests_done (conn, 1);
}

/* Role holder. */
static void
flush_batch (struct crew *crew)
{
  struct batch *b = &crew->batch;
  unsigned i;

  if (b->nr_reqs == 0)
    return;
  if (conn_get_status (crew->conn) != STATUS_DEAD)
    conn_send_iov (crew->conn, b->iov, b->nr_iov);
  conn_requests_done (crew->conn, b->nr_reqs);
  for (i = 0; i < b->nr_reqs; ++i)
    put_free_request (crew, b->reqs[i]);
  b->nr_reqs = b->nr_iov = 0;
  b->bytes = 0;
}

/* Role holder: reply to a request that ran inline: batch the reply
 * while more requests are waiting in the input buffer, else send
 * everything.
 */
static void
reply_inline (struct crew *crew, struct request *req)
{
  struct batch *b = &crew->batch;
  int n, i;

  n = protocol_prepare_reply (crew->conn, req, &b->iov[b->nr_iov]);
  b->reqs[b->nr_reqs++] = req;
  for (i = 0; i < n; ++i)
    b->bytes += b->iov[b->nr_iov + i].iov_len;
  b->nr_iov += n;

  if (!conn_input_pending (crew->conn) || b->nr_reqs == BATCH_MAX_REQUESTS ||
      b->bytes >= BATCH_MAX_BYTES)
    flush_batch (crew);
}

static void *crew_thread (void *vp);

/* Start one more thread for the crew.  Called with crew->lock held. */
static bool
crew_spawn (struct crew *crew)
{
  if (crew->nr_threads >= crew->max_threads)
    return false;
  if (start_detached_thread (crew_thread, crew) == -1) {
    /* The requests still run, just with less overlap. */
    debug ("pthread_create: %m");
    return false;
  }
  crew->nr_threads++;
  return true;
}

/* Make sure a thread will take the role, which is (or is about to be)
 * ROLE_FREE: wake one waiting, or start one.  Called with crew->lock
 * held.  Returns false if every thread of the crew is busy: the role
 * then waits for the first one to finish.
 */
static bool
call_follower (struct crew *crew)
{
  if (crew->nr_waiting > 0) {
    pthread_cond_signal (&crew->role_cond);
    return true;
  }
  return crew_spawn (crew);
}

/* The watchdog found the role holder running the same request for a
 * whole tick (called with the watchdog's lock held).
 */
static void
rescue (struct watched *w, uint64_t word)
{
  struct crew *crew = container_of (w, struct crew, watch);

  if (!atomic_compare_exchange_strong (&crew->role, &word,
                                       role_word (role_seq (word),
                                                  ROLE_FREE)))
    return;                     /* it finished meanwhile */
  pthread_mutex_lock (&crew->lock);
  call_follower (crew);
  pthread_mutex_unlock (&crew->lock);
}

/* Role holder: the connection stops reading (end of input, DISC, error
 * or shutdown).  Threads still running requests finish them.
 */
static void
stop_reading (struct crew *crew, uint64_t seq)
{
  flush_batch (crew);
  pthread_mutex_lock (&crew->lock);
  atomic_store (&crew->role, role_word (seq, ROLE_DONE));
  pthread_cond_broadcast (&crew->role_cond);
  pthread_mutex_unlock (&crew->lock);
}

/* Role holder, slow plugin: pass the role on before running the
 * request, if some thread can take it at once.
 */
static bool
hand_off (struct crew *crew, uint64_t seq)
{
  bool ok;

  /* The batch goes with the role, but the next holder might not come
   * for a while if every thread is busy: send it now.
   */
  flush_batch (crew);
  pthread_mutex_lock (&crew->lock);
  atomic_store (&crew->role, role_word (seq, ROLE_FREE));
  ok = call_follower (crew);
  if (!ok)
    atomic_store (&crew->role, role_word (seq, ROLE_HELD));
  pthread_mutex_unlock (&crew->lock);
  return ok;
}

/* A thread not holding the role runs a request and replies. */
static void
run_off_role (struct crew *crew, struct request *req)
{
  handle_request (crew, req, true);
  send_reply (crew->conn, req);
  return_request (crew, req);
}

/* Role holder, nothing to read: wait for input, giving memory back
 * (and the role, on a helper thread) whenever IDLE_TRIM_MS pass without
 * any.  Returns true if the role was handed to a waiting thread and
 * this helper thread should leave the crew.
 */
static bool
idle (struct crew *crew, uint64_t seq, bool connection_thread)
{
  struct connection *conn = crew->conn;

  while ((should_trim (crew) || !connection_thread) &&
         !conn_wait_input (conn, IDLE_TRIM_MS)) {
    if (should_trim (crew))
      trim (crew);
    /* A quiet connection needs one thread: its own.  A helper holding
     * the role passes it to a waiting thread, which is the connection
     * thread once the other helpers have left too.
     */
    if (!connection_thread) {
      bool passed = false;

      pthread_mutex_lock (&crew->lock);
      if (crew->nr_waiting > 0) {
        atomic_store (&crew->role, role_word (seq, ROLE_FREE));
        pthread_cond_signal (&crew->role_cond);
        passed = true;
      }
      pthread_mutex_unlock (&crew->lock);
      if (passed)
        return true;
    }
  }
  return false;
}

/* Serve as role holder, from having taken the role with sequence
 * number seq until giving it up.  Returns true if this (helper) thread
 * should leave the crew.
 */
static bool
lead (struct crew *crew, uint64_t seq, bool connection_thread)
{
  struct connection *conn = crew->conn;
  const bool crewed = crew->max_threads > 1;

  /* A batch inherited from a holder that lost the role has waited
   * long enough.
   */
  flush_batch (crew);

  for (;;) {
    struct request *req;
    int r;

    /* Never sit on batched replies while waiting for input. */
    if (!conn_input_pending (conn)) {
      flush_batch (crew);
      if (idle (crew, seq, connection_thread))
        return true;
    }

    req = get_free_request (crew);
    if (req == NULL) {
      stop_reading (crew, seq);
      return false;
    }
    r = recv_request (crew, req, !crewed);
    if (r != 1) {
      request_free (crew, req);
      stop_reading (crew, seq);
      return false;
    }
    conn_request_started (conn);

    if (crewed &&
        atomic_load_explicit (&crew->wait_ns, memory_order_relaxed) >=
        INLINE_THRESHOLD_NS &&
        hand_off (crew, seq)) {
      run_off_role (crew, req);
      return false;
    }

    if (!crewed) {
      /* Nothing to decide: no need to measure. */
      handle_request (crew, req, false);
      reply_inline (crew, req);
      continue;
    }

    /* Run it here, where the watchdog can see it (seq_cst: pairs with
     * the watchdog's announcement that it sleeps).  Timing one inline
     * request in four is enough to follow the plugin.
     */
    {
      /* Role-owned state is touched before the role can be taken. */
      const bool timed = (crew->sample++ & 3) == 0;

      seq++;
      atomic_store (&crew->role, role_word (seq, ROLE_RUNNING));
      if (atomic_load (&watchdog_sleeping))
        watchdog_wake ();
      handle_request (crew, req, timed);
    }
    {
      uint64_t running = role_word (seq, ROLE_RUNNING);

      if (!atomic_compare_exchange_strong (&crew->role, &running,
                                           role_word (seq, ROLE_HELD))) {
        /* The watchdog gave the role away meanwhile. */
        send_reply (conn, req);
        return_request (crew, req);
        return false;
      }
    }
    reply_inline (crew, req);
  }
}

/* Every thread of the crew: take the role whenever it is free, until
 * the connection stops reading.  Helper threads leave when idle.
 */
static void
serve_in_crew (struct crew *crew, bool connection_thread)
{
  pthread_mutex_lock (&crew->lock);
  for (;;) {
    uint64_t word = atomic_load (&crew->role);
    int r;

    if (role_state (word) == ROLE_DONE)
      break;
    if (role_state (word) == ROLE_FREE) {
      uint64_t seq = role_seq (word) + 1;

      if (atomic_compare_exchange_strong (&crew->role, &word,
                                          role_word (seq, ROLE_HELD))) {
        bool leave;

        pthread_mutex_unlock (&crew->lock);
        leave = lead (crew, seq, connection_thread);
        pthread_mutex_lock (&crew->lock);
        if (leave)
          break;
      }
      continue;
    }

    crew->nr_waiting++;
    if (connection_thread)
      r = pthread_cond_wait (&crew->role_cond, &crew->lock);
    else {
      struct timespec ts;

      clock_gettime (CLOCK_MONOTONIC, &ts);
      ts.tv_sec += CREW_IDLE_SECONDS;
      r = pthread_cond_clockwait (&crew->role_cond, &crew->lock,
                                  CLOCK_MONOTONIC, &ts);
    }
    crew->nr_waiting--;
    if (r == ETIMEDOUT &&
        role_state (atomic_load (&crew->role)) != ROLE_FREE)
      break;
  }
  if (!connection_thread) {
    crew->nr_threads--;
    pthread_cond_signal (&crew->exit_cond);
  }
  pthread_mutex_unlock (&crew->lock);
}

static void *
crew_thread (void *vp)
{
  struct crew *crew = vp;
  struct connection *conn = crew->conn;

  thread_state.name = plugin_name ();
  thread_state.instance = conn->id;
  thread_state.conn = conn;
  serve_in_crew (crew, false);
  /* crew may be gone now. */
  return NULL;
}

static void
serve (struct connection *conn, unsigned max_threads)
{
  struct crew *crew;

  crew = calloc (1, sizeof *crew);
  if (crew == NULL) {
    nbdkit_error ("calloc: %m");
    return;
  }
  crew->conn = conn;
  crew->max_threads = max_threads;
  crew->nr_threads = 1;
  atomic_init (&crew->role, role_word (0, ROLE_FREE));
  atomic_init (&crew->nr_requests, 0);
  atomic_init (&crew->buf_bytes, 0);
  atomic_init (&crew->wait_ns, INITIAL_WAIT_NS);
  crew->watch.role = &crew->role;
  crew->watch.rescue = rescue;
  if (pthread_mutex_init (&crew->lock, NULL) != 0 ||
      pthread_cond_init (&crew->role_cond, NULL) != 0 ||
      pthread_cond_init (&crew->exit_cond, NULL) != 0)
    abort ();
  conn->crew = crew;

  if (max_threads > 1)
    watchdog_register (&crew->watch);
  serve_in_crew (crew, true);
  if (max_threads > 1)
    watchdog_unregister (&crew->watch);

  /* Wait for the rest of the crew to finish their requests and leave. */
  pthread_mutex_lock (&crew->lock);
  while (crew->nr_threads > 1)
    pthread_cond_wait (&crew->exit_cond, &crew->lock);
  pthread_mutex_unlock (&crew->lock);

  free_request_list (crew, crew->free_list);
  free_request_list (crew, crew->returned);
  conn->crew = NULL;
  pthread_cond_destroy (&crew->exit_cond);
  pthread_cond_destroy (&crew->role_cond);
  pthread_mutex_destroy (&crew->lock);
  free (crew);
}

void
protocol_serve (struct connection *conn)
{
  unsigned threads = config.threads ? config.threads
    : DEFAULT_PARALLEL_REQUESTS;

  if (thread_model == NBDKIT_THREAD_MODEL_PARALLEL && threads > 1) {
    debug ("handshake complete, processing requests with up to %u threads",
           threads);
    serve (conn, threads);
  }
  else {
    debug ("handshake complete, processing requests serially");
    serve (conn, 1);
  }

  if (conn_get_status (conn) == STATUS_ACTIVE)
    conn_set_status (conn, STATUS_CLIENT_DONE);
}
