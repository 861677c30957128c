#!/usr/bin/python3
# threads-client.py URI CONNECTIONS REQUESTS
#
# Opens CONNECTIONS connections at once (one process each) and keeps
# REQUESTS reads in flight on each (aio_pread), then waits for all of
# them.  Prints "multi_conn=BOOL" as the first connection saw it.
# Exits non-zero if any request or connection failed.

import subprocess
import sys

import nbd


def worker(uri, nreqs, report):
    h = nbd.NBD()
    h.connect_uri(uri)
    if report:
        print("multi_conn=%s" % h.can_multi_conn(), flush=True)
    bufs = [nbd.Buffer(4096) for _ in range(nreqs)]
    cookies = [h.aio_pread(bufs[i], i * 4096) for i in range(nreqs)]
    while h.aio_in_flight() > 0:
        h.poll(-1)
    for c in cookies:
        assert h.aio_command_completed(c)
    h.shutdown()


if sys.argv[1] == "--worker":
    worker(sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1")
    sys.exit(0)

uri, nconns, nreqs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
procs = [subprocess.Popen([sys.executable, sys.argv[0], "--worker", uri,
                           str(nreqs), "1" if i == 0 else "0"])
         for i in range(nconns)]
status = [p.wait() for p in procs]
if any(status):
    sys.exit("worker failed: %r" % status)
