#!/usr/bin/python3
# Malformed and out-of-bounds requests in the transmission phase, from a
# raw socket: bad magic, out-of-range offsets, oversized requests,
# unknown commands and flags, cut-off writes, and the error chunk
# format.  After each case the server must still serve a normal client
# with correct data and stop cleanly.

import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nbdraw as R  # noqa: E402

MEM = R.plugin("memory")
SIZE = 1 << 20
BIG = 256 << 20          # for requests over the 64 MiB limit
MAXREQ = 64 << 20


def run(body, size=SIZE, extra=()):
    R.run_on(R.Server(MEM, "size=%d" % size, extra=extra), body,
             lambda s: s.check_alive(size=size))


def client(s, sr=True, meta=False):
    c = s.connect()
    c.newstyle_handshake()
    if sr:
        c.opt_structured_reply()
    if meta:
        c.opt_set_meta_context()
    c.opt_go("")
    return c


def expect_err(c, want, cmd, offset=0, length=0, flags=0, payload=b"", what=""):
    if isinstance(want, int):
        want = (want,)
    err, _ = c.request(cmd, offset, length, flags, payload)
    if err not in want:
        raise AssertionError("%s: error %d, expected %s" % (what, err, want))


def usable(c, off=0):
    """The connection still works: write, then read back."""
    pat = os.urandom(4096)
    c.write(off, pat)
    if c.read(off, 4096) != pat:
        raise AssertionError("connection returns wrong data")


# ---- framing -----------------------------------------------------------

def bad_request_magic(s):
    for sr in (False, True):
        for magic in (0, 0x12345678, R.SIMPLE_REPLY_MAGIC, R.REQUEST_MAGIC ^ 0x100):
            c = client(s, sr)
            c.send_request(R.CMD_READ, 0, 512, magic=magic)
            c.expect_closed("after request magic 0x%x" % magic)


def garbage_after_go(s):
    c = client(s)
    c.send(os.urandom(4096))
    c.expect_closed("after random bytes")


def cut_write(s):
    # Header promises 64 KiB of payload, 1000 bytes arrive, then EOF.
    for sr in (False, True):
        c = client(s, sr)
        c.send(struct.pack(">IHHQQI", R.REQUEST_MAGIC, 0, R.CMD_WRITE, 1, 0, 65536)
               + b"x" * 1000)
        c.sock.shutdown(1)
        c.expect_closed("after a cut-off write")
    # And hanging up in the middle of a request header.
    c = client(s)
    c.send(struct.pack(">IHH", R.REQUEST_MAGIC, 0, R.CMD_READ))
    c.close()
    # The data of the cut-off write must not have been written.
    c = client(s)
    assert c.read(0, 1000) == bytes(1000), "partial write reached the disk"


# ---- bounds ------------------------------------------------------------

def out_of_range(s):
    for sr in (False, True):
        c = client(s, sr)
        for off, ln in ((SIZE, 512), (SIZE - 256, 512), (2**64 - 512, 512),
                        (2**63, 1), (SIZE + 4096, 4096)):
            expect_err(c, R.EINVAL, R.CMD_READ, off, ln, what="read %d+%d" % (off, ln))
            expect_err(c, R.EINVAL, R.CMD_TRIM, off, ln, what="trim %d+%d" % (off, ln))
            expect_err(c, R.EINVAL, R.CMD_CACHE, off, ln, what="cache %d+%d" % (off, ln))
            expect_err(c, R.ENOSPC, R.CMD_WRITE, off, ln, payload=b"p" * ln,
                       what="write %d+%d" % (off, ln))
            expect_err(c, R.ENOSPC, R.CMD_WRITE_ZEROES, off, ln,
                       what="zero %d+%d" % (off, ln))
        # The last byte is in range.
        c.write(SIZE - 512, b"e" * 512)
        assert c.read(SIZE - 512, 512) == b"e" * 512
        usable(c)


def oversized(s):
    # A READ over 64 MiB is refused with ENOMEM (nbdkit's choice: the
    # request is valid but too big for the server's buffers), unless it
    # is out of range, which is checked first (EINVAL).  The connection
    # stays usable.  Exactly 64 MiB is fine.
    for sr in (False, True):
        c = client(s, sr)
        expect_err(c, R.ENOMEM, R.CMD_READ, 0, MAXREQ + 1,
                   what="read of 64 MiB + 1")
        expect_err(c, R.EINVAL, R.CMD_READ, 0, 0xffffffff,
                   what="read of 4 GiB - 1 (past the end)")
        usable(c)
        assert len(c.read(0, MAXREQ)) == MAXREQ
        usable(c)


def oversized_write(s):
    # A WRITE over 64 MiB: the server answers with exactly one simple
    # reply carrying ENOMEM (also with structured replies: a simple
    # reply is allowed for anything but READ), reads and drops the
    # payload so it stays in step with the client, writes nothing, and
    # the connection stays usable.  Debian's nbdkit does exactly this up
    # to 128 MiB of payload; beyond that it hangs up at once (next
    # case).  The payload is made of valid READ requests, so a server
    # that took it for requests would send replies we would see.
    fake = struct.pack(">IHHQQI", R.REQUEST_MAGIC, 0, R.CMD_READ,
                       0xbad, 0, 512)
    off = MAXREQ * 2          # a region nothing else in this case writes
    for sr, count in ((False, MAXREQ + 1), (True, MAXREQ + 1),
                      (False, 2 * MAXREQ)):
        c = client(s, sr)
        payload = (fake * (count // len(fake) + 1))[:count]
        wcookie = 0x0102030405060708 + count
        c.send_request(R.CMD_WRITE, off, count, payload=payload,
                       cookie=wcookie)
        # Straight after: a read of the start of the region.
        rcookie = c.send_request(R.CMD_READ, off, 4096)
        got = c.recv_exact(16)
        want = struct.pack(">IIQ", R.SIMPLE_REPLY_MAGIC, R.ENOMEM, wcookie)
        assert got == want, "write of %d (SR %s): reply %s, expected %s" % (
            count, sr, got.hex(), want.hex())
        # The very next reply is the read's, with zeroes: nothing was
        # written and the payload did not turn into requests.
        err, rc, data, _ = c.read_reply_any(4096)
        assert (err, rc) == (0, rcookie), (err, rc, rcookie)
        assert data == bytes(4096), "oversized write reached the disk"
        usable(c)
        # The whole region the write would have covered is untouched.
        for o in range(off, off + count, MAXREQ):
            n = min(MAXREQ, off + count - o)
            assert c.read(o, n) == bytes(n), \
                "oversized write reached the disk at %d" % o
        c.disconnect()


def oversized_write_hangup(s):
    # Over 128 MiB the payload is not worth reading: the server hangs
    # up without a reply (Debian's nbdkit: "write request too large to
    # skip").  Nothing is written.
    for sr in (False, True):
        c = client(s, sr)
        try:
            c.send_request(R.CMD_WRITE, 0, 2 * MAXREQ + 1,
                           payload=b"\x01" * 65536)
        except R.Closed:
            pass              # already closed while we were sending
        try:
            data = c.sock.recv(65536)
        except ConnectionResetError:
            data = b""
        assert data == b"", "reply to a write of 128 MiB + 1: %s" % data.hex()
    c = client(s)
    assert c.read(0, 65536) == bytes(65536), "the write reached the disk"


# ---- commands and flags ------------------------------------------------

def unknown_commands(s):
    for sr in (False, True):
        c = client(s, sr)
        for cmd in (8, 9, 100, 0xffff):
            expect_err(c, R.EINVAL, cmd, 0, 512, what="command %d" % cmd)
        usable(c)


def bad_flags(s):
    c = client(s, sr=False)
    # DF needs structured replies.
    expect_err(c, R.EINVAL, R.CMD_READ, 0, 512, flags=R.CMD_FLAG_DF, what="DF without SR")
    usable(c)
    c = client(s)
    assert c.eflags & R.EFLAG_SEND_DF
    err, data = c.request(R.CMD_READ, 0, 512, flags=R.CMD_FLAG_DF)
    assert err == 0 and len(data) == 512
    cases = [
        (R.CMD_READ, 0x40, "unknown flag 0x40"),
        (R.CMD_READ, 0x8000, "unknown flag 0x8000"),
        (R.CMD_READ, R.CMD_FLAG_NO_HOLE, "NO_HOLE on READ"),
        (R.CMD_READ, R.CMD_FLAG_REQ_ONE, "REQ_ONE on READ"),
        (R.CMD_READ, R.CMD_FLAG_FAST_ZERO, "FAST_ZERO on READ"),
        (R.CMD_TRIM, R.CMD_FLAG_NO_HOLE, "NO_HOLE on TRIM"),
    ]
    for cmd, flags, what in cases:
        expect_err(c, R.EINVAL, cmd, 0, 512, flags=flags, what=what)
    expect_err(c, R.EINVAL, R.CMD_WRITE, 0, 512, flags=R.CMD_FLAG_FAST_ZERO,
               payload=b"f" * 512, what="FAST_ZERO on WRITE")
    usable(c)


def flags_not_advertised(s):
    # example1: read-only, no FUA, no flush, no cache.
    c = client(s)
    assert not c.eflags & R.EFLAG_SEND_FUA
    assert not c.eflags & R.EFLAG_SEND_FLUSH
    expect_err(c, R.EINVAL, R.CMD_READ, 0, 512, flags=R.CMD_FLAG_FUA, what="FUA not advertised")
    expect_err(c, R.EINVAL, R.CMD_FLUSH, what="FLUSH not advertised")
    expect_err(c, R.EPERM, R.CMD_WRITE, 0, 512, payload=b"r" * 512, what="write on read-only")
    expect_err(c, R.EPERM, R.CMD_TRIM, 0, 512, what="trim on read-only")
    expect_err(c, R.EPERM, R.CMD_WRITE_ZEROES, 0, 512, what="zero on read-only")
    # Still usable.
    assert len(c.read(0, 4096)) == 4096


def flush(s):
    c = client(s)
    assert c.eflags & R.EFLAG_SEND_FLUSH
    expect_err(c, 0, R.CMD_FLUSH, what="FLUSH")
    expect_err(c, R.EINVAL, R.CMD_FLUSH, 512, 0, what="FLUSH with an offset")
    expect_err(c, R.EINVAL, R.CMD_FLUSH, 0, 512, what="FLUSH with a length")
    usable(c)


def block_status(s):
    # Without SET_META_CONTEXT.
    c = client(s)
    expect_err(c, R.EINVAL, R.CMD_BLOCK_STATUS, 0, 512, what="BLOCK_STATUS without meta context")
    usable(c)
    # Without structured replies at all.
    c = client(s, sr=False)
    expect_err(c, R.EINVAL, R.CMD_BLOCK_STATUS, 0, 512, what="BLOCK_STATUS without SR")
    usable(c)
    # Properly negotiated: one BLOCK_STATUS chunk for context 1... and
    # out of range is EINVAL.
    c = client(s, meta=True)
    cookie = c.send_request(R.CMD_BLOCK_STATUS, 0, 65536, flags=R.CMD_FLAG_REQ_ONE)
    err, rc, _, chunks = c.read_reply_any()
    assert err == 0 and rc == cookie
    bs = [p for f, t, ck, p in chunks if t == R.REPLY_TYPE_BLOCK_STATUS]
    assert len(bs) == 1, chunks
    ctx_id, = struct.unpack(">I", bs[0][:4])
    descs = bs[0][4:]
    assert len(descs) == 8, "REQ_ONE must give exactly one extent"
    ln, flags = struct.unpack(">II", descs)
    assert 0 < ln <= 65536, ln
    expect_err(c, R.EINVAL, R.CMD_BLOCK_STATUS, SIZE, 512, what="BLOCK_STATUS out of range")
    usable(c)


def error_chunk(s):
    # A failing READ with structured replies is answered with one
    # NBD_REPLY_TYPE_ERROR (or ERROR_OFFSET) chunk with the DONE flag:
    # u32 error, u16 message length, message [, u64 offset].
    c = client(s)
    cookie = c.send_request(R.CMD_READ, SIZE, 512)
    flags, rtype, rc, payload = c.read_chunk()
    assert rc == cookie
    assert flags & R.REPLY_FLAG_DONE, "error chunk without DONE"
    assert rtype in (R.REPLY_TYPE_ERROR, R.REPLY_TYPE_ERROR_OFFSET), rtype
    err, msglen = struct.unpack(">IH", payload[:6])
    assert err == R.EINVAL, err
    extra = 8 if rtype == R.REPLY_TYPE_ERROR_OFFSET else 0
    assert len(payload) == 6 + msglen + extra, (len(payload), msglen)
    # A failing WRITE may be a simple reply or an error chunk.
    err, _ = c.request(R.CMD_WRITE, SIZE, 512, payload=b"w" * 512)
    assert err == R.ENOSPC, err
    # Without structured replies a failing read is a simple reply
    # without data.
    c2 = client(s, sr=False)
    cookie = c2.send_request(R.CMD_READ, SIZE, 512)
    err, rc, data = c2.read_simple_reply(512)
    assert (err, rc, data) == (R.EINVAL, cookie, b"")
    usable(c2)
    usable(c)


def read_reply_format(s):
    # With SR a successful READ is OFFSET_DATA chunk(s) covering the
    # request (or holes), the last with DONE; never a simple reply.
    c = client(s)
    c.write(8192, b"D" * 4096)
    cookie = c.send_request(R.CMD_READ, 8192, 4096)
    got = bytearray(4096)
    covered = 0
    while True:
        flags, rtype, rc, payload = c.read_chunk()
        assert rc == cookie
        if rtype == R.REPLY_TYPE_OFFSET_DATA:
            off, = struct.unpack(">Q", payload[:8])
            data = payload[8:]
            assert 8192 <= off and off + len(data) <= 8192 + 4096
            got[off - 8192: off - 8192 + len(data)] = data
            covered += len(data)
        elif rtype == R.REPLY_TYPE_OFFSET_HOLE:
            off, ln = struct.unpack(">QI", payload)
            covered += ln
        else:
            assert rtype == R.REPLY_TYPE_NONE, rtype
        if flags & R.REPLY_FLAG_DONE:
            break
    assert covered == 4096 and bytes(got) == b"D" * 4096


def read_only_export(s):
    c = client(s)
    assert c.eflags & R.EFLAG_READ_ONLY
    expect_err(c, R.EPERM, R.CMD_WRITE, 0, 512, payload=b"x" * 512, what="write on -r")
    expect_err(c, R.EPERM, R.CMD_WRITE_ZEROES, 0, 512, what="zero on -r")
    expect_err(c, R.EPERM, R.CMD_TRIM, 0, 512, what="trim on -r")
    # The rejected write's payload was skipped: the connection is in sync.
    assert c.read(0, 512) == bytes(512)


def cookies_echoed(s):
    c = client(s)
    for cookie in (0, 1, 0xdeadbeefcafef00d, 2**64 - 1):
        c.send_request(R.CMD_READ, 0, 512, cookie=cookie)
        err, rc, data, _ = c.read_reply_any(512)
        assert (err, rc) == (0, cookie), (err, rc, cookie)


EX1 = os.path.join(R.DEBIAN_PLUGINDIR, "nbdkit-example1-plugin.so")


def run_example1(body):
    if not os.path.exists(EX1):
        print("example1 plugin absent: case skipped")
        return
    R.run_on(R.Server(EX1), body, lambda s: s.check_alive())


R.run_cases([
    ("bad request magic", lambda: run(bad_request_magic)),
    ("garbage after GO", lambda: run(garbage_after_go)),
    ("write cut off mid-payload", lambda: run(cut_write)),
    ("out-of-range requests", lambda: run(out_of_range)),
    ("requests over 64 MiB", lambda: run(oversized, size=BIG)),
    ("write over 64 MiB: ENOMEM, payload skipped",
     lambda: run(oversized_write, size=BIG)),
    ("write over 128 MiB: hang-up", lambda: run(oversized_write_hangup, size=BIG)),
    ("unknown commands", lambda: run(unknown_commands)),
    ("bad flags", lambda: run(bad_flags)),
    ("flags/commands not advertised", lambda: run_example1(flags_not_advertised)),
    ("FLUSH offset/length", lambda: run(flush)),
    ("BLOCK_STATUS", lambda: run(block_status)),
    ("error chunk format", lambda: run(error_chunk)),
    ("structured READ format", lambda: run(read_reply_format)),
    ("read-only export", lambda: run(read_only_export, extra=("-r",))),
    ("cookies echoed", lambda: run(cookies_echoed)),
])
