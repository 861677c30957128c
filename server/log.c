/* log.c: error and debug messages.
 *
 * Every message is one line:
 *
 *   nbdkit: [NAME[N]: ]error: MESSAGE
 *   nbdkit: [NAME[N]: ]debug: MESSAGE
 *
 * where NAME is the plugin name and N the connection number when the
 * message comes from a thread serving a connection.  The line is built
 * in memory and written with a single write(2), so lines from several
 * threads never interleave.  errno is preserved across all of these
 * functions, and %m works in formats (glibc's printf implements it; we
 * restore errno right before formatting so %m sees the caller's value).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <syslog.h>
#include <unistd.h>

#include "internal.h"

/* Where errors go once the server is running.  Resolved by log_init. */
static enum log_to log_destination = LOG_TO_STDERR;

void
log_init (void)
{
  switch (config.log_to) {
  case LOG_TO_DEFAULT:
    /* Foreground servers log to stderr; a daemon has no stderr worth
     * writing to, so it uses syslog (see fork_into_background).
     */
    log_destination = LOG_TO_STDERR;
    break;
  default:
    log_destination = config.log_to;
  }
  if (log_destination == LOG_TO_SYSLOG)
    openlog ("nbdkit", LOG_PID, LOG_DAEMON);
}

/* Called after daemonizing. */
void
log_daemonized (void)
{
  if (config.log_to == LOG_TO_DEFAULT) {
    log_destination = LOG_TO_SYSLOG;
    openlog ("nbdkit", LOG_PID, LOG_DAEMON);
  }
}

/* Format "PREFIXMESSAGE\n" into buf (or a malloc'd buffer when it does
 * not fit).  Returns the string and its length; *to_free is set if the
 * caller must free it.
 */
static char *
format_line (char *buf, size_t bufsize, const char *kind, bool with_prefix,
             int saved_errno, const char *fmt, va_list args,
             size_t *len_ret, char **to_free)
{
  char prefix[128];
  int plen = 0;
  va_list copy;
  int mlen;
  char *out = buf;

  *to_free = NULL;
  if (with_prefix) {
    if (thread_state.name && thread_state.instance)
      plen = snprintf (prefix, sizeof prefix, "nbdkit: %s[%" PRIu64 "]: %s: ",
                       thread_state.name, thread_state.instance, kind);
    else if (thread_state.name)
      plen = snprintf (prefix, sizeof prefix, "nbdkit: %s: %s: ",
                       thread_state.name, kind);
    else
      plen = snprintf (prefix, sizeof prefix, "nbdkit: %s: ", kind);
    if (plen < 0)
      plen = 0;
    if ((size_t) plen >= sizeof prefix)
      plen = sizeof prefix - 1;
  }

  va_copy (copy, args);
  errno = saved_errno;
  mlen = vsnprintf (NULL, 0, fmt, copy);
  va_end (copy);
  if (mlen < 0)
    mlen = 0;

  if ((size_t) plen + mlen + 2 > bufsize) {
    out = malloc (plen + mlen + 2);
    if (out == NULL) {
      /* Fall back to a truncated message in the stack buffer. */
      out = buf;
      mlen = bufsize - plen - 2;
    }
    else
      *to_free = out;
  }
  memcpy (out, prefix, plen);
  errno = saved_errno;
  vsnprintf (out + plen, mlen + 1, fmt, args);
  /* Drop a trailing newline the caller may have included. */
  while (mlen > 0 && out[plen + mlen - 1] == '\n')
    mlen--;
  out[plen + mlen] = '\n';
  out[plen + mlen + 1] = '\0';
  *len_ret = plen + mlen + 1;
  return out;
}

static void
write_stderr (const char *s, size_t len)
{
  while (len > 0) {
    ssize_t r = write (STDERR_FILENO, s, len);
    if (r == -1) {
      if (errno == EINTR)
        continue;
      return;
    }
    s += r;
    len -= r;
  }
}

/* Format one line with the "nbdkit: NAME[N]: KIND: " prefix and write
 * it to stderr.
 */
static void
emit_stderr (const char *kind, int saved_errno, const char *fmt,
             va_list args)
{
  char buf[1024];
  char *to_free, *line;
  size_t len;

  line = format_line (buf, sizeof buf, kind, true, saved_errno,
                      fmt, args, &len, &to_free);
  write_stderr (line, len);
  free (to_free);
}

void
log_verror (const char *fmt, va_list args)
{
  int saved_errno = errno;
  char buf[1024];
  char *to_free, *line;
  size_t len;

  switch (log_destination) {
  case LOG_TO_NULL:
    break;

  case LOG_TO_SYSLOG:
    line = format_line (buf, sizeof buf, "error", false, saved_errno,
                        fmt, args, &len, &to_free);
    line[len - 1] = '\0';
    if (thread_state.name && thread_state.instance)
      syslog (LOG_ERR, "%s[%" PRIu64 "]: %s",
              thread_state.name, thread_state.instance, line);
    else if (thread_state.name)
      syslog (LOG_ERR, "%s: %s", thread_state.name, line);
    else
      syslog (LOG_ERR, "%s", line);
    free (to_free);
    break;

  default:
    emit_stderr ("error", saved_errno, fmt, args);
  }
  errno = saved_errno;
}

void
debug_verror (const char *fmt, va_list args)
{
  int saved_errno = errno;

  if (!config.verbose)
    return;
  /* Debug messages always go to stderr (like nbdkit), whatever --log
   * says.
   */
  emit_stderr ("debug", saved_errno, fmt, args);
  errno = saved_errno;
}

void
debug (const char *fmt, ...)
{
  va_list args;

  if (!config.verbose)
    return;
  va_start (args, fmt);
  debug_verror (fmt, args);
  va_end (args);
}

/* Startup errors: "nbdkit: error: MSG" on stderr (whatever --log says,
 * since we are not serving yet), then exit.
 */
void
fatal (const char *fmt, ...)
{
  va_list args;
  int saved_errno = errno;

  va_start (args, fmt);
  emit_stderr ("error", saved_errno, fmt, args);
  va_end (args);
  exit (EXIT_FAILURE);
}

/* Exported to plugins. */

NBDKIT_DLL_PUBLIC void
nbdkit_verror (const char *fmt, va_list args)
{
  log_verror (fmt, args);
}

NBDKIT_DLL_PUBLIC void
nbdkit_error (const char *fmt, ...)
{
  va_list args;

  va_start (args, fmt);
  log_verror (fmt, args);
  va_end (args);
}

NBDKIT_DLL_PUBLIC void
nbdkit_vdebug (const char *fmt, va_list args)
{
  debug_verror (fmt, args);
}

NBDKIT_DLL_PUBLIC void
nbdkit_debug (const char *fmt, ...)
{
  va_list args;
  int saved_errno = errno;

  if (!config.verbose)
    return;
  va_start (args, fmt);
  debug_verror (fmt, args);
  va_end (args);
  errno = saved_errno;
}
