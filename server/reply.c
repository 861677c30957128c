/* reply.c: building the reply to a request.
 *
 * Without structured replies every reply is a simple reply, followed
 * by the data for a successful READ.  With structured replies, READ
 * and BLOCK_STATUS answer with one chunk (data, block status, or an
 * error chunk) carrying the DONE flag; everything else still gets a
 * simple reply, as nbdkit does.
 *
 * A reply is described as at most two iovecs -- the header, kept in
 * the request, and the payload, which is never copied -- so that the
 * caller can send it at once or batch it with others in one writev.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <endian.h>

#include "internal.h"

/* Longest descriptor: what fits in 32 bits, keeping 512-byte alignment. */
#define MAX_EXTENT_LENGTH (UINT32_MAX & ~UINT32_C (511))

struct simple_reply_hdr {
  struct nbd_simple_reply r;
} __attribute__ ((packed));

struct error_chunk_hdr {
  struct nbd_structured_reply hdr;
  struct nbd_structured_reply_error err;
} __attribute__ ((packed));

struct read_chunk_hdr {
  struct nbd_structured_reply hdr;
  struct nbd_structured_reply_offset_data data;
} __attribute__ ((packed));

struct block_status_chunk_hdr {
  struct nbd_structured_reply hdr;
  uint32_t context_id;
} __attribute__ ((packed));

_Static_assert (sizeof (struct read_chunk_hdr) <=
                sizeof ((struct request *) 0)->reply_hdr,
                "reply_hdr is too small");
_Static_assert (sizeof (struct block_status_chunk_hdr) <=
                sizeof ((struct request *) 0)->reply_hdr,
                "reply_hdr is too small");

static void
chunk_header (struct nbd_structured_reply *hdr, const struct request *req,
              uint16_t type, uint32_t length)
{
  hdr->magic = htobe32 (NBD_STRUCTURED_REPLY_MAGIC);
  hdr->flags = htobe16 (NBD_REPLY_FLAG_DONE);
  hdr->type = htobe16 (type);
  hdr->cookie = htobe64 (req->hdr.cookie);
  hdr->length = htobe32 (length);
}

static int
prepare_simple_reply (struct request *req, uint32_t nbd_error,
                      struct iovec *iov)
{
  struct simple_reply_hdr *h = (struct simple_reply_hdr *) req->reply_hdr;

  h->r.magic = htobe32 (NBD_SIMPLE_REPLY_MAGIC);
  h->r.error = htobe32 (nbd_error);
  h->r.cookie = htobe64 (req->hdr.cookie);
  iov[0].iov_base = h;
  iov[0].iov_len = sizeof *h;
  if (req->hdr.type == NBD_CMD_READ && nbd_error == 0 && req->hdr.count) {
    iov[1].iov_base = req->data;
    iov[1].iov_len = req->hdr.count;
    return 2;
  }
  return 1;
}

static int
prepare_error_chunk (struct request *req, uint32_t nbd_error,
                     struct iovec *iov)
{
  struct error_chunk_hdr *h = (struct error_chunk_hdr *) req->reply_hdr;

  chunk_header (&h->hdr, req, NBD_REPLY_TYPE_ERROR, sizeof h->err);
  h->err.error = htobe32 (nbd_error);
  h->err.len = 0;
  iov[0].iov_base = h;
  iov[0].iov_len = sizeof *h;
  return 1;
}

static int
prepare_read_chunk (struct request *req, struct iovec *iov)
{
  struct read_chunk_hdr *h = (struct read_chunk_hdr *) req->reply_hdr;

  if (req->hdr.count == 0) {
    /* An OFFSET_DATA chunk must carry data; answer with NONE. */
    chunk_header (&h->hdr, req, NBD_REPLY_TYPE_NONE, 0);
    iov[0].iov_base = &h->hdr;
    iov[0].iov_len = sizeof h->hdr;
    return 1;
  }
  chunk_header (&h->hdr, req, NBD_REPLY_TYPE_OFFSET_DATA,
                sizeof h->data + req->hdr.count);
  h->data.offset = htobe64 (req->hdr.offset);
  iov[0].iov_base = h;
  iov[0].iov_len = sizeof *h;
  iov[1].iov_base = req->data;
  iov[1].iov_len = req->hdr.count;
  return 2;
}

/* Turn the extents list into base:allocation descriptors covering
 * [offset, offset+count) (exactly one descriptor with REQ_ONE).
 *
 * The list holds only what overlaps the request, and maybe a little
 * more (extents_limit), so it sizes the descriptor array.  An extent
 * longer than a descriptor can say is sent as several descriptors of
 * its type.
 */
static int
prepare_block_status_chunk (struct request *req, struct iovec *iov)
{
  struct block_status_chunk_hdr *h =
    (struct block_status_chunk_hdr *) req->reply_hdr;
  const struct nbdkit_extents *extents = req->extents;
  const uint64_t start = req->hdr.offset;
  const uint64_t end = start + req->hdr.count;
  const bool req_one = req->hdr.flags & NBD_CMD_FLAG_REQ_ONE;
  const size_t nr = nbdkit_extents_count (extents);
  /* A request is shorter than 2^32, so one extent needs at most two
   * descriptors to cover its part of it.
   */
  const size_t max_desc = MIN (nr + 1, (size_t) MAX_REPLY_DESCRIPTORS);
  size_t i = 0, n = 0;
  uint64_t pos = start;
  struct nbd_block_descriptor *desc;

  desc = malloc (max_desc * sizeof *desc);
  if (desc == NULL) {
    nbdkit_error ("malloc: %m");
    return prepare_error_chunk (req, NBD_ENOMEM, iov);
  }

  while (i < nr && pos < end && n < max_desc) {
    const struct nbdkit_extent e = nbdkit_get_extent (extents, i);
    uint64_t e_end = e.offset + e.length;
    uint64_t d_end = e_end;

    if (e_end <= pos) {
      i++;
      continue;
    }
    /* With REQ_ONE the one extent must fit the request.  Otherwise the
     * last extent may run past the end of the request (as nbdkit's do),
     * which saves the client a round trip.
     */
    if (req_one && d_end > end)
      d_end = end;
    if (d_end - pos > MAX_EXTENT_LENGTH)
      d_end = pos + MAX_EXTENT_LENGTH;
    desc[n].length = htobe32 ((uint32_t) (d_end - pos));
    desc[n].status_flags =
      htobe32 (e.type & (NBD_STATE_HOLE | NBD_STATE_ZERO));
    n++;
    pos = d_end;
    if (req_one)
      break;
    /* The rest of a capped extent keeps its own type. */
    if (pos >= e_end)
      i++;
  }

  if (n == 0) {
    free (desc);
    nbdkit_error ("extents do not cover offset %" PRIu64, start);
    return prepare_error_chunk (req, NBD_EINVAL, iov);
  }

  req->reply_extra = desc;
  chunk_header (&h->hdr, req, NBD_REPLY_TYPE_BLOCK_STATUS,
                sizeof h->context_id + n * sizeof *desc);
  h->context_id = htobe32 (1); /* base:allocation */
  iov[0].iov_base = h;
  iov[0].iov_len = sizeof *h;
  iov[1].iov_base = desc;
  iov[1].iov_len = n * sizeof *desc;
  return 2;
}

int
protocol_prepare_reply (struct connection *conn, struct request *req,
                        struct iovec *iov)
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
    return prepare_simple_reply (req, nbd_error, iov);

  if (nbd_error)
    return prepare_error_chunk (req, nbd_error, iov);
  if (cmd == NBD_CMD_READ)
    return prepare_read_chunk (req, iov);
  return prepare_block_status_chunk (req, iov);
}

void
protocol_release_reply (struct request *req)
{
  free (req->reply_extra);
  req->reply_extra = NULL;
}
