#!/usr/bin/env bash
# Options may come after the plugin name and its parameters (GNU
# getopt permutation), e.g. "nbdkit memory 1M -f -U sock".
. "$SRCDIR/tests/functions.sh"
. "$SRCDIR/tests/cli/cli-lib.sh"
requires nbdinfo --version
mem="$(plugin memory)"

sock="$tmpdir/sock"
run_bg "$tmpdir/log" "$NBDKIT" "$mem" 1M -f -U "$sock" -P "$tmpdir/pid"
wait_for "pid file" pidfile_ready "$tmpdir/pid"
[ "$(cat "$tmpdir/pid")" = "$bgpid" ] || fail "-f after the plugin was ignored"
[ "$(nbdinfo --size "nbd+unix:///?socket=$sock")" = 1048576 ] || fail "size after options"
kill "$bgpid"; wait_gone "$bgpid"

# Mixed: options between parameters, and options with arguments.
"$NBDKIT" "$mem" -U - size=2M -r --run 'nbdinfo --json "$uri"' -e name1 > "$tmpdir/json" ||
  fail "mixed order failed"
grep -Eq '"export-size": *2097152' "$tmpdir/json" || { cat "$tmpdir/json"; fail "size"; }
grep -Eq '"is_read_only": *true' "$tmpdir/json" || fail "-r after the plugin"
grep -q 'name1' "$tmpdir/json" || fail "-e after the plugin"

# --long=value forms after the plugin.
"$NBDKIT" "$mem" size=1M --unix=- --readonly --run='nbdinfo --json "$uri"' > "$tmpdir/json" ||
  fail "--long=value after the plugin"
grep -Eq '"is_read_only": *true' "$tmpdir/json" || fail "--readonly after the plugin"
