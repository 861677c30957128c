/* fuzz-server.c: feed arbitrary bytes to the server's connection code.
 *
 * The input is what a client sends: it is written into one end of a
 * socketpair and the server serves the other end, through the real
 * handshake and request parser, against a small in-memory plugin
 * compiled into this program.  Whatever the input, the server must not
 * crash, hang, leak or read out of bounds.
 *
 * Built two ways (see meson.build):
 *   - with -Dfuzzing=true and CC=clang: a libFuzzer target
 *       ./build/fuzz/fuzz-server -max_len=65536 fuzz/corpus
 *   - otherwise: a replay program that runs each file given on the
 *     command line once; the test suite replays the seed corpus (under
 *     the sanitizers in the ASan build).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <pthread.h>
#include <sys/socket.h>

#include "internal.h"

/* main.c is not linked in; these are its globals. */
int saved_stdin = -1, saved_stdout = -1;

#define DISK_SIZE (1024 * 1024)
static char disk[DISK_SIZE];

static void *
fz_open (int readonly)
{
  return NBDKIT_HANDLE_NOT_NEEDED;
}

static int64_t
fz_get_size (void *h)
{
  return DISK_SIZE;
}

static int
fz_pread (void *h, void *buf, uint32_t count, uint64_t offset,
          uint32_t flags)
{
  memcpy (buf, disk + offset, count);
  return 0;
}

static int
fz_pwrite (void *h, const void *buf, uint32_t count, uint64_t offset,
           uint32_t flags)
{
  memcpy (disk + offset, buf, count);
  return 0;
}

static int
fz_flush (void *h, uint32_t flags)
{
  return 0;
}

static int
fz_trim (void *h, uint32_t count, uint64_t offset, uint32_t flags)
{
  memset (disk + offset, 0, count);
  return 0;
}

static int
fz_extents (void *h, uint32_t count, uint64_t offset, uint32_t flags,
            struct nbdkit_extents *extents)
{
  /* Alternate data and holes every 64K to exercise the reply code. */
  uint64_t pos = offset & ~UINT64_C (65535);

  while (pos < DISK_SIZE) {
    uint32_t type = (pos / 65536) % 2 ? NBDKIT_EXTENT_HOLE |
      NBDKIT_EXTENT_ZERO : 0;
    if (nbdkit_add_extent (extents, pos, 65536, type) == -1)
      return -1;
    pos += 65536;
  }
  return 0;
}

static int
fz_block_size (void *h, uint32_t *mn, uint32_t *pr, uint32_t *mx)
{
  *mn = 1;
  *pr = 4096;
  *mx = 0xffffffff;
  return 0;
}

static const char *
fz_export_description (void *h)
{
  return "fuzz export";
}

static int
fz_list_exports (int readonly, int is_tls, struct nbdkit_exports *e)
{
  if (nbdkit_add_export (e, "", "default") == -1 ||
      nbdkit_add_export (e, "second", NULL) == -1)
    return -1;
  return 0;
}

static void *
drain_thread (void *vp)
{
  int fd = *(int *) vp;
  char buf[65536];

  while (read (fd, buf, sizeof buf) > 0)
    ;
  return NULL;
}

static void
init_once (void)
{
  static bool done;

  if (done)
    return;
  done = true;

  memset (&plugin, 0, sizeof plugin);
  plugin.p._struct_size = sizeof plugin.p;
  plugin.p._api_version = 2;
  plugin.p._thread_model = NBDKIT_THREAD_MODEL_PARALLEL;
  plugin.p.name = "fuzz";
  plugin.p.open = fz_open;
  plugin.p.get_size = fz_get_size;
  plugin.p.pread = fz_pread;
  plugin.p.pwrite = fz_pwrite;
  plugin.p.flush = fz_flush;
  plugin.p.trim = fz_trim;
  plugin.p.extents = fz_extents;
  plugin.p.block_size = fz_block_size;
  plugin.p.export_description = fz_export_description;
  plugin.p.list_exports = fz_list_exports;
  plugin.name = "fuzz";
  plugin.max_thread_model = NBDKIT_THREAD_MODEL_PARALLEL;
  thread_model = NBDKIT_THREAD_MODEL_PARALLEL;

  config.mask_handshake = ~0U;
  config.threads = 4;
  config.log_to = LOG_TO_NULL;
  log_init ();
  set_up_quit_pipe ();
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  int sv[2];
  pthread_t drainer;
  size_t done = 0;

  init_once ();

  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
    perror ("socketpair");
    abort ();
  }
  if (pthread_create (&drainer, NULL, drain_thread, &sv[0]) != 0)
    abort ();

  /* The whole input is the client's side of the conversation; the
   * server reads it as it pleases and sees end of input after it.  We
   * write before the server runs, so inputs are capped to what the
   * socket can buffer (the fuzzer's -max_len should be below that).
   */
  while (done < size) {
    ssize_t r = send (sv[0], data + done, size - done, MSG_DONTWAIT);
    if (r <= 0)
      break;
    done += r;
  }
  shutdown (sv[0], SHUT_WR);

  /* Serves until end of input; closes sv[1]. */
  handle_single_connection (sv[1], sv[1]);

  pthread_join (drainer, NULL);
  close (sv[0]);
  return 0;
}

#ifndef FUZZING_ENGINE
/* Replay mode: run each file named on the command line. */
int
main (int argc, char *argv[])
{
  int i;

  for (i = 1; i < argc; ++i) {
    FILE *fp = fopen (argv[i], "rb");
    char *buf;
    long len;

    if (fp == NULL) {
      perror (argv[i]);
      exit (EXIT_FAILURE);
    }
    if (fseek (fp, 0, SEEK_END) == -1 || (len = ftell (fp)) < 0 ||
        fseek (fp, 0, SEEK_SET) == -1) {
      perror (argv[i]);
      exit (EXIT_FAILURE);
    }
    buf = malloc (len ? len : 1);
    if (buf == NULL || fread (buf, 1, len, fp) != (size_t) len) {
      perror (argv[i]);
      exit (EXIT_FAILURE);
    }
    fclose (fp);
    LLVMFuzzerTestOneInput ((const uint8_t *) buf, len);
    free (buf);
  }
  printf ("replayed %d input(s)\n", argc - 1);
  return 0;
}
#endif
