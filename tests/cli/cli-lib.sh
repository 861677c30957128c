# tests/cli/cli-lib.sh: helpers shared by the command-line tests.
# shellcheck shell=bash
# Source after tests/functions.sh:
#
#   . "$SRCDIR/tests/functions.sh"
#   . "$SRCDIR/tests/cli/cli-lib.sh"
#
#   plugin NAME          path of plugin NAME: built in this tree if present,
#                        else Debian's binary plugin (skip if neither)
#   is_debian_server     true if $NBDKIT is Debian's /usr/bin/nbdkit
#   wait_for DESC CMD..  poll CMD until it succeeds (guard timeout 60 s)
#   pidfile_ready FILE   true once FILE holds exactly "PID\n"
#   gone PID             true if PID no longer runs (zombies count as gone)
#   wait_gone PID        wait until gone (guard timeout 60 s), else fail
#   free_tcp_port        print a TCP port that is free on 127.0.0.1 now
#   expect_fail_with RE CMD...
#                        CMD must exit with status 1 and print something
#                        matching the extended regexp RE on stdout/stderr
#   run_bg OUTFILE CMD.. run CMD in the background (stdout+stderr to
#                        OUTFILE), set $bgpid, kill it at exit

plugin ()
{
  local p="$BUILDDIR/plugins/$1/nbdkit-$1-plugin.so"
  if [ -f "$p" ]; then
    echo "$p"
  else
    debian_plugin "$1"
  fi
}

is_debian_server ()
{
  [ "$(readlink -f "$NBDKIT")" = /usr/bin/nbdkit ]
}

wait_for ()
{
  local desc="$1"; shift
  local i
  for (( i=0; i<600; i++ )); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  fail "timed out waiting for: $desc"
}

pidfile_ready ()
{
  [ -f "$1" ] && grep -Eqx '[0-9]+' "$1" && [ "$(wc -l < "$1")" -eq 1 ] &&
    [ "$(tail -c1 "$1" | od -An -c | tr -d ' ')" = '\n' ]
}

gone ()
{
  local st
  [ -e "/proc/$1" ] || return 0
  st="$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" || return 0
  [ -z "$st" ] || [ "$st" = Z ] || [ "$st" = X ]
}

wait_gone ()
{
  wait_for "process $1 to exit" gone "$1"
}

free_tcp_port ()
{
  /usr/bin/python3 -c '
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

expect_fail_with ()
{
  local re="$1"; shift
  local out="$tmpdir/expect_fail.out" st=0
  # The guard timeout only matters if the server wrongly starts serving.
  timeout 120 "$@" </dev/null >"$out" 2>&1 || st=$?
  if [ "$st" -ne 1 ]; then
    cat "$out" >&2
    fail "expected exit status 1, got $st: $*"
  fi
  if ! grep -Eq -- "$re" "$out"; then
    cat "$out" >&2
    fail "expected message matching /$re/ from: $*"
  fi
}

run_bg ()
{
  local out="$1"; shift
  "$@" </dev/null >"$out" 2>&1 &
  bgpid=$!
  cleanup_fn "kill $bgpid 2>/dev/null; wait_gone_quiet $bgpid"
}

wait_gone_quiet ()
{
  local i
  for (( i=0; i<300; i++ )); do
    gone "$1" && return 0
    sleep 0.1
  done
  kill -9 "$1" 2>/dev/null || :
}
