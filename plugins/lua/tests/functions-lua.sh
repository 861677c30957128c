# shellcheck shell=bash
# plugins/lua/tests/functions-lua.sh: sourced by the Lua plugin tests,
# after tests/functions.sh.
#
#   . "$SRCDIR/tests/functions.sh"
#   . "$SRCDIR/plugins/lua/tests/functions-lua.sh"
#
# Provides:
#   $LUADIR           plugins/lua/tests in the source tree (the scripts)
#   $DEBIAN_NBDKIT    Debian's server, /usr/bin/nbdkit ("lua" there is
#                     Debian's nbdkit-plugin-lua)
#   requires_debian_lua   skip unless Debian's server + Lua plugin exist
#   start_server SERVER LOG ARGS...
#                     run SERVER -f -U SOCK ARGS... in the background,
#                     stderr to LOG; sets $sock, $pid, $uri; waits
#                     until it serves; killed at exit
#   start_ours LOG ARGS... / start_debian LOG ARGS...
#   client CMD...     run a client with a timeout, so nothing can hang
#   json_flags        filter nbdinfo --json down to the export's
#                     properties (drops uri, which names the socket)
#   expect_log LOG REGEX  fail unless LOG has a line matching REGEX
#   $have_debian      non-empty if Debian's server and Lua plugin exist
#   mkscript NAME LUA...  write NAME.lua = $base + the given lines;
#                     sets $line to the number of the first given line
#   check_case NAME PROBE_OPS WANT_REGEX LOG_REGEX DEBIAN
#                     serve NAME.lua, run probe.py PROBE_OPS; the output
#                     must match WANT_REGEX, the server must survive,
#                     and its log match LOG_REGEX.  With DEBIAN=yes the
#                     same is run under Debian's server (not the log).
#   start_fails NAME ARGS...  serving NAME.lua ARGS must fail at start;
#                     also under Debian if $deb = yes

LUADIR="$SRCDIR/plugins/lua/tests"
DEBIAN_NBDKIT=/usr/bin/nbdkit

requires_file "$BUILDDIR/plugins/lua/nbdkit-lua-plugin.so"
requires nbdinfo --version
requires nbdsh --version

requires_debian_lua ()
{
  [ -x "$DEBIAN_NBDKIT" ] || skip "Debian nbdkit not installed"
  debian_plugin lua >/dev/null
}

_server_count=0
start_server ()
{
  local server="$1" log="$2"
  shift 2
  _server_count=$((_server_count + 1))
  sock="$tmpdir/lsock.$_server_count"
  local pidfile="$tmpdir/lpid.$_server_count"
  rm -f "$pidfile"
  "$server" -f -P "$pidfile" -U "$sock" "$@" 2>"$log" &
  local bgpid=$!
  local i
  for (( i=0; i<600; i++ )); do
    if [ -s "$pidfile" ]; then break; fi
    if ! kill -0 $bgpid 2>/dev/null; then
      cat "$log" >&2
      fail "server exited at start-up: $server $*"
    fi
    sleep 0.05
  done
  [ -s "$pidfile" ] || fail "server did not start: $server $*"
  pid="$(cat "$pidfile")"
  uri="nbd+unix:///?socket=$sock"
  cleanup_fn "kill $pid 2>/dev/null; _wait_gone $pid"
}

start_ours ()
{
  start_server "$NBDKIT" "$@"
}

start_debian ()
{
  start_server "$DEBIAN_NBDKIT" "$@"
}

client ()
{
  timeout 120 "$@"
}

json_flags ()
{
  grep -E '^[[:space:]]*"(export-name|description|is_|can_|block_size|export-size)'
}

expect_log ()
{
  if ! grep -qE -- "$2" "$1"; then
    echo "--- $1:" >&2
    cat "$1" >&2
    fail "expected a line matching: $2"
  fi
}

have_debian=
if [ -x "$DEBIAN_NBDKIT" ] && [ -f "$DEBIAN_PLUGINDIR/nbdkit-lua-plugin.so" ]
then
  have_debian=1
fi

mkscript ()
{
  local name="$1"
  shift
  printf '%s\n' "$base" > "$name.lua"
  line=$(( $(wc -l < "$name.lua") + 1 ))
  printf '%s\n' "$@" >> "$name.lua"
}

check_case ()
{
  local name="$1" ops="$2" want="$3" logre="$4" deb="$5"
  local s
  local -a servers=(ours)
  if [ -n "$have_debian" ] && [ "$deb" = yes ]; then servers+=(debian); fi

  for s in "${servers[@]}"; do
    start_$s "$name.$s.log" lua "$name.lua"
    # shellcheck disable=SC2086
    client python3 "$LUADIR/probe.py" "$uri" $ops > "$name.$s.probe"
    # The server survived: it answers another connection (which may
    # fail the same way, for handshake errors) and is still running.
    client python3 "$LUADIR/probe.py" "$uri" pid > "$name.$s.alive" || :
    if ! kill -0 "$pid" ||
       ! grep -qE '^(pid -> OK|CONNECT-ERR)' "$name.$s.alive"; then
      cat "$name.$s.alive" "$name.$s.log" >&2
      fail "$name ($s): server not serving after the error"
    fi
    kill "$pid"
    _wait_gone "$pid"
    if ! [[ "$(cat "$name.$s.probe")" =~ ^${want}$ ]]; then
      cat "$name.$s.probe" "$name.$s.log" >&2
      fail "$name ($s): the client expected: $want"
    fi
  done
  [ -z "$logre" ] || expect_log "$name.ours.log" "$logre"
  echo "$name: OK${servers[1]:+ (same as Debian)}"
}

start_fails ()
{
  local name="$1" s server
  shift
  local -a servers=(ours)
  if [ -n "$have_debian" ] && [ "${deb:-no}" = yes ]; then
    servers+=(debian)
  fi
  for s in "${servers[@]}"; do
    server="$NBDKIT"
    [ "$s" = debian ] && server="$DEBIAN_NBDKIT"
    if timeout 60 "$server" -f -U "$tmpdir/never.sock" lua "$name.lua" "$@" \
       > "$name.$s.out" 2> "$name.$s.log"; then
      fail "$name ($s): the server should have failed to start"
    fi
    [ $? -ne 124 ] || fail "$name ($s): hung"
  done
  echo "$name: OK (server refused to start${servers[1]:+, also under Debian})"
}
