#!/usr/bin/env python3
# A slow request does not hold up the requests behind it (parallel
# thread model): the plugin's read at one offset blocks until the test
# releases it, and meanwhile other reads on the same connection must
# complete -- whatever the plugin's speed was before (the server runs
# requests of a plugin that has been fast on the reading thread), and
# whether the fast requests were sent before, with, or after the slow
# one.  No timing is involved: the slow read cannot finish before the
# release, so the fast ones either complete first or the test fails (a
# 60 s guard).

import os
import struct
import tempfile
import hlib
from hlib import R, MiB

SLOW = 512 * MiB
BS = 4096


def expected(offset, count):
    out = bytearray()
    for pos in range(offset - offset % 8, offset + count, 8):
        out += struct.pack(">Q", pos)
    skip = offset % 8
    return bytes(out[skip:skip + count])


class Setup:
    def __init__(self, d, *extra):
        self.release = os.path.join(d, "release")
        self.started = os.path.join(d, "started")
        self.srv = R.Server(hlib.edge_plugin(), "size=1G",
                            "slow=%d" % SLOW, "release=" + self.release,
                            "started=" + self.started, *extra)

    def release_slow(self):
        open(self.release, "w").close()

    def slow_started(self):
        return os.path.exists(self.started)


def libnbd_case(warm_up):
    nbd = hlib.need_libnbd()
    with tempfile.TemporaryDirectory() as d:
        s = Setup(d)

        def body(srv):
            h = nbd.NBD()
            h.connect_unix(srv.sockpath)
            # A plugin that has been fast for a long time.
            for i in range(warm_up):
                off = (i * 7919 * BS) % (256 * MiB)
                if h.pread(BS, off) != expected(off, BS):
                    raise AssertionError("bad data at %d" % off)
            slow_buf = nbd.Buffer(BS)
            slow = h.aio_pread(slow_buf, SLOW)
            hlib.wait_for(lambda: (h.poll(0), s.slow_started())[1],
                          "the slow read to start", timeout=60)
            fast = []
            for i in range(20):
                b = nbd.Buffer(BS)
                off = (i + 1) * MiB
                fast.append((h.aio_pread(b, off), b, off))
            done = set()

            def completed(c):
                if c not in done and h.aio_command_completed(c):
                    done.add(c)
                return c in done

            def all_fast_done():
                h.poll(10)
                return all(completed(c) for c, _, _ in fast)
            hlib.wait_for(all_fast_done, "fast reads to complete while a "
                          "slow one is in flight", timeout=60)
            for c, b, off in fast:
                if b.to_bytearray() != expected(off, BS):
                    raise AssertionError("bad data at %d" % off)
            if completed(slow):
                raise AssertionError("the slow read finished before release")
            s.release_slow()
            hlib.wait_for(lambda: (h.poll(10), completed(slow))[1],
                          "the slow read to finish after release")
            if slow_buf.to_bytearray() != expected(SLOW, BS):
                raise AssertionError("bad data in the slow read")
            h.shutdown()

        R.run_on(s.srv, body, lambda srv: srv.check_alive(data_check=False))


def pipelined(warm_up):
    """fast x4, slow, fast x20 in one send(2), on a raw socket: the 24
    fast replies arrive before the slow one is released."""
    with tempfile.TemporaryDirectory() as d:
        s = Setup(d)

        def body(srv):
            c = srv.connect()
            c.newstyle_handshake()
            c.opt_go("")
            for i in range(warm_up):
                off = (i * 104729 * BS) % (256 * MiB)
                if c.read(off, BS) != expected(off, BS):
                    raise AssertionError("bad data at %d" % off)
            offs = [(i + 1) * MiB for i in range(4)] + [SLOW] + \
                [(i + 10) * MiB for i in range(20)]
            msg = b"".join(struct.pack(">IHHQQI", R.REQUEST_MAGIC, 0,
                                       R.CMD_READ, 5000 + i, off, BS)
                           for i, off in enumerate(offs))
            c.sock.sendall(msg)
            for _ in range(24):
                err, cookie, data = c.read_simple_reply(BS)
                off = offs[cookie - 5000]
                if off == SLOW:
                    raise AssertionError("the slow read finished before "
                                         "release")
                if err or data != expected(off, BS):
                    raise AssertionError("bad reply for offset %d" % off)
            s.release_slow()
            err, cookie, data = c.read_simple_reply(BS)
            if offs[cookie - 5000] != SLOW or data != expected(SLOW, BS):
                raise AssertionError("bad reply for the slow read")
            c.disconnect()

        R.run_on(s.srv, body, lambda srv: srv.check_alive(data_check=False))


hlib.main([
    ("fresh connection, libnbd", lambda: libnbd_case(0)),
    ("after 3000 fast reads, libnbd", lambda: libnbd_case(3000)),
    ("fresh connection, pipelined", lambda: pipelined(0)),
    ("after 3000 fast reads, pipelined", lambda: pipelined(3000)),
])
