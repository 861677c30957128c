#!/usr/bin/python3
# control-client.py URI: connect step by step and print how far it got:
#   connect: ERRNO | list: ERRNO | list ok | go: ERRNO | go ok | read ok
# ERRNO is the errno name libnbd reports (EPROTO... for a dropped
# connection libnbd gives no errno: then "disconnected").

import errno
import sys

import nbd


def name(e):
    if e.errnum == 0:
        return "disconnected"
    return errno.errorcode.get(e.errnum, str(e.errnum))


h = nbd.NBD()
h.set_opt_mode(True)
try:
    h.connect_uri(sys.argv[1])
except nbd.Error as e:
    print("connect: %s" % name(e))
    sys.exit(0)
try:
    h.opt_list(lambda n, d: 0)
    print("list ok")
except nbd.Error as e:
    print("list: %s" % name(e))
try:
    h.opt_go()
    print("go ok")
    assert h.pread(512, 0) == bytes(512)
    print("read ok")
    h.shutdown()
except nbd.Error as e:
    print("go: %s" % name(e))
