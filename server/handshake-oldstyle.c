/* handshake-oldstyle.c: the oldstyle handshake (-o).
 *
 * The server sends everything in one 152-byte message and the client
 * says nothing: there are no options, no export names (the default
 * export is served), no structured replies.
 */

#include <string.h>
#include <endian.h>

#include "internal.h"

int
protocol_handshake_oldstyle (struct connection *conn)
{
  struct nbd_old_handshake handshake;
  uint64_t exportsize;
  uint16_t eflags;

  if (protocol_common_open (conn, "", &exportsize, &eflags) == -1)
    return -1;

  debug ("oldstyle negotiation: flags: export 0x%x", eflags);

  memset (&handshake, 0, sizeof handshake);
  handshake.nbdmagic = htobe64 (NBD_MAGIC);
  handshake.version = htobe64 (NBD_OLD_VERSION);
  handshake.exportsize = htobe64 (exportsize);
  handshake.gflags = 0;
  handshake.eflags = htobe16 (eflags);

  if (conn_send_full (conn, &handshake, sizeof handshake) == -1) {
    nbdkit_error ("oldstyle handshake: could not send the greeting");
    return -1;
  }
  return 0;
}
