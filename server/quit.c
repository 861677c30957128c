/* quit.c: asking the server to exit, from a signal or from a plugin.
 *
 * Setting `quit' alone is not enough, because threads are blocked in
 * poll(2) or read(2).  So quitting also writes a byte to a pipe whose
 * read end (quit_fd) is in every poll set that has to notice; the
 * main thread then winds the connections down (connections_shutdown_all).
 * Everything handle_quit does is async-signal-safe.
 */

#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include "internal.h"

_Atomic bool quit;
int quit_fd = -1;
static int quit_write_fd = -1;

void
set_up_quit_pipe (void)
{
  int fds[2];

  if (pipe2 (fds, O_CLOEXEC | O_NONBLOCK) == -1)
    fatal ("pipe2: %m");
  quit_fd = fds[0];
  quit_write_fd = fds[1];
}

void
close_quit_pipe (void)
{
  if (quit_fd >= 0)
    close (quit_fd);
  if (quit_write_fd >= 0)
    close (quit_write_fd);
  quit_fd = quit_write_fd = -1;
}

void
handle_quit (int sig)
{
  int saved_errno = errno;
  char c = 0;
  ssize_t r;

  atomic_store (&quit, true);
  /* The pipe only needs to become readable; if it is full, it already
   * is, so a failed write does not matter.
   */
  r = write (quit_write_fd, &c, 1);
  (void) r;
  errno = saved_errno;
}

void
set_up_signals (void)
{
  struct sigaction sa;

  memset (&sa, 0, sizeof sa);
  sa.sa_flags = SA_RESTART;
  sa.sa_handler = handle_quit;
  sigemptyset (&sa.sa_mask);
  sigaction (SIGINT, &sa, NULL);
  sigaction (SIGQUIT, &sa, NULL);
  sigaction (SIGTERM, &sa, NULL);

  memset (&sa, 0, sizeof sa);
  sa.sa_handler = SIG_IGN;
  sigemptyset (&sa.sa_mask);
  sigaction (SIGPIPE, &sa, NULL);
}

NBDKIT_DLL_PUBLIC void
nbdkit_shutdown (void)
{
  handle_quit (0);
}
