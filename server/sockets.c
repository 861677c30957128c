/* sockets.c: listening sockets and the accept loop. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include "internal.h"

char bound_port[16];

int *
bind_unix_socket (size_t *nr)
{
  const char *path = config.unixsocket;
  struct sockaddr_un addr;
  size_t len = strlen (path);
  int *socks;
  int sock;

  if (len >= sizeof addr.sun_path)
    fatal ("%s: Unix domain socket path is too long (max %zu bytes)",
           path, sizeof addr.sun_path - 1);

  sock = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (sock == -1)
    fatal ("socket: %m");

  memset (&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  memcpy (addr.sun_path, path, len + 1);
  if (bind (sock, (struct sockaddr *) &addr, sizeof addr) == -1)
    fatal ("%s: %m", path);
  if (listen (sock, SOMAXCONN) == -1)
    fatal ("listen: %m");

  socks = malloc (sizeof *socks);
  if (socks == NULL)
    fatal ("malloc: %m");
  socks[0] = sock;
  *nr = 1;
  debug ("bound to unix socket %s", path);
  return socks;
}

int *
bind_tcpip_socket (size_t *nr)
{
  const char *port = config.port ? config.port : "10809";
  struct addrinfo hints, *ai, *a;
  int *socks = NULL;
  size_t n = 0;
  int err, saved_errno = 0;
  bool addr_in_use = false;

  memset (&hints, 0, sizeof hints);
  hints.ai_flags = AI_PASSIVE | AI_ADDRCONFIG;
  hints.ai_family = config.ipv4_only ? AF_INET
    : config.ipv6_only ? AF_INET6 : AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  err = getaddrinfo (config.ipaddr, port, &hints, &ai);
  if (err != 0)
    fatal ("getaddrinfo: %s: %s: %s",
           config.ipaddr ? config.ipaddr : "<any>", port, gai_strerror (err));

  for (a = ai; a != NULL; a = a->ai_next) {
    int sock, opt = 1;
    int *nsocks;

    sock = socket (a->ai_family, a->ai_socktype | SOCK_CLOEXEC,
                   a->ai_protocol);
    if (sock == -1) {
      if (errno == EAFNOSUPPORT)
        continue;
      fatal ("socket: %m");
    }
    if (setsockopt (sock, SOL_SOCKET, SO_REUSEADDR, &opt, sizeof opt) == -1)
      fatal ("setsockopt: SO_REUSEADDR: %m");
    /* Keep IPv6 sockets IPv6-only so the IPv4 wildcard can bind too. */
    if (a->ai_family == AF_INET6 &&
        setsockopt (sock, IPPROTO_IPV6, IPV6_V6ONLY, &opt, sizeof opt) == -1)
      fatal ("setsockopt: IPV6_V6ONLY: %m");

    if (bind (sock, a->ai_addr, a->ai_addrlen) == -1) {
      saved_errno = errno;
      if (errno == EADDRINUSE)
        addr_in_use = true;
      close (sock);
      continue;
    }
    if (listen (sock, SOMAXCONN) == -1)
      fatal ("listen: %m");

    /* With -p 0 the kernel picks the port: remember it for --run. */
    if (bound_port[0] == '\0') {
      struct sockaddr_storage ss;
      socklen_t sslen = sizeof ss;
      char serv[sizeof bound_port];

      if (getsockname (sock, (struct sockaddr *) &ss, &sslen) == 0 &&
          getnameinfo ((struct sockaddr *) &ss, sslen, NULL, 0,
                       serv, sizeof serv, NI_NUMERICSERV) == 0)
        snprintf (bound_port, sizeof bound_port, "%s", serv);
    }

    nsocks = realloc (socks, (n + 1) * sizeof *socks);
    if (nsocks == NULL)
      fatal ("realloc: %m");
    socks = nsocks;
    socks[n++] = sock;
  }
  freeaddrinfo (ai);

  if (n == 0) {
    errno = saved_errno;
    if (addr_in_use)
      fatal ("unable to bind to any TCP/IP sockets: port %s: %m", port);
    fatal ("unable to bind to any TCP/IP sockets: %m");
  }
  debug ("bound to %zu TCP/IP socket(s) on port %s", n, bound_port);
  *nr = n;
  return socks;
}

/* Out of file descriptors (or memory): the listening socket stays
 * readable, so the accept loop backs off instead of spinning, and says
 * so once per episode rather than once per attempt.  Clients wait in
 * the listen backlog meanwhile.
 */
#define STARVED_BACKOFF_MS 200
static bool starved;

/* Returns false when accept(2) is starved of resources. */
static bool
accept_connection (int listen_sock)
{
  int sock, opt = 1;

  sock = accept4 (listen_sock, NULL, NULL, SOCK_CLOEXEC);
  if (sock == -1) {
    if (errno == EINTR || errno == EAGAIN || errno == ECONNABORTED)
      return true;
    if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
        errno == ENOMEM) {
      if (!starved)
        nbdkit_error ("accept: %m: new clients wait until connections "
                      "close (raise the limit with ulimit -n)");
      starved = true;
      return false;
    }
    nbdkit_error ("accept: %m");
    return true;
  }
  if (starved) {
    debug ("accept: accepting new clients again");
    starved = false;
  }
  /* Harmless failure on Unix sockets. */
  setsockopt (sock, IPPROTO_TCP, TCP_NODELAY, &opt, sizeof opt);
  debug ("accepted connection");
  start_connection_thread (sock, sock);
  return true;
}

/* Accept connections until quit is set. */
void
accept_incoming_connections (int *socks, size_t nr)
{
  struct pollfd *fds;
  size_t i;

  fds = calloc (nr + 1, sizeof *fds);
  if (fds == NULL)
    fatal ("calloc: %m");
  /* quit_fd first, so that a starved loop can poll it alone. */
  fds[0].fd = quit_fd;
  fds[0].events = POLLIN;
  for (i = 0; i < nr; ++i) {
    fds[i + 1].fd = socks[i];
    fds[i + 1].events = POLLIN;
  }

  while (!quit) {
    bool ok = true;

    if (poll (fds, nr + 1, -1) == -1) {
      if (errno == EINTR)
        continue;
      fatal ("poll: %m");
    }
    if (quit)
      break;
    for (i = 0; i < nr; ++i)
      if (fds[i + 1].revents & POLLIN)
        ok = accept_connection (socks[i]) && ok;
    if (!ok) {
      /* Sleep, but not through a quit. */
      while (poll (fds, 1, STARVED_BACKOFF_MS) == -1 && errno == EINTR)
        ;
    }
  }
  free (fds);

  for (i = 0; i < nr; ++i)
    close (socks[i]);
}
