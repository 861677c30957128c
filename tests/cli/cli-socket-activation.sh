#!/usr/bin/env bash
# systemd socket activation: LISTEN_PID / LISTEN_FDS, listening socket
# handed over on fd 3.
. "$SRCDIR/tests/functions.sh"
. "$SRCDIR/tests/cli/cli-lib.sh"
requires nbdinfo --version
requires nbdsh --version
mem="$(plugin memory)"

# The launcher binds and listens on a Unix socket, puts it on fd 3, sets
# LISTEN_PID to its own pid (which the server keeps, as it is exec'd
# in place) and LISTEN_FDS=1, then execs the server.
launcher="$tmpdir/launch.py"
cat > "$launcher" <<'EOF_PY'
import os, socket, sys
path = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
s.listen(16)
fd = s.fileno()
if fd != 3:
    os.dup2(fd, 3)
    s.close()
os.set_inheritable(3, True)
env = dict(os.environ)
env["LISTEN_PID"] = str(os.getpid())
env["LISTEN_FDS"] = "1"
if len(sys.argv) > 2 and sys.argv[2] == "--pid=1":
    env["LISTEN_PID"] = "1"
    del sys.argv[2]
os.execve(sys.argv[2], sys.argv[2:], env)
EOF_PY

sock="$tmpdir/sa.sock"
/usr/bin/python3 "$launcher" "$sock" "$NBDKIT" "$mem" size=1M </dev/null >"$tmpdir/log" 2>&1 &
pid=$!
cleanup_fn "kill $pid 2>/dev/null; wait_gone_quiet $pid"
uri="nbd+unix:///?socket=$sock"
wait_for "socket activated server" nbdinfo --size "$uri"
[ "$(nbdinfo --size "$uri")" = 1048576 ] || fail "wrong size"
nbdsh -u "$uri" -c '
h.pwrite(b"activated" * 100, 0)
assert h.pread(900, 0) == b"activated" * 100
' || fail "write/read through the activated socket"
# Several connections, one after the other, to the same server.
nbdsh -u "$uri" -c 'assert h.pread(900, 0) == b"activated" * 100' || fail "second connection"
# Socket activation implies the foreground: the server is still our child.
gone "$pid" && { cat "$tmpdir/log"; fail "server exited"; }
jobs -p | grep -qx "$pid" || fail "server is not our child"
kill "$pid"
st=0; wait "$pid" || st=$?
[ "$st" = 0 ] || { cat "$tmpdir/log"; fail "exit status $st after SIGTERM"; }

# The LISTEN_* variables are removed from the environment the plugin sees.
sh_plugin="$DEBIAN_PLUGINDIR/nbdkit-sh-plugin.so"
if [ -f "$sh_plugin" ]; then
  cat > "$tmpdir/env.sh" <<EOF_SH
#!/bin/bash
case "\$1" in
  get_size) env | grep '^LISTEN_' > '$tmpdir/env.out'; echo 1M ;;
  pread) dd if=/dev/zero count=\$3 iflag=count_bytes 2>/dev/null ;;
  *) exit 2 ;;
esac
EOF_SH
  chmod +x "$tmpdir/env.sh"
  rm -f "$sock"
  /usr/bin/python3 "$launcher" "$sock" "$NBDKIT" "$sh_plugin" "$tmpdir/env.sh" </dev/null >"$tmpdir/log" 2>&1 &
  pid=$!
  cleanup_fn "kill $pid 2>/dev/null; wait_gone_quiet $pid"
  wait_for "socket activated server" nbdinfo --size "$uri"
  [ -f "$tmpdir/env.out" ] || fail "plugin was not called"
  [ ! -s "$tmpdir/env.out" ] || { cat "$tmpdir/env.out"; fail "LISTEN_* still in the environment"; }
  kill "$pid"; wait_gone "$pid"
fi

# libnbd's own socket activation ([ CMD ] syntax of nbdinfo).
[ "$(nbdinfo --size -- [ "$NBDKIT" "$mem" size=2M ])" = 2097152 ] ||
  fail "nbdinfo [ nbdkit ... ] failed"

# Socket activation together with -U, -p, -i, -s or --run is an error.
for opt in "-U $tmpdir/other.sock" "-p 10809" "-i 127.0.0.1" "-s" "--run true"; do
  rm -f "$sock"
  st=0
  timeout 60 /usr/bin/python3 "$launcher" "$sock" "$NBDKIT" $opt "$mem" size=1M \
    </dev/null >"$tmpdir/log" 2>&1 || st=$?
  cat "$tmpdir/log"
  [ "$st" = 1 ] || fail "socket activation with $opt: exit status $st, expected 1"
  grep -q 'socket activation' "$tmpdir/log" || fail "socket activation with $opt: no clear error"
done

# LISTEN_PID naming another process: no socket activation, -U works.
rm -f "$sock"
/usr/bin/python3 "$launcher" "$sock" --pid=1 "$NBDKIT" -f -U "$tmpdir/u.sock" "$mem" size=1M \
  </dev/null >"$tmpdir/log" 2>&1 &
pid=$!
cleanup_fn "kill $pid 2>/dev/null; wait_gone_quiet $pid"
wait_for "server on -U" nbdinfo --size "nbd+unix:///?socket=$tmpdir/u.sock"
kill "$pid"; wait_gone "$pid"
