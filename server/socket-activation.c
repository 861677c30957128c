/* socket-activation.c: systemd-style socket activation.
 *
 * If LISTEN_PID is our pid and LISTEN_FDS = N (1..16), the listening
 * sockets are fds 3 .. 3+N-1, already bound.  Both variables are removed
 * from the environment so that child processes (--run commands, plugin
 * helpers) do not think the sockets are meant for them.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "internal.h"

#define FIRST_SOCKET_ACTIVATION_FD 3
#define MAX_SOCKET_ACTIVATION_FDS 16

unsigned
get_socket_activation (void)
{
  const char *s;
  int64_t pid;
  unsigned nr, i;

  s = getenv ("LISTEN_PID");
  if (s == NULL)
    return 0;
  if (nbdkit_parse_int64_t ("LISTEN_PID", s, &pid) == -1)
    return 0;
  if (pid != getpid ()) {
    fprintf (stderr, "nbdkit: warning: LISTEN_PID (%s) is not for us: "
             "ignoring socket activation\n", s);
    return 0;
  }
  s = getenv ("LISTEN_FDS");
  if (s == NULL)
    return 0;
  if (nbdkit_parse_unsigned ("LISTEN_FDS", s, &nr) == -1)
    return 0;
  if (nr < 1 || nr > MAX_SOCKET_ACTIVATION_FDS) {
    fprintf (stderr, "nbdkit: warning: LISTEN_FDS must be between 1 and "
             "%d: ignoring socket activation\n", MAX_SOCKET_ACTIVATION_FDS);
    return 0;
  }

  unsetenv ("LISTEN_PID");
  unsetenv ("LISTEN_FDS");
  unsetenv ("LISTEN_FDNAMES");

  for (i = 0; i < nr; ++i) {
    int fd = FIRST_SOCKET_ACTIVATION_FD + i;
    int flags = fcntl (fd, F_GETFD);

    if (flags == -1)
      fatal ("socket activation: fd %d is not open: %m", fd);
    if (fcntl (fd, F_SETFD, flags | FD_CLOEXEC) == -1)
      fatal ("socket activation: fcntl: %m");
  }
  return nr;
}

int *
bind_socket_activation (size_t *nr)
{
  int *socks;
  unsigned i;

  socks = malloc (config.listen_fds * sizeof *socks);
  if (socks == NULL)
    fatal ("malloc: %m");
  for (i = 0; i < config.listen_fds; ++i)
    socks[i] = FIRST_SOCKET_ACTIVATION_FD + i;
  *nr = config.listen_fds;
  debug ("using %u socket(s) from socket activation", config.listen_fds);
  return socks;
}
