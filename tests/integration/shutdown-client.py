#!/usr/bin/python3
# shutdown-client.py URI PID NBLOCKS BLOCKSIZE ACKFILE WHEN [SIGNAL]
#
# Sends NBLOCKS writes at once (aio), block i at offset i*BLOCKSIZE
# filled with a pattern unique to i, then sends SIGNAL (default TERM)
# to the server PID when WHEN says:
#   log=FILE   as soon as the test plugin's call log FILE shows a
#              pwrite, so that requests are certainly in flight
#   acks=N     once N writes have been acknowledged  Then collects the replies until every request
# is answered or the server has gone.  The indexes of the writes the
# server acknowledged are written to ACKFILE, one per line.

import os
import signal
import sys
import time

import nbd

uri, pid, nblocks, bs, ackfile = sys.argv[1], int(sys.argv[2]), \
    int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
when = sys.argv[6]
sig = getattr(signal, "SIG" + (sys.argv[7] if len(sys.argv) > 7 else "TERM"))


def block(i):
    head = b"block %06d " % i
    return (head * (bs // len(head) + 1))[:bs]


h = nbd.NBD()
h.connect_uri(uri)
acked = set()
failed = set()


def done(i):
    def cb(err):
        (acked if err.value == 0 else failed).add(i)
        return 1
    return cb


for i in range(nblocks):
    h.aio_pwrite(nbd.Buffer.from_bytearray(bytearray(block(i))), i * bs,
                 completion=done(i))

if when.startswith("log="):
    log = when[4:]
    for _ in range(600):
        if os.path.exists(log) and \
           any(line.startswith("pwrite ") for line in open(log)):
            break
        time.sleep(0.05)
    else:
        sys.exit("the plugin never started a pwrite")
elif when.startswith("acks="):
    while len(acked) < int(when[5:]) and h.aio_in_flight() > 0:
        h.poll(-1)
else:
    sys.exit("bad WHEN: " + when)
os.kill(pid, sig)

try:
    while h.aio_in_flight() > 0:
        h.poll(-1)
except nbd.Error as e:
    print("connection ended: %s" % e)

with open(ackfile, "w") as f:
    for i in sorted(acked):
        f.write("%d\n" % i)
print("acked %d, failed %d, unanswered %d" %
      (len(acked), len(failed), nblocks - len(acked) - len(failed)))
