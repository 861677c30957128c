/* internal.h: the one internal header of the server.
 *
 * Prototypes are grouped by the file that defines them.  Nothing here is
 * visible to plugins: the server exports only the nbdkit_* functions
 * listed in nbdkit.syms.
 */

#ifndef NBDKIT_INTERNAL_H
#define NBDKIT_INTERNAL_H

#include <stdarg.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <pthread.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <signal.h>
#include <time.h>

#define NBDKIT_API_VERSION 2
#include "nbdkit-plugin.h"

#include "nbd-protocol.h"

#define container_of(ptr, type, member) \
  ((type *) ((char *) (ptr) - offsetof (type, member)))

#define ARRAY_SIZE(a) (sizeof (a) / sizeof ((a)[0]))

#ifndef MIN
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#endif
#ifndef MAX
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#endif

#define likely(x)   __builtin_expect (!!(x), 1)
#define unlikely(x) __builtin_expect (!!(x), 0)

/* CLOCK_MONOTONIC in nanoseconds (a vDSO call, no syscall). */
static inline uint64_t
now_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * UINT64_C (1000000000) + ts.tv_nsec;
}

/* Largest READ/WRITE payload we accept (bigger ones get ENOMEM), and
 * the largest option payload in the handshake.
 */
#define MAX_REQUEST_SIZE (64 * 1024 * 1024)
#define MAX_OPTION_LENGTH (64 * 1024 * 1024)
#define MAX_NR_OPTIONS 32
#define DEFAULT_PARALLEL_REQUESTS 16

/* Scoped cleanup helpers. */
#define CLEANUP_FREE __attribute__ ((cleanup (cleanup_free)))
void cleanup_free (void *ptr);
#define ACQUIRE_LOCK_FOR_CURRENT_SCOPE(mutex)                           \
  pthread_mutex_t *_lock_ ## __LINE__                                   \
    __attribute__ ((cleanup (cleanup_unlock))) = (mutex);               \
  do { int _r = pthread_mutex_lock (_lock_ ## __LINE__);                \
       if (_r) abort (); } while (0)
void cleanup_unlock (pthread_mutex_t **ptr);

/* A growable array of strings (NULL-free, owned). */
struct string_vector {
  char **ptr;
  size_t len, cap;
};
int string_vector_append (struct string_vector *v, char *s);
void string_vector_free_all (struct string_vector *v);

/* ------------------------------------------------------------------
 * options.c / main.c: global configuration from the command line.
 */
#define MAX_FILTERS 64
enum log_to { LOG_TO_DEFAULT, LOG_TO_STDERR, LOG_TO_SYSLOG, LOG_TO_NULL };

struct config {
  bool foreground;              /* -f */
  bool readonly;                /* -r */
  bool verbose;                 /* -v */
  bool single;                  /* -s: serve stdin/stdout */
  bool oldstyle;                /* -o */
  bool ipv4_only, ipv6_only;    /* -4, -6 */
  bool no_sr;                   /* --no-sr */
  bool exit_with_parent;
  bool dump_plugin;
  bool swap;
  bool is_socket_activation;    /* LISTEN_FDS was set */
  unsigned mask_handshake;      /* --mask-handshake */
  unsigned threads;             /* -t, 0 = default */
  enum log_to log_to;
  const char *port;             /* -p */
  const char *ipaddr;           /* -i */
  const char *unixsocket;       /* -U, after "-" resolution */
  char *unixsocket_tmpdir;      /* set if -U - created a temporary dir */
  const char *run;              /* --run */
  const char *pidfile;          /* -P */
  const char *exportname;       /* -e */
  const char *user, *group;     /* -u, -g */
  const char *selinux_label;
  int tls;                      /* 0 = off (TLS is not implemented yet) */
  unsigned listen_fds;          /* socket activation: number of fds */
  const char *filters[MAX_FILTERS]; /* --filter, outermost first */
  size_t nr_filters;
};
extern struct config config;

/* What main should do besides serving. */
struct startup_actions {
  bool help, version, dump_config;
  int plugin_index;             /* argv index of the plugin, or argc */
};
void parse_options (int argc, char *argv[], struct startup_actions *actions);
void check_option_combinations (bool have_plugin);

/* Thread model actually in force (the strictest of everything). */
extern int thread_model;

const char *name_of_thread_model (int model);

/* ------------------------------------------------------------------
 * threadlocal.c: per-thread state.
 */
struct connection;
struct thread_state {
  const char *name;             /* log prefix, eg. plugin name */
  uint64_t instance;            /* connection number, 0 = none */
  int error;                    /* set by nbdkit_set_error */
  struct connection *conn;      /* connection being served, or NULL */
};
extern __thread struct thread_state thread_state;

static inline struct connection *
threadlocal_get_conn (void)
{
  return thread_state.conn;
}

static inline void
threadlocal_set_error (int err)
{
  thread_state.error = err;
}

static inline int
threadlocal_get_error (void)
{
  return thread_state.error;
}

/* ------------------------------------------------------------------
 * log.c: error and debug output.
 */
void log_init (void);           /* after options are parsed */
void log_daemonized (void);     /* after forking into the background */
void log_verror (const char *fmt, va_list args);
void debug_verror (const char *fmt, va_list args);
/* Server-internal debug message, printed only with -v. */
void debug (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));
/* Fatal error during startup: print and exit (EXIT_FAILURE). */
void fatal (const char *fmt, ...)
  __attribute__ ((format (printf, 1, 2), noreturn));

/* ------------------------------------------------------------------
 * debugflags.c: -D PLUGIN.FLAG=N
 */
void add_debug_flag (const char *arg);
void apply_debug_flags (void *dl, const char *name);
void free_debug_flags (void);

/* ------------------------------------------------------------------
 * quit.c: orderly shutdown.
 */
/* Set once, by a signal handler or any thread (lock-free, so safe in
 * a handler); read by every thread.
 */
extern _Atomic bool quit;
extern int quit_fd;             /* readable once quit is set */
void set_up_quit_pipe (void);
void close_quit_pipe (void);
void handle_quit (int sig);     /* async-signal-safe */
void set_up_signals (void);

/* ------------------------------------------------------------------
 * The server is a stack of layers: filters on top of one plugin.  Each
 * layer is a struct backend (backend.h-style vtable, filled in by the
 * plugin adapter in plugins.c/plugin-ops.c or the filter adapter in
 * filters.c).  Each connection opens one struct context per layer;
 * the client's requests go to the top context, and each filter reaches
 * the layer below through its context's next pointer.
 */
struct nbdkit_exports;
struct nbdkit_extents;
struct context;

struct backend {
  struct backend *next;         /* the layer below; NULL for the plugin */
  size_t index;                 /* 0 for the plugin, then 1, 2, ... up */
  const char *type;             /* "plugin" or "filter" */
  const char *name;
  char *filename;
  void *dl;

  /* Start-up and shutdown.  These exit on failure, as nbdkit does. */
  void (*unload) (struct backend *);
  void (*usage) (struct backend *);
  void (*version) (struct backend *);
  void (*dump_fields) (struct backend *);
  void (*config) (struct backend *, const char *key, const char *value);
  void (*config_complete) (struct backend *);
  const char *(*magic_config_key) (struct backend *);
  int (*thread_model) (struct backend *);
  void (*get_ready) (struct backend *);
  void (*after_fork) (struct backend *);
  void (*cleanup) (struct backend *);

  /* Connection phase. */
  int (*preconnect) (struct backend *, int readonly);
  int (*list_exports) (struct backend *, int readonly, int is_tls,
                       struct nbdkit_exports *exports);
  const char *(*default_export) (struct backend *, int readonly, int is_tls);
  void *(*open) (struct context *, int readonly, const char *exportname,
                 int is_tls);
  int (*prepare) (struct context *, int readonly);
  int (*finalize) (struct context *);
  void (*close) (struct context *);

  int64_t (*get_size) (struct context *);
  const char *(*export_description) (struct context *);
  int (*block_size) (struct context *, uint32_t *minimum,
                     uint32_t *preferred, uint32_t *maximum);
  int (*can_write) (struct context *);
  int (*can_flush) (struct context *);
  int (*is_rotational) (struct context *);
  int (*can_trim) (struct context *);
  int (*can_zero) (struct context *);
  int (*can_fast_zero) (struct context *);
  int (*can_extents) (struct context *);
  int (*can_fua) (struct context *);
  int (*can_multi_conn) (struct context *);
  int (*can_cache) (struct context *);

  int (*pread) (struct context *, void *buf, uint32_t count,
                uint64_t offset, uint32_t flags, int *err);
  int (*pwrite) (struct context *, const void *buf, uint32_t count,
                 uint64_t offset, uint32_t flags, int *err);
  int (*flush) (struct context *, uint32_t flags, int *err);
  int (*trim) (struct context *, uint32_t count, uint64_t offset,
               uint32_t flags, int *err);
  int (*zero) (struct context *, uint32_t count, uint64_t offset,
               uint32_t flags, int *err);
  int (*extents) (struct context *, uint32_t count, uint64_t offset,
                  uint32_t flags, struct nbdkit_extents *extents, int *err);
  int (*cache) (struct context *, uint32_t count, uint64_t offset,
                uint32_t flags, int *err);
};

/* The top of the stack (the outermost filter, or the plugin), and the
 * number of layers.
 */
extern struct backend *top;
extern size_t nr_layers;

/* The plugin's name: the prefix of messages from connection threads,
 * as in nbdkit.
 */
static inline const char *
plugin_name (void)
{
  struct backend *b = top;

  while (b->next)
    b = b->next;
  return b->name;
}

#define NBDKIT_INTERNAL
#include "nbdkit-filter.h"

/* One layer's state for one connection (or, for a context a filter
 * opened as shared, for no connection in particular).
 */
enum context_state {
  CONTEXT_OPEN = 1,             /* .open succeeded */
  CONTEXT_PREPARED = 2,         /* .prepare succeeded */
  CONTEXT_FAILED = 4,           /* .finalize failed */
};

struct context {
  /* First, so that a struct context * is the nbdkit_next * a filter
   * calls through: next->pread (next, ...).
   */
  struct nbdkit_next_ops next_ops;

  struct backend *b;
  void *handle;                 /* what this layer's .open returned */
  struct context *c_next;       /* the layer below, or NULL */
  struct connection *conn;      /* NULL for a shared context */
  unsigned state;               /* enum context_state bits */

  /* Answers cached at first use: -1 = not asked yet. */
  int64_t exportsize;
  int can_write, can_flush, is_rotational, can_trim, can_zero,
    can_fast_zero, can_fua, can_multi_conn, can_cache, can_extents;
  bool block_size_known;
  uint32_t block_minimum, block_preferred, block_maximum;
  bool description_known;
  const char *description;
};

/* find.c: the file a PLUGIN or FILTER argument names: a path as given,
 * or a short name searched in $env's directories and then in dir.
 * is_script (plugins only; NULL for filters) is set if an executable
 * nbdkit-NAME-KIND script was found rather than a .so.
 */
char *find_layer (const char *arg, const char *kind, const char *env,
                  const char *dir, bool *is_script);
/* ASCII letters, digits and non-leading dashes. */
bool is_valid_layer_name (const char *name);

/* plugins.c: loading the plugin. */
char *plugin_find (const char *arg, bool *is_script);
/* Load and register the plugin (calls .load).  Exits on failure. */
struct backend *plugin_register (const char *arg, char *filename);
/* filters.c: load and register one filter on top of next. */
struct backend *filter_register (struct backend *next, const char *arg);
const char *name_of_thread_model (int model);

/* backend.c: the generic layer.  Every call into a layer during
 * serving goes through these: they keep the per-context cache of
 * get_size/can_*, check what the caller asks (a filter asking the
 * layer below for something out of range gets EINVAL, not a crash),
 * supply what every layer shares (zeroing by writing zeroes, caching
 * by reading, a single data extent without extents support), and log
 * with -v.  Data functions return 0 or -1 with *err set.
 */
int backend_preconnect (struct backend *b, int readonly);
int backend_list_exports (struct backend *b, int readonly,
                          struct nbdkit_exports *exports);
/* The canonical name of the default export at this layer (asked once
 * per connection), or NULL if it refuses the default export.
 */
const char *backend_default_export (struct backend *b, int readonly);
/* Open a context on b (resolving "" to the default export first).
 * shared: not tied to the current connection.
 */
struct context *backend_open (struct backend *b, int readonly,
                              const char *exportname, bool shared);
int backend_prepare (struct context *c);
int backend_finalize (struct context *c);
void backend_close (struct context *c);
bool backend_valid_range (struct context *c, uint64_t offset,
                          uint64_t count);

int64_t backend_get_size (struct context *c);
const char *backend_export_description (struct context *c);
int backend_block_size (struct context *c, uint32_t *minimum,
                        uint32_t *preferred, uint32_t *maximum);
int backend_can_write (struct context *c);
int backend_can_flush (struct context *c);
int backend_is_rotational (struct context *c);
int backend_can_trim (struct context *c);
int backend_can_zero (struct context *c);
int backend_can_fast_zero (struct context *c);
int backend_can_extents (struct context *c);
int backend_can_fua (struct context *c);
int backend_can_multi_conn (struct context *c);
int backend_can_cache (struct context *c);

int backend_pread (struct context *c, void *buf, uint32_t count,
                   uint64_t offset, uint32_t flags, int *err);
int backend_pwrite (struct context *c, const void *buf, uint32_t count,
                    uint64_t offset, uint32_t flags, int *err);
int backend_flush (struct context *c, uint32_t flags, int *err);
int backend_trim (struct context *c, uint32_t count, uint64_t offset,
                  uint32_t flags, int *err);
int backend_zero (struct context *c, uint32_t count, uint64_t offset,
                  uint32_t flags, int *err);
int backend_extents (struct context *c, uint32_t count, uint64_t offset,
                     uint32_t flags, struct nbdkit_extents *extents,
                     int *err);
int backend_cache (struct context *c, uint32_t count, uint64_t offset,
                   uint32_t flags, int *err);
/* The hot path for the client's own reads and writes, which
 * protocol_validate_request already checked against c: the same as
 * backend_pread/pwrite minus the checks that guard filters' calls
 * (with -v, the full functions run, for their messages).
 */
static inline int
backend_pread_valid (struct context *c, void *buf, uint32_t count,
                     uint64_t offset, int *err)
{
  int r;

  if (unlikely (config.verbose))
    return backend_pread (c, buf, count, offset, 0, err);
  *err = 0;
  r = c->b->pread (c, buf, count, offset, 0, err);
  if (unlikely (r == -1) && *err == 0)
    *err = EIO;
  return r;
}

static inline int
backend_pwrite_valid (struct context *c, const void *buf, uint32_t count,
                      uint64_t offset, uint32_t flags, int *err)
{
  int r;

  if (unlikely (config.verbose))
    return backend_pwrite (c, buf, count, offset, flags, err);
  *err = 0;
  r = c->b->pwrite (c, buf, count, offset, flags, err);
  if (unlikely (r == -1) && *err == 0)
    *err = EIO;
  return r;
}

/* Zeroing by writing zeroes through c's own .pwrite (for layers that
 * answered can_zero EMULATE, and for plugins whose .zero gave up).
 */
int backend_emulate_zero (struct context *c, uint32_t count,
                          uint64_t offset, uint32_t flags, int *err);

/* -D nbdkit.backend.controlpath=0 silences the per-connection
 * callback messages.
 */
#define controlpath_debug(fmt, ...)                                     \
  do {                                                                  \
    if (nbdkit_debug_backend_controlpath)                               \
      debug (fmt, ##__VA_ARGS__);                                       \
  } while (0)

/* ------------------------------------------------------------------
 * locks.c: the thread model, as locks.
 */
void lock_init_thread_model (void);
void lock_connection (void);            /* SERIALIZE_CONNECTIONS */
void unlock_connection (void);
void lock_request (void);               /* SERIALIZE_ALL_REQUESTS */
void unlock_request (void);

/* ------------------------------------------------------------------
 * extents.c: struct nbdkit_extents (exported functions are in the
 * same file).
 */
/* Keep only what a reply ending at reply_end can use, and at most
 * max_count extents (see extents.c).
 */
void extents_limit (struct nbdkit_extents *, uint64_t reply_end,
                    size_t max_count);
/* Most descriptors one BLOCK_STATUS reply carries (the protocol asks
 * for at most 2^20; far fewer keeps the memory and work one request can
 * cause small, and the client simply asks again for the rest).
 */
#define MAX_REPLY_DESCRIPTORS 65536

/* ------------------------------------------------------------------
 * exports.c: struct nbdkit_exports.
 */
/* True if nbdkit_use_default_export was called: the server then
 * substitutes the default export name.
 */
bool exports_wants_default (const struct nbdkit_exports *);

/* ------------------------------------------------------------------
 * public.c, public-parse.c, intern.c: exported helpers that need
 * server state.
 */
/* Free strings interned outside any connection (at unload). */
void free_interns (void);
/* Set while .config/.config_complete/.get_ready run, so that
 * nbdkit_stdio_safe and nbdkit_absolute_path behave as documented.
 */
extern bool in_configuration_phase;

/* ------------------------------------------------------------------
 * debugflags.c: exported server debug flags (-D nbdkit.FLAG=N).
 */
extern int nbdkit_debug_backend_controlpath;
extern int nbdkit_debug_backend_datapath;
extern int nbdkit_debug_tls_log;
extern int nbdkit_debug_tls_session;

/* ------------------------------------------------------------------
 * connections.c: one struct connection per client.
 */
enum conn_status {
  STATUS_DEAD = 0,              /* socket error: stop everything */
  STATUS_CLIENT_DONE,           /* client sent DISC or EOF: finish */
  STATUS_SHUTDOWN,              /* server is exiting: finish */
  STATUS_ACTIVE,
};

struct request;
struct crew;

struct connection {
  uint64_t id;                  /* instance number, from 1 */
  int sockin, sockout;          /* equal except with -s */
  bool is_socket;               /* false for -s on pipes */
  int family;                   /* AF_UNIX, AF_INET, AF_INET6, or 0 */
  _Atomic int status;           /* enum conn_status */

  /* Wakes nbdkit_nanosleep on nbdkit_disconnect: an eventfd, made by
   * the first nbdkit_nanosleep of the connection (-1 until then), so
   * that a connection costs one file descriptor, not three.
   */
  _Atomic int disconnect_efd;

  /* Receive buffer.  Only the thread holding the read role (see
   * requests.c) touches it.
   */
  char *rbuf;
  size_t rbuf_size, rbuf_start, rbuf_end;
  /* Once the server is quitting: how many more bytes may be taken from
   * the socket (what had arrived when the reader noticed), -1 before.
   */
  int64_t drain_left;
  /* The reader is in (or about to enter) a blocking read. */
  _Atomic bool in_read;
  /* Requests read and not yet answered. */
  _Atomic unsigned busy;
  /* Adaptive spin before a blocking read (connections.c). */
  uint32_t spin_budget_ns;
  uint32_t spin_misses;

  /* Serializes replies.  Lock order: (request lock) -> write_lock. */
  pthread_mutex_t write_lock;
  /* Replies started and finished, for spotting a writer that a client
   * which no longer reads keeps blocked at shutdown.
   */
  _Atomic uint64_t writes_started, writes_done;
  /* With nbdkit_disconnect(0): fail new requests with ESHUTDOWN. */
  _Atomic bool soft_disconnect;

  /* Negotiated in the handshake. */
  bool fixed_newstyle;
  bool no_zeroes;
  bool structured_replies;
  bool meta_base_allocation;    /* SET_META_CONTEXT base:allocation */
  char *meta_exportname;        /* export that contexts were set for */
  char *exportname;             /* canonical export name (after default) */
  /* The name the plugin was opened with (nbdkit_export_name), which a
   * filter may have changed; NULL before the plugin is opened.
   */
  char *plugin_exportname;
  /* Each layer's .default_export answer, asked at most once per
   * connection: nr_layers entries, NULL until asked.
   */
  struct default_export *default_exports;
  bool using_tls;
  uint16_t eflags;

  /* The top layer's context while an export is open, else NULL.  Its
   * cached answers are what requests are checked against.
   */
  struct context *top;

  /* Strings interned during this connection. */
  struct string_vector interned;

  /* The threads serving requests (requests.c), while serving. */
  struct crew *crew;

  /* For the list of live connections (used at shutdown). */
  struct connection *next, *prev;
};

struct default_export {
  bool known;
  char *name;                   /* NULL: the layer refuses "" */
};

/* Serve one client on the given fds; returns when it is done. */
void handle_single_connection (int sockin, int sockout);
/* The same, on a new detached thread (counted for connections_shutdown_all). */
void start_connection_thread (int sockin, int sockout);
/* When quitting: let every connection answer the requests that had
 * arrived, then end; wait until none is left.
 */
void connections_shutdown_all (void);

/* Read exactly count bytes (handshake and requests).  Returns 1 on
 * success, 0 on clean EOF before any byte, -1 on error/short read.
 */
int conn_recv_full (struct connection *conn, void *buf, size_t count);
/* Discard count bytes of input. */
int conn_recv_discard (struct connection *conn, uint64_t count);
/* True if input is already buffered (more requests are queued up). */
bool conn_input_pending (struct connection *conn);
/* A request was read / its reply was sent (or dropped).  At shutdown
 * the last reply wakes a reader blocked on an idle client.
 */
static inline void
conn_request_started (struct connection *conn)
{
  atomic_fetch_add_explicit (&conn->busy, 1, memory_order_relaxed);
}
void conn_wake_idle_reader (struct connection *conn);
static inline void
conn_requests_done (struct connection *conn, unsigned n)
{
  /* seq_cst: pairs with the main thread's store of quit and load of
   * busy, so that one of the two sees the other.
   */
  if (atomic_fetch_sub (&conn->busy, n) == n && unlikely (quit))
    conn_wake_idle_reader (conn);
}
/* Wait up to timeout_ms for input (or end of input) on an idle
 * connection.  Returns true if a read would not block, false on
 * timeout.
 */
bool conn_wait_input (struct connection *conn, int timeout_ms);
/* If the next count bytes of input are all buffered, consume them and
 * return a pointer to them, valid until the next read from the
 * connection; else NULL.
 */
void *conn_take_buffered (struct connection *conn, size_t count);
/* Send all of iov (which may be modified) under the write lock.
 * Returns 0 or -1 (and marks the connection dead).
 */
int conn_send_iov (struct connection *conn, struct iovec *iov, int iovcnt);
int conn_send_full (struct connection *conn, const void *buf, size_t count);
void conn_set_status (struct connection *conn, enum conn_status status);
/* nbdkit_disconnect: force = drop the client now; otherwise new
 * requests fail with ESHUTDOWN and the client is expected to leave.
 * Also wakes any nbdkit_nanosleep on this connection.
 */
void conn_disconnect (struct connection *conn, bool force);
/* The eventfd that conn_disconnect signals (made on first use), or -1
 * if it cannot be made.
 */
int conn_disconnect_fd (struct connection *conn);
static inline enum conn_status
conn_get_status (struct connection *conn)
{
  return atomic_load_explicit (&conn->status, memory_order_acquire);
}

/* ------------------------------------------------------------------
 * handshake.c, handshake-oldstyle.c, handshake-newstyle.c
 * Return 0 when transmission can start, -1 to drop the connection.
 */
int protocol_handshake (struct connection *conn);
int protocol_handshake_oldstyle (struct connection *conn);
int protocol_handshake_newstyle (struct connection *conn);
/* Open the plugin for the (canonical) export name and compute eflags;
 * shared by EXPORT_NAME, INFO and GO.
 */
int protocol_common_open (struct connection *conn, const char *exportname,
                          uint64_t *exportsize, uint16_t *eflags);
/* Finalize and close it (after NBD_OPT_INFO, or a failure).  Returns -1
 * if .finalize failed: drop the connection.
 */
int protocol_common_close (struct connection *conn);

/* ------------------------------------------------------------------
 * protocol.c, reply.c: transmission phase.
 */
struct request {
  struct nbd_request hdr;       /* host byte order */
  /* The write payload or read data.  Usually data == buf, the request's
   * own buffer; for a write run inline whose payload is already whole in
   * the connection's input buffer, data points there instead (no copy).
   */
  void *data;
  void *buf;                    /* owned buffer */
  size_t buf_size;              /* allocated size of buf */
  uint32_t error;               /* errno value, 0 = success */
  struct nbdkit_extents *extents; /* BLOCK_STATUS result */
  /* The reply, prepared by protocol_prepare_reply: a header stored
   * here and an optional second piece (read data or block status
   * descriptors, the latter malloc'd in reply_extra).
   */
  char reply_hdr[32];
  void *reply_extra;
  struct request *next;         /* free list / queue link */
};

/* requests.c: serve requests until the connection ends. */
void protocol_serve (struct connection *conn);
/* protocol.c: check a request against what was negotiated; returns 0
 * or the errno to reply with.
 */
uint32_t protocol_validate_request (struct connection *conn,
                                    const struct nbd_request *req);
/* Run one (valid) request; does not send the reply. */
void protocol_handle_request (struct connection *conn, struct request *req);
const char *name_of_nbd_cmd (unsigned cmd);
/* reply.c: fill iov (at most 2 entries) with the reply to a handled
 * request; returns the number of entries.  The iovecs point into req,
 * which must stay alive until they are sent.
 */
int protocol_prepare_reply (struct connection *conn, struct request *req,
                            struct iovec *iov);
/* Release what protocol_prepare_reply allocated. */
void protocol_release_reply (struct request *req);
uint32_t nbd_errno (int err, uint16_t flags);

/* ------------------------------------------------------------------
 * sockets.c, socket-activation.c
 */
int *bind_unix_socket (size_t *nr);
int *bind_tcpip_socket (size_t *nr);
int *bind_socket_activation (size_t *nr);
unsigned get_socket_activation (void);  /* reads LISTEN_PID/LISTEN_FDS */
void accept_incoming_connections (int *socks, size_t nr);
/* The port actually bound (for --run with -p 0), as a string. */
extern char bound_port[16];

/* ------------------------------------------------------------------
 * captive.c, background.c, usergroup.c
 */
void run_command (void);        /* --run: fork, parent runs the command */
void fork_into_background (void);
void change_user (void);
void write_pidfile (void);

/* ------------------------------------------------------------------
 * utils.c: client-supplied strings in log messages.
 *
 * Anything read from the wire (export names, context names) goes
 * through log_escape before it is put in a debug or error message, so
 * a client cannot forge log lines or send control sequences to the
 * terminal reading the log.  Plugins still see the raw string.
 * Returns a malloc'd string (free it, e.g. with CLEANUP_FREE), or NULL
 * if out of memory; LOG_STR turns that NULL into a placeholder.
 */
char *log_escape (const char *s, size_t len);
#define LOG_STR(escaped) ((escaped) ? (escaped) : "(out of memory)")

/* utils.c: start fn(arg) on a new detached thread.  Returns 0, or -1
 * with errno set.
 */
int start_detached_thread (void *(*fn) (void *), void *arg);

#endif /* NBDKIT_INTERNAL_H */
