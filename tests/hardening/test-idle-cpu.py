#!/usr/bin/env python3
# Idle connections cost no CPU: a server holding 1000 connections that
# have finished the handshake (and done a little I/O) uses less than
# 0.1 s of CPU over 5 idle seconds.  Nothing polls or spins while
# waiting for a request, and the watchdog (watchdog.c) sleeps once
# nothing happens.

import time
import hlib
from hlib import R

CONNS = 1000
CREW_IDLE_SECONDS = 5


def idle_cpu():
    nbd = hlib.need_libnbd()
    hlib.raise_nofile(2 * CONNS + 64)
    srv = R.Server(R.plugin("memory"), "size=64M")

    def body(srv):
        pid = srv.proc.pid
        hs = []
        for i in range(CONNS):
            h = nbd.NBD()
            h.connect_unix(srv.sockpath)
            h.pwrite(b"x" * 512, i * 4096)
            hs.append(h)
        time.sleep(CREW_IDLE_SECONDS + 2)   # let the helper threads leave
        c0 = hlib.cpu_seconds(pid)
        time.sleep(5)
        used = hlib.cpu_seconds(pid) - c0
        print("%d idle connections: %.3f s of server CPU in 5 s" % (CONNS,
                                                                 used))
        if used >= 0.1:
            raise AssertionError("idle server used %.3f s of CPU" % used)
        for h in hs:
            h.shutdown()

    R.run_on(srv, body, lambda s: s.check_alive())


hlib.main([("CPU of 1000 idle connections", idle_cpu)])
