#!/usr/bin/env python3
# Out of file descriptors: a server allowed 64 fds accepts clients until
# accept(2) fails with EMFILE.  Then it must say so once (not once per
# attempt), not spin on the listening socket that stays readable, keep
# serving the clients it has, and serve the waiting ones as soon as
# others leave.

import resource
import select
import socket
import time
import hlib
from hlib import R

LIMIT = 64
MSG = "Too many open files"


def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    return s


def greeted(s):
    r, _, _ = select.select([s], [], [], 0)
    return bool(r)


def exhaustion():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # The server inherits our limit.
    resource.setrlimit(resource.RLIMIT_NOFILE, (LIMIT, hard))
    try:
        srv = R.Server(R.plugin("memory"), "size=16M")
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    def emfile_lines():
        return srv.stderr_text().count(MSG)

    def body(srv):
        served, waiting = [], []
        while len(waiting) < 10:
            if len(served) > LIMIT:
                raise AssertionError("more clients served than fds allowed")
            s = connect(srv.sockpath)
            hlib.wait_for(lambda: greeted(s) or emfile_lines() > 0,
                          "a greeting or the EMFILE message")
            if greeted(s) and not waiting:
                served.append(s)
            else:
                waiting.append(s)
        print("%d clients served, %d waiting" % (len(served), len(waiting)))

        # Starved, the server must not spin.
        c0 = hlib.cpu_seconds(srv.proc.pid)
        time.sleep(2)
        used = hlib.cpu_seconds(srv.proc.pid) - c0
        print("server CPU while out of fds: %.3f s in 2 s" % used)
        if used > 0.3:
            raise AssertionError("server used %.2f s of CPU in 2 s while "
                                 "out of fds" % used)

        # A served client still works.
        c = R.Conn(served[-1])
        c.newstyle_handshake()
        c.opt_go("")
        c.write(4096, b"y" * 4096)
        if c.read(4096, 4096) != b"y" * 4096:
            raise AssertionError("bad data")

        # When clients leave, the waiting ones are served.
        for s in served[:12]:
            s.close()
        for s in waiting:
            hlib.wait_for(lambda: greeted(s), "a waiting client to be "
                          "served after others left")
            w = R.Conn(s)
            w.newstyle_handshake()
            w.opt_go("")
            w.read(0, 512)
            w.disconnect()
        n = emfile_lines()
        if n != 1:
            raise AssertionError("the EMFILE message was logged %d times "
                                 "(expected once)" % n)
        for s in served[12:]:
            s.close()

    R.run_on(srv, body, lambda s: s.check_alive())


hlib.main([("EMFILE on accept", exhaustion)])
