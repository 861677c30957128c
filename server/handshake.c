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
    name = backend_default_export (conn, config.readonly);
    if (name == NULL) {
      nbdkit_error ("the default export (\"\") is not permitted by "
                    "this plugin");
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

int
protocol_common_open (struct connection *conn, const char *exportname,
                      uint64_t *exportsize, uint16_t *eflags)
{
  int64_t size;
  uint16_t flags = NBD_FLAG_HAS_FLAGS;
  int r;

  lock_request ();

  if (canonical_export_name (conn, exportname) == -1)
    goto err;
  if (backend_open (conn, config.readonly) == -1)
    goto err;

  /* The order of these questions is the one nbdkit uses. */
  size = backend_get_size (conn);
  if (size == -1)
    goto err_close;

  r = backend_can_write (conn);
  if (r == -1)
    goto err_close;
  if (r == 0)
    flags |= NBD_FLAG_READ_ONLY;

  r = backend_can_zero (conn);
  if (r == -1)
    goto err_close;
  if (r != NBDKIT_FUA_NONE)
    flags |= NBD_FLAG_SEND_WRITE_ZEROES;

  r = backend_can_fast_zero (conn);
  if (r == -1)
    goto err_close;
  if (r && (flags & NBD_FLAG_SEND_WRITE_ZEROES))
    flags |= NBD_FLAG_SEND_FAST_ZERO;

  r = backend_can_trim (conn);
  if (r == -1)
    goto err_close;
  if (r)
    flags |= NBD_FLAG_SEND_TRIM;

  r = backend_can_fua (conn);
  if (r == -1)
    goto err_close;
  if (r != NBDKIT_FUA_NONE)
    flags |= NBD_FLAG_SEND_FUA;

  r = backend_can_flush (conn);
  if (r == -1)
    goto err_close;
  if (r)
    flags |= NBD_FLAG_SEND_FLUSH;

  r = backend_is_rotational (conn);
  if (r == -1)
    goto err_close;
  if (r)
    flags |= NBD_FLAG_ROTATIONAL;

  r = backend_can_multi_conn (conn);
  if (r == -1)
    goto err_close;
  /* Multi-conn promises consistency across connections, which a server
   * that serves one connection at a time cannot usefully offer.
   */
  if (r && thread_model > NBDKIT_THREAD_MODEL_SERIALIZE_CONNECTIONS)
    flags |= NBD_FLAG_CAN_MULTI_CONN;

  r = backend_can_cache (conn);
  if (r == -1)
    goto err_close;
  if (r != NBDKIT_CACHE_NONE)
    flags |= NBD_FLAG_SEND_CACHE;

  r = backend_can_extents (conn);
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
  backend_close (conn);
 err:
  unlock_request ();
  return -1;
}
