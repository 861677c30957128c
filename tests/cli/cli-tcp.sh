#!/usr/bin/env bash
# TCP transport: -p PORT, -i ADDR, -4 / -6, and $port/$uri under --run.
. "$SRCDIR/tests/functions.sh"
. "$SRCDIR/tests/cli/cli-lib.sh"
requires nbdinfo --version
mem="$(plugin memory)"

# can_connect HOST PORT: exit 0 if a TCP connection succeeds.
can_connect ()
{
  /usr/bin/python3 - "$1" "$2" <<'PY'
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
s = socket.socket(fam, socket.SOCK_STREAM)
s.settimeout(30)
try:
    s.connect((host, port))
except OSError:
    sys.exit(1)
# Leave cleanly: read the greeting, then close.
s.recv(18)
s.close()
PY
}

have_ipv6=false
if grep -q '^0\{31\}1 ' /proc/net/if_inet6 2>/dev/null; then have_ipv6=true; fi

# start_tcp ARGS...: start the server in the foreground on a free port.
start_tcp ()
{
  port="$(free_tcp_port)"
  run_bg "$tmpdir/log.$port" "$NBDKIT" -f -p "$port" "$@" "$mem" size=1M
}

# -p with -i 127.0.0.1
start_tcp -i 127.0.0.1
wait_for "listening on 127.0.0.1:$port" can_connect 127.0.0.1 "$port"
[ "$(nbdinfo --size "nbd://127.0.0.1:$port")" = 1048576 ] ||
  fail "-p/-i: nbdinfo over TCP failed"
if $have_ipv6; then
  can_connect ::1 "$port" && fail "-i 127.0.0.1 also listens on ::1"
fi
kill "$bgpid"; wait_gone "$bgpid"

# -4: IPv4 wildcard only.
start_tcp -4
wait_for "listening on 127.0.0.1:$port" can_connect 127.0.0.1 "$port"
[ "$(nbdinfo --size "nbd://127.0.0.1:$port")" = 1048576 ] || fail "-4: nbdinfo failed"
if $have_ipv6; then
  can_connect ::1 "$port" && fail "-4 also listens on IPv6"
fi
kill "$bgpid"; wait_gone "$bgpid"

if $have_ipv6; then
  # -6: IPv6 wildcard only.
  start_tcp -6
  wait_for "listening on [::1]:$port" can_connect ::1 "$port"
  [ "$(nbdinfo --size "nbd://[::1]:$port")" = 1048576 ] || fail "-6: nbdinfo failed"
  can_connect 127.0.0.1 "$port" && fail "-6 also listens on IPv4"
  kill "$bgpid"; wait_gone "$bgpid"

  # -i ::1
  start_tcp -i ::1
  wait_for "listening on [::1]:$port" can_connect ::1 "$port"
  can_connect 127.0.0.1 "$port" && fail "-i ::1 also listens on IPv4"
  kill "$bgpid"; wait_gone "$bgpid"

  # Default: both families.  The last of -4/-6 wins.
  start_tcp -6 -4
  wait_for "listening on 127.0.0.1:$port" can_connect 127.0.0.1 "$port"
  can_connect ::1 "$port" && fail "-6 -4: last option did not win"
  kill "$bgpid"; wait_gone "$bgpid"

  start_tcp
  wait_for "listening on 127.0.0.1:$port" can_connect 127.0.0.1 "$port"
  wait_for "listening on [::1]:$port" can_connect ::1 "$port"
  kill "$bgpid"; wait_gone "$bgpid"
fi

# --run with -p: $port, $uri, empty $unixsocket.
port="$(free_tcp_port)"
out="$tmpdir/run.out"
"$NBDKIT" -p "$port" -i 127.0.0.1 "$mem" size=1M --run '
  echo "port=$port"
  echo "uri=$uri"
  echo "unixsocket=[$unixsocket]"
  nbdinfo --size "nbd://127.0.0.1:$port"
' > "$out" || { cat "$out"; fail "--run with -p failed"; }
cat "$out"
grep -qx "port=$port" "$out" || fail "\$port is wrong"
grep -qx "uri=nbd://localhost:$port" "$out" || fail "\$uri is wrong"
grep -qx "unixsocket=\[\]" "$out" || fail "\$unixsocket is not empty"
grep -qx 1048576 "$out" || fail "client under --run failed"
