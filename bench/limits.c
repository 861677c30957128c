/* limits.c: what this machine can do at best, for bench/run-all.sh.
 *
 * Every benchmark in the suite is bounded by one of these numbers, and
 * run-all.sh reports each result also as a fraction of its bound:
 *
 *   memcpy     single-threaded memcpy bandwidth between two 256 MiB
 *              buffers (MiB/s).  Every byte an NBD server moves is
 *              copied at least twice (plugin <-> buffer, buffer <->
 *              kernel), so this is context for the stream number.
 *   stream     Unix stream socket throughput, one connection, 256 KiB
 *              write(2)s into 256 KiB read(2)s (MiB/s): the bound for
 *              sequential copies (nbdcopy).
 *   pingpong-r 4 KiB request/response round trips over a Unix socket,
 *              shaped like an NBD read: a 28 byte request, a 16 byte
 *              header + 4096 bytes in one write back (ops/s): the bound
 *              for queue depth 1 random reads.
 *   pingpong-w the same shaped like a write: 28 + 4096 bytes out, a 16
 *              byte reply back (ops/s): the bound for queue depth 1
 *              random writes.
 *   pipe32-r   NBD-read shaped requests kept 32 deep against a minimal
 *              echo server that reads whatever is buffered and answers
 *              all complete requests with one writev; the client, too,
 *              reads whatever replies are buffered and sends as many
 *              new requests in one write (ops/s): the ceiling for the
 *              queue depth 16/32 reads.
 *   pipe32-w   the same, write shaped (ops/s).
 *
 * Each is measured TRIALS times for about SECS seconds and the best
 * trial is printed (a limit is what the machine can do, not what it
 * usually does).  Output lines are "NAME VALUE UNIT".
 *
 *   limits [-t SECS] [-n TRIALS] [-S SERVER_CPU] [-C CLIENT_CPU] [TEST...]
 *
 * -S/-C pin the server and client sides (processes) to one CPU each,
 * as run-all.sh --pin does for the real servers and clients.  Without
 * them the trials rotate through three placements -- left to the
 * scheduler, both sides on CPU 0, server on CPU 0 and client on CPU 1
 * (with two or more CPUs) -- so that the best placement is found even
 * when the scheduler does not find it: on a VM, where a wake-up across
 * vCPUs can cost tens of microseconds, they differ by several times.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>

#define REQ_SIZE 28             /* NBD request header */
#define REPLY_SIZE 16           /* NBD simple reply header */
#define DATA_SIZE 4096
#define STREAM_CHUNK (256 * 1024)
#define COPY_SIZE (256 * 1024 * 1024)
#define DEPTH 32

static double secs = 1.0;
static int trials = 3;
static int server_cpu = -1, client_cpu = -1;
static int auto_place;          /* rotate placements between trials */

static double
now (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
die (const char *what)
{
  perror (what);
  exit (1);
}

/* Pin this process to one CPU; -1: allow every online CPU. */
static void
pin (int cpu)
{
  cpu_set_t set;
  long i, n = sysconf (_SC_NPROCESSORS_ONLN);

  CPU_ZERO (&set);
  if (cpu >= 0)
    CPU_SET (cpu, &set);
  else
    for (i = 0; i < n && i < CPU_SETSIZE; ++i)
      CPU_SET (i, &set);
  if (sched_setaffinity (0, sizeof set, &set) == -1)
    die ("sched_setaffinity");
}

/* For trial i in auto mode: 0 scheduler, 1 same CPU, 2 split. */
static void
place (int i)
{
  int split_ok = sysconf (_SC_NPROCESSORS_ONLN) >= 2;

  switch (i % (split_ok ? 3 : 2)) {
  case 0: server_cpu = client_cpu = -1; break;
  case 1: server_cpu = client_cpu = 0; break;
  case 2: server_cpu = 0; client_cpu = 1; break;
  }
  pin (client_cpu);
}

/* Read exactly len bytes; 0 at end of file. */
static int
read_full (int fd, void *buf, size_t len)
{
  char *p = buf;

  while (len > 0) {
    ssize_t r = read (fd, p, len);
    if (r == -1) {
      if (errno == EINTR)
        continue;
      die ("read");
    }
    if (r == 0)
      return 0;
    p += r;
    len -= r;
  }
  return 1;
}

static int
write_full (int fd, const void *buf, size_t len)
{
  const char *p = buf;

  while (len > 0) {
    ssize_t r = write (fd, p, len);
    if (r == -1) {
      if (errno == EINTR)
        continue;
      if (errno == EPIPE || errno == ECONNRESET)
        return 0;
      die ("write");
    }
    p += r;
    len -= r;
  }
  return 1;
}

/* Fork a server process running fn on one end of a socketpair;
 * returns the client end, and the pid in *pid.
 */
static int
start_server (void (*fn) (int), pid_t *pid)
{
  int sv[2];

  if (socketpair (AF_UNIX, SOCK_STREAM, 0, sv) == -1)
    die ("socketpair");
  *pid = fork ();
  if (*pid == -1)
    die ("fork");
  if (*pid == 0) {
    close (sv[0]);
    pin (server_cpu);
    fn (sv[1]);
    _exit (0);
  }
  close (sv[1]);
  return sv[0];
}

static void
stop_server (int fd, pid_t pid)
{
  close (fd);
  if (waitpid (pid, NULL, 0) == -1)
    die ("waitpid");
}

/* memcpy: MiB/s */
static double
test_memcpy (void)
{
  char *a = malloc (COPY_SIZE), *b = malloc (COPY_SIZE);
  double t0, t;
  uint64_t bytes = 0;

  if (!a || !b)
    die ("malloc");
  memset (a, 1, COPY_SIZE);
  memset (b, 2, COPY_SIZE);
  t0 = now ();
  do {
    memcpy (b, a, COPY_SIZE);
    bytes += COPY_SIZE;
    a[bytes % COPY_SIZE]++;     /* keep the copy from being elided */
    t = now () - t0;
  } while (t < secs);
  if (b[12345] == 42)
    putchar (' ');
  free (a);
  free (b);
  return bytes / t / 1048576;
}

/* stream: MiB/s */
static void
stream_sender (int fd)
{
  char *buf = malloc (STREAM_CHUNK);

  if (!buf)
    die ("malloc");
  memset (buf, 'x', STREAM_CHUNK);
  while (write_full (fd, buf, STREAM_CHUNK))
    ;
  free (buf);
}

static double
test_stream (void)
{
  char *buf = malloc (STREAM_CHUNK);
  pid_t pid;
  int fd = start_server (stream_sender, &pid);
  uint64_t bytes = 0;
  double t0, t;
  ssize_t r;

  if (!buf)
    die ("malloc");
  /* warm up */
  for (int i = 0; i < 64; ++i)
    if (!read_full (fd, buf, STREAM_CHUNK))
      die ("stream: early EOF");
  t0 = now ();
  do {
    r = read (fd, buf, STREAM_CHUNK);
    if (r <= 0)
      die ("stream read");
    bytes += r;
    t = now () - t0;
  } while (t < secs);
  stop_server (fd, pid);
  free (buf);
  return bytes / t / 1048576;
}

/* ping-pong: one request at a time; ops/s */
static int pp_write_shaped;

static void
pingpong_server (int fd)
{
  char req[REQ_SIZE + DATA_SIZE];
  char reply[REPLY_SIZE + DATA_SIZE];
  size_t in = REQ_SIZE + (pp_write_shaped ? DATA_SIZE : 0);
  size_t out = REPLY_SIZE + (pp_write_shaped ? 0 : DATA_SIZE);

  memset (reply, 'r', sizeof reply);
  while (read_full (fd, req, in))
    if (!write_full (fd, reply, out))
      break;
}

static double
test_pingpong (int write_shaped)
{
  char req[REQ_SIZE + DATA_SIZE];
  char reply[REPLY_SIZE + DATA_SIZE];
  size_t out = REQ_SIZE + (write_shaped ? DATA_SIZE : 0);
  size_t in = REPLY_SIZE + (write_shaped ? 0 : DATA_SIZE);
  pid_t pid;
  int fd;
  uint64_t ops = 0;
  double t0, t;

  pp_write_shaped = write_shaped;
  fd = start_server (pingpong_server, &pid);
  memset (req, 'q', sizeof req);
  for (int i = 0; i < 1000; ++i) {
    write_full (fd, req, out);
    read_full (fd, reply, in);
  }
  t0 = now ();
  do {
    write_full (fd, req, out);
    if (!read_full (fd, reply, in))
      die ("pingpong: early EOF");
    ops++;
    t = now () - t0;
  } while (t < secs);
  stop_server (fd, pid);
  return ops / t;
}

/* pipelined, DEPTH requests in flight; ops/s */
static void
pipe_server (int fd)
{
  size_t in = REQ_SIZE + (pp_write_shaped ? DATA_SIZE : 0);
  size_t out = REPLY_SIZE + (pp_write_shaped ? 0 : DATA_SIZE);
  size_t cap = 64 * 1024 + in;
  char *buf = malloc (cap);
  char *reply = malloc (out);
  struct iovec iov[64];
  size_t have = 0;

  if (!buf || !reply)
    die ("malloc");
  memset (reply, 'r', out);
  for (;;) {
    ssize_t r = read (fd, buf + have, cap - have);
    size_t n, used, i;

    if (r == -1 && errno == EINTR)
      continue;
    if (r <= 0)
      break;
    have += r;
    n = have / in;
    if (n > 64)
      n = 64;
    for (i = 0; i < n; ++i) {
      iov[i].iov_base = reply;
      iov[i].iov_len = out;
    }
    used = n * in;
    memmove (buf, buf + used, have - used);
    have -= used;
    if (n > 0) {
      /* one writev per batch of complete requests */
      size_t total = n * out, done = 0;
      struct iovec *v = iov;
      int nv = n;
      while (done < total) {
        ssize_t w = writev (fd, v, nv);
        if (w == -1) {
          if (errno == EINTR)
            continue;
          goto out;
        }
        done += w;
        while (nv > 0 && (size_t) w >= v->iov_len) {
          w -= v->iov_len;
          v++;
          nv--;
        }
        if (nv > 0) {
          v->iov_base = (char *) v->iov_base + w;
          v->iov_len -= w;
        }
      }
    }
  }
 out:
  free (buf);
  free (reply);
}

static double
test_pipe (int write_shaped)
{
  size_t out = REQ_SIZE + (write_shaped ? DATA_SIZE : 0);
  size_t in = REPLY_SIZE + (write_shaped ? 0 : DATA_SIZE);
  size_t cap = DEPTH * in;
  char *reqs = malloc (DEPTH * out);
  char *buf = malloc (cap);
  size_t have = 0;
  pid_t pid;
  int fd;
  uint64_t ops = 0, warm = 0;
  double t0 = 0, t = 0;

  if (!reqs || !buf)
    die ("malloc");
  pp_write_shaped = write_shaped;
  fd = start_server (pipe_server, &pid);
  memset (reqs, 'q', DEPTH * out);
  write_full (fd, reqs, DEPTH * out);
  for (;;) {
    ssize_t r = read (fd, buf + have, cap - have);
    size_t n;

    if (r == -1 && errno == EINTR)
      continue;
    if (r <= 0)
      die ("pipe: read");
    have += r;
    n = have / in;
    have -= n * in;             /* replies are all alike: keep the tail */
    if (n == 0)
      continue;
    /* replace every reply with a new request, in one write */
    write_full (fd, reqs, n * out);
    if (warm < 1000) {
      warm += n;
      if (warm >= 1000)
        t0 = now ();
      continue;
    }
    ops += n;
    t = now () - t0;
    if (t >= secs)
      break;
  }
  stop_server (fd, pid);
  free (reqs);
  free (buf);
  return ops / t;
}

struct test {
  const char *name;
  const char *unit;
  double (*fn) (int);
  int arg;
};

static double memcpy_wrap (int a __attribute__ ((unused)))
{ return test_memcpy (); }
static double stream_wrap (int a __attribute__ ((unused)))
{ return test_stream (); }

static const struct test tests[] = {
  { "memcpy", "MiB/s", memcpy_wrap, 0 },
  { "stream", "MiB/s", stream_wrap, 0 },
  { "pingpong-r", "ops/s", test_pingpong, 0 },
  { "pingpong-w", "ops/s", test_pingpong, 1 },
  { "pipe32-r", "ops/s", test_pipe, 0 },
  { "pipe32-w", "ops/s", test_pipe, 1 },
};
#define NR_TESTS (sizeof tests / sizeof tests[0])

static void
run (const struct test *t)
{
  double best = 0;

  for (int i = 0; i < trials; ++i) {
    double v;

    if (auto_place)
      place (i);
    v = t->fn (t->arg);
    if (v > best)
      best = v;
  }
  printf ("%s %.1f %s\n", t->name, best, t->unit);
  fflush (stdout);
}

int
main (int argc, char *argv[])
{
  int c;
  size_t i;

  signal (SIGPIPE, SIG_IGN);
  while ((c = getopt (argc, argv, "t:n:S:C:")) != -1) {
    switch (c) {
    case 't': secs = atof (optarg); break;
    case 'n': trials = atoi (optarg); break;
    case 'S': server_cpu = atoi (optarg); break;
    case 'C': client_cpu = atoi (optarg); break;
    default:
      fprintf (stderr, "usage: limits [-t SECS] [-n TRIALS] [-S CPU] "
               "[-C CPU] [TEST...]\n");
      exit (2);
    }
  }
  if (secs <= 0 || trials < 1) {
    fprintf (stderr, "limits: bad -t or -n\n");
    exit (2);
  }
  if (server_cpu < 0 && client_cpu < 0)
    auto_place = 1;
  else {
    if (server_cpu < 0 || client_cpu < 0) {
      fprintf (stderr, "limits: give both -S and -C, or neither\n");
      exit (2);
    }
    pin (client_cpu);
  }

  if (optind == argc) {
    for (i = 0; i < NR_TESTS; ++i)
      run (&tests[i]);
    return 0;
  }
  for (; optind < argc; ++optind) {
    for (i = 0; i < NR_TESTS; ++i)
      if (strcmp (argv[optind], tests[i].name) == 0)
        break;
    if (i == NR_TESTS) {
      fprintf (stderr, "limits: unknown test %s\n", argv[optind]);
      exit (2);
    }
    run (&tests[i]);
  }
  return 0;
}
