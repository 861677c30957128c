#!/usr/bin/python3
# errors-client.py URI ERRNO...
#
# The server runs the test plugin with fail=*:ERRNO@OFFSET for the
# i-th ERRNO at OFFSET = (i+1) * 65536.  For each ERRNO send every
# data command at its offset and print
#   COMMAND PLUGIN-ERRNO CLIENT-ERRNO
# where CLIENT-ERRNO is what libnbd reports ("ok" if the command
# succeeded).  After each failing command a plain read at offset 0
# must still work: an error never breaks the connection.

import errno
import sys

import nbd

h = nbd.NBD()
h.add_meta_context(nbd.CONTEXT_BASE_ALLOCATION)
h.connect_uri(sys.argv[1])


def run(fn):
    try:
        fn()
    except nbd.Error as e:
        return errno.errorcode.get(e.errnum, str(e.errnum))
    return "ok"


def nothing(*args):
    return 0


for i, name in enumerate(sys.argv[2:]):
    off = (i + 1) * 65536
    cmds = [
        ("pwrite", lambda: h.pwrite(b"x" * 512, off)),
        ("pwrite-fua", lambda: h.pwrite(b"x" * 512, off, nbd.CMD_FLAG_FUA)),
        ("pread", lambda: h.pread(512, off)),
        ("pread-df", lambda: h.pread_structured(512, off, nothing,
                                                nbd.CMD_FLAG_DF)),
        ("trim", lambda: h.trim(512, off)),
        ("zero", lambda: h.zero(512, off)),
        ("zero-fast", lambda: h.zero(512, off, nbd.CMD_FLAG_FAST_ZERO)),
        ("cache", lambda: h.cache(512, off)),
        ("block_status", lambda: h.block_status(512, off, nothing)),
    ]
    for cmd, fn in cmds:
        # A failing .zero with ENOTSUP makes the server fall back to
        # .pwrite (test-plugin-emulation.sh), which fails here as well.
        if cmd == "zero" and name in ("ENOTSUP", "EOPNOTSUPP"):
            continue
        print("%s %s %s" % (cmd, name, run(fn)))
        assert h.pread(512, 0) == bytes(512)

h.shutdown()
