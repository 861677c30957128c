#!/usr/bin/env bash
# --mask-handshake=MASK: AND-mask on the global handshake flags
# (bit 0 FIXED_NEWSTYLE, bit 1 NO_ZEROES).  Clients fall back.
. "$SRCDIR/tests/functions.sh"
. "$SRCDIR/tests/cli/cli-lib.sh"
requires nbdinfo --version
requires nbdsh --version
mem="$(plugin memory)"
export PYTHONPATH="$SRCDIR/tests/protocol"

# greeting_flags MASK: print the handshake flags the server sends.
check_raw ()
{
  local mask="$1" want="$2"
  "$NBDKIT" -U - --mask-handshake="$mask" "$mem" size=1M --run '/usr/bin/python3 -c "
import sys, nbdraw as R
want = int(sys.argv[2])
c = R.Conn.unix(sys.argv[1])
kind, gflags = c.read_greeting()
assert kind == \"newstyle\", kind
assert gflags == want, \"handshake flags %d, expected %d\" % (gflags, want)
# Use exactly the advertised flags, then EXPORT_NAME: 124 zero bytes
# follow unless NO_ZEROES was agreed.
c.cflags = gflags
c.send(R.struct.pack(\">I\", gflags))
size, eflags = c.opt_export_name(\"\")
assert size == 1048576
c.write(0, b\"m\" * 512)
assert c.read(0, 512) == b\"m\" * 512
c.disconnect()
" "$unixsocket" '"$want" || fail "--mask-handshake=$mask: raw check"
}
check_raw 0 0
check_raw 1 1
check_raw 2 2
check_raw 3 3
check_raw 0xff 3

# A client only asking for flags the server did not advertise is dropped.
"$NBDKIT" -U - --mask-handshake=1 "$mem" size=1M --run '/usr/bin/python3 -c "
import sys, nbdraw as R
c = R.Conn.unix(sys.argv[1])
c.newstyle_handshake(cflags=3)
try:
    c.send_option(R.OPT_LIST)
except R.Closed:
    pass
c.expect_closed(\"after NO_ZEROES was requested but not advertised\")
" "$unixsocket"' || fail "--mask-handshake=1: client flag 2 accepted"

# --mask-handshake=0: plain (non-fixed) newstyle; libnbd falls back to
# NBD_OPT_EXPORT_NAME and works.
"$NBDKIT" -U - --mask-handshake=0 "$mem" size=1M --run 'nbdinfo --json "$uri"' > "$tmpdir/json" ||
  fail "--mask-handshake=0: nbdinfo failed"
cat "$tmpdir/json"
grep -Eq '"protocol": *"newstyle"' "$tmpdir/json" || fail "--mask-handshake=0: protocol"
grep -Eq '"structured": *false' "$tmpdir/json" || fail "--mask-handshake=0: structured replies"
"$NBDKIT" -U - --mask-handshake=0 "$mem" size=1M --run 'nbdsh -u "$uri" -c "
h.pwrite(b\"z\" * 4096, 0)
assert h.pread(4096, 0) == b\"z\" * 4096
"' || fail "--mask-handshake=0: data"

# Not a number: an error.
expect_fail_with 'mask-handshake' "$NBDKIT" -f -U "$tmpdir/s" --mask-handshake=abc "$mem" size=1M
