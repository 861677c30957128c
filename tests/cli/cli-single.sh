#!/usr/bin/env bash
# -s: serve a single connection on stdin/stdout, then exit.
. "$SRCDIR/tests/functions.sh"
. "$SRCDIR/tests/cli/cli-lib.sh"
requires nbdsh --version
mem="$(plugin memory)"

# nbdsh with connect_command: write and read back.
NBDKIT="$NBDKIT" MEM="$mem" nbdsh -c '
import os
h.connect_command([os.environ["NBDKIT"], "-s", os.environ["MEM"], "size=1M"])
assert h.get_size() == 1048576
h.pwrite(b"single" * 1000, 8192)
assert h.pread(6000, 8192) == b"single" * 1000
h.shutdown()
' || fail "-s: nbdsh connect_command failed"

# Drive the server over a pipe pair by hand: it greets on stdout, and
# exits with status 0 once the client is done and stdin is closed.
NBDKIT="$NBDKIT" MEM="$mem" /usr/bin/python3 - <<'PY' || fail "-s over pipes"
import os, struct, subprocess, sys
p = subprocess.Popen([os.environ["NBDKIT"], "-s", os.environ["MEM"], "size=1M"],
                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
def rd(n):
    b = b""
    while len(b) < n:
        c = p.stdout.read(n - len(b))
        if not c:
            sys.exit("EOF from server after %d bytes" % len(b))
        b += c
    return b
g = rd(18)
assert g[:16] == b"NBDMAGICIHAVEOPT", g
p.stdin.write(struct.pack(">I", 3))
# NBD_OPT_ABORT
p.stdin.write(struct.pack(">QII", 0x49484156454F5054, 2, 0))
p.stdin.flush()
magic, opt, rtype, ln = struct.unpack(">QIII", rd(20))
assert magic == 0x3e889045565a9 and opt == 2 and rtype == 1, (opt, rtype)
p.stdin.close()
st = p.wait(timeout=60)
assert st == 0, "exit status %d" % st
PY
