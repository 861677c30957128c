#!/usr/bin/env bash
# -U PATH (explicit Unix socket) and -U - (private socket for --run).
. "$SRCDIR/tests/functions.sh"
. "$SRCDIR/tests/cli/cli-lib.sh"
requires nbdinfo --version
requires nbdsh --version
mem="$(plugin memory)"

# -U PATH, in the foreground.
sock="$tmpdir/my.sock"
run_bg "$tmpdir/log" "$NBDKIT" -f -U "$sock" "$mem" size=1M
wait_for "socket $sock" test -S "$sock"
[ "$(nbdinfo --size "nbd+unix:///?socket=$sock")" = 1048576 ] ||
  fail "-U PATH: wrong size"
nbdsh -u "nbd+unix:///?socket=$sock" -c '
h.pwrite(b"hello unix" * 100, 4096)
assert h.pread(1000, 4096) == b"hello unix" * 100
' || fail "-U PATH: write/read back failed"
kill "$bgpid"
wait_gone "$bgpid"
# nbdkit does not delete an explicitly named socket when it exits.
[ -S "$sock" ] || fail "-U PATH: socket file was removed at exit"

# -U -: private socket in a fresh private directory, removed at exit.
out="$tmpdir/run.out"
"$NBDKIT" -U - "$mem" size=2M --run '
  echo "unixsocket=$unixsocket"
  echo "uri=$uri"
  test -S "$unixsocket" || exit 10
  d="$(dirname "$unixsocket")"
  echo "dirmode=$(stat -c %a "$d")"
  nbdinfo --size "$uri"
' > "$out" || { cat "$out"; fail "-U - --run failed"; }
cat "$out"
grep -qx 2097152 "$out" || fail "-U -: nbdinfo did not report the size"
grep -qx "dirmode=700" "$out" || fail "-U -: socket directory is not private (0700)"
s="$(sed -n 's/^unixsocket=//p' "$out")"
[ -n "$s" ] || fail "-U -: \$unixsocket empty"
grep -qx "uri=nbd+unix://?socket=$s" "$out" ||
  grep -qx "uri=nbd+unix:///?socket=$s" "$out" ||
  fail "-U -: \$uri does not name the socket"
wait_for "private socket directory to be removed" test ! -e "$(dirname "$s")"
