/* fuzz-server.c: feed arbitrary bytes to the server's connection code.
 *
 * The input is a 4-byte configuration header followed by what a client
 * sends.  The client bytes are written into one end of a socketpair
 * and the server serves the other end through the real handshake and
 * request loop (handle_single_connection), against a small plugin
 * compiled into this program.  Whatever the input, the server must not
 * crash, hang, leak or touch memory it does not own.
 *
 * The header chooses how the server is configured and how the plugin
 * behaves, so that one target reaches every branch of the handshake and
 * of request validation (a read-only export, no FUA, a huge export, a
 * plugin that fails, ...).  A missing header byte counts as 0, and the
 * all-zero header is the plain case: newstyle, read-write, structured
 * replies allowed, requests run inline, a 1 MiB export with every
 * feature.  Bit by bit (see fuzz/README.md for the same table):
 *
 *   byte 0 (server)   bit 0     oldstyle handshake (-o)
 *                     bit 1     read-only (-r)
 *                     bit 2     --no-sr
 *                     bits 3-4  --mask-handshake = 3 XOR value
 *                     bits 5-6  0: parallel, -t 1 (requests inline)
 *                               1: parallel, -t 4 (worker threads)
 *                               2: serialize_connections
 *                               3: serialize_all_requests
 *                     bit 7     -v, and errors logged (to /dev/null)
 *   byte 1 (plugin)   bits 0-1  size: 1 MiB, 0, 1 MiB - 1000, 8 TiB
 *                     bits 2-3  can_fua: absent, NONE, EMULATE, NATIVE
 *                     bits 4-5  cache: can_cache NATIVE, can_cache
 *                               EMULATE, .cache only, none
 *                     bit 6     no .zero (zeroing emulated by pwrite)
 *                     bit 7     no .can_fast_zero (default answer)
 *   byte 2 (plugin)   bits 0-1  extents: 64 KiB data/hole, 512-byte
 *                               runs, 5 GiB runs (longer than a
 *                               descriptor can say), 4 KiB runs of all
 *                               types in pairs (so they merge) with
 *                               junk bits, REQ_ONE ignored
 *                     bit 2     no .extents
 *                     bit 3     no .trim
 *                     bit 4     no .flush
 *                     bit 5     no .block_size
 *                     bit 6     .default_export names "canonical"
 *                     bit 7     API version 1 data callbacks
 *   byte 3 (faults)   bits 0-2  the error callbacks report: EIO, ENOSPC,
 *                               ENOTSUP, EOVERFLOW, EROFS, ESHUTDOWN,
 *                               ENOMEM, or only errno (EPERM) with
 *                               errno_is_preserved
 *                     bit 3     data callbacks fail when bit 9 of the
 *                               offset is set (flush: every 2nd call)
 *                     bit 4     .extents misbehaves when bit 10 of the
 *                               offset is set (bits 11-12 say how)
 *                     bits 5-6  1: .preconnect fails; 2: one step of
 *                               opening the export fails, chosen by the
 *                               first byte of the export name (see
 *                               open_step); 3: .list_exports fails,
 *                               .block_size gives invalid sizes, names
 *                               and descriptions are too long
 *                     bit 7     pread/pwrite with bit 11 of the offset
 *                               set call nbdkit_shutdown (bit 12 set)
 *                               or nbdkit_disconnect (bit 13: force)
 *
 * Server replies go to /dev/null: nothing reads them, and a write can
 * never block.  Every execution starts from the same state (the plugin
 * and the configuration are rebuilt, `quit' is cleared) and frees what
 * it allocated, so the target is leak-free per input and deterministic
 * except where threads and timing decide (the parallel model's extra
 * threads, the server's watchdog).
 *
 * Built two ways (see meson.build):
 *   - with -Dfuzzing=true and CC=clang: a libFuzzer target (see
 *     fuzz/README.md and fuzz/run-campaign.sh);
 *   - otherwise: a replay program that runs each file, or each file in
 *     each directory, given on the command line once; the test suite
 *     replays fuzz/corpus (under the sanitizers in the ASan build).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <dirent.h>
#include <pthread.h>
#include <sys/socket.h>

#include "internal.h"
#include "plugin.h"

/* main.c is not linked in; these are its globals. */
int saved_stdin = -1, saved_stdout = -1;

/* Provided by the sanitizer runtimes, absent otherwise. */
extern void __sanitizer_set_report_fd (void *fd) __attribute__ ((weak));

#define HEADER_SIZE 4
#define MiB (UINT64_C (1) << 20)
#define GiB (UINT64_C (1) << 30)
#define TiB (UINT64_C (1) << 40)

/* Most extents the plugin adds in one call. */
#define MAX_PLUGIN_EXTENTS 2048

/* The current configuration (set before each connection, read-only
 * while it is served).
 */
static uint8_t cf[HEADER_SIZE];
static int64_t export_size;
static int fault_errno;
/* Flush calls in this connection, to fail every second one. */
static _Atomic unsigned flush_calls;

static int devnull = -1, real_stderr = -1;
/* FUZZ_SHOW_LOG=1 (replay mode): run verbose, messages on stderr. */
static bool show_log;

/* A long string, for names and descriptions over NBD_MAX_STRING. */
static char too_long[NBD_MAX_STRING + 2];

static inline bool
bit (int byte, int n)
{
  return (cf[byte] >> n) & 1;
}

static inline unsigned
bits2 (int byte, int n)
{
  return (cf[byte] >> n) & 3;
}

/* Set the configured error for a failing callback and return -1. */
static int
fail (void)
{
  if (fault_errno)
    nbdkit_set_error (fault_errno);
  else
    errno = EPERM;              /* relies on errno_is_preserved */
  return -1;
}

static bool
fails_at (uint64_t offset)
{
  return bit (3, 3) && (offset & 512);
}

/* Touch the first and last byte of a buffer the server gave us, so
 * that a short buffer is caught by the sanitizer, without paying for
 * every byte of a 64 MiB request.
 */
static void
check_buf (const void *buf, uint32_t count)
{
  const volatile unsigned char *p = buf;

  if (count > 0) {
    (void) p[0];
    (void) p[count - 1];
  }
}

/* Plugin actions on magic offsets (faults bit 7). */
static void
maybe_disconnect (uint64_t offset)
{
  if (!bit (3, 7) || !(offset & (1 << 11)))
    return;
  if (offset & (1 << 12))
    nbdkit_shutdown ();
  else
    nbdkit_disconnect (!!(offset & (1 << 13)));
}

/* With faults bits 5-6 = 2, the step of opening an export that fails,
 * chosen by the first byte of the export name modulo NR_OPEN_STEPS.
 * Every can_* callback is then installed, answering as the other
 * configuration bits say (BAD_* steps answer something invalid).
 */
enum open_step {
  FAIL_GET_SIZE, FAIL_OPEN, BAD_GET_SIZE, FAIL_CAN_WRITE, FAIL_CAN_ZERO,
  FAIL_CAN_FAST_ZERO, FAIL_CAN_TRIM, FAIL_CAN_FUA, BAD_CAN_FUA,
  FAIL_CAN_FLUSH, FAIL_IS_ROTATIONAL, FAIL_CAN_MULTI_CONN, FAIL_CAN_CACHE,
  BAD_CAN_CACHE, FAIL_CAN_EXTENTS, FAIL_BLOCK_SIZE,
  NR_OPEN_STEPS
};

static bool
fails_step (enum open_step step)
{
  const char *name;

  if (bits2 (3, 5) != 2)
    return false;
  name = nbdkit_export_name ();
  return (name ? (unsigned char) name[0] : 0) % NR_OPEN_STEPS == step;
}

static int
fz_preconnect (int readonly)
{
  return bits2 (3, 5) == 1 ? fail () : 0;
}

static void *
fz_open (int readonly)
{
  if (fails_step (FAIL_OPEN)) {
    nbdkit_error ("open: refusing export \"%s\"", nbdkit_export_name ());
    return NULL;
  }
  flush_calls = 0;
  return NBDKIT_HANDLE_NOT_NEEDED;
}

static void
fz_close (void *h)
{
}

static int64_t
fz_get_size (void *h)
{
  if (fails_step (FAIL_GET_SIZE))
    return fail ();
  if (fails_step (BAD_GET_SIZE))
    return -2;
  return export_size;
}

static int
fz_can_write (void *h)
{
  return fails_step (FAIL_CAN_WRITE) ? fail () : 1;
}

static int
fz_can_zero (void *h)
{
  return fails_step (FAIL_CAN_ZERO) ? fail () : !bit (1, 6);
}

static int
fz_can_fast_zero (void *h)
{
  return fails_step (FAIL_CAN_FAST_ZERO) ? fail () : !bit (1, 7);
}

static int
fz_can_trim (void *h)
{
  return fails_step (FAIL_CAN_TRIM) ? fail () : !bit (2, 3);
}

static int
fz_can_fua (void *h)
{
  if (fails_step (FAIL_CAN_FUA))
    return fail ();
  if (fails_step (BAD_CAN_FUA))
    return 7;
  if (bits2 (1, 2) == 0)        /* the default */
    return bit (2, 4) ? NBDKIT_FUA_NONE : NBDKIT_FUA_EMULATE;
  return bits2 (1, 2) - 1;      /* NONE, EMULATE, NATIVE */
}

static int
fz_can_flush (void *h)
{
  return fails_step (FAIL_CAN_FLUSH) ? fail () : !bit (2, 4);
}

static int
fz_is_rotational (void *h)
{
  return fails_step (FAIL_IS_ROTATIONAL) ? fail () : bit (0, 1);
}

static int
fz_can_multi_conn (void *h)
{
  return fails_step (FAIL_CAN_MULTI_CONN) ? fail () : 1;
}

static int
fz_can_cache (void *h)
{
  if (fails_step (FAIL_CAN_CACHE))
    return fail ();
  if (fails_step (BAD_CAN_CACHE))
    return 9;
  switch (bits2 (1, 4)) {
  case 1: return NBDKIT_CACHE_EMULATE;
  case 3: return NBDKIT_CACHE_NONE;
  default: return NBDKIT_CACHE_NATIVE;
  }
}

static int
fz_can_extents (void *h)
{
  return fails_step (FAIL_CAN_EXTENTS) ? fail () : !bit (2, 2);
}

static int
fz_pread (void *h, void *buf, uint32_t count, uint64_t offset,
          uint32_t flags)
{
  maybe_disconnect (offset);
  if (fails_at (offset))
    return fail ();
  /* Fill the ends: reads up to 64 MiB must stay cheap, and the
   * server never looks at the data.
   */
  if (count <= 8192)
    memset (buf, (int) (offset >> 9), count);
  else {
    memset (buf, 0, 4096);
    memset ((char *) buf + count - 4096, 0, 4096);
  }
  return 0;
}

static int
fz_pwrite (void *h, const void *buf, uint32_t count, uint64_t offset,
           uint32_t flags)
{
  maybe_disconnect (offset);
  check_buf (buf, count);
  if (fails_at (offset))
    return fail ();
  return 0;
}

static int
fz_flush (void *h, uint32_t flags)
{
  if (bit (3, 3) && (atomic_fetch_add (&flush_calls, 1) & 1))
    return fail ();
  return 0;
}

static int
fz_trim (void *h, uint32_t count, uint64_t offset, uint32_t flags)
{
  return fails_at (offset) ? fail () : 0;
}

static int
fz_zero (void *h, uint32_t count, uint64_t offset, uint32_t flags)
{
  return fails_at (offset) ? fail () : 0;
}

static int
fz_cache (void *h, uint32_t count, uint64_t offset, uint32_t flags)
{
  return fails_at (offset) ? fail () : 0;
}

/* API version 1 callbacks. */
static int
fz_pread_v1 (void *h, void *buf, uint32_t count, uint64_t offset)
{
  return fz_pread (h, buf, count, offset, 0);
}

static int
fz_pwrite_v1 (void *h, const void *buf, uint32_t count, uint64_t offset)
{
  return fz_pwrite (h, buf, count, offset, 0);
}

static int
fz_flush_v1 (void *h)
{
  return fz_flush (h, 0);
}

static int
fz_trim_v1 (void *h, uint32_t count, uint64_t offset)
{
  return fz_trim (h, count, offset, 0);
}

static int
fz_zero_v1 (void *h, uint32_t count, uint64_t offset, int may_trim)
{
  return fz_zero (h, count, offset, 0);
}

/* A misbehaving .extents (faults bit 4, offset bit 10). */
static int
bad_extents (uint64_t offset, struct nbdkit_extents *extents)
{
  switch ((offset >> 11) & 3) {
  case 0:                       /* nothing at all */
    return 0;
  case 1:                       /* starts after the request */
    if (nbdkit_add_extent (extents, offset + 512, 512, 0) == -1)
      return -1;
    return 0;
  case 2:                       /* a gap */
    if (nbdkit_add_extent (extents, offset, 512, 0) == -1 ||
        nbdkit_add_extent (extents, offset + 1024, 512, 0) == -1)
      return -1;
    return 0;
  default:                      /* fails after adding one */
    nbdkit_add_extent (extents, offset, 512, NBDKIT_EXTENT_HOLE);
    return fail ();
  }
}

static int
fz_extents (void *h, uint32_t count, uint64_t offset, uint32_t flags,
            struct nbdkit_extents *extents)
{
  static const uint64_t run[4] = { 65536, 512, 5 * GiB, 4096 };
  const unsigned shape = bits2 (2, 0);
  const uint64_t len = run[shape];
  const uint64_t end = offset + count;
  uint64_t pos;
  unsigned n;

  if (bit (3, 4) && (offset & (1 << 10)))
    return bad_extents (offset, extents);
  if (fails_at (offset))
    return fail ();

  /* Runs of len bytes from a multiple of len, up to one run past the
   * end of the request (the server clips), or just one run with
   * REQ_ONE (which the last shape ignores).
   */
  pos = offset - offset % len;
  for (n = 0; n < MAX_PLUGIN_EXTENTS && pos < (uint64_t) export_size; ++n) {
    uint64_t k = pos / len;
    uint32_t type;

    if (shape == 3)
      type = ((k >> 1) & 3) | 0xf0; /* every type, and bits to drop */
    else
      type = (k & 1) ? NBDKIT_EXTENT_HOLE | NBDKIT_EXTENT_ZERO : 0;
    if (nbdkit_add_extent (extents, pos, len, type) == -1)
      return -1;
    if (pos >= end)
      break;
    pos += len;
    if ((flags & NBDKIT_FLAG_REQ_ONE) && shape != 3)
      break;
  }
  return 0;
}

static int
fz_block_size (void *h, uint32_t *mn, uint32_t *pr, uint32_t *mx)
{
  /* Valid, then each of the ways to be invalid. */
  static const uint32_t sizes[5][3] = {
    { 1, 4096, 0xffffffff }, { 3, 4096, 0xffffffff },
    { 512, 256, 0xffffffff }, { 512, 4096, 1000 },
    { 4096, 512, 65536 },
  };
  unsigned i = 0;

  if (fails_step (FAIL_BLOCK_SIZE))
    return fail ();
  if (bits2 (3, 5) == 3) {
    const char *name = nbdkit_export_name ();

    i = name ? 1 + (unsigned char) name[0] % 4 : 1;
  }
  *mn = sizes[i][0];
  *pr = sizes[i][1];
  *mx = sizes[i][2];
  return 0;
}

static const char *
fz_default_export (int readonly, int is_tls)
{
  if (bits2 (3, 5) == 3)
    return too_long;
  return "canonical";
}

static const char *
fz_export_description (void *h)
{
  const char *name;

  if (bits2 (3, 5) == 3)
    return too_long;
  name = nbdkit_export_name ();
  /* Interned per connection, and with a client-supplied string. */
  return nbdkit_printf_intern ("export \"%s\"", name ? name : "?");
}

static int
fz_list_exports (int readonly, int is_tls, struct nbdkit_exports *e)
{
  if (bits2 (3, 5) == 3)
    return fail ();
  if (nbdkit_add_export (e, "", "default") == -1 ||
      nbdkit_add_export (e, "second", NULL) == -1 ||
      nbdkit_use_default_export (e) == -1)
    return -1;
  return 0;
}

/* Set the plugin, the thread model and the configuration from cf. */
static void
configure (void)
{
  static const int64_t sizes[4] = {
    MiB, 0, MiB - 1000, 8 * TiB,
  };
  static const int errnos[8] = {
    EIO, ENOSPC, ENOTSUP, EOVERFLOW, EROFS, ESHUTDOWN, ENOMEM, 0,
  };
  struct nbdkit_plugin *p = &plugin.p;
  const bool v1 = bit (2, 7);

  memset (&plugin, 0, sizeof plugin);
  p->_struct_size = sizeof *p;
  p->_api_version = v1 ? 1 : 2;
  p->name = "fuzz";
  p->preconnect = fz_preconnect;
  p->open = fz_open;
  p->close = fz_close;
  p->get_size = fz_get_size;
  p->is_rotational = fz_is_rotational;
  p->can_multi_conn = fz_can_multi_conn;
  p->export_description = fz_export_description;
  p->list_exports = fz_list_exports;
  p->errno_is_preserved = 1;

  if (v1) {
    p->_pread_v1 = fz_pread_v1;
    p->_pwrite_v1 = fz_pwrite_v1;
    if (!bit (2, 4))
      p->_flush_v1 = fz_flush_v1;
    if (!bit (2, 3))
      p->_trim_v1 = fz_trim_v1;
    if (!bit (1, 6))
      p->_zero_v1 = fz_zero_v1;
  }
  else {
    p->pread = fz_pread;
    p->pwrite = fz_pwrite;
    if (!bit (2, 4))
      p->flush = fz_flush;
    if (!bit (2, 3))
      p->trim = fz_trim;
    if (!bit (1, 6))
      p->zero = fz_zero;
  }
  if (bits2 (1, 2) != 0)
    p->can_fua = fz_can_fua;
  switch (bits2 (1, 4)) {
  case 0: p->can_cache = fz_can_cache; p->cache = fz_cache; break;
  case 1: p->can_cache = fz_can_cache; break;
  case 2: p->cache = fz_cache; break;
  }
  if (!bit (1, 7))
    p->can_fast_zero = fz_can_fast_zero;
  if (!bit (2, 2))
    p->extents = fz_extents;
  if (!bit (2, 5))
    p->block_size = fz_block_size;
  if (bit (2, 6) || bits2 (3, 5) == 3)
    p->default_export = fz_default_export;
  if (bits2 (3, 5) == 2) {
    p->can_write = fz_can_write;
    p->can_zero = fz_can_zero;
    p->can_fast_zero = fz_can_fast_zero;
    p->can_trim = fz_can_trim;
    p->can_fua = fz_can_fua;
    p->can_flush = fz_can_flush;
    p->can_cache = fz_can_cache;
    p->can_extents = fz_can_extents;
  }

  plugin.name = p->name;
  plugin.max_thread_model = NBDKIT_THREAD_MODEL_PARALLEL;
  plugin_ops_init (&plugin.backend);
  plugin.backend.type = "plugin";
  plugin.backend.name = p->name;
  top = &plugin.backend;
  nr_layers = 1;
  p->_thread_model = NBDKIT_THREAD_MODEL_PARALLEL;

  export_size = sizes[bits2 (1, 0)];
  fault_errno = errnos[cf[3] & 7];

  config.oldstyle = bit (0, 0);
  config.readonly = bit (0, 1);
  config.no_sr = bit (0, 2);
  config.mask_handshake = bits2 (0, 3) ^ 3;
  switch (bits2 (0, 5)) {
  case 0:
    thread_model = NBDKIT_THREAD_MODEL_PARALLEL;
    config.threads = 1;
    break;
  case 1:
    thread_model = NBDKIT_THREAD_MODEL_PARALLEL;
    config.threads = 4;
    break;
  case 2:
    thread_model = NBDKIT_THREAD_MODEL_SERIALIZE_CONNECTIONS;
    config.threads = 4;
    break;
  default:
    thread_model = NBDKIT_THREAD_MODEL_SERIALIZE_ALL_REQUESTS;
    config.threads = 4;
  }
  config.verbose = bit (0, 7) || show_log;
  config.log_to = config.verbose ? LOG_TO_STDERR : LOG_TO_NULL;
  log_init ();
}

static void
init_once (void)
{
  static bool done;

  if (done)
    return;
  done = true;

  memset (too_long, 'x', sizeof too_long - 1);

  /* Verbose runs write their messages to stderr, which we point at
   * /dev/null while they run; sanitizer reports must still be seen.
   */
  devnull = open ("/dev/null", O_RDWR | O_CLOEXEC);
  real_stderr = fcntl (STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
  if (devnull == -1 || real_stderr == -1) {
    perror ("fuzz-server: /dev/null");
    abort ();
  }
  if (__sanitizer_set_report_fd)
    __sanitizer_set_report_fd ((void *) (intptr_t) real_stderr);

  set_up_quit_pipe ();
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  int sv[2], out;
  size_t done = 0, hdr = MIN (size, (size_t) HEADER_SIZE);
  char c;

  init_once ();

  memset (cf, 0, sizeof cf);
  memcpy (cf, data, hdr);
  data += hdr;
  size -= hdr;
  configure ();

  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
    perror ("socketpair");
    abort ();
  }
  out = fcntl (devnull, F_DUPFD_CLOEXEC, 3);
  if (out == -1) {
    perror ("fcntl");
    abort ();
  }

  /* The whole input is the client's side of the conversation; the
   * server reads it as it pleases and sees end of input after it.  We
   * write before the server runs, so inputs are capped to what the
   * socket can buffer (the fuzzer's -max_len is well below that).
   */
  while (done < size) {
    ssize_t r = send (sv[0], data + done, size - done, MSG_DONTWAIT);
    if (r <= 0)
      break;
    done += r;
  }
  shutdown (sv[0], SHUT_WR);

  if (config.verbose && !show_log)
    dup2 (devnull, STDERR_FILENO);

  /* Serves until end of input; closes sv[1] and out. */
  handle_single_connection (sv[1], out);

  if (config.verbose && !show_log)
    dup2 (real_stderr, STDERR_FILENO);
  close (sv[0]);

  /* Undo nbdkit_shutdown, if the plugin called it. */
  quit = 0;
  while (read (quit_fd, &c, 1) == 1)
    ;
  return 0;
}

#ifndef FUZZING_ENGINE
/* Replay mode: run each file named on the command line, or each file
 * in each directory (in name order).
 */
static void
replay_file (const char *path)
{
  FILE *fp = fopen (path, "rb");
  char *buf;
  long len;

  if (fp == NULL) {
    perror (path);
    exit (EXIT_FAILURE);
  }
  if (fseek (fp, 0, SEEK_END) == -1 || (len = ftell (fp)) < 0 ||
      fseek (fp, 0, SEEK_SET) == -1) {
    perror (path);
    exit (EXIT_FAILURE);
  }
  buf = malloc (len ? len : 1);
  if (buf == NULL || fread (buf, 1, len, fp) != (size_t) len) {
    perror (path);
    exit (EXIT_FAILURE);
  }
  fclose (fp);
  printf ("%s\n", path);
  fflush (stdout);
  LLVMFuzzerTestOneInput ((const uint8_t *) buf, len);
  free (buf);
}

static int
not_hidden (const struct dirent *d)
{
  return d->d_name[0] != '.';
}

int
main (int argc, char *argv[])
{
  int i, n = 0;

  show_log = getenv ("FUZZ_SHOW_LOG") != NULL;
  for (i = 1; i < argc; ++i) {
    struct dirent **names;
    int j, nr;

    nr = scandir (argv[i], &names, not_hidden, alphasort);
    if (nr == -1) {
      if (errno != ENOTDIR) {
        perror (argv[i]);
        exit (EXIT_FAILURE);
      }
      replay_file (argv[i]);
      n++;
      continue;
    }
    for (j = 0; j < nr; ++j) {
      char *path;

      if (asprintf (&path, "%s/%s", argv[i], names[j]->d_name) == -1) {
        perror ("asprintf");
        exit (EXIT_FAILURE);
      }
      replay_file (path);
      n++;
      free (path);
      free (names[j]);
    }
    free (names);
  }
  printf ("replayed %d input(s)\n", n);
  return 0;
}
#endif
