/* reply.c: sending the reply to a request.
 *
 * Without structured replies every reply is a simple reply, followed
 * by the data for a successful READ.  With structured replies, READ
 * and BLOCK_STATUS answer with one chunk (data, block status, or an
 * error chunk) carrying the DONE flag; everything else still gets a
 * simple reply, as nbdkit does.
 *
 * Each reply is a single writev: header and payload are never copied
 * into one buffer.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <endian.h>

#include "internal.h"

/* Cap on descriptors per BLOCK_STATUS chunk (the protocol suggests
 * not exceeding 2^20).
 */
#define MAX_DESCRIPTORS (1024 * 1024)

static int
send_simple_reply (struct connection *conn, const struct request *req,
                   uint32_t nbd_error)
{
  struct nbd_simple_reply reply;
  struct iovec iov[2];
  int n = 1;

  reply.magic = htobe32 (NBD_SIMPLE_REPLY_MAGIC);
  reply.error = htobe32 (nbd_error);
  reply.cookie = htobe64 (req->hdr.cookie);
  iov[0].iov_base = &reply;
  iov[0].iov_len = sizeof reply;
  if (req->hdr.type == NBD_CMD_READ && nbd_error == 0 && req->hdr.count) {
    iov[1].iov_base = req->buf;
    iov[1].iov_len = req->hdr.count;
    n = 2;
  }
  return conn_send_iov (conn, iov, n);
}

static int
send_error_chunk (struct connection *conn, const struct request *req,
                  uint32_t nbd_error)
{
  struct {
    struct nbd_structured_reply hdr;
    struct nbd_structured_reply_error err;
  } __attribute__ ((packed)) chunk;

  chunk.hdr.magic = htobe32 (NBD_STRUCTURED_REPLY_MAGIC);
  chunk.hdr.flags = htobe16 (NBD_REPLY_FLAG_DONE);
  chunk.hdr.type = htobe16 (NBD_REPLY_TYPE_ERROR);
  chunk.hdr.cookie = htobe64 (req->hdr.cookie);
  chunk.hdr.length = htobe32 (sizeof chunk.err);
  chunk.err.error = htobe32 (nbd_error);
  chunk.err.len = 0;
  return conn_send_full (conn, &chunk, sizeof chunk);
}

static int
send_read_chunk (struct connection *conn, const struct request *req)
{
  struct {
    struct nbd_structured_reply hdr;
    struct nbd_structured_reply_offset_data data;
  } __attribute__ ((packed)) chunk;
  struct iovec iov[2];

  chunk.hdr.magic = htobe32 (NBD_STRUCTURED_REPLY_MAGIC);
  chunk.hdr.flags = htobe16 (NBD_REPLY_FLAG_DONE);
  chunk.hdr.cookie = htobe64 (req->hdr.cookie);
  if (req->hdr.count == 0) {
    /* An OFFSET_DATA chunk must carry data; answer with NONE. */
    chunk.hdr.type = htobe16 (NBD_REPLY_TYPE_NONE);
    chunk.hdr.length = 0;
    return conn_send_full (conn, &chunk.hdr, sizeof chunk.hdr);
  }
  chunk.hdr.type = htobe16 (NBD_REPLY_TYPE_OFFSET_DATA);
  chunk.hdr.length = htobe32 (sizeof chunk.data + req->hdr.count);
  chunk.data.offset = htobe64 (req->hdr.offset);
  iov[0].iov_base = &chunk;
  iov[0].iov_len = sizeof chunk;
  iov[1].iov_base = req->buf;
  iov[1].iov_len = req->hdr.count;
  return conn_send_iov (conn, iov, 2);
}

/* Turn the extents list into base:allocation descriptors covering
 * [offset, offset+count), clipped to the request (and to exactly one
 * descriptor with REQ_ONE), and send them as one chunk.
 */
static int
send_block_status_chunk (struct connection *conn, const struct request *req)
{
  const struct nbdkit_extents *extents = req->extents;
  const uint64_t start = req->hdr.offset;
  const uint64_t end = start + req->hdr.count;
  const bool req_one = req->hdr.flags & NBD_CMD_FLAG_REQ_ONE;
  size_t nr = nbdkit_extents_count (extents);
  size_t i, n = 0;
  uint64_t pos = start;
  CLEANUP_FREE struct nbd_block_descriptor *desc = NULL;
  struct {
    struct nbd_structured_reply hdr;
    uint32_t context_id;
  } __attribute__ ((packed)) chunk;
  struct iovec iov[2];

  if (nr > MAX_DESCRIPTORS)
    nr = MAX_DESCRIPTORS;
  desc = malloc (MAX (nr, 1) * sizeof *desc);
  if (desc == NULL) {
    nbdkit_error ("malloc: %m");
    return send_error_chunk (conn, req, NBD_ENOMEM);
  }

  for (i = 0; i < nr && pos < end; ++i) {
    const struct nbdkit_extent e = nbdkit_get_extent (extents, i);
    uint64_t e_end = e.offset + e.length;
    uint64_t len;

    if (e_end <= pos)
      continue;
    if (e_end > end)
      e_end = end;
    len = e_end - pos;          /* < 2^32 since count is 32 bits */
    desc[n].length = htobe32 ((uint32_t) len);
    desc[n].status_flags = htobe32 (e.type & (NBD_STATE_HOLE|NBD_STATE_ZERO));
    n++;
    pos = e_end;
    if (req_one)
      break;
  }

  if (n == 0) {
    nbdkit_error ("extents do not cover offset %" PRIu64, start);
    return send_error_chunk (conn, req, NBD_EINVAL);
  }

  chunk.hdr.magic = htobe32 (NBD_STRUCTURED_REPLY_MAGIC);
  chunk.hdr.flags = htobe16 (NBD_REPLY_FLAG_DONE);
  chunk.hdr.type = htobe16 (NBD_REPLY_TYPE_BLOCK_STATUS);
  chunk.hdr.cookie = htobe64 (req->hdr.cookie);
  chunk.hdr.length = htobe32 (sizeof chunk.context_id + n * sizeof *desc);
  chunk.context_id = htobe32 (1); /* base:allocation */
  iov[0].iov_base = &chunk;
  iov[0].iov_len = sizeof chunk;
  iov[1].iov_base = desc;
  iov[1].iov_len = n * sizeof *desc;
  return conn_send_iov (conn, iov, 2);
}

int
protocol_send_reply (struct connection *conn, struct request *req)
{
  const uint16_t cmd = req->hdr.type;
  uint32_t nbd_error = 0;

  if (req->error) {
    nbd_error = nbd_errno (req->error, req->hdr.flags);
    if (unlikely (config.verbose))
      debug ("sending error reply: %s", strerror (req->error));
  }

  if (!conn->structured_replies ||
      (cmd != NBD_CMD_READ && cmd != NBD_CMD_BLOCK_STATUS))
    return send_simple_reply (conn, req, nbd_error);

  if (nbd_error)
    return send_error_chunk (conn, req, nbd_error);
  if (cmd == NBD_CMD_READ)
    return send_read_chunk (conn, req);
  return send_block_status_chunk (conn, req);
}
