/* requests.c: the transmission phase of one connection.
 *
 * The connection thread is the only reader of the socket.  For each
 * request it reads the header (and a write's payload) and validates it.
 * Then it either runs the request itself ("inline") or hands it to a
 * worker thread:
 *
 *   - Under every thread model except PARALLEL, and with -t 1, every
 *     request runs inline, in order.
 *
 *   - Under PARALLEL the server keeps a moving average of how long the
 *     plugin takes per request.  A fast plugin (a few microseconds: RAM
 *     disks, page-cache hits) gains nothing from other threads -- the
 *     hand-off to a worker costs more than the work, and at queue depth
 *     1 it adds a thread wake-up to every request's latency -- so its
 *     requests run inline.  A slow plugin (disk or network I/O, sleeps)
 *     gets a pool of worker threads, started lazily up to -t, and the
 *     connection thread goes straight back to reading, so requests that
 *     block overlap.  The average starts out "slow", so a plugin that
 *     blocks gets its parallelism from the first request.
 *
 * Replies to requests run inline are batched while more input is
 * already buffered, and go out in one writev when the buffered input
 * runs dry: at queue depth N one read(2) and one writev(2) serve up to
 * N requests.  Workers send their own replies as they finish.
 *
 * Requests and their data buffers are recycled, so the steady state
 * does no malloc per request.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <endian.h>
#include <time.h>

#include "internal.h"

/* Data buffers up to this size are kept with a recycled request. */
#define RETAIN_BUF_SIZE (4 * 1024 * 1024)

/* Reply batching limits. */
#define BATCH_MAX_REQUESTS 16
#define BATCH_MAX_BYTES (1024 * 1024)

/* A plugin whose average service time is below this runs inline even
 * when requests queue up.
 */
#define INLINE_THRESHOLD_NS 20000
/* Start by assuming the plugin is slow, so that a blocking plugin gets
 * its parallelism from the first queued request.
 */
#define INITIAL_SERVICE_NS (4 * INLINE_THRESHOLD_NS)

struct batch {
  struct request *reqs[BATCH_MAX_REQUESTS];
  struct iovec iov[2 * BATCH_MAX_REQUESTS];
  unsigned nr_reqs, nr_iov;
  size_t bytes;
};

struct worker_pool {
  pthread_mutex_t lock;
  pthread_cond_t work_cond;     /* workers wait here for work */
  pthread_cond_t done_cond;     /* the reader waits here for a slot */
  struct request *queue_head, *queue_tail;
  struct request *free_list;    /* requests freed by workers (locked) */
  struct request *reader_free;  /* freed by the reader (reader only) */
  unsigned sample;              /* reader only: which requests to time */
  unsigned max_in_flight;       /* -t; 0 = no workers (serial) */
  unsigned in_flight;           /* queued + running on workers; changed
                                 * under lock, read without it (atomics) */
  unsigned nr_workers, nr_idle;
  bool reader_waiting;
  bool stopping;
  /* Moving average of the plugin's service time (ns), updated with
   * relaxed atomics by whoever ran the request.
   */
  uint64_t service_ns;
  struct connection *conn;
  pthread_t *workers;
};

static int
request_reserve (struct request *req, size_t size)
{
  void *p;

  if (req->buf_size >= size)
    return 0;
  free (req->buf);
  req->buf = NULL;
  req->buf_size = 0;
  p = malloc (size);
  if (p == NULL)
    return -1;
  req->buf = p;
  req->buf_size = size;
  return 0;
}

static void
request_recycle (struct request *req)
{
  protocol_release_reply (req);
  if (req->extents) {
    nbdkit_extents_free (req->extents);
    req->extents = NULL;
  }
  if (req->buf_size > RETAIN_BUF_SIZE) {
    free (req->buf);
    req->buf = NULL;
    req->buf_size = 0;
  }
  req->error = 0;
  req->data = NULL;
}

static void
request_free (struct request *req)
{
  if (req) {
    request_recycle (req);
    free (req->buf);
    free (req);
  }
}

/* A request has been answered (or dropped). */
static inline void
request_done (struct connection *conn)
{
  atomic_fetch_sub_explicit (&conn->busy, 1, memory_order_release);
}

/* Requests run inline go back on the reader's own free list: no lock. */
static void
put_reader_free (struct worker_pool *pool, struct request *req)
{
  request_recycle (req);
  req->next = pool->reader_free;
  pool->reader_free = req;
}

/* Get a free request, waiting while -t requests are in flight. */
static struct request *
get_free_request (struct worker_pool *pool)
{
  struct request *req = pool->reader_free;

  if (req && (pool->max_in_flight == 0 ||
              __atomic_load_n (&pool->in_flight, __ATOMIC_RELAXED) <
              pool->max_in_flight)) {
    pool->reader_free = req->next;
    return req;
  }

  pthread_mutex_lock (&pool->lock);
  while (pool->max_in_flight > 0 && pool->in_flight >= pool->max_in_flight) {
    pool->reader_waiting = true;
    pthread_cond_wait (&pool->done_cond, &pool->lock);
  }
  pool->reader_waiting = false;
  req = pool->reader_free;
  if (req)
    pool->reader_free = req->next;
  else {
    req = pool->free_list;
    if (req)
      pool->free_list = req->next;
  }
  pthread_mutex_unlock (&pool->lock);

  if (req == NULL) {
    req = calloc (1, sizeof *req);
    if (req == NULL)
      nbdkit_error ("calloc: %m");
  }
  return req;
}

/* Read and validate the next request.  Returns 1 if req holds a request
 * to run and reply to, 0 when the client is done (EOF or DISC), -1 on a
 * fatal error (the connection must be dropped).  If run_inline, the
 * request will be run before the next read, so a write payload may be
 * used straight from the input buffer.
 */
static int
recv_request (struct connection *conn, struct request *req, bool run_inline)
{
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
    if (req->error == 0 && run_inline &&
        (req->data = conn_take_buffered (conn, req->hdr.count)) != NULL)
      return 1;
    if (req->error == 0 && request_reserve (req, req->hdr.count) == -1)
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
    if (request_reserve (req, req->hdr.count) == -1)
      req->error = ENOMEM;
    req->data = req->buf;
  }
  return 1;
}

static inline uint64_t
now_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * UINT64_C (1000000000) + ts.tv_nsec;
}

/* Run a request (not sending the reply), timing the plugin when a
 * pool exists to make use of it (timed says whether to time this one).
 */
static void
handle_request (struct worker_pool *pool, struct request *req, bool timed)
{
  uint64_t t0 = 0;

  if (timed)
    t0 = now_ns ();
  lock_request ();
  protocol_handle_request (pool->conn, req);
  unlock_request ();
  if (timed) {
    uint64_t t = now_ns () - t0;
    uint64_t avg = __atomic_load_n (&pool->service_ns, __ATOMIC_RELAXED);

    /* avg += (t - avg) / 8, with t capped so one stall doesn't stick */
    t = MIN (t, 64 * (uint64_t) INLINE_THRESHOLD_NS);
    avg = avg - avg / 8 + t / 8;
    __atomic_store_n (&pool->service_ns, avg, __ATOMIC_RELAXED);
  }
}

static int
send_reply (struct connection *conn, struct request *req)
{
  struct iovec iov[2];
  int n;

  if (conn_get_status (conn) == STATUS_DEAD)
    return -1;
  n = protocol_prepare_reply (conn, req, iov);
  return conn_send_iov (conn, iov, n);
}

static void
flush_batch (struct worker_pool *pool, struct batch *b)
{
  unsigned i;

  if (b->nr_reqs == 0)
    return;
  if (conn_get_status (pool->conn) != STATUS_DEAD)
    conn_send_iov (pool->conn, b->iov, b->nr_iov);
  for (i = 0; i < b->nr_reqs; ++i) {
    put_reader_free (pool, b->reqs[i]);
    request_done (pool->conn);
  }
  b->nr_reqs = b->nr_iov = 0;
  b->bytes = 0;
}

/* Reply to a request that ran inline: batch the reply while more
 * requests are waiting in the input buffer, else send everything.
 */
static void
reply_inline (struct worker_pool *pool, struct batch *b, struct request *req)
{
  struct connection *conn = pool->conn;
  int n, i;

  n = protocol_prepare_reply (conn, req, &b->iov[b->nr_iov]);
  b->reqs[b->nr_reqs++] = req;
  for (i = 0; i < n; ++i)
    b->bytes += b->iov[b->nr_iov + i].iov_len;
  b->nr_iov += n;

  if (!conn_input_pending (conn) || b->nr_reqs == BATCH_MAX_REQUESTS ||
      b->bytes >= BATCH_MAX_BYTES)
    flush_batch (pool, b);
}

static void *
worker_thread (void *vp)
{
  struct worker_pool *pool = vp;
  struct connection *conn = pool->conn;
  struct request *req;

  thread_state.name = plugin.name;
  thread_state.instance = conn->id;
  thread_state.conn = conn;

  pthread_mutex_lock (&pool->lock);
  for (;;) {
    while (pool->queue_head == NULL && !pool->stopping) {
      pool->nr_idle++;
      pthread_cond_wait (&pool->work_cond, &pool->lock);
      pool->nr_idle--;
    }
    req = pool->queue_head;
    if (req == NULL)
      break;                    /* stopping and nothing left */
    pool->queue_head = req->next;
    if (pool->queue_head == NULL)
      pool->queue_tail = NULL;
    pthread_mutex_unlock (&pool->lock);

    handle_request (pool, req, true);
    send_reply (conn, req);
    request_done (conn);
    request_recycle (req);

    pthread_mutex_lock (&pool->lock);
    req->next = pool->free_list;
    pool->free_list = req;
    __atomic_sub_fetch (&pool->in_flight, 1, __ATOMIC_RELAXED);
    if (pool->reader_waiting)
      pthread_cond_signal (&pool->done_cond);
  }
  pthread_mutex_unlock (&pool->lock);
  return NULL;
}

/* Queue a request for the workers, starting one if none is idle.
 * Returns false if no worker could be started (the caller runs it).
 */
static bool
dispatch (struct worker_pool *pool, struct request *req)
{
  bool ok = true;

  pthread_mutex_lock (&pool->lock);
  if (pool->nr_idle == 0 && pool->nr_workers < pool->max_in_flight) {
    int err = pthread_create (&pool->workers[pool->nr_workers], NULL,
                              worker_thread, pool);
    if (err == 0)
      pool->nr_workers++;
    else if (pool->nr_workers == 0) {
      errno = err;
      nbdkit_error ("pthread_create: %m");
      ok = false;
    }
  }
  if (ok) {
    req->next = NULL;
    if (pool->queue_tail)
      pool->queue_tail->next = req;
    else
      pool->queue_head = req;
    pool->queue_tail = req;
    __atomic_add_fetch (&pool->in_flight, 1, __ATOMIC_RELAXED);
    if (pool->nr_idle > 0)
      pthread_cond_signal (&pool->work_cond);
  }
  pthread_mutex_unlock (&pool->lock);
  return ok;
}

/* Should this request go to a worker? */
static bool
want_dispatch (struct worker_pool *pool)
{
  if (pool->max_in_flight == 0)
    return false;
  return __atomic_load_n (&pool->service_ns, __ATOMIC_RELAXED) >=
    INLINE_THRESHOLD_NS;
}


static void
serve (struct connection *conn, unsigned threads)
{
  struct worker_pool pool = {
    .max_in_flight = threads,
    .service_ns = INITIAL_SERVICE_NS,
    .conn = conn,
  };
  struct batch *batch;
  struct request *req;
  unsigned i;

  batch = calloc (1, sizeof *batch);
  if (batch == NULL) {
    nbdkit_error ("calloc: %m");
    return;
  }
  if (threads > 0) {
    pool.workers = calloc (threads, sizeof *pool.workers);
    if (pool.workers == NULL) {
      nbdkit_error ("calloc: %m");
      free (batch);
      return;
    }
  }
  if (pthread_mutex_init (&pool.lock, NULL) != 0 ||
      pthread_cond_init (&pool.work_cond, NULL) != 0 ||
      pthread_cond_init (&pool.done_cond, NULL) != 0)
    abort ();
  conn->pool = &pool;

  /* Keep going while ACTIVE, and while SHUTDOWN too: then reads return
   * end of input once what the client already sent has been handled.
   */
  while (conn_get_status (conn) >= STATUS_SHUTDOWN) {
    bool to_worker;
    int r;

    /* Never sit on batched replies while waiting for input, or for a
     * worker to free a slot.
     */
    if (!conn_input_pending (conn) ||
        (threads > 0 &&
         __atomic_load_n (&pool.in_flight, __ATOMIC_RELAXED) >= threads))
      flush_batch (&pool, batch);

    /* When the server is quitting, answer what the client has already
     * sent (and we have buffered), but read nothing more.
     */
    if (quit && !conn_input_pending (conn)) {
      debug ("server is shutting down: no more requests");
      break;
    }

    req = get_free_request (&pool);
    if (req == NULL)
      break;
    /* Decide where the request runs before reading it: a write run
     * here can take its payload straight from the input buffer.
     */
    to_worker = want_dispatch (&pool);
    r = recv_request (conn, req, !to_worker);
    if (r != 1) {
      request_free (req);
      break;
    }
    atomic_fetch_add_explicit (&conn->busy, 1, memory_order_acquire);

    if (to_worker) {
      if (dispatch (&pool, req))
        continue;
      /* No worker could be started: run it here after all, with its
       * payload in its own buffer.
       */
    }

    /* Time one inline request in four: enough to follow the plugin. */
    handle_request (&pool, req,
                    threads > 0 && (pool.sample++ & 3) == 0);
    reply_inline (&pool, batch, req);
  }
  flush_batch (&pool, batch);
  free (batch);

  /* Let the workers finish what was read, then stop them. */
  pthread_mutex_lock (&pool.lock);
  pool.stopping = true;
  pthread_cond_broadcast (&pool.work_cond);
  pthread_mutex_unlock (&pool.lock);
  for (i = 0; i < pool.nr_workers; ++i)
    pthread_join (pool.workers[i], NULL);

  while ((req = pool.free_list) != NULL) {
    pool.free_list = req->next;
    request_free (req);
  }
  while ((req = pool.reader_free) != NULL) {
    pool.reader_free = req->next;
    request_free (req);
  }
  conn->pool = NULL;
  pthread_cond_destroy (&pool.done_cond);
  pthread_cond_destroy (&pool.work_cond);
  pthread_mutex_destroy (&pool.lock);
  free (pool.workers);
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
    serve (conn, 0);
  }

  if (conn_get_status (conn) == STATUS_ACTIVE)
    conn_set_status (conn, STATUS_CLIENT_DONE);
}
