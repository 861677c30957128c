#!/usr/bin/env python3
# Block status: an extent longer than a descriptor can say (4 GiB - 512)
# is sent as several descriptors, every one of them with the extent's
# own type.  (The server used to give the rest of a capped extent the
# type of the extent after it, so a sparse-aware copy skipped data.)
#
# The export: 5 GiB of data, then 3 GiB of hole.  BLOCK_STATUS with
# counts near 2^32 at several offsets, with and without REQ_ONE, over a
# raw socket (every descriptor seen as sent) and through libnbd: every
# byte the reply describes must have the type the plugin gave it.

import struct
import hlib
from hlib import R, GiB

SIZE = 8 * GiB
DATA_END = 5 * GiB              # [0, 5G) data, [5G, 8G) hole+zero


def true_type(pos):
    return 0 if pos < DATA_END else 3


def check_descriptors(offset, count, req_one, descs):
    """descs: [(length, flags)] as sent for a request at OFFSET."""
    if not descs:
        raise AssertionError("no descriptor")
    if req_one and len(descs) != 1:
        raise AssertionError("REQ_ONE: %d descriptors" % len(descs))
    pos = offset
    for length, flags in descs:
        if length == 0:
            raise AssertionError("zero-length descriptor")
        # The descriptor must not straddle a change of type...
        for p in (pos, pos + length - 1):
            if flags != true_type(p):
                raise AssertionError(
                    "bytes %d..%d reported with flags %d, but byte %d has "
                    "type %d (request offset=%d count=%d req_one=%s: %r)" % (
                        pos, pos + length - 1, flags, p, true_type(p),
                        offset, count, req_one, descs))
        if pos < DATA_END < pos + length:
            raise AssertionError("descriptor %d+%d spans the data/hole "
                                 "boundary" % (pos, length))
        pos += length
    if req_one and pos > offset + count:
        raise AssertionError("REQ_ONE descriptor runs past the request")
    if not req_one and pos < min(offset + count, SIZE) and len(descs) < 2:
        raise AssertionError("reply stops short after one descriptor: %r"
                             % descs)


CASES = [
    (0, 2**32 - 1),
    (0, 2**32 - 512),
    (0, 2**32 - 256),
    (512, 2**32 - 1),
    (GiB, 2**32 - 1),
    (DATA_END - 2**32 + 1024, 2**32 - 1),
    (SIZE - 2**32 + 1, 2**32 - 1),
]


def raw():
    srv = R.Server(hlib.edge_plugin(), "size=8G", "extents=5G:data,3G:hole+zero")

    def body(srv):
        c = srv.connect()
        c.newstyle_handshake()
        c.opt_structured_reply()
        c.opt_set_meta_context("")
        c.opt_go("")
        for offset, count in CASES:
            for req_one in (False, True):
                flags = R.CMD_FLAG_REQ_ONE if req_one else 0
                cookie = c.send_request(R.CMD_BLOCK_STATUS, offset, count,
                                        flags)
                err, rcookie, _, chunks = c.read_reply_any()
                if err or rcookie != cookie:
                    raise AssertionError("block status failed: %d" % err)
                (_, rtype, _, payload), = chunks
                if rtype != R.REPLY_TYPE_BLOCK_STATUS:
                    raise AssertionError("chunk type %d" % rtype)
                n = (len(payload) - 4) // 8
                descs = [struct.unpack(">II", payload[4 + 8 * i:12 + 8 * i])
                         for i in range(n)]
                check_descriptors(offset, count, req_one, descs)
        c.disconnect()

    R.run_on(srv, body, lambda s: s.check_alive(data_check=False))


def libnbd():
    nbd = hlib.need_libnbd()
    srv = R.Server(hlib.edge_plugin(), "size=8G", "extents=5G:data,3G:hole+zero")

    def body(srv):
        h = nbd.NBD()
        h.add_meta_context("base:allocation")
        h.connect_unix(srv.sockpath)
        for offset, count in CASES:
            for req_one in (False, True):
                got = []

                def cb(ctx, off, entries, err):
                    got.extend(zip(entries[0::2], entries[1::2]))
                    return 0
                h.block_status(count, offset, cb,
                               nbd.CMD_FLAG_REQ_ONE if req_one else 0)
                check_descriptors(offset, count, req_one, got)
        h.shutdown()

    R.run_on(srv, body, lambda s: s.check_alive(data_check=False))


hlib.main([("raw socket", raw), ("libnbd", libnbd)])
