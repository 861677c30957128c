/* public.c: exported helpers that need server state.
 *
 * Paths, passwords, sleeping, and what a plugin may ask about the
 * connection it is serving.  The connection comes from thread-local
 * state (threadlocal_get_conn), so none of these take a parameter
 * for it; outside a connection the connection queries fail with the
 * same message as nbdkit 1.32.5: "no connection in this thread".
 *
 * The parsers are in public-parse.c, interning in intern.c.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>
#include <termios.h>
#include <sys/socket.h>

#include "internal.h"

bool in_configuration_phase;

NBDKIT_DLL_PUBLIC void
nbdkit_set_error (int err)
{
  threadlocal_set_error (err);
}

/* ------------------------------------------------------------------
 * Paths.
 */

/* Relative paths get the current directory prepended verbatim, with
 * no normalisation (nbdkit does the same, which gives "//foo" when
 * the current directory is "/").  The file need not exist.
 */
NBDKIT_DLL_PUBLIC char *
nbdkit_absolute_path (const char *path)
{
  CLEANUP_FREE char *pwd = NULL;
  char *ret;

  if (path == NULL || *path == '\0') {
    nbdkit_error ("cannot convert null or empty path to an absolute path");
    return NULL;
  }

  if (*path == '/') {
    ret = strdup (path);
    if (ret == NULL)
      nbdkit_error ("strdup: %m");
    return ret;
  }

  pwd = get_current_dir_name ();
  if (pwd == NULL) {
    nbdkit_error ("get_current_dir_name: %m");
    return NULL;
  }
  if (asprintf (&ret, "%s/%s", pwd, path) == -1) {
    nbdkit_error ("asprintf: %m");
    return NULL;
  }
  return ret;
}

NBDKIT_DLL_PUBLIC char *
nbdkit_realpath (const char *path)
{
  char *ret;

  if (path == NULL || *path == '\0') {
    nbdkit_error ("cannot resolve a null or empty path");
    return NULL;
  }
  ret = realpath (path, NULL);
  if (ret == NULL) {
    nbdkit_error ("realpath: %s: %m", path);
    return NULL;
  }
  return ret;
}

/* ------------------------------------------------------------------
 * Passwords.
 */

/* Plugins may only touch stdin/stdout while they are being configured,
 * and never when the NBD client is on stdin (-s).
 */
NBDKIT_DLL_PUBLIC int
nbdkit_stdio_safe (void)
{
  return in_configuration_phase && !config.single;
}

/* Read the first line of fp into *password without its newline.  An
 * empty file (or EOF at the terminal) gives the empty password, as in
 * nbdkit.  source names the input in the error message.
 */
static int
read_password_line (FILE *fp, const char *source, char **password)
{
  char *line = NULL;
  size_t n = 0;
  ssize_t len;

  errno = 0;
  len = getline (&line, &n, fp);
  if (len == -1) {
    if (ferror (fp)) {
      nbdkit_error ("could not read password from %s: %m", source);
      free (line);
      return -1;
    }
    /* EOF before anything was read. */
    free (line);
    line = strdup ("");
    if (line == NULL) {
      nbdkit_error ("strdup: %m");
      return -1;
    }
    len = 0;
  }

  if (len > 0 && line[len-1] == '\n')
    line[len-1] = '\0';
  *password = line;
  return 0;
}

/* password=-: prompt on stdout and read a line from the terminal with
 * echo switched off.
 */
static int
read_password_interactive (char **password)
{
  struct termios orig, noecho;
  int r;

  if (!nbdkit_stdio_safe ()) {
    nbdkit_error ("stdin is not available for reading password");
    return -1;
  }
  if (!isatty (STDIN_FILENO)) {
    nbdkit_error ("stdin is not a tty, cannot read password interactively");
    return -1;
  }

  printf ("password: ");
  fflush (stdout);

  if (tcgetattr (STDIN_FILENO, &orig) == -1) {
    nbdkit_error ("tcgetattr: %m");
    return -1;
  }
  noecho = orig;
  noecho.c_lflag &= ~ECHO;
  if (tcsetattr (STDIN_FILENO, TCSAFLUSH, &noecho) == -1) {
    nbdkit_error ("tcsetattr: %m");
    return -1;
  }

  r = read_password_line (stdin, "stdin", password);

  /* Restore echo even if reading failed; the user's terminal matters
   * more than reporting a second error.
   */
  tcsetattr (STDIN_FILENO, TCSAFLUSH, &orig);
  printf ("\n");
  fflush (stdout);
  return r;
}

/* password=-FD: read from an inherited file descriptor, then close it. */
static int
read_password_from_fd (const char *fdstr, char **password)
{
  int fd, r;
  FILE *fp;
  char source[32];

  if (nbdkit_parse_int ("password file descriptor", fdstr, &fd) == -1)
    return -1;
  /* Closing these after reading would break the server. */
  if (fd == STDIN_FILENO || fd == STDOUT_FILENO || fd == STDERR_FILENO) {
    nbdkit_error ("cannot use password -FD for stdin/stdout/stderr");
    return -1;
  }
  fp = fdopen (fd, "r");
  if (fp == NULL) {
    nbdkit_error ("fdopen %d: %m", fd);
    return -1;
  }
  snprintf (source, sizeof source, "%d", fd);
  r = read_password_line (fp, source, password);
  fclose (fp);
  return r;
}

/* password=+FILE */
static int
read_password_from_file (const char *filename, char **password)
{
  FILE *fp;
  int r;

  fp = fopen (filename, "re");
  if (fp == NULL) {
    nbdkit_error ("open %s: %m", filename);
    return -1;
  }
  r = read_password_line (fp, filename, password);
  fclose (fp);
  return r;
}

NBDKIT_DLL_PUBLIC int
nbdkit_read_password (const char *value, char **password)
{
  /* Plugins usually free the old value before calling us, so never
   * leave a stale pointer behind on error.
   */
  *password = NULL;

  if (strcmp (value, "-") == 0)
    return read_password_interactive (password);
  if (value[0] == '-')
    return read_password_from_fd (&value[1], password);
  if (value[0] == '+')
    return read_password_from_file (&value[1], password);

  *password = strdup (value);
  if (*password == NULL) {
    nbdkit_error ("strdup: %m");
    return -1;
  }
  return 0;
}

/* ------------------------------------------------------------------
 * Sleeping.
 */

static void
timespec_add (struct timespec *t, time_t sec, long nsec)
{
  t->tv_sec += sec;
  t->tv_nsec += nsec;
  if (t->tv_nsec >= 1000000000) {
    t->tv_sec++;
    t->tv_nsec -= 1000000000;
  }
}

/* Returns false when deadline has been reached, else sets *left. */
static bool
time_left (const struct timespec *deadline, struct timespec *left)
{
  struct timespec now;

  clock_gettime (CLOCK_MONOTONIC, &now);
  left->tv_sec = deadline->tv_sec - now.tv_sec;
  left->tv_nsec = deadline->tv_nsec - now.tv_nsec;
  if (left->tv_nsec < 0) {
    left->tv_sec--;
    left->tv_nsec += 1000000000;
  }
  return left->tv_sec >= 0 && (left->tv_sec > 0 || left->tv_nsec > 0);
}

static bool
connection_is_ending (struct connection *conn)
{
  return conn_get_status (conn) < STATUS_ACTIVE;
}

/* Sleep, but wake up as soon as the server is quitting or the current
 * connection is going away (nbdkit_disconnect, the client hanging up,
 * or the connection dying), because then the plugin's request is
 * pointless and would only delay shutdown.
 *
 * We poll on quit_fd (readable once quitting), the connection's
 * disconnect eventfd, and the client socket for hang-up only (events
 * POLLRDHUP, never POLLIN, so pending requests do not wake us).
 * Negative fds are ignored by poll, which covers the configuration
 * phase before the quit pipe exists.
 */
NBDKIT_DLL_PUBLIC int
nbdkit_nanosleep (unsigned sec, unsigned nsec)
{
  struct connection *conn = threadlocal_get_conn ();
  struct timespec deadline, left;
  struct pollfd fds[3];
  nfds_t nfds = 0;
  int r;

  /* nbdkit 1.32.5 rejects INT_MAX itself as well. */
  if (sec >= INT_MAX) {
    nbdkit_error ("sleep request is too long");
    errno = EINVAL;
    return -1;
  }

  fds[nfds++] = (struct pollfd) { .fd = quit_fd, .events = POLLIN };
  if (conn) {
    fds[nfds++] = (struct pollfd) { .fd = conn_disconnect_fd (conn),
                                    .events = POLLIN };
    fds[nfds++] = (struct pollfd) { .fd = conn->sockin,
                                    .events = POLLRDHUP };
  }

  clock_gettime (CLOCK_MONOTONIC, &deadline);
  timespec_add (&deadline, sec + nsec / 1000000000, nsec % 1000000000);

  for (;;) {
    if (quit)
      goto shutting_down;
    if (conn && connection_is_ending (conn))
      goto connection_closed;
    /* A disconnect from before the eventfd existed wrote nothing. */
    if (conn && atomic_load (&conn->soft_disconnect))
      goto connection_closed;
    if (!time_left (&deadline, &left))
      return 0;

    r = ppoll (fds, nfds, &left, NULL);
    if (r == -1) {
      if (errno == EINTR)
        continue;               /* time_left recomputes the remainder */
      nbdkit_error ("poll: %m");
      return -1;
    }
    if (r == 0)
      return 0;

    if (fds[0].revents != 0)
      goto shutting_down;
    if (conn && (fds[1].revents != 0 || fds[2].revents != 0))
      goto connection_closed;
  }

 shutting_down:
  nbdkit_error ("aborting sleep because of server shut down");
  errno = ESHUTDOWN;
  return -1;

 connection_closed:
  nbdkit_error ("aborting sleep because of connection close or error");
  errno = ESHUTDOWN;
  return -1;
}

/* ------------------------------------------------------------------
 * The current connection.
 */

static struct connection *
get_conn_or_error (void)
{
  struct connection *conn = threadlocal_get_conn ();

  if (conn == NULL)
    nbdkit_error ("no connection in this thread");
  return conn;
}

NBDKIT_DLL_PUBLIC const char *
nbdkit_export_name (void)
{
  struct connection *conn = get_conn_or_error ();

  if (conn == NULL)
    return NULL;
  /* Before the client has chosen an export (.preconnect) nbdkit gives
   * the same error as outside a connection.
   */
  if (conn->plugin_exportname)
    return conn->plugin_exportname;
  if (conn->exportname == NULL) {
    nbdkit_error ("no connection in this thread");
    return NULL;
  }
  return conn->exportname;
}

NBDKIT_DLL_PUBLIC int
nbdkit_is_tls (void)
{
  struct connection *conn = get_conn_or_error ();

  if (conn == NULL)
    return -1;
  return conn->using_tls;
}

NBDKIT_DLL_PUBLIC int
nbdkit_peer_name (struct sockaddr *addr, socklen_t *addrlen)
{
  struct connection *conn = get_conn_or_error ();

  if (conn == NULL)
    return -1;
  if (getpeername (conn->sockin, addr, addrlen) == -1) {
    nbdkit_error ("peername: %m");
    return -1;
  }
  return 0;
}

/* The kernel fills in SO_PEERCRED for any connected socket, but only
 * Unix domain sockets carry real credentials (TCP gives pid 0 and
 * uid/gid -1), so anything else is an error rather than a lie.
 */
static int
get_peercred (struct ucred *ucred)
{
  struct connection *conn = get_conn_or_error ();
  socklen_t len = sizeof *ucred;
  int domain;
  socklen_t dlen = sizeof domain;

  if (conn == NULL)
    return -1;
  if (getsockopt (conn->sockin, SOL_SOCKET, SO_PEERCRED, ucred, &len) == -1) {
    nbdkit_error ("getsockopt: SO_PEERCRED: %m");
    return -1;
  }
  if (getsockopt (conn->sockin, SOL_SOCKET, SO_DOMAIN, &domain, &dlen) == -1) {
    nbdkit_error ("getsockopt: SO_DOMAIN: %m");
    return -1;
  }
  if (domain != AF_UNIX) {
    nbdkit_error ("peer credentials are only available "
                  "when the client connects over a Unix domain socket");
    return -1;
  }
  return 0;
}

NBDKIT_DLL_PUBLIC int64_t
nbdkit_peer_pid (void)
{
  struct ucred ucred;

  if (get_peercred (&ucred) == -1)
    return -1;
  return ucred.pid;
}

NBDKIT_DLL_PUBLIC int64_t
nbdkit_peer_uid (void)
{
  struct ucred ucred;

  if (get_peercred (&ucred) == -1)
    return -1;
  return ucred.uid;
}

NBDKIT_DLL_PUBLIC int64_t
nbdkit_peer_gid (void)
{
  struct ucred ucred;

  if (get_peercred (&ucred) == -1)
    return -1;
  return ucred.gid;
}

/* Outside a connection there is nobody to disconnect. */
NBDKIT_DLL_PUBLIC void
nbdkit_disconnect (int force)
{
  struct connection *conn = threadlocal_get_conn ();

  if (conn == NULL) {
    debug ("nbdkit_disconnect called outside a connection: ignored");
    return;
  }
  conn_disconnect (conn, force != 0);
}
