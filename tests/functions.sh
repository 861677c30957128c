# tests/functions.sh: sourced by every shell test.
#
#   . "$SRCDIR/tests/functions.sh"
#
# Provides:
#   $NBDKIT           server under test (default: ./build/nbdkit wrapper)
#   $tmpdir           private temporary directory, removed at exit
#   requires CMD...   skip the test (exit 77) unless CMD succeeds
#   requires_file F   skip unless file F exists
#   skip MSG          skip the test now
#   fail MSG          print MSG and exit 1
#   cleanup_fn CMD... run CMD at exit (in reverse order of registration)
#   start_nbdkit ARGS...
#                     start the server in the background (it daemonizes),
#                     with -P and -U added: sets $sock, $pid, $uri.  Waits
#                     until it is ready.  It is killed at exit.
#   stop_nbdkit       SIGTERM the server and wait for it to exit; fails
#                     the test if it has not exited after 30 s
#   debian_plugin NAME  path of Debian's binary plugin NAME (skips if absent)
#   debian_filter NAME  path of Debian's binary filter NAME (skips if absent)
#   DEBIAN_NBDKIT     Debian's own server (/usr/bin/nbdkit)
#   sanitizer_build   true if the server under test was built with ASan
#                     (whose allocator keeps freed memory: skip RSS checks)

set -e
set -u

: "${SRCDIR:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${BUILDDIR:=$SRCDIR/build}"
: "${NBDKIT:=$BUILDDIR/nbdkit}"
export PATH="/usr/bin:$PATH"
export LC_ALL=C.UTF-8

DEBIAN_PLUGINDIR=/usr/lib/x86_64-linux-gnu/nbdkit/plugins
DEBIAN_FILTERDIR=/usr/lib/x86_64-linux-gnu/nbdkit/filters
DEBIAN_NBDKIT=/usr/bin/nbdkit

tmpdir="$(mktemp -d /tmp/nbdkit-test.XXXXXXXX)"
_cleanup_cmds=()
_run_cleanup ()
{
  local status=$?
  local i
  for (( i=${#_cleanup_cmds[@]}-1; i>=0; i-- )); do
    eval "${_cleanup_cmds[$i]}" || :
  done
  rm -rf "$tmpdir"
  # A server that hung on shutdown fails the test, whatever else
  # happened.
  if [ -n "${_shutdown_hang:-}" ] && { [ "$status" -eq 0 ] || [ "$status" -eq 77 ]; }; then
    status=1
  fi
  exit $status
}
trap _run_cleanup EXIT
trap 'exit 130' INT TERM

cleanup_fn ()
{
  _cleanup_cmds+=("$*")
}

skip ()
{
  echo "$0: SKIP: $*" >&2
  exit 77
}

fail ()
{
  echo "$0: FAIL: $*" >&2
  exit 1
}

requires ()
{
  if ! "$@" >/dev/null 2>&1; then
    skip "requires: $*"
  fi
}

requires_file ()
{
  [ -e "$1" ] || skip "requires file $1"
}

debian_plugin ()
{
  local f="$DEBIAN_PLUGINDIR/nbdkit-$1-plugin.so"
  [ -f "$f" ] || skip "Debian plugin $1 not installed"
  echo "$f"
}

debian_filter ()
{
  local f="$DEBIAN_FILTERDIR/nbdkit-$1-filter.so"
  [ -f "$f" ] || skip "Debian filter $1 not installed"
  echo "$f"
}

sanitizer_build ()
{
  ldd "$BUILDDIR/server/nbdkit" 2>/dev/null | grep -q libasan
}

# start_nbdkit [server args...]
_nbdkit_count=0
start_nbdkit ()
{
  _nbdkit_count=$((_nbdkit_count + 1))
  sock="$tmpdir/sock.$_nbdkit_count"
  local pidfile="$tmpdir/pid.$_nbdkit_count"
  rm -f "$pidfile"
  "$NBDKIT" -P "$pidfile" -U "$sock" "$@"
  local i
  for (( i=0; i<300; i++ )); do
    if [ -s "$pidfile" ]; then break; fi
    sleep 0.1
  done
  [ -s "$pidfile" ] || fail "nbdkit did not start: $NBDKIT $*"
  pid="$(cat "$pidfile")"
  uri="nbd+unix:///?socket=$sock"
  cleanup_fn "kill $pid 2>/dev/null; _wait_gone $pid"
}

# _wait_gone PID: wait up to 30 s for PID (already sent SIGTERM) to
# exit.  A server that is still running then has hung on shutdown: it
# is killed with SIGKILL, a FAIL message is printed, and the test fails
# (the exit status becomes 1 even when this runs from the cleanup at
# exit, after the test had passed or skipped).  Returns 1 in that case.
_shutdown_hang=
_wait_gone ()
{
  local i
  for (( i=0; i<300; i++ )); do
    kill -0 "$1" 2>/dev/null || return 0
    sleep 0.1
  done
  echo "$0: FAIL: process $1 did not exit within 30 s of SIGTERM" \
       "(shutdown hang); killed with SIGKILL:" >&2
  ps -o pid=,args= -p "$1" >&2 2>/dev/null || :
  kill -9 "$1" 2>/dev/null || :
  _shutdown_hang=1
  return 1
}

stop_nbdkit ()
{
  kill "$pid"
  _wait_gone "$pid" || fail "nbdkit (pid $pid) hung on shutdown"
}
