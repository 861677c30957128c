#!/usr/bin/env python3
# Block status amplification: a plugin may describe the whole rest of
# the disk whatever the request (here 512-byte runs of data and hole
# to the end of a 1 GiB disk: two million extents per call).  The
# server must keep only what the reply can use, so a 512-byte query
# costs a few bytes, not megabytes.  (It used to keep up to a million
# extents and allocate descriptors for all of them: 32 MB per request,
# half a gigabyte with 16 requests in flight.)
#
# Measured: the server's peak RSS (VmHWM) while 4 connections keep 16
# such queries each in flight; every reply is also checked.

import hlib
from hlib import R, MiB

ROUNDS = 8
CONNS = 4
QD = 16


def amplification():
    hlib.skip_if_sanitizer("peak RSS")
    nbd = hlib.need_libnbd()
    srv = R.Server(hlib.edge_plugin(), "size=1G", "alternate=512")

    def body(srv):
        pid = srv.proc.pid
        hs = []
        for _ in range(CONNS):
            h = nbd.NBD()
            h.add_meta_context("base:allocation")
            h.connect_unix(srv.sockpath)
            hs.append(h)
        before = hlib.hwm_kib(pid)
        bad = []
        for r in range(ROUNDS):
            for h in hs:
                for i in range(QD):
                    off = (r * QD + i) * 4096

                    def cb(ctx, o, entries, err, off=off):
                        want = [512, 0] if (off // 512) % 2 == 0 else [512, 1]
                        if list(entries[:2]) != want or o != off:
                            bad.append((off, o, list(entries[:4])))
                        return 0
                    h.aio_block_status(512, off, cb)
            for h in hs:
                while h.aio_in_flight() > 0:
                    h.poll(-1)
        after = hlib.hwm_kib(pid)
        for h in hs:
            h.shutdown()
        if bad:
            raise AssertionError("wrong replies: %r" % bad[:5])
        grew = (after - before) // 1024
        print("peak RSS grew by %d MiB (from %d MiB)" % (grew, before // 1024))
        if grew > 64:
            raise AssertionError("512-byte block status queries made the "
                                 "server's peak RSS grow by %d MiB" % grew)

    R.run_on(srv, body, lambda s: s.check_alive(data_check=False))


hlib.main([("block status memory per request", amplification)])
