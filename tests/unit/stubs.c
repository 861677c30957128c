/* stubs.c: the parts of the server a unit test does not link.  See
 * stubs.h.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <sys/eventfd.h>

#include "stubs.h"

/* threadlocal.c, options.c, quit.c */
__thread struct thread_state thread_state;
struct config config;
_Atomic bool quit;
int quit_fd = -1;

char stub_last_error[4096];
unsigned stub_error_count;
char stub_last_debug[4096];
unsigned stub_disconnect_calls;
bool stub_disconnect_force;

unsigned test_failures;
unsigned test_checks;

void
stub_reset (void)
{
  stub_last_error[0] = '\0';
  stub_error_count = 0;
  stub_last_debug[0] = '\0';
  stub_disconnect_calls = 0;
  stub_disconnect_force = false;
}

int
test_finish (const char *name)
{
  fprintf (stderr, "%s: %u checks, %u failed\n",
           name, test_checks, test_failures);
  return test_failures == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* log.c.  Like the real ones these preserve errno, and %m is expanded
 * by glibc's vsnprintf from the caller's errno.
 */
NBDKIT_DLL_PUBLIC void
nbdkit_verror (const char *fmt, va_list args)
{
  int saved_errno = errno;

  vsnprintf (stub_last_error, sizeof stub_last_error, fmt, args);
  stub_error_count++;
  if (getenv ("UNIT_VERBOSE"))
    fprintf (stderr, "error: %s\n", stub_last_error);
  errno = saved_errno;
}

NBDKIT_DLL_PUBLIC void
nbdkit_error (const char *fmt, ...)
{
  va_list args;

  va_start (args, fmt);
  nbdkit_verror (fmt, args);
  va_end (args);
}

NBDKIT_DLL_PUBLIC void
nbdkit_vdebug (const char *fmt, va_list args)
{
  int saved_errno = errno;

  vsnprintf (stub_last_debug, sizeof stub_last_debug, fmt, args);
  errno = saved_errno;
}

NBDKIT_DLL_PUBLIC void
nbdkit_debug (const char *fmt, ...)
{
  va_list args;

  va_start (args, fmt);
  nbdkit_vdebug (fmt, args);
  va_end (args);
}

void
debug (const char *fmt, ...)
{
  va_list args;

  va_start (args, fmt);
  nbdkit_vdebug (fmt, args);
  va_end (args);
}

/* connections.c: record the call and wake sleepers like the real one. */
void
conn_disconnect (struct connection *conn, bool force)
{
  uint64_t one = 1;
  int efd = atomic_load (&conn->disconnect_efd);

  stub_disconnect_calls++;
  stub_disconnect_force = force;
  if (!force)
    atomic_store (&conn->soft_disconnect, true);
  if (efd >= 0 && write (efd, &one, sizeof one) != sizeof one)
    abort ();
}

int
conn_disconnect_fd (struct connection *conn)
{
  int fd = atomic_load (&conn->disconnect_efd);

  if (fd < 0) {
    fd = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (fd == -1)
      abort ();
    atomic_store (&conn->disconnect_efd, fd);
  }
  return fd;
}

/* utils.c is linked in as it is (see meson.build). */
