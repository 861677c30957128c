#!/usr/bin/env bash
# --no-sr: structured replies are refused; clients fall back.
. "$SRCDIR/tests/functions.sh"
. "$SRCDIR/tests/cli/cli-lib.sh"
requires nbdinfo --version
requires nbdsh --version
mem="$(plugin memory)"
export PYTHONPATH="$SRCDIR/tests/protocol"

"$NBDKIT" -U - --no-sr "$mem" size=1M --run 'nbdinfo --json "$uri"' > "$tmpdir/json" ||
  fail "--no-sr: nbdinfo failed"
cat "$tmpdir/json"
grep -Eq '"structured": *false' "$tmpdir/json" || fail "--no-sr: structured is not false"
grep -Eq '"protocol": *"newstyle-fixed"' "$tmpdir/json" || fail "--no-sr: protocol"
grep -Eq '"can_df": *true' "$tmpdir/json" && fail "--no-sr: DF advertised without SR"

"$NBDKIT" -U - "$mem" size=1M --run 'nbdinfo --json "$uri"' > "$tmpdir/json"
grep -Eq '"structured": *true' "$tmpdir/json" || fail "default: structured is not true"

# Raw: NBD_OPT_STRUCTURED_REPLY gets NBD_REP_ERR_UNSUP, and the session
# goes on with simple replies.
"$NBDKIT" -U - --no-sr "$mem" size=1M --run '/usr/bin/python3 -c "
import sys, nbdraw as R
c = R.Conn.unix(sys.argv[1])
c.newstyle_handshake()
_, rtype, _ = c.option(R.OPT_STRUCTURED_REPLY)
assert rtype == R.REP_ERR_UNSUP, R.rep_name(rtype)
# SET_META_CONTEXT needs structured replies.
_, rtype, _ = c.option(R.OPT_SET_META_CONTEXT, c.meta_payload(\"\", [\"base:allocation\"]))
assert rtype == R.REP_ERR_INVALID, R.rep_name(rtype)
size, eflags, _ = c.opt_go(\"\")
assert not eflags & R.EFLAG_SEND_DF
c.write(0, b\"s\" * 512)
cookie = c.send_request(R.CMD_READ, 0, 512)
err, rc, data = c.read_simple_reply(512)
assert err == 0 and rc == cookie and data == b\"s\" * 512
c.disconnect()
" "$unixsocket"' || fail "--no-sr: raw check"

# libnbd still reads and writes.
"$NBDKIT" -U - --no-sr "$mem" size=1M --run 'nbdsh -u "$uri" -c "
h.pwrite(b\"q\" * 4096, 0)
assert h.pread(4096, 0) == b\"q\" * 4096
"' || fail "--no-sr: data"
