#!/usr/bin/env python3
# probe.py URI OP...: drive an NBD server with libnbd and print one
# line per operation, so that the results from two servers can be
# compared as text.
#
# Operations (fields separated by ':'):
#   info                   size, flags, block sizes and description
#   list                   the export list (NBD_OPT_LIST)
#   pread:OFF:LEN          sha256 of the data read (first 16 hex digits)
#   text:OFF:LEN           the data read, as text without trailing NULs
#   pwrite:OFF:LEN:BYTE[:fua]   write LEN copies of byte BYTE
#   flush
#   trim:OFF:LEN[:fua]
#   zero:OFF:LEN[:fua][:nohole][:fast]
#   cache:OFF:LEN
#   extents:OFF:LEN[:reqone]    base:allocation extents
#   pid                    the server should still be serving: prints OK
#
# A result is "OP -> OK [detail]" or "OP -> ERR <errno name>".  If the
# handshake fails the only line is "CONNECT-ERR <errno name>".

import hashlib
import sys

import nbd


def flags_of(h):
    names = ["can_write", "can_flush", "can_fua", "can_trim", "can_zero",
             "can_fast_zero", "can_cache", "can_multi_conn", "can_df",
             "is_rotational"]
    out = []
    for n in names:
        if n == "can_write":
            v = not h.is_read_only()
        else:
            v = getattr(h, n)()
        out.append("%s=%d" % (n, 1 if v else 0))
    out.append("extents=%d" % (1 if h.can_meta_context(
        nbd.CONTEXT_BASE_ALLOCATION) else 0))
    return " ".join(out)


def info(h):
    parts = ["size=%d" % h.get_size(), flags_of(h)]
    try:
        parts.append("block_size=%d/%d/%d" % (
            h.get_block_size(nbd.SIZE_MINIMUM),
            h.get_block_size(nbd.SIZE_PREFERRED),
            h.get_block_size(nbd.SIZE_MAXIMUM)))
    except nbd.Error:
        parts.append("block_size=none")
    try:
        parts.append("description=%r" % h.get_export_description())
    except nbd.Error:
        parts.append("description=none")
    return " ".join(parts)


def run_op(h, op):
    f = op.split(":")
    name = f[0]
    opts = set(f[3:])
    cflags = 0
    if "fua" in opts:
        cflags |= nbd.CMD_FLAG_FUA
    if "nohole" in opts:
        cflags |= nbd.CMD_FLAG_NO_HOLE
    if "fast" in opts:
        cflags |= nbd.CMD_FLAG_FAST_ZERO
    if "reqone" in opts:
        cflags |= nbd.CMD_FLAG_REQ_ONE

    if name == "info":
        return info(h)
    if name == "pid":
        return ""
    if name == "pread":
        buf = h.pread(int(f[2]), int(f[1]))
        return hashlib.sha256(buf).hexdigest()[:16]
    if name == "text":
        buf = h.pread(int(f[2]), int(f[1]))
        return bytes(buf).rstrip(b"\0").decode("latin-1")
    if name == "pwrite":
        byte = int(f[3])
        cflags = nbd.CMD_FLAG_FUA if "fua" in f[4:] else 0
        h.pwrite(bytes([byte]) * int(f[2]), int(f[1]), cflags)
        return ""
    if name == "flush":
        h.flush()
        return ""
    if name == "trim":
        h.trim(int(f[2]), int(f[1]), cflags)
        return ""
    if name == "zero":
        h.zero(int(f[2]), int(f[1]), cflags)
        return ""
    if name == "cache":
        h.cache(int(f[2]), int(f[1]))
        return ""
    if name == "extents":
        seen = []

        def cb(metacontext, offset, entries, err):
            if metacontext == nbd.CONTEXT_BASE_ALLOCATION:
                pos = offset
                for i in range(0, len(entries), 2):
                    seen.append("%d+%d:%d" % (pos, entries[i], entries[i + 1]))
                    pos += entries[i]
            return 0
        h.block_status(int(f[2]), int(f[1]), cb, cflags)
        return " ".join(seen)
    raise ValueError("unknown operation " + op)


def main():
    uri = sys.argv[1]
    ops = sys.argv[2:]
    h = nbd.NBD()
    h.add_meta_context(nbd.CONTEXT_BASE_ALLOCATION)
    h.set_full_info(True)

    if ops and ops[0] == "list":
        h.set_opt_mode(True)
        try:
            h.connect_uri(uri)
            exports = []

            def cb(name, desc):
                exports.append("%r:%r" % (name, desc))
                return 0
            h.opt_list(cb)
            print("list -> OK " + " ".join(exports))
        except nbd.Error as e:
            print("list -> ERR %s" % e.errno)
        try:
            h.opt_abort()
        except nbd.Error:
            pass
        return

    try:
        h.connect_uri(uri)
    except nbd.Error as e:
        print("CONNECT-ERR %s" % e.errno)
        return
    for op in ops:
        try:
            detail = run_op(h, op)
            print(("%s -> OK %s" % (op, detail)).rstrip())
        except nbd.Error as e:
            print("%s -> ERR %s" % (op, e.errno))
        sys.stdout.flush()
    try:
        h.shutdown()
    except nbd.Error:
        pass


main()
