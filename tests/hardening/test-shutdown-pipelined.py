#!/usr/bin/env python3
# Graceful shutdown keeps every request that had arrived: 32 writes sent
# in one send(2), SIGTERM at once; every write gets a successful reply,
# then the server closes the connection and exits 0, and every byte is
# in the file.  Repeated, because what it guards against was a race: the
# server used to cut the socket while complete requests still sat unread
# in its input buffer, and their replies were lost.
#
# Also with requests still arriving: the client goes on sending after
# the signal; whatever it sent before the signal is answered, and the
# server exits.

import os
import signal
import struct
import tempfile
import hlib
from hlib import R

NWRITES = 32
BS = 4096
ROUNDS = 20


def block(rnd, i):
    head = b"round %03d block %03d " % (rnd, i)
    return (head * (BS // len(head) + 1))[:BS]


def one_round(rnd, disk):
    srv = R.Server(R.plugin("file"), disk)
    try:
        c = srv.connect()
        c.newstyle_handshake()
        c.opt_structured_reply()
        c.opt_go("")
        msg = b""
        cookies = []
        for i in range(NWRITES):
            cookie = 1000 + i
            cookies.append(cookie)
            msg += struct.pack(">IHHQQI", R.REQUEST_MAGIC, 0, R.CMD_WRITE,
                               cookie, i * BS, BS) + block(rnd, i)
        c.sock.sendall(msg)
        srv.proc.send_signal(signal.SIGTERM)
        got = set()
        for _ in range(NWRITES):
            err, cookie, _, _ = c.read_reply_any()
            if err:
                raise AssertionError("write %d failed with %d" % (cookie, err))
            got.add(cookie)
        if got != set(cookies):
            raise AssertionError("replies for %r" % sorted(got))
        c.expect_closed("after the last reply")
    finally:
        srv.stop()
    srv.finish()
    with open(disk, "rb") as f:
        data = f.read(NWRITES * BS)
    for i in range(NWRITES):
        if data[i * BS:(i + 1) * BS] != block(rnd, i):
            raise AssertionError("round %d: block %d not written" % (rnd, i))


def pipelined():
    with tempfile.TemporaryDirectory() as d:
        disk = os.path.join(d, "disk")
        with open(disk, "wb") as f:
            f.truncate(1 << 20)
        for rnd in range(ROUNDS):
            one_round(rnd, disk)


def still_sending():
    """The client keeps sending after SIGTERM: the server answers what
    it read, ends the connection and exits."""
    with tempfile.TemporaryDirectory() as d:
        disk = os.path.join(d, "disk")
        with open(disk, "wb") as f:
            f.truncate(1 << 20)
        srv = R.Server(R.plugin("file"), disk)
        try:
            c = srv.connect()
            c.newstyle_handshake()
            c.opt_go("")
            req = struct.pack(">IHHQQI", R.REQUEST_MAGIC, 0, R.CMD_WRITE,
                              7, 0, BS) + block(0, 0)
            c.sock.sendall(req * 8)
            srv.proc.send_signal(signal.SIGTERM)
            sent = 8
            try:
                for _ in range(2000):
                    c.sock.sendall(req)
                    sent += 1
            except OSError:
                pass
            answered = 0
            try:
                while True:
                    err, cookie, _, _ = c.read_reply_any()
                    if err:
                        raise AssertionError("write failed with %d" % err)
                    answered += 1
            except (R.Closed, OSError):
                pass
            if answered < 8:
                raise AssertionError("only %d of the 8 writes sent before "
                                     "the signal were answered" % answered)
            print("sent %d, answered %d" % (sent, answered))
        finally:
            srv.stop()
        srv.finish()


hlib.main([("32 pipelined writes, SIGTERM", pipelined),
           ("client still sending at SIGTERM", still_sending)])
