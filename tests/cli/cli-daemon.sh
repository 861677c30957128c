#!/usr/bin/env bash
# Default daemonization, -P PIDFILE, SIGTERM, and -f (foreground).
. "$SRCDIR/tests/functions.sh"
. "$SRCDIR/tests/cli/cli-lib.sh"
requires nbdinfo --version
mem="$(plugin memory)"

# --- Default: fork into the background. ---
pidfile="$tmpdir/nbdkit.pid"
sock="$tmpdir/sock"
echo "stale garbage that must be overwritten" > "$pidfile"
st=0
timeout 60 "$NBDKIT" -P "$pidfile" -U "$sock" "$mem" size=1M \
  >"$tmpdir/out" 2>"$tmpdir/err" || st=$?
[ "$st" -eq 0 ] || { cat "$tmpdir/err"; fail "daemonizing start exited with $st"; }
# The parent returned.  The socket is bound before the fork, so it is
# there already; the pid file is written by the background process,
# which may take a moment.
[ -S "$sock" ] || fail "socket not there when the starting command returned"
wait_for "pid file to contain the pid" pidfile_ready "$pidfile"
[ "$(wc -l < "$pidfile")" -eq 1 ] || fail "pid file has more than one line"
[ "$(tail -c1 "$pidfile" | od -An -c | tr -d ' ')" = '\n' ] ||
  fail "pid file does not end with a newline"
pid="$(cat "$pidfile")"
cleanup_fn "kill $pid 2>/dev/null; wait_gone_quiet $pid"
gone "$pid" && fail "daemon $pid is not running"
[ "$(nbdinfo --size "nbd+unix:///?socket=$sock")" = 1048576 ] ||
  fail "cannot use the daemonized server"

# Really in the background: not our child, and not holding our
# stdout/stderr files open.
ppid="$(awk '{ print $4 }' "/proc/$pid/stat")"
[ "$ppid" != $$ ] || fail "daemon is still a child of the test shell"
for fd in 0 1 2; do
  t="$(readlink "/proc/$pid/fd/$fd" || :)"
  case "$t" in
    "$tmpdir/out"|"$tmpdir/err") fail "daemon keeps fd $fd open on $t" ;;
  esac
done
# The starting command printed nothing on stdout.
[ ! -s "$tmpdir/out" ] || { cat "$tmpdir/out"; fail "unexpected output on stdout"; }

# SIGTERM stops it; the pid file is not deleted.
kill -TERM "$pid"
wait_gone "$pid"
[ -f "$pidfile" ] || fail "pid file was deleted at exit"

# --- -f: stay in the foreground (the pid file names the same process). ---
pidfile2="$tmpdir/fg.pid"
run_bg "$tmpdir/fg.log" "$NBDKIT" -f -P "$pidfile2" -U "$tmpdir/sock2" "$mem" size=1M
wait_for "pid file $pidfile2" pidfile_ready "$pidfile2"
[ "$(cat "$pidfile2")" = "$bgpid" ] ||
  fail "-f: pid file has $(cat "$pidfile2"), expected $bgpid"
[ "$(nbdinfo --size "nbd+unix:///?socket=$tmpdir/sock2")" = 1048576 ] ||
  fail "-f: cannot use the server"
gone "$bgpid" && fail "-f: server exited"
kill -TERM "$bgpid"
st=0; wait "$bgpid" || st=$?
[ "$st" -eq 0 ] || fail "-f: exit status after SIGTERM is $st, expected 0"

# --foreground and --no-fork are synonyms.
for opt in --foreground --no-fork; do
  rm -f "$tmpdir/fg.pid"
  run_bg "$tmpdir/fg2.log" "$NBDKIT" $opt -P "$tmpdir/fg.pid" -U "$tmpdir/sock3" "$mem" size=1M
  wait_for "pid file" pidfile_ready "$tmpdir/fg.pid"
  [ "$(cat "$tmpdir/fg.pid")" = "$bgpid" ] || fail "$opt did not stay in the foreground"
  kill "$bgpid"; wait_gone "$bgpid"
  rm -f "$tmpdir/sock3"
done
