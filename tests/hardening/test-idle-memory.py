#!/usr/bin/env python3
# Idle memory: after a burst of big reads, an idle connection goes back
# to a small footprint.  200 connections each read 64 MiB in 4 MiB
# requests, 16 in flight; then they sit idle (still connected) and the
# server's RSS must come back to within 40 MiB of what it was with the
# 200 connections open before the burst, and its thread count back to
# one per connection (plus the main and watchdog threads).  (The server
# used to keep every request buffer of up to 4 MiB for the life of the
# connection: 64 MiB per connection here.)
#
# Moving 12.8 GiB through a Python client would take minutes on a small
# machine, so 190 of the connections read from a region where the
# plugin fails every read: the server has reserved each request's 4 MiB
# buffer just the same before calling the plugin, but the error reply
# carries no data.  The other 10 read real data.

import hlib
from hlib import R, MiB

CONNS = 200
QD = 16
REQ = 4 * MiB
GROUP = 10                      # connections bursting at once
REAL = 10                       # connections reading real data
FAIL = 128 * MiB                # reads from here on fail


def idle_memory():
    hlib.skip_if_sanitizer("RSS")
    nbd = hlib.need_libnbd()
    hlib.raise_nofile(4 * CONNS + 64)
    srv = R.Server(hlib.edge_plugin(), "size=256M", "fail=%d" % FAIL)

    def body(srv):
        pid = srv.proc.pid
        hs = []
        for _ in range(CONNS):
            h = nbd.NBD()
            h.connect_unix(srv.sockpath)
            hs.append(h)
        before = hlib.rss_kib(pid)
        bufs = [nbd.Buffer(REQ) for _ in range(GROUP * QD)]
        failed = []

        def done(err):
            if err.value:
                failed.append(err.value)
            return 0
        for g in range(0, CONNS, GROUP):
            for n, h in enumerate(hs[g:g + GROUP]):
                base = 0 if g < REAL else FAIL
                for i in range(QD):
                    h.aio_pread(bufs[n * QD + i], base + i * REQ,
                                completion=done)
            for h in hs[g:g + GROUP]:
                while h.aio_in_flight() > 0:
                    h.poll(-1)
        if len(failed) != (CONNS - REAL) * QD:
            raise AssertionError("%d reads failed, expected %d" % (
                len(failed), (CONNS - REAL) * QD))
        burst = hlib.rss_kib(pid)
        print("RSS with %d connections: %d MiB before the burst, %d MiB "
              "just after" % (CONNS, before // 1024, burst // 1024))

        def settled():
            return hlib.rss_kib(pid) <= before + 40 * 1024 and \
                hlib.threads(pid) <= CONNS + 3
        try:
            hlib.wait_for(settled, "the server to give back memory and "
                          "threads", timeout=90)
        finally:
            print("RSS idle: %d MiB, threads %d" % (
                hlib.rss_kib(pid) // 1024, hlib.threads(pid)))
        # The connections still work.
        want = b"".join(i.to_bytes(8, "big") for i in range(0, 512, 8))
        for h in hs:
            if h.pread(512, 0) != want:
                raise AssertionError("bad data")
            h.shutdown()

    R.run_on(srv, body, lambda s: s.check_alive(data_check=False))


hlib.main([("memory and threads of idle connections", idle_memory)])
