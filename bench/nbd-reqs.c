/* nbd-reqs.c: a small deterministic NBD client for bench/profile.sh.
 *
 *   nbd-reqs [-w] [-q DEPTH] [-n COUNT] [-b BYTES] SOCKET
 *   nbd-reqs -f [-q DEPTH] [-b BYTES] SOCKET
 *
 * Connects to the Unix socket, sends COUNT (default 20000) requests of
 * BYTES (default 4096) -- reads, or writes with -w -- at offsets from a
 * fixed pseudo-random sequence (the same every run), keeping DEPTH
 * (default 1) requests in flight, then disconnects.  Prints the
 * elapsed time and the request rate.  Every run of the client sends
 * exactly the same requests, so the instructions the server spends on
 * them can be compared between servers and between runs.
 *
 * With -f it instead fills the whole export once, sequentially, with
 * non-zero data (BYTES per request), so that a RAM disk's memory is
 * allocated before anything is measured.
 *
 * Built by profile.sh:  cc -O2 -o nbd-reqs nbd-reqs.c -lnbd
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libnbd.h>

static unsigned long done;

static int
completed (void *user_data, int *error)
{
  if (*error) {
    fprintf (stderr, "nbd-reqs: request failed: %s\n", strerror (*error));
    exit (1);
  }
  done++;
  return 1;                     /* retire the command */
}

static void
fail (const char *what)
{
  fprintf (stderr, "nbd-reqs: %s: %s\n", what, nbd_get_error ());
  exit (1);
}

int
main (int argc, char *argv[])
{
  unsigned long count = 20000, issued = 0;
  unsigned depth = 1, bytes = 4096;
  int write_mode = 0, fill_mode = 0, c;
  struct nbd_handle *nbd;
  int64_t size;
  uint64_t blocks, x = 0x9e3779b97f4a7c15ULL;
  char *buf;
  struct timespec t0, t1;
  double secs;

  while ((c = getopt (argc, argv, "fwq:n:b:")) != -1) {
    switch (c) {
    case 'w': write_mode = 1; break;
    case 'f': fill_mode = write_mode = 1; break;
    case 'q': depth = atoi (optarg); break;
    case 'n': count = strtoul (optarg, NULL, 0); break;
    case 'b': bytes = atoi (optarg); break;
    default:
    usage:
      fprintf (stderr, "usage: nbd-reqs [-f|-w] [-q DEPTH] [-n COUNT] "
               "[-b BYTES] SOCKET\n");
      exit (2);
    }
  }
  if (optind != argc - 1 || depth < 1 || bytes < 1)
    goto usage;

  buf = malloc ((size_t) depth * bytes);
  if (buf == NULL) {
    perror ("malloc");
    exit (1);
  }
  memset (buf, 0x5a, (size_t) depth * bytes);

  nbd = nbd_create ();
  if (nbd == NULL)
    fail ("nbd_create");
  if (nbd_connect_unix (nbd, argv[optind]) == -1)
    fail ("connect");
  size = nbd_get_size (nbd);
  if (size < (int64_t) bytes)
    fail ("export too small");
  blocks = size / bytes;
  if (fill_mode)
    count = blocks;

  clock_gettime (CLOCK_MONOTONIC, &t0);
  while (done < count) {
    while (issued < count && issued - done < depth) {
      nbd_completion_callback cb = { .callback = completed };
      char *p = buf + (issued % depth) * bytes;
      uint64_t offset;
      int64_t r;

      /* xorshift64: the same offsets every run */
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      offset = fill_mode ? issued * bytes : (x % blocks) * bytes;
      if (write_mode)
        r = nbd_aio_pwrite (nbd, p, bytes, offset, cb, 0);
      else
        r = nbd_aio_pread (nbd, p, bytes, offset, cb, 0);
      if (r == -1)
        fail ("aio request");
      issued++;
    }
    if (nbd_poll (nbd, -1) == -1)
      fail ("poll");
  }
  clock_gettime (CLOCK_MONOTONIC, &t1);

  if (nbd_shutdown (nbd, 0) == -1)
    fail ("shutdown");
  nbd_close (nbd);
  free (buf);

  secs = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
  printf ("%lu %s of %u bytes at depth %u: %.3f s, %.0f requests/s\n",
          count, write_mode ? "writes" : "reads", bytes, depth, secs,
          count / secs);
  return 0;
}
