/* handshake.c: what the oldstyle and newstyle handshakes share.
 *
 * Opening the export is deferred until the client has chosen one
 * (EXPORT_NAME, INFO or GO), so that a client which only lists exports
 * or gives up costs no .open.  Opening asks every capability question
 * once, in a fixed order, and turns the answers into the transmission
 * flags.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int
protocol_handshake (struct connection *conn)
{
  int r;

  if (config.oldstyle)
    r = protocol_handshake_oldstyle (conn);
  else
    r = protocol_handshake_newstyle (conn);
  return r;
}

/* Set conn->exportname to the canonical name for what the client
 * asked for: the default export "" is replaced by the plugin's
 * .default_export answer.  Returns -1 if the plugin refuses it.
 */
static int
canonical_export_name (struct connection *conn, const char *requested)
{
  const char *name = requested;
  char *copy;

  if (requested[0] == '\0') {
    name = backend_default_export (top, config.readonly);
    if (name == NULL) {
      nbdkit_error ("the default export (\"\") is not permitted");
      return -1;
    }
  }
  copy = strdup (name);
  if (copy == NULL) {
    nbdkit_error ("strdup: %m");
    return -1;
  }
  free (conn->exportname);
  conn->exportname = copy;
  return 0;
}

/* Finalize and close the open export, if any.  The caller holds the
 * request lock.  Returns -1 if a .finalize failed (the client must then
 * be disconnected).
 */
static int
close_export (struct connection *conn)
{
  int r = 0;

  if (conn->top) {
    r = backend_finalize (conn->top);
    backend_close (conn->top);
    conn->top = NULL;
  }
  return r;
}

int
protocol_common_close (struct connection *conn)
{
  int r;

  lock_request ();
  r = close_export (conn);
  unlock_request ();
  return r;
}

int
protocol_common_open (struct connection *conn, const char *exportname,
                      uint64_t *exportsize, uint16_t *eflags)
{
  struct context *c;
  int64_t size;
  uint16_t flags = NBD_FLAG_HAS_FLAGS;
  int r;

  lock_request ();

  if (close_export (conn) == -1)
    goto err;
  if (canonical_export_name (conn, exportname) == -1)
    goto err;
  c = backend_open (top, config.readonly, conn->exportname, false);
  if (c == NULL)
    goto err;
  conn->top = c;
  /* An error in .prepare fails this option, not the connection. */
  if (backend_prepare (c) == -1)
    goto err_close;

  /* The order of these questions is the one nbdkit uses. */
  size = backend_get_size (c);
  if (size == -1)
    goto err_close;

  r = backend_can_write (c);
  if (r == -1)
    goto err_close;
  if (r == 0)
    flags |= NBD_FLAG_READ_ONLY;

  r = backend_can_zero (c);
  if (r == -1)
    goto err_close;
  if (r != NBDKIT_FUA_NONE)
    flags |= NBD_FLAG_SEND_WRITE_ZEROES;

  r = backend_can_fast_zero (c);
  if (r == -1)
    goto err_close;
  if (r && (flags & NBD_FLAG_SEND_WRITE_ZEROES))
    flags |= NBD_FLAG_SEND_FAST_ZERO;

  r = backend_can_trim (c);
  if (r == -1)
    goto err_close;
  if (r)
    flags |= NBD_FLAG_SEND_TRIM;

  r = backend_can_fua (c);
  if (r == -1)
    goto err_close;
  if (r != NBDKIT_FUA_NONE)
    flags |= NBD_FLAG_SEND_FUA;

  r = backend_can_flush (c);
  if (r == -1)
    goto err_close;
  if (r)
    flags |= NBD_FLAG_SEND_FLUSH;

  r = backend_is_rotational (c);
  if (r == -1)
    goto err_close;
  if (r)
    flags |= NBD_FLAG_ROTATIONAL;

  r = backend_can_multi_conn (c);
  if (r == -1)
    goto err_close;
  /* Multi-conn promises consistency across connections, which a server
   * that serves one connection at a time cannot usefully offer.
   */
  if (r && thread_model > NBDKIT_THREAD_MODEL_SERIALIZE_CONNECTIONS)
    flags |= NBD_FLAG_CAN_MULTI_CONN;

  r = backend_can_cache (c);
  if (r == -1)
    goto err_close;
  if (r != NBDKIT_CACHE_NONE)
    flags |= NBD_FLAG_SEND_CACHE;

  r = backend_can_extents (c);
  if (r == -1)
    goto err_close;

  if (conn->structured_replies)
    flags |= NBD_FLAG_SEND_DF;

  unlock_request ();

  debug ("newstyle negotiation: flags: export 0x%x", flags);
  conn->eflags = flags;
  *exportsize = size;
  *eflags = flags;
  return 0;

 err_close:
  close_export (conn);
 err:
  unlock_request ();
  return -1;
}
