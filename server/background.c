/* background.c: becoming a daemon, and the pid file. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "internal.h"

void
fork_into_background (void)
{
  pid_t pid;
  int fd;

  if (config.foreground)
    return;

  fflush (NULL);
  pid = fork ();
  if (pid == -1)
    fatal ("fork: %m");
  if (pid > 0)
    _exit (EXIT_SUCCESS);       /* the parent: the child is the server */

  setsid ();
  /* Plugins are told to use absolute paths for exactly this reason:
   * a daemon should not keep the directory it was started in busy.
   */
  if (chdir ("/") == -1)
    nbdkit_error ("chdir: /: %m");

  /* Nobody reads a daemon's stderr: unless debugging, send it nowhere
   * and log errors through syslog.
   */
  if (!config.verbose) {
    fd = open ("/dev/null", O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
      dup2 (fd, STDERR_FILENO);
      close (fd);
    }
  }
  log_daemonized ();
  debug ("forked into background (new pid = %d)", getpid ());
}

/* Write "PID\n" atomically (via rename), so a watcher never sees a
 * partial file.
 */
void
write_pidfile (void)
{
  CLEANUP_FREE char *tmp = NULL;
  char buf[32];
  int fd, len;

  if (config.pidfile == NULL)
    return;

  if (asprintf (&tmp, "%s.tmp%d", config.pidfile, getpid ()) == -1)
    fatal ("asprintf: %m");
  len = snprintf (buf, sizeof buf, "%d\n", getpid ());
  fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, 0644);
  if (fd == -1)
    fatal ("%s: %m", config.pidfile);
  if (write (fd, buf, len) != len || close (fd) == -1) {
    unlink (tmp);
    fatal ("%s: write: %m", config.pidfile);
  }
  if (rename (tmp, config.pidfile) == -1) {
    unlink (tmp);
    fatal ("%s: rename: %m", config.pidfile);
  }
  debug ("written pidfile %s", config.pidfile);
}
