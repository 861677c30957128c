/* protocol.c: checking and running one NBD request.
 *
 * Validation happens before the payload of a write is read, using only
 * what the handshake negotiated (sizes and flags are cached per
 * connection), so a bad request costs no plugin call.  Running a request
 * maps it onto the backend_* functions and records the errno to send.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>

#include "internal.h"

const char *
name_of_nbd_cmd (unsigned cmd)
{
  switch (cmd) {
  case NBD_CMD_READ: return "NBD_CMD_READ";
  case NBD_CMD_WRITE: return "NBD_CMD_WRITE";
  case NBD_CMD_DISC: return "NBD_CMD_DISC";
  case NBD_CMD_FLUSH: return "NBD_CMD_FLUSH";
  case NBD_CMD_TRIM: return "NBD_CMD_TRIM";
  case NBD_CMD_CACHE: return "NBD_CMD_CACHE";
  case NBD_CMD_WRITE_ZEROES: return "NBD_CMD_WRITE_ZEROES";
  case NBD_CMD_BLOCK_STATUS: return "NBD_CMD_BLOCK_STATUS";
  default: return "unknown";
  }
}

/* The NBD protocol has only a handful of error numbers; map the host
 * errno onto them the way nbdkit does.
 */
uint32_t
nbd_errno (int err, uint16_t flags)
{
  switch (err) {
  case 0:
    return NBD_SUCCESS;
  case EROFS:
  case EPERM:
    return NBD_EPERM;
  case EIO:
    return NBD_EIO;
  case ENOMEM:
    return NBD_ENOMEM;
#ifdef EDQUOT
  case EDQUOT:
#endif
  case EFBIG:
  case ENOSPC:
    return NBD_ENOSPC;
#ifdef ESHUTDOWN
  case ESHUTDOWN:
    return NBD_ESHUTDOWN;
#endif
  case ENOTSUP:
#if EOPNOTSUPP != ENOTSUP
  case EOPNOTSUPP:
#endif
    if (flags & NBD_CMD_FLAG_FAST_ZERO)
      return NBD_ENOTSUP;
    return NBD_EINVAL;
  case EOVERFLOW:
    if (flags & NBD_CMD_FLAG_DF)
      return NBD_EOVERFLOW;
    return NBD_EINVAL;
  case EINVAL:
  default:
    return NBD_EINVAL;
  }
}

#define KNOWN_FLAGS (NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_NO_HOLE |          \
                     NBD_CMD_FLAG_DF | NBD_CMD_FLAG_REQ_ONE |           \
                     NBD_CMD_FLAG_FAST_ZERO)

uint32_t
protocol_validate_request (struct connection *conn,
                           const struct nbd_request *req)
{
  const unsigned cmd = req->type;
  const uint16_t flags = req->flags;
#define name name_of_nbd_cmd (cmd)  /* only evaluated for messages */

  switch (cmd) {
  case NBD_CMD_READ:
  case NBD_CMD_WRITE:
  case NBD_CMD_FLUSH:
  case NBD_CMD_TRIM:
  case NBD_CMD_CACHE:
  case NBD_CMD_WRITE_ZEROES:
  case NBD_CMD_BLOCK_STATUS:
    break;
  default:
    nbdkit_error ("invalid request: unknown command (%u) ignored", cmd);
    return EINVAL;
  }

  /* Flags. */
  if (flags & ~KNOWN_FLAGS) {
    nbdkit_error ("invalid request: unknown flag (0x%x)", flags);
    return EINVAL;
  }
  if ((flags & NBD_CMD_FLAG_NO_HOLE) && cmd != NBD_CMD_WRITE_ZEROES) {
    nbdkit_error ("invalid request: NO_HOLE flag needs WRITE_ZEROES");
    return EINVAL;
  }
  if ((flags & NBD_CMD_FLAG_FAST_ZERO) &&
      (cmd != NBD_CMD_WRITE_ZEROES || !conn->top->can_fast_zero)) {
    nbdkit_error ("invalid request: FAST_ZERO flag needs WRITE_ZEROES "
                  "and fast zero support");
    return EINVAL;
  }
  if ((flags & NBD_CMD_FLAG_DF) &&
      (cmd != NBD_CMD_READ || !conn->structured_replies)) {
    nbdkit_error ("invalid request: DF flag needs READ and structured "
                  "replies");
    return EINVAL;
  }
  if ((flags & NBD_CMD_FLAG_REQ_ONE) && cmd != NBD_CMD_BLOCK_STATUS) {
    nbdkit_error ("invalid request: REQ_ONE flag needs BLOCK_STATUS");
    return EINVAL;
  }
  if ((flags & NBD_CMD_FLAG_FUA) &&
      conn->top->can_fua == NBDKIT_FUA_NONE) {
    nbdkit_error ("invalid request: FUA flag not supported");
    return EINVAL;
  }

  /* Writes on a read-only export. */
  if (!conn->top->can_write &&
      (cmd == NBD_CMD_WRITE || cmd == NBD_CMD_TRIM ||
       cmd == NBD_CMD_WRITE_ZEROES)) {
    nbdkit_error ("invalid request: %s: write request on readonly "
                  "connection", name);
    return EROFS;
  }

  /* Offset and count. */
  if (cmd == NBD_CMD_FLUSH) {
    if (req->offset != 0 || req->count != 0) {
      nbdkit_error ("invalid request: %s: expecting offset and count = 0",
                    name);
      return EINVAL;
    }
  }
  else if (!backend_valid_range (conn->top, req->offset, req->count)) {
    nbdkit_error ("invalid request: %s: offset and count are out of range: "
                  "offset=%" PRIu64 " count=%" PRIu32,
                  name, req->offset, req->count);
    return (cmd == NBD_CMD_WRITE || cmd == NBD_CMD_WRITE_ZEROES) ?
      ENOSPC : EINVAL;
  }

  if ((cmd == NBD_CMD_READ || cmd == NBD_CMD_WRITE) &&
      req->count > MAX_REQUEST_SIZE) {
    nbdkit_error ("invalid request: %s: data request is too large "
                  "(%" PRIu32 " > %d)", name, req->count, MAX_REQUEST_SIZE);
    return ENOMEM;
  }

  /* Commands that need features the export does not have. */
  switch (cmd) {
  case NBD_CMD_FLUSH:
    if (!conn->top->can_flush) {
      nbdkit_error ("invalid request: %s: flush operation not supported",
                    name);
      return EINVAL;
    }
    break;
  case NBD_CMD_TRIM:
    if (!conn->top->can_trim) {
      nbdkit_error ("invalid request: %s: trim operation not supported",
                    name);
      return EINVAL;
    }
    break;
  case NBD_CMD_WRITE_ZEROES:
    if (conn->top->can_zero == NBDKIT_FUA_NONE) {
      nbdkit_error ("invalid request: %s: write zeroes operation not "
                    "supported", name);
      return EINVAL;
    }
    break;
  case NBD_CMD_CACHE:
    if (conn->top->can_cache == NBDKIT_CACHE_NONE) {
      nbdkit_error ("invalid request: %s: cache operation not supported",
                    name);
      return EINVAL;
    }
    break;
  case NBD_CMD_BLOCK_STATUS:
    if (!conn->structured_replies || !conn->meta_base_allocation) {
      nbdkit_error ("invalid request: %s: block status needs structured "
                    "replies and the base:allocation context", name);
      return EINVAL;
    }
    if (req->count == 0) {
      nbdkit_error ("invalid request: %s: count must not be 0", name);
      return EINVAL;
    }
    break;
  }

  return 0;
#undef name
}

void
protocol_handle_request (struct connection *conn, struct request *req)
{
  const uint16_t f = req->hdr.flags;
  const uint32_t count = req->hdr.count;
  const uint64_t offset = req->hdr.offset;
  uint32_t flags = 0;
  int err = 0;
  int r = 0;

  if (req->error)
    return;
  if (unlikely (atomic_load_explicit (&conn->soft_disconnect,
                                      memory_order_relaxed))) {
    req->error = ESHUTDOWN;
    return;
  }

  if (f & NBD_CMD_FLAG_FUA)
    flags |= NBDKIT_FLAG_FUA;

  switch (req->hdr.type) {
  case NBD_CMD_READ:
    if (count > 0)
      r = backend_pread_valid (conn->top, req->data, count, offset, &err);
    break;

  case NBD_CMD_WRITE:
    if (count > 0)
      r = backend_pwrite_valid (conn->top, req->data, count, offset, flags,
                                &err);
    break;

  case NBD_CMD_FLUSH:
    r = backend_flush (conn->top, 0, &err);
    break;

  case NBD_CMD_TRIM:
    if (count > 0)
      r = backend_trim (conn->top, count, offset, flags, &err);
    break;

  case NBD_CMD_CACHE:
    if (count > 0)
      r = backend_cache (conn->top, count, offset, 0, &err);
    break;

  case NBD_CMD_WRITE_ZEROES:
    if (!(f & NBD_CMD_FLAG_NO_HOLE))
      flags |= NBDKIT_FLAG_MAY_TRIM;
    if (f & NBD_CMD_FLAG_FAST_ZERO)
      flags |= NBDKIT_FLAG_FAST_ZERO;
    if (count > 0)
      r = backend_zero (conn->top, count, offset, flags, &err);
    break;

  case NBD_CMD_BLOCK_STATUS:
    if (f & NBD_CMD_FLAG_REQ_ONE)
      flags |= NBDKIT_FLAG_REQ_ONE;
    /* Plugins may describe more than was asked for (up to the end of
     * the export); the reply is clipped to the request.
     */
    req->extents = nbdkit_extents_new (offset, conn->top->exportsize);
    if (req->extents == NULL) {
      err = ENOMEM;
      r = -1;
      break;
    }
    /* One descriptor may be split in two to fit 32 bits. */
    extents_limit (req->extents,
                   (f & NBD_CMD_FLAG_REQ_ONE) ? offset + 1 : offset + count,
                   MAX_REPLY_DESCRIPTORS - 1);
    r = backend_extents (conn->top, count, offset, flags, req->extents,
                         &err);
    break;

  default:
    abort ();                   /* rejected by validation */
  }

  if (r == -1)
    req->error = err ? err : EIO;
}
