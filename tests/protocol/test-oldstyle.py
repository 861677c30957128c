#!/usr/bin/python3
# Oldstyle protocol (-o) from a raw socket: the 152-byte greeting
# layout, transmission without any option haggling, and bad input.

import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nbdraw as R  # noqa: E402

MEM = R.plugin("memory")
SIZE = 1 << 20


def greet(s):
    c = s.connect()
    kind, (size, flags, zeroes) = c.read_greeting()
    assert kind == "oldstyle", kind
    c.size = size
    c.eflags = flags & 0xffff
    return c, size, flags, zeroes


def alive(s):
    """Server still runs; a fresh oldstyle client writes and reads back."""
    if not s.alive():
        raise AssertionError("server died:\n" + s.stderr_text())
    c, size, flags, _ = greet(s)
    assert size == SIZE
    if not flags & R.EFLAG_READ_ONLY:
        pat = os.urandom(4096)
        c.write(SIZE - 4096, pat)
        assert c.read(SIZE - 4096, 4096) == pat
    else:
        c.read(0, 4096)
    c.disconnect()


def run(body, *extra):
    R.run_on(R.Server(MEM, "size=%d" % SIZE, extra=("-o",) + extra), body, alive)


def layout(s):
    c = s.connect()
    buf = c.recv_exact(152)
    magic, magic2, size, gflags, eflags = struct.unpack(">QQQHH", buf[:28])
    assert buf[:8] == b"NBDMAGIC"
    assert magic == R.NBDMAGIC
    assert magic2 == R.OLDSTYLE_MAGIC, hex(magic2)
    assert size == SIZE
    assert gflags == 0, gflags
    assert eflags & R.EFLAG_HAS_FLAGS
    assert not eflags & R.EFLAG_READ_ONLY
    # No structured replies in oldstyle, so no DF.
    assert not eflags & R.EFLAG_SEND_DF, hex(eflags)
    assert buf[28:] == bytes(124)
    # Transmission at once, simple replies.
    c.write(0, b"o" * 512)
    cookie = c.send_request(R.CMD_READ, 0, 512)
    err, rc, data = c.read_simple_reply(512)
    assert (err, rc, data) == (0, cookie, b"o" * 512)
    c.disconnect()


def read_only(s):
    c, size, flags, _ = greet(s)
    assert flags & R.EFLAG_READ_ONLY
    err, _ = c.request(R.CMD_WRITE, 0, 512, payload=b"x" * 512)
    assert err == R.EPERM, err
    assert c.read(0, 512) == bytes(512)


def masks_ignored(s):
    # --mask-handshake and --no-sr do not change the oldstyle greeting.
    c, size, flags, zeroes = greet(s)
    assert size == SIZE and zeroes == bytes(124)
    assert c.read(0, 512) == bytes(512)


def newstyle_client(s):
    # A newstyle client sends client flags and an option: to an oldstyle
    # server these are a malformed request; the connection is dropped.
    c, _, _, _ = greet(s)
    c.send(struct.pack(">I", 3))
    # GO with a name long enough that more than one request header's
    # worth of bytes arrives.
    c.send_option(R.OPT_GO, R.Conn.info_payload("x" * 40, []))
    c.expect_closed("after newstyle bytes on an oldstyle connection")


def bad_requests(s):
    c, _, _, _ = greet(s)
    err, _ = c.request(R.CMD_READ, SIZE, 512)
    assert err == R.EINVAL, err
    err, _ = c.request(R.CMD_WRITE, SIZE - 256, 512, payload=b"z" * 512)
    assert err == R.ENOSPC, err
    err, _ = c.request(R.CMD_READ, 0, 512, flags=R.CMD_FLAG_DF)
    assert err == R.EINVAL, err
    err, _ = c.request(R.CMD_BLOCK_STATUS, 0, 512)
    assert err == R.EINVAL, err
    err, _ = c.request(77, 0, 512)
    assert err == R.EINVAL, err
    assert c.read(0, 512) == bytes(512)
    c.send_request(R.CMD_READ, 0, 512, magic=0xbadbad)
    c.expect_closed("after a bad request magic")
    # Hang up at once, or in the middle of the greeting.
    for _ in range(5):
        c = s.connect()
        c.close()
    c = s.connect()
    c.recv_exact(20)
    c.close()


R.run_cases([
    ("greeting layout", lambda: run(layout)),
    ("read-only", lambda: run(read_only, "-r")),
    ("--mask-handshake/--no-sr ignored", lambda: run(masks_ignored, "--mask-handshake=0", "--no-sr")),
    ("newstyle client to oldstyle server", lambda: run(newstyle_client)),
    ("bad requests", lambda: run(bad_requests)),
])
