#!/usr/bin/env bash
# --exit-with-parent: the server dies when its parent process dies.
# It implies -f (it stays a child of its parent).
. "$SRCDIR/tests/functions.sh"
. "$SRCDIR/tests/cli/cli-lib.sh"
requires nbdinfo --version
mem="$(plugin memory)"

sock="$tmpdir/sock"
pidfile="$tmpdir/nbdkit.pid"
# The parent: a shell that starts the server and then becomes "sleep"
# (same pid), so killing it kills the server's parent and nothing else.
bash -c '"$1" --exit-with-parent -P "$2" -U "$3" "$4" size=1M </dev/null >/dev/null 2>&1 &
         exec sleep 600' _ "$NBDKIT" "$pidfile" "$sock" "$mem" &
parent=$!
cleanup_fn "kill $parent 2>/dev/null"
wait_for "pid file" pidfile_ready "$pidfile"
pid="$(cat "$pidfile")"
cleanup_fn "kill $pid 2>/dev/null; wait_gone_quiet $pid"

# It did not fork into the background: its parent is still $parent.
ppid="$(awk '{ print $4 }' "/proc/$pid/stat")"
[ "$ppid" = "$parent" ] || fail "server's parent is $ppid, expected $parent (did it fork?)"
[ "$(nbdinfo --size "nbd+unix:///?socket=$sock")" = 1048576 ] || fail "server not usable"

kill -KILL "$parent"
wait "$parent" 2>/dev/null || :
wait_gone "$pid"
