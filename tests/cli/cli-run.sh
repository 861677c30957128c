#!/usr/bin/env bash
# --run 'CMD': captive nbdkit.  Shell variables $uri $nbd $exportname
# $port $unixsocket; exit status of CMD propagated; the server is
# stopped when CMD exits; CMD gets the original stdin/stdout.
. "$SRCDIR/tests/functions.sh"
. "$SRCDIR/tests/cli/cli-lib.sh"
requires nbdinfo --version
requires nbdsh --version
mem="$(plugin memory)"

# Variables.
"$NBDKIT" -U - "$mem" size=1M --run '
  echo "uri=$uri"
  echo "nbd=$nbd"
  echo "exportname=[$exportname]"
  echo "port=[$port]"
  echo "unixsocket=$unixsocket"
  echo "tls=[${tls-unset}]"
  echo "exported=$(env | grep -c "^\(uri\|nbd\|unixsocket\)=")"
' > "$tmpdir/out" || fail "--run failed"
cat "$tmpdir/out"
s="$(sed -n 's/^unixsocket=//p' "$tmpdir/out")"
[ -n "$s" ] || fail "\$unixsocket empty"
grep -Eqx "uri=nbd\+unix:///?\?socket=$s" "$tmpdir/out" || fail "\$uri"
[ "$(sed -n 's/^uri=//p' "$tmpdir/out")" = "$(sed -n 's/^nbd=//p' "$tmpdir/out")" ] ||
  fail "\$nbd differs from \$uri"
grep -qx 'exportname=\[\]' "$tmpdir/out" || fail "\$exportname not empty"
grep -qx 'port=\[\]' "$tmpdir/out" || fail "\$port not empty with -U"
grep -qx 'tls=\[unset\]' "$tmpdir/out" || fail "\$tls set without TLS"
# They are shell variables of the command, not environment variables.
grep -qx 'exported=0' "$tmpdir/out" || fail "variables were exported to the environment"

# A real client through $nbd.
"$NBDKIT" -U - "$mem" size=1M --run 'nbdsh -u "$nbd" -c "
h.pwrite(b\"run\" * 100, 0)
assert h.pread(300, 0) == b\"run\" * 100
"' || fail "client via \$nbd"

# Exit status of the command.
for st in 0 1 3 42; do
  got=0
  "$NBDKIT" -U - "$mem" size=1M --run "exit $st" || got=$?
  [ "$got" = "$st" ] || fail "--run 'exit $st' gave exit status $got"
done
got=0
"$NBDKIT" -U - "$mem" size=1M --run 'no-such-command-xyzzy' 2>/dev/null || got=$?
[ "$got" = 127 ] || fail "command not found: exit status $got, expected 127"
got=0
"$NBDKIT" -U - "$mem" size=1M --run 'kill -KILL $$' 2>/dev/null || got=$?
[ "$got" = 137 ] || fail "command killed by SIGKILL: exit status $got, expected 137"

# The command gets the original stdin and stdout.
out="$(echo "through stdin" | "$NBDKIT" -U - "$mem" size=1M --run 'cat')"
[ "$out" = "through stdin" ] || fail "stdin/stdout not passed to the command: '$out'"

# The server is stopped when the command exits (and runs while it does).
pidfile="$tmpdir/pid"
"$NBDKIT" -U - -P "$pidfile" "$mem" size=1M --run '
  for i in $(seq 600); do grep -Eqx "[0-9]+" "'"$pidfile"'" && break; sleep 0.1; done
  kill -0 "$(cat "'"$pidfile"'")"
' || fail "server not running during --run"
pid="$(cat "$pidfile")"
wait_gone "$pid"

# --run with a TCP port.
port="$(free_tcp_port)"
"$NBDKIT" -p "$port" -i 127.0.0.1 "$mem" size=1M --run 'echo "$port $uri"; nbdinfo --size "$uri"' \
  > "$tmpdir/out" || fail "--run with -p"
grep -qx "$port nbd://localhost:$port" "$tmpdir/out" || { cat "$tmpdir/out"; fail "TCP \$uri"; }
grep -qx 1048576 "$tmpdir/out" || fail "TCP client"
