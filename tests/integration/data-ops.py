#!/usr/bin/python3
# data-ops.py URI [--model|--discard]
#
# Runs a fixed, seeded sequence of requests against the export at URI
# and prints one line per request with its outcome, then the sha256 of
# the whole disk and its allocation map.  Running it against two
# servers serving the same plugin must print the same text.
#
#   --model    also keep a local copy of the disk (initial content read
#              first) and check that every read returns what the
#              successful requests should have left there.
#   --discard  the plugin throws writes away (null): reads are zeroes.
#   --pattern  the disk holds the pattern plugin's content: every 8 byte
#              word is its own offset, big endian.

import errno
import hashlib
import random
import struct
import sys

import nbd

uri = sys.argv[1]
mode = sys.argv[2] if len(sys.argv) > 2 else ""

h = nbd.NBD()
h.add_meta_context(nbd.CONTEXT_BASE_ALLOCATION)
h.connect_uri(uri)
size = h.get_size()
rnd = random.Random(20240611)
CHUNK = 1024 * 1024


def errname(e):
    return errno.errorcode.get(e.errnum, str(e.errnum)) if e.errnum else "?"


def read_all():
    data = bytearray()
    off = 0
    while off < size:
        n = min(CHUNK, size - off)
        data += h.pread(n, off)
        off += n
    return data


model = read_all() if mode == "--model" else None
if mode == "--discard":
    model = bytearray(size)
if mode == "--pattern":
    model = bytearray(b"".join(struct.pack(">Q", i)
                               for i in range(0, size, 8))[:size])


def check(what, off, n):
    if model is None or n == 0:
        return
    got = h.pread(n, off)
    if got != model[off:off + n]:
        print("MISMATCH after %s at %d+%d" % (what, off, n))
        sys.exit(1)


def op(what, fn, off=0, n=0, newdata=None):
    """Run fn(); on success apply newdata to the model."""
    try:
        fn()
    except nbd.Error as e:
        print("%s: error %s" % (what, errname(e)))
        return False
    print("%s: ok" % what)
    if model is not None and newdata is not None and mode != "--discard":
        model[off:off + n] = newdata
    check(what, off, n)
    return True


print("size=%d" % size)
print("read_only=%s" % h.is_read_only())
for name in ["can_flush", "can_trim", "can_zero", "can_fast_zero",
             "can_fua", "can_cache", "can_multi_conn", "can_df",
             "is_rotational"]:
    print("%s=%s" % (name, getattr(h, name)()))

if size > 0 and h.is_read_only():
    # The client would refuse; send the write anyway to see the server's
    # answer.
    h.set_strict_mode(0)
    op("write on read-only export", lambda: h.pwrite(b"x" * 512, 0))
    h.set_strict_mode(nbd.STRICT_MASK)

elif size >= 4 * 1024 * 1024:
    for i in range(8):
        n = rnd.choice([512, 4096, 65536, 1000, 200000])
        off = rnd.randrange(0, size - n)
        buf = rnd.randbytes(n)
        op("pwrite %d+%d" % (off, n), lambda: h.pwrite(buf, off), off, n, buf)
    buf = rnd.randbytes(65536)
    op("pwrite fua", lambda: h.pwrite(buf, 1 << 20, nbd.CMD_FLAG_FUA)
       if h.can_fua() else h.pwrite(buf, 1 << 20), 1 << 20, 65536, buf)
    if h.can_zero():
        op("zero", lambda: h.zero(131072, 1 << 20), 1 << 20, 131072,
           bytes(131072))
        op("pwrite again", lambda: h.pwrite(buf, 1 << 20), 1 << 20, 65536, buf)
        op("zero no_hole", lambda: h.zero(4096, (1 << 20) + 4096,
                                          nbd.CMD_FLAG_NO_HOLE),
           (1 << 20) + 4096, 4096, bytes(4096))
    if h.can_fast_zero():
        # The answer may be success or ENOTSUP: the model is only
        # updated if the server says it zeroed.
        op("fast zero", lambda: h.zero(65536, 3 << 20, nbd.CMD_FLAG_FAST_ZERO),
           3 << 20, 65536, bytes(65536))
    if h.can_trim():
        # Trimmed data may read back as anything, so do not model it
        # and overwrite the area afterwards.
        op("trim", lambda: h.trim(65536, 2 << 20))
        buf2 = rnd.randbytes(65536)
        op("pwrite after trim", lambda: h.pwrite(buf2, 2 << 20), 2 << 20,
           65536, buf2)
    if h.can_flush():
        op("flush", lambda: h.flush())
    if h.can_cache():
        op("cache", lambda: h.cache(65536, 0))
    # A write past the end of the disk must fail.
    h.set_strict_mode(0)
    op("pwrite past end", lambda: h.pwrite(b"x" * 4096, size - 2048))
    op("pread past end", lambda: h.pread(4096, size - 2048))
    h.set_strict_mode(nbd.STRICT_MASK)

if size > 0 and h.can_meta_context(nbd.CONTEXT_BASE_ALLOCATION):
    # Merged allocation map of the whole disk.
    extents = []

    def cb(metacontext, offset, entries, err):
        pos = offset
        for i in range(0, len(entries), 2):
            length, flags = entries[i], entries[i + 1]
            if extents and extents[-1][2] == flags and \
               extents[-1][0] + extents[-1][1] == pos:
                extents[-1][1] += length
            else:
                extents.append([pos, length, flags])
            pos += length
        return 0

    off = 0
    while off < size:
        n = min(size - off, 64 * 1024 * 1024)
        before = sum(e[1] for e in extents)
        h.block_status(n, off, cb)
        covered = sum(e[1] for e in extents)
        if covered <= before:
            print("block_status made no progress at %d" % off)
            sys.exit(1)
        off = covered
    # The last reply may extend past the end of the disk; clip it.
    if extents and extents[-1][0] + extents[-1][1] > size:
        extents[-1][1] = size - extents[-1][0]
    for e in extents:
        print("extent %d %d %d" % tuple(e))

data = read_all()
if model is not None and data != model:
    print("MISMATCH in final read")
    sys.exit(1)
print("sha256=%s" % hashlib.sha256(data).hexdigest())
h.shutdown()
