/* requests.c: the transmission phase of one connection.
 *
 * The connection thread is the only reader of the socket.  For each
 * request it reads the header (and a write's payload), validates it,
 * and then either runs it itself or hands it to a worker thread:
 *
 *   - Under every thread model except PARALLEL (and with -t 1) it runs
 *     every request itself, in order.
 *
 *   - Under PARALLEL it runs a request itself only when it is alone:
 *     nothing else in flight and no further input already buffered.
 *     That is the queue-depth-1 case, where handing the request to
 *     another thread would only add a wake-up to its latency.  As soon
 *     as requests queue up -- more input is buffered, or workers are
 *     busy -- requests go to a pool of worker threads, started lazily,
 *     up to -t of them, and the reader goes straight back to reading.
 *     Replies then go out in completion order.
 *
 * Requests and their data buffers are recycled through a free list,
 * so the steady state does no malloc per request.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <endian.h>

#include "internal.h"

/* Data buffers up to this size are kept with a recycled request. */
#define RETAIN_BUF_SIZE (4 * 1024 * 1024)

struct worker_pool {
  pthread_mutex_t lock;
  pthread_cond_t work_cond;     /* workers wait here for work */
  pthread_cond_t done_cond;     /* the reader waits here for a slot */
  struct request *queue_head, *queue_tail;
  struct request *free_list;
  unsigned max_in_flight;       /* -t */
  unsigned in_flight;           /* queued + running on workers; changed
                                 * under lock, read without it (atomics) */
  unsigned nr_workers, nr_idle;
  bool reader_waiting;
  bool stopping;
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

/* Read and validate the next request.  Returns 1 if req holds a request
 * to run and reply to, 0 when the client is done (EOF or DISC), -1 on a
 * fatal error (the connection must be dropped).
 */
static int
recv_request (struct connection *conn, struct request *req)
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
    if (req->error == 0 && request_reserve (req, req->hdr.count) == -1)
      req->error = ENOMEM;
    if (req->error) {
      /* Stay in sync with the client by skipping the payload, unless it
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
  }
  return 1;
}

/* Run a request and send its reply. */
static void
run_request (struct connection *conn, struct request *req)
{
  lock_request ();
  protocol_handle_request (conn, req);
  unlock_request ();
  if (conn_get_status (conn) != STATUS_DEAD)
    protocol_send_reply (conn, req);
}

/* The serial loop: every thread model but PARALLEL, and -t 1. */
static void
serve_serially (struct connection *conn)
{
  struct request *req = calloc (1, sizeof *req);

  if (req == NULL) {
    nbdkit_error ("calloc: %m");
    return;
  }
  /* Keep going while ACTIVE, and while SHUTDOWN too: then reads return
   * end of input once what the client already sent has been handled.
   */
  while (conn_get_status (conn) >= STATUS_SHUTDOWN) {
    if (recv_request (conn, req) != 1)
      break;
    run_request (conn, req);
    request_recycle (req);
  }
  request_free (req);
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

    run_request (conn, req);
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

/* Queue a request for the workers, starting one if none is idle. */
static void
dispatch (struct worker_pool *pool, struct request *req)
{
  pthread_mutex_lock (&pool->lock);
  req->next = NULL;
  if (pool->queue_tail)
    pool->queue_tail->next = req;
  else
    pool->queue_head = req;
  pool->queue_tail = req;
  __atomic_add_fetch (&pool->in_flight, 1, __ATOMIC_RELAXED);

  if (pool->nr_idle > 0)
    pthread_cond_signal (&pool->work_cond);
  else if (pool->nr_workers < pool->max_in_flight) {
    int err = pthread_create (&pool->workers[pool->nr_workers], NULL,
                              worker_thread, pool);
    if (err == 0)
      pool->nr_workers++;
    else if (pool->nr_workers == 0) {
      /* No worker at all: the request would never run.  Run it here. */
      errno = err;
      nbdkit_error ("pthread_create: %m");
      pool->queue_head = pool->queue_tail = NULL;
      __atomic_sub_fetch (&pool->in_flight, 1, __ATOMIC_RELAXED);
      pthread_mutex_unlock (&pool->lock);
      run_request (pool->conn, req);
      request_recycle (req);
      pthread_mutex_lock (&pool->lock);
      req->next = pool->free_list;
      pool->free_list = req;
    }
  }
  pthread_mutex_unlock (&pool->lock);
}

/* Get a free request, waiting while -t requests are in flight. */
static struct request *
get_free_request (struct worker_pool *pool)
{
  struct request *req;

  pthread_mutex_lock (&pool->lock);
  while (pool->in_flight >= pool->max_in_flight) {
    pool->reader_waiting = true;
    pthread_cond_wait (&pool->done_cond, &pool->lock);
  }
  pool->reader_waiting = false;
  req = pool->free_list;
  if (req)
    pool->free_list = req->next;
  pthread_mutex_unlock (&pool->lock);

  if (req == NULL)
    req = calloc (1, sizeof *req);
  return req;
}

static void
serve_in_parallel (struct connection *conn, unsigned threads)
{
  struct worker_pool pool = {
    .max_in_flight = threads,
    .conn = conn,
  };
  struct request *req;
  unsigned i;

  pool.workers = calloc (threads, sizeof *pool.workers);
  if (pool.workers == NULL) {
    nbdkit_error ("calloc: %m");
    return;
  }
  if (pthread_mutex_init (&pool.lock, NULL) != 0 ||
      pthread_cond_init (&pool.work_cond, NULL) != 0 ||
      pthread_cond_init (&pool.done_cond, NULL) != 0)
    abort ();
  conn->pool = &pool;

  while (conn_get_status (conn) >= STATUS_SHUTDOWN) {
    bool queued_up;
    int r;

    req = get_free_request (&pool);
    if (req == NULL) {
      nbdkit_error ("calloc: %m");
      break;
    }
    r = recv_request (conn, req);
    if (r != 1) {
      request_free (req);
      break;
    }

    /* in_flight is only increased by this thread, so a stale read can
     * only make us dispatch a request that could have run here.
     */
    queued_up = conn_input_pending (conn) ||
      __atomic_load_n (&pool.in_flight, __ATOMIC_RELAXED) > 0;
    if (queued_up)
      dispatch (&pool, req);
    else {
      run_request (conn, req);
      request_recycle (req);
      pthread_mutex_lock (&pool.lock);
      req->next = pool.free_list;
      pool.free_list = req;
      pthread_mutex_unlock (&pool.lock);
    }
  }

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
    serve_in_parallel (conn, threads);
  }
  else {
    debug ("handshake complete, processing requests serially");
    serve_serially (conn);
  }

  /* Whatever ended the loop, the client gets no more replies after
   * this point; record why for the debug log.
   */
  if (conn_get_status (conn) == STATUS_ACTIVE)
    conn_set_status (conn, STATUS_CLIENT_DONE);
}
