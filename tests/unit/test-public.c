/* test-public.c: server/public.c (paths, passwords, nanosleep and the
 * connection queries).
 *
 * Connections are faked: a zeroed struct connection with real fds
 * (socketpairs, pipes, a loopback TCP connection) is put into
 * thread_state.conn, which is all public.c looks at.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <unistd.h>
#include <time.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include "stubs.h"

static char tmpdir[] = "/tmp/nbdkit-test-public-XXXXXX";

/* ------------------------------------------------------------------
 * Helpers.
 */

static void
write_file (const char *name, const char *content, size_t len)
{
  char path[PATH_MAX];
  FILE *fp;

  snprintf (path, sizeof path, "%s/%s", tmpdir, name);
  fp = fopen (path, "w");
  if (fp == NULL || fwrite (content, 1, len, fp) != len || fclose (fp) != 0) {
    perror (path);
    exit (EXIT_FAILURE);
  }
}

static double
now (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
init_conn (struct connection *conn, int sockin)
{
  memset (conn, 0, sizeof *conn);
  conn->sockin = conn->sockout = sockin;
  atomic_init (&conn->disconnect_efd, -1);
  atomic_init (&conn->status, STATUS_ACTIVE);
}

/* After delay_ms, write a byte to (or close) an fd, or call
 * conn_disconnect, from another thread.
 */
struct poke {
  int fd;
  bool do_close;
  struct connection *disconnect;
  unsigned delay_ms;
};

static void *
poke_thread (void *arg)
{
  struct poke *p = arg;
  char c = 0;

  usleep (p->delay_ms * 1000);
  if (p->disconnect)
    conn_disconnect (p->disconnect, false);
  else if (p->do_close)
    close (p->fd);
  else if (write (p->fd, &c, 1) != 1)
    abort ();
  return NULL;
}

static pthread_t
start_poke (struct poke *p)
{
  pthread_t t;

  if (pthread_create (&t, NULL, poke_thread, p) != 0)
    abort ();
  return t;
}

/* ------------------------------------------------------------------
 * nbdkit_set_error, paths.
 */
static void
test_set_error (void)
{
  thread_state.error = 0;
  nbdkit_set_error (EROFS);
  CHECK (thread_state.error == EROFS);
  nbdkit_set_error (0);
  CHECK (thread_state.error == 0);
}

static void
test_paths (void)
{
  char cwd[PATH_MAX], expected[PATH_MAX * 2];
  char *p;
  int dirfd;

  if (getcwd (cwd, sizeof cwd) == NULL)
    abort ();

  stub_reset ();
  CHECK (nbdkit_absolute_path ("") == NULL);
  CHECK_ERROR ("cannot convert null or empty path to an absolute path");
  stub_reset ();
  CHECK (nbdkit_absolute_path (NULL) == NULL);
  CHECK_ERROR ("cannot convert null or empty path to an absolute path");

  /* No normalisation, no existence check. */
  stub_reset ();
  p = nbdkit_absolute_path ("/abs/./x");
  CHECK_STREQ (p, "/abs/./x");
  free (p);
  p = nbdkit_absolute_path ("../a//b");
  snprintf (expected, sizeof expected, "%s/../a//b", cwd);
  CHECK_STREQ (p, expected);
  free (p);
  CHECK_NO_ERROR ();

  /* nbdkit pastes the directory on verbatim, even "/". */
  dirfd = open (".", O_RDONLY | O_DIRECTORY);
  if (dirfd == -1 || chdir ("/") == -1)
    abort ();
  p = nbdkit_absolute_path ("foo");
  CHECK_STREQ (p, "//foo");
  free (p);
  if (fchdir (dirfd) == -1)
    abort ();
  close (dirfd);

  stub_reset ();
  CHECK (nbdkit_realpath ("") == NULL);
  CHECK_ERROR ("cannot resolve a null or empty path");
  stub_reset ();
  CHECK (nbdkit_realpath ("/nonexistent/x") == NULL);
  CHECK_ERROR ("realpath: /nonexistent/x: No such file or directory");

  /* A symlink with a detour through .. resolves to the target. */
  {
    char target[PATH_MAX], link[PATH_MAX], detour[PATH_MAX];

    write_file ("target", "x", 1);
    snprintf (target, sizeof target, "%s/target", tmpdir);
    snprintf (link, sizeof link, "%s/link", tmpdir);
    snprintf (detour, sizeof detour, "%s/../%s/link",
              tmpdir, strrchr (tmpdir, '/') + 1);
    if (symlink (target, link) == -1)
      abort ();
    stub_reset ();
    p = nbdkit_realpath (detour);
    CHECK_STREQ (p, target);
    free (p);
    CHECK_NO_ERROR ();
    unlink (link);
    unlink (target);
  }
}

/* ------------------------------------------------------------------
 * Passwords.
 */
struct password_file_test {
  const char *content;
  size_t len;
  const char *expected;
};

static const struct password_file_test password_file_tests[] = {
  { "secret\n", 7, "secret" },
  { "secret", 6, "secret" },
  { "line1\nline2\n", 12, "line1" },   /* only the first line */
  { "sec\r\n", 5, "sec\r" },           /* only \n is stripped */
  { "", 0, "" },                       /* empty file: empty password */
  { "\n\n", 2, "" },
  { "a\0b\n", 4, "a" },
};

static void
check_password (const char *value, const char *expected, const char *err)
{
  char *pw = (char *) "stale";
  int r;

  stub_reset ();
  r = nbdkit_read_password (value, &pw);
  if (err == NULL) {
    CHECK_MSG (r == 0, "\"%s\": %s", value, stub_last_error);
    CHECK_STREQ (pw, expected);
    CHECK_NO_ERROR ();
    free (pw);
  }
  else {
    CHECK_MSG (r == -1, "\"%s\"", value);
    CHECK_MSG (pw == NULL, "\"%s\": password not reset on error", value);
    CHECK_ERROR (err);
  }
}

static void
test_read_password (void)
{
  char value[PATH_MAX + 2], msg[PATH_MAX + 64];
  size_t i;
  int fds[2], fd;

  /* Literal values. */
  check_password ("mostsecret", "mostsecret", NULL);
  check_password ("", "", NULL);
  check_password ("x", "x", NULL);

  /* +FILE */
  for (i = 0; i < ARRAY_SIZE (password_file_tests); ++i) {
    const struct password_file_test *t = &password_file_tests[i];

    write_file ("pw", t->content, t->len);
    snprintf (value, sizeof value, "+%s/pw", tmpdir);
    check_password (value, t->expected, NULL);
  }
  check_password ("+", NULL, "open : No such file or directory");
  check_password ("+/nonexistent", NULL,
                  "open /nonexistent: No such file or directory");
  snprintf (value, sizeof value, "+%s", tmpdir);
  snprintf (msg, sizeof msg,
            "could not read password from %s: Is a directory", tmpdir);
  check_password (value, NULL, msg);

  /* -FD: read the first line, then the fd is closed. */
  if (pipe (fds) == -1)
    abort ();
  if (write (fds[1], "piped\nx", 7) != 7)
    abort ();
  close (fds[1]);
  snprintf (value, sizeof value, "-%d", fds[0]);
  check_password (value, "piped", NULL);
  CHECK (fcntl (fds[0], F_GETFD) == -1 && errno == EBADF);

  /* A pipe closed without data gives the empty password. */
  if (pipe (fds) == -1)
    abort ();
  close (fds[1]);
  snprintf (value, sizeof value, "-%d", fds[0]);
  check_password (value, "", NULL);

  /* A directory fd: read error, fd still closed. */
  fd = open (tmpdir, O_RDONLY | O_DIRECTORY);
  if (fd == -1)
    abort ();
  snprintf (value, sizeof value, "-%d", fd);
  snprintf (msg, sizeof msg,
            "could not read password from %d: Is a directory", fd);
  check_password (value, NULL, msg);
  CHECK (fcntl (fd, F_GETFD) == -1 && errno == EBADF);

  /* fd is closed now, so it is a bad descriptor. */
  snprintf (msg, sizeof msg, "fdopen %d: Bad file descriptor", fd);
  check_password (value, NULL, msg);

  check_password ("-0", NULL, "cannot use password -FD for stdin/stdout/stderr");
  check_password ("-1", NULL, "cannot use password -FD for stdin/stdout/stderr");
  check_password ("-2", NULL, "cannot use password -FD for stdin/stdout/stderr");
  check_password ("-00", NULL,
                  "cannot use password -FD for stdin/stdout/stderr");
  check_password ("-abc", NULL, "password file descriptor: "
                  "empty string where we expected a number");
  check_password ("--", NULL, "password file descriptor: "
                  "empty string where we expected a number");
  check_password ("-3x", NULL, "password file descriptor: "
                  "could not parse number: \"3x\": trailing garbage");
  check_password ("--5", NULL, "fdopen -5: Bad file descriptor");

  /* "-": only while configuring, not with -s, and only from a tty.
   * stdin is /dev/null here (see main).
   */
  in_configuration_phase = false;
  check_password ("-", NULL, "stdin is not available for reading password");
  in_configuration_phase = true;
  config.single = true;
  check_password ("-", NULL, "stdin is not available for reading password");
  config.single = false;
  check_password ("-", NULL,
                  "stdin is not a tty, cannot read password interactively");
  CHECK (errno == ENOTTY);
  in_configuration_phase = false;
}

static void
test_stdio_safe (void)
{
  in_configuration_phase = true;
  config.single = false;
  CHECK (nbdkit_stdio_safe () == 1);
  config.single = true;
  CHECK (nbdkit_stdio_safe () == 0);
  in_configuration_phase = false;
  CHECK (nbdkit_stdio_safe () == 0);
  config.single = false;
  CHECK (nbdkit_stdio_safe () == 0);
}

/* ------------------------------------------------------------------
 * nbdkit_nanosleep
 */
static void
test_nanosleep_plain (void)
{
  double t;

  /* During configuration there is no quit pipe yet. */
  quit_fd = -1;
  stub_reset ();
  CHECK (nbdkit_nanosleep (0, 0) == 0);
  CHECK (nbdkit_nanosleep (0, 1) == 0);
  t = now ();
  CHECK (nbdkit_nanosleep (0, 50000000) == 0);
  CHECK (now () - t >= 0.05);
  /* nsec >= 1s carries into seconds. */
  t = now ();
  CHECK (nbdkit_nanosleep (0, 1000000000 + 10000000) == 0);
  CHECK (now () - t >= 1.01);
  CHECK_NO_ERROR ();

  /* nbdkit 1.32.5 refuses INT_MAX itself. */
  stub_reset ();
  CHECK (nbdkit_nanosleep (INT_MAX, 0) == -1);
  CHECK_ERROR ("sleep request is too long");
  stub_reset ();
  CHECK (nbdkit_nanosleep (UINT_MAX, 999999999) == -1);
  CHECK_ERROR ("sleep request is too long");
}

static void
test_nanosleep_quit (void)
{
  int fds[2];
  struct poke poke;
  pthread_t t;
  double start;

  if (pipe (fds) == -1)
    abort ();
  quit_fd = fds[0];

  /* Wakes up when the quit pipe becomes readable. */
  poke = (struct poke) { .fd = fds[1], .delay_ms = 100 };
  t = start_poke (&poke);
  stub_reset ();
  start = now ();
  errno = 0;
  CHECK (nbdkit_nanosleep (10, 0) == -1);
  CHECK (errno == ESHUTDOWN);
  CHECK (now () - start < 5);
  CHECK_ERROR ("aborting sleep because of server shut down");
  pthread_join (t, NULL);

  /* Pipe still readable: does not sleep at all.  INT_MAX-1 is not
   * "too long".
   */
  stub_reset ();
  CHECK (nbdkit_nanosleep (INT_MAX - 1, 0) == -1);
  CHECK_ERROR ("aborting sleep because of server shut down");

  close (fds[0]);
  close (fds[1]);

  /* The quit flag alone is enough. */
  quit_fd = -1;
  quit = true;
  stub_reset ();
  CHECK (nbdkit_nanosleep (10, 0) == -1);
  CHECK_ERROR ("aborting sleep because of server shut down");
  quit = false;
}

static void
test_nanosleep_connection (void)
{
  struct connection conn;
  int sv[2];
  struct poke poke;
  pthread_t t;
  double start;
  char c = 'x';

  if (socketpair (AF_UNIX, SOCK_STREAM, 0, sv) == -1)
    abort ();
  init_conn (&conn, sv[0]);
  thread_state.conn = &conn;

  /* A request waiting on the socket must not wake us. */
  if (write (sv[1], &c, 1) != 1)
    abort ();
  stub_reset ();
  start = now ();
  CHECK (nbdkit_nanosleep (0, 50000000) == 0);
  CHECK (now () - start >= 0.05);
  CHECK_NO_ERROR ();

  /* nbdkit_disconnect from another thread. */
  poke = (struct poke) { .disconnect = &conn, .delay_ms = 100 };
  t = start_poke (&poke);
  stub_reset ();
  start = now ();
  errno = 0;
  CHECK (nbdkit_nanosleep (10, 0) == -1);
  CHECK (errno == ESHUTDOWN);
  CHECK (now () - start < 5);
  CHECK_ERROR ("aborting sleep because of connection close or error");
  pthread_join (t, NULL);
  /* Every later sleep of that connection fails too. */
  stub_reset ();
  CHECK (nbdkit_nanosleep (10, 0) == -1);
  CHECK_ERROR ("aborting sleep because of connection close or error");
  atomic_store (&conn.soft_disconnect, false);
  close (atomic_load (&conn.disconnect_efd));
  atomic_store (&conn.disconnect_efd, -1);

  /* The client hangs up. */
  poke = (struct poke) { .fd = sv[1], .do_close = true, .delay_ms = 100 };
  t = start_poke (&poke);
  stub_reset ();
  start = now ();
  CHECK (nbdkit_nanosleep (10, 0) == -1);
  CHECK (now () - start < 5);
  CHECK_ERROR ("aborting sleep because of connection close or error");
  pthread_join (t, NULL);
  close (sv[0]);

  /* A connection that is already finishing does not sleep. */
  if (socketpair (AF_UNIX, SOCK_STREAM, 0, sv) == -1)
    abort ();
  conn.sockin = conn.sockout = sv[0];
  atomic_store (&conn.status, STATUS_CLIENT_DONE);
  stub_reset ();
  CHECK (nbdkit_nanosleep (10, 0) == -1);
  CHECK_ERROR ("aborting sleep because of connection close or error");

  thread_state.conn = NULL;
  close (sv[0]);
  close (sv[1]);
  close (atomic_load (&conn.disconnect_efd));
}

/* ------------------------------------------------------------------
 * Connection queries.
 */
static void
test_no_connection (void)
{
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  const char *msg = "no connection in this thread";

  thread_state.conn = NULL;
  stub_reset ();
  CHECK (nbdkit_export_name () == NULL);
  CHECK_ERROR (msg);
  stub_reset ();
  CHECK (nbdkit_is_tls () == -1);
  CHECK_ERROR (msg);
  stub_reset ();
  CHECK (nbdkit_peer_name ((struct sockaddr *) &ss, &len) == -1);
  CHECK_ERROR (msg);
  stub_reset ();
  CHECK (nbdkit_peer_pid () == -1);
  CHECK_ERROR (msg);
  stub_reset ();
  CHECK (nbdkit_peer_uid () == -1);
  CHECK_ERROR (msg);
  stub_reset ();
  CHECK (nbdkit_peer_gid () == -1);
  CHECK_ERROR (msg);

  /* Disconnecting nobody is a no-op. */
  stub_reset ();
  nbdkit_disconnect (1);
  CHECK (stub_disconnect_calls == 0);
  CHECK_NO_ERROR ();
}

static void
test_export_name_tls_disconnect (void)
{
  struct connection conn;
  char name[] = "fooexp";

  init_conn (&conn, -1);
  thread_state.conn = &conn;

  /* Before the client chose an export (.preconnect). */
  stub_reset ();
  CHECK (nbdkit_export_name () == NULL);
  CHECK_ERROR ("no connection in this thread");

  conn.exportname = name;
  stub_reset ();
  CHECK_STREQ (nbdkit_export_name (), "fooexp");
  CHECK (nbdkit_is_tls () == 0);
  conn.using_tls = true;
  CHECK (nbdkit_is_tls () == 1);
  CHECK_NO_ERROR ();

  nbdkit_disconnect (0);
  CHECK (stub_disconnect_calls == 1 && !stub_disconnect_force);
  nbdkit_disconnect (42);
  CHECK (stub_disconnect_calls == 2 && stub_disconnect_force);

  thread_state.conn = NULL;
}

static void
test_peer_unix (void)
{
  struct connection conn;
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  int sv[2];

  if (socketpair (AF_UNIX, SOCK_STREAM, 0, sv) == -1)
    abort ();
  init_conn (&conn, sv[0]);
  thread_state.conn = &conn;

  stub_reset ();
  CHECK (nbdkit_peer_name ((struct sockaddr *) &ss, &len) == 0);
  CHECK (ss.ss_family == AF_UNIX);
  CHECK (nbdkit_peer_pid () == getpid ());
  CHECK (nbdkit_peer_uid () == getuid ());
  CHECK (nbdkit_peer_gid () == getgid ());
  CHECK_NO_ERROR ();

  thread_state.conn = NULL;
  close (sv[0]);
  close (sv[1]);
}

/* -s on pipes: no peer at all. */
static void
test_peer_pipe (void)
{
  struct connection conn;
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  int fds[2];

  if (pipe (fds) == -1)
    abort ();
  init_conn (&conn, fds[0]);
  thread_state.conn = &conn;

  stub_reset ();
  CHECK (nbdkit_peer_name ((struct sockaddr *) &ss, &len) == -1);
  CHECK_ERROR ("peername: Socket operation on non-socket");
  stub_reset ();
  CHECK (nbdkit_peer_pid () == -1);
  CHECK_ERROR ("getsockopt: SO_PEERCRED: Socket operation on non-socket");
  stub_reset ();
  CHECK (nbdkit_peer_uid () == -1);
  CHECK_ERROR ("getsockopt: SO_PEERCRED: Socket operation on non-socket");
  stub_reset ();
  CHECK (nbdkit_peer_gid () == -1);
  CHECK_ERROR ("getsockopt: SO_PEERCRED: Socket operation on non-socket");

  thread_state.conn = NULL;
  close (fds[0]);
  close (fds[1]);
}

/* TCP: a peer address, but no credentials. */
static void
test_peer_tcp (void)
{
  struct connection conn;
  struct sockaddr_in addr = { .sin_family = AF_INET };
  struct sockaddr_in peer;
  socklen_t len = sizeof addr;
  int lsock, csock, ssock;
  const char *nocred = "peer credentials are only available "
    "when the client connects over a Unix domain socket";

  addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  lsock = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (lsock == -1 ||
      bind (lsock, (struct sockaddr *) &addr, sizeof addr) == -1 ||
      listen (lsock, 1) == -1 ||
      getsockname (lsock, (struct sockaddr *) &addr, &len) == -1) {
    fprintf (stderr, "test-public: no loopback TCP, skipping TCP peer test\n");
    if (lsock >= 0)
      close (lsock);
    return;
  }
  csock = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (csock == -1 ||
      connect (csock, (struct sockaddr *) &addr, sizeof addr) == -1)
    abort ();
  ssock = accept (lsock, NULL, NULL);
  if (ssock == -1)
    abort ();

  init_conn (&conn, ssock);
  thread_state.conn = &conn;

  stub_reset ();
  len = sizeof peer;
  CHECK (nbdkit_peer_name ((struct sockaddr *) &peer, &len) == 0);
  CHECK (len == sizeof peer);
  CHECK (peer.sin_family == AF_INET);
  CHECK (peer.sin_addr.s_addr == htonl (INADDR_LOOPBACK));
  CHECK_NO_ERROR ();

  /* A buffer that is too small gets a truncated address. */
  len = 2;
  CHECK (nbdkit_peer_name ((struct sockaddr *) &peer, &len) == 0);
  CHECK (len == sizeof peer);

  stub_reset ();
  CHECK (nbdkit_peer_pid () == -1);
  CHECK_ERROR (nocred);
  stub_reset ();
  CHECK (nbdkit_peer_uid () == -1);
  CHECK_ERROR (nocred);
  stub_reset ();
  CHECK (nbdkit_peer_gid () == -1);
  CHECK_ERROR (nocred);

  thread_state.conn = NULL;
  close (ssock);
  close (csock);
  close (lsock);
}

int
main (void)
{
  char path[PATH_MAX];
  int fd;

  if (mkdtemp (tmpdir) == NULL) {
    perror ("mkdtemp");
    exit (EXIT_FAILURE);
  }
  /* password=- must find a non-tty stdin whatever runs the test. */
  fd = open ("/dev/null", O_RDONLY);
  if (fd == -1 || dup2 (fd, STDIN_FILENO) == -1)
    abort ();
  close (fd);

  test_set_error ();
  test_paths ();
  test_read_password ();
  test_stdio_safe ();
  test_nanosleep_plain ();
  test_nanosleep_quit ();
  test_nanosleep_connection ();
  test_no_connection ();
  test_export_name_tls_disconnect ();
  test_peer_unix ();
  test_peer_pipe ();
  test_peer_tcp ();

  snprintf (path, sizeof path, "%s/pw", tmpdir);
  unlink (path);
  rmdir (tmpdir);
  return test_finish ("test-public");
}
