/* captive.c: --run 'COMMAND'.
 *
 * After the sockets are bound the process forks.  The child carries on
 * as the server; the parent runs COMMAND through /bin/sh with the
 * shell variables $uri (also $nbd), $exportname, $port and $unixsocket
 * ($tls only when TLS is enabled) describing how to reach the server.  When COMMAND exits
 * the server is sent SIGTERM and reaped, and the parent exits with
 * COMMAND's status (128+N if it died of signal N) -- unless COMMAND
 * succeeded and the server had already failed, in which case the
 * server's failure is reported.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <signal.h>
#include <unistd.h>
#include <sys/types.h>
#include <sys/wait.h>

#include "internal.h"

/* Saved copies of the original stdin and stdout (main.c). */
extern int saved_stdin, saved_stdout;

static void
append (char **buf, size_t *len, const char *s)
{
  size_t n = strlen (s);
  char *p = realloc (*buf, *len + n + 1);

  if (p == NULL)
    fatal ("realloc: %m");
  memcpy (p + *len, s, n + 1);
  *buf = p;
  *len += n;
}

/* Percent-encode what may not appear literally in a URI path/query. */
static void
append_uri_encoded (char **buf, size_t *len, const char *s, bool keep_slash)
{
  char tmp[4];

  for (; *s; ++s) {
    unsigned char c = *s;

    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
        (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
        c == '~' || (keep_slash && c == '/')) {
      tmp[0] = c;
      tmp[1] = '\0';
    }
    else
      snprintf (tmp, sizeof tmp, "%%%02X", c);
    append (buf, len, tmp);
  }
}

/* name='value' with the value quoted for the shell. */
static void
append_shell_var (char **buf, size_t *len, const char *name,
                  const char *value)
{
  const char *p;
  char c[2] = { 0, 0 };

  append (buf, len, name);
  append (buf, len, "='");
  for (p = value; *p; ++p) {
    if (*p == '\'')
      append (buf, len, "'\\''");
    else {
      c[0] = *p;
      append (buf, len, c);
    }
  }
  append (buf, len, "'\n");
}

static char *
make_uri (void)
{
  const char *exportname = config.exportname ? config.exportname : "";
  char *uri = NULL;
  size_t len = 0;

  if (config.unixsocket) {
    append (&uri, &len, "nbd+unix://");
    if (exportname[0]) {
      append (&uri, &len, "/");
      append_uri_encoded (&uri, &len, exportname, false);
    }
    append (&uri, &len, "?socket=");
    append_uri_encoded (&uri, &len, config.unixsocket, true);
  }
  else {
    /* nbdkit always says localhost, whatever -i was given. */
    append (&uri, &len, "nbd://localhost:");
    append (&uri, &len, bound_port[0] ? bound_port :
            config.port ? config.port : "10809");
    if (exportname[0]) {
      append (&uri, &len, "/");
      append_uri_encoded (&uri, &len, exportname, false);
    }
  }
  return uri;
}

static int
exit_status_of (int status)
{
  if (WIFEXITED (status))
    return WEXITSTATUS (status);
  if (WIFSIGNALED (status))
    return 128 + WTERMSIG (status);
  return EXIT_FAILURE;
}

void
run_command (void)
{
  CLEANUP_FREE char *uri = NULL;
  char *script = NULL;
  size_t len = 0;
  pid_t pid;
  int status, r, server_status;

  if (config.run == NULL)
    return;

  uri = make_uri ();
  append_shell_var (&script, &len, "uri", uri);
  append_shell_var (&script, &len, "nbd", uri);
  append_shell_var (&script, &len, "exportname",
                    config.exportname ? config.exportname : "");
  /* $tls is only set when TLS is on, which it never is (yet). */
  append_shell_var (&script, &len, "port",
                    config.unixsocket ? "" :
                    bound_port[0] ? bound_port :
                    config.port ? config.port : "10809");
  append_shell_var (&script, &len, "unixsocket",
                    config.unixsocket ? config.unixsocket : "");
  append (&script, &len, config.run);

  fflush (NULL);
  pid = fork ();
  if (pid == -1)
    fatal ("fork: %m");
  if (pid == 0) {               /* the server */
    free (script);
    return;
  }

  /* The parent runs the command with the original stdin/stdout. */
  if (saved_stdin >= 0)
    dup2 (saved_stdin, STDIN_FILENO);
  if (saved_stdout >= 0)
    dup2 (saved_stdout, STDOUT_FILENO);

  debug ("--run: %s", config.run);
  r = system (script);
  free (script);
  if (r == -1) {
    nbdkit_error ("--run: could not run the command: %m");
    r = EXIT_FAILURE;
  }
  else
    r = exit_status_of (r);

  /* Did the server die on its own while the command ran? */
  if (waitpid (pid, &status, WNOHANG) == pid) {
    server_status = exit_status_of (status);
    if (r == 0 && server_status != 0)
      r = server_status;
  }
  else {
    kill (pid, SIGTERM);
    while (waitpid (pid, &status, 0) == -1 && errno == EINTR)
      ;
  }
  /* The plugin belongs to the child now: do not run its destructors
   * or atexit handlers a second time here.
   */
  fflush (NULL);
  _exit (r);
}
