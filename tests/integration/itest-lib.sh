# itest-lib.sh: helpers shared by tests/integration/test-*.sh.
# Sourced after tests/functions.sh:
#
#   . "$SRCDIR/tests/functions.sh"
#   . "$SRCDIR/tests/integration/itest-lib.sh"
#
# Provides:
#   $ITEST_DIR        this folder (helper scripts live here)
#   $ITEST_BUILD      build folder of the test plugins
#   $DEBIAN_NBDKIT    Debian's server, used as the reference (a wrapper
#                     preloading ASan in a sanitizer build)
#   testing_debian_server  true if $NBDKIT is Debian's server
#   itest_plugin NAME path of test plugin NAME.so (fails if not built)
#   requires_nbd_python  skip unless /usr/bin/python3 can import nbd
#   requires_debian_nbdkit  skip unless Debian's server is installed
#   pick_port         print a TCP port that is free right now
#   start_nbdkit_tcp ARGS...  like start_nbdkit but on 127.0.0.1:$port
#   start_nbdkit_fg ARGS...   like start_nbdkit but in the foreground (-f)
#                     with stderr going to the file $errlog
#   wait_exit PID SECS  wait for PID to exit; return 1 if it did not
#   stop_all_servers  SIGTERM every server started so far, all at once
#                     (each takes a moment to exit), and fail if one
#                     does not exit within 60 s
#   wait_log FILE REGEX N  wait (60 s at most) until N lines of FILE match
#   json_norm FILE    print nbdinfo --json output without the "uri" keys
#   assert_eq WHAT EXPECTED ACTUAL

ITEST_DIR="$SRCDIR/tests/integration"
ITEST_BUILD="$BUILDDIR/tests/integration"
DEBIAN_NBDKIT_BIN=/usr/bin/nbdkit
DEBIAN_NBDKIT="$DEBIAN_NBDKIT_BIN"

# In a sanitizer build our test plugins need the ASan runtime, which
# Debian's server does not have: preload it there.
if [ -x "$DEBIAN_NBDKIT_BIN" ] &&
   ldd "$ITEST_BUILD/test-plugin-ours-v2.so" 2>/dev/null | grep -q libasan; then
  _libasan="$(cc -print-file-name=libasan.so 2>/dev/null || :)"
  if [ -f "$_libasan" ]; then
    cat >"$tmpdir/debian-nbdkit" <<EOF
#!/bin/sh
LD_PRELOAD="$_libasan" ASAN_OPTIONS="\${ASAN_OPTIONS:+\$ASAN_OPTIONS:}detect_leaks=0" \\
  exec "$DEBIAN_NBDKIT_BIN" "\$@"
EOF
    chmod +x "$tmpdir/debian-nbdkit"
    DEBIAN_NBDKIT="$tmpdir/debian-nbdkit"
  fi
fi

# Is the server under test Debian's (the reference) rather than ours?
testing_debian_server ()
{
  [ "$(realpath "$NBDKIT")" = "$DEBIAN_NBDKIT_BIN" ]
}

itest_plugin ()
{
  local f="$ITEST_BUILD/$1.so"
  [ -f "$f" ] || fail "test plugin $f is not built (run ninja first)"
  echo "$f"
}

requires_nbd_python ()
{
  requires python3 -c 'import nbd'
}

requires_debian_nbdkit ()
{
  requires_file "$DEBIAN_NBDKIT_BIN"
}

pick_port ()
{
  python3 -c '
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# start_nbdkit_tcp ARGS...: serve on 127.0.0.1 and a free port.  Sets
# $port, $pid, $uri.  A port taken between pick_port and bind makes the
# server exit with an error; then another port is tried.
start_nbdkit_tcp ()
{
  _nbdkit_count=$((_nbdkit_count + 1))
  local pidfile="$tmpdir/pid.tcp.$_nbdkit_count" try
  for try in 1 2 3 4 5; do
    port="$(pick_port)"
    rm -f "$pidfile"
    if "$NBDKIT" -P "$pidfile" -i 127.0.0.1 -p "$port" "$@" \
         2>"$tmpdir/tcp.err"; then
      local i
      for (( i=0; i<300; i++ )); do
        [ -s "$pidfile" ] && break
        sleep 0.1
      done
      [ -s "$pidfile" ] || fail "nbdkit did not start on TCP: $*"
      pid="$(cat "$pidfile")"
      uri="nbd://127.0.0.1:$port"
      cleanup_fn "kill $pid 2>/dev/null; _wait_gone $pid"
      return 0
    fi
  done
  cat "$tmpdir/tcp.err" >&2
  fail "could not start nbdkit on a TCP port"
}

start_nbdkit_fg ()
{
  _nbdkit_count=$((_nbdkit_count + 1))
  sock="$tmpdir/sock.$_nbdkit_count"
  errlog="$tmpdir/stderr.$_nbdkit_count"
  local pidfile="$tmpdir/pid.$_nbdkit_count"
  rm -f "$pidfile"
  "$NBDKIT" -f -P "$pidfile" -U "$sock" "$@" 2>"$errlog" &
  pid=$!
  cleanup_fn "kill $pid 2>/dev/null; _wait_gone $pid"
  local i
  for (( i=0; i<300; i++ )); do
    [ -s "$pidfile" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  [ -s "$pidfile" ] || fail "nbdkit did not start: $NBDKIT $* ($(cat "$errlog"))"
  uri="nbd+unix:///?socket=$sock"
}

wait_exit ()
{
  local i n=$(( $2 * 10 ))
  for (( i=0; i<n; i++ )); do
    kill -0 "$1" 2>/dev/null || return 0
    sleep 0.1
  done
  return 1
}

stop_all_servers ()
{
  local f p pids=()
  for f in "$tmpdir"/pid.*; do
    [ -s "$f" ] || continue
    p="$(cat "$f")"
    kill -0 "$p" 2>/dev/null && pids+=("$p")
  done
  [ ${#pids[@]} -gt 0 ] || return 0
  kill "${pids[@]}" 2>/dev/null || :
  for p in "${pids[@]}"; do
    wait_exit "$p" 60 || fail "server $p did not exit within 60 s of SIGTERM"
  done
}

wait_log ()
{
  local i
  for (( i=0; i<600; i++ )); do
    [ "$(grep -Ec "$2" "$1" 2>/dev/null)" -ge "$3" ] && return 0
    sleep 0.1
  done
  return 1
}

json_norm ()
{
  # nbdinfo prints one key per line; the socket paths differ.
  grep -v '^[[:space:]]*"uri":' "$1"
}

assert_eq ()
{
  if [ "$2" != "$3" ]; then
    echo "$0: FAIL: $1" >&2
    echo "  expected: $2" >&2
    echo "  actual:   $3" >&2
    exit 1
  fi
}
