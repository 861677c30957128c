#!/usr/bin/env bash
# Every layer is called in nbdkit's order.  Two logging filters (lca
# outermost, lcb) over a logging plugin; the same client session runs
# against Debian's nbdkit (with the filters built against Debian's
# header) and ours, and the logs of every call in every layer must be
# the same: load, config, config_complete, thread_model, get_ready,
# after_fork, preconnect, list_exports, default_export, open, prepare,
# the data calls, finalize, close, cleanup, unload.  A -D flag set for
# one filter reaches it before .get_ready.
#
# The capability questions (get_size, can_*) are asked once per
# context and cached in both servers, but not in the same order (nbdkit
# also asks block_size and the description at every open, we only when
# the client wants them): they are compared as a set per connection.
source "$SRCDIR/tests/functions.sh"
requires nbdsh --version
requires nbdinfo --version

d="$BUILDDIR/tests/filters"
plugin="$d/lifecycle-plugin.so"
[ -f "$d/lifecycle-lca-debian.so" ] || skip "nbdkit-plugin-dev is not installed"
[ -x "$DEBIAN_NBDKIT" ] || skip "Debian's nbdkit is not installed"

session='
  nbdinfo --list "$uri" >/dev/null
  nbdsh -u "$uri" -c "
h.pwrite(b\"a\" * 512, 0)
h.pwrite(b\"b\" * 512, 512, nbd.CMD_FLAG_FUA)
assert h.pread(1024, 0) == b\"a\" * 512 + b\"b\" * 512
h.zero(512, 0)
h.trim(512, 512)
h.flush()
h.cache(512, 0)
"'

# Run the session against a server in the background, wait until every
# connection is closed in every layer (nbdkit 1.32 does not wait for
# the last one before .cleanup when --run ends), then stop it.
run ()
{
  local server=$1 kind=$2 log=$3 sock="$tmpdir/$2.sock" pidfile="$tmpdir/$2.pid"
  local uri="nbd+unix:///?socket=$sock" i
  LIFECYCLE_LOG="$log" "$server" -U "$sock" -P "$pidfile" -D lcb.flag=7 \
    --filter="$d/lifecycle-lca-$kind.so" --filter="$d/lifecycle-lcb-$kind.so" \
    "$plugin" key1=one key2=two
  for (( i = 0; i < 600; i++ )); do
    [ -s "$pidfile" ] && break
    sleep 0.1
  done
  uri="$uri" bash -c "$session"
  for (( i = 0; i < 600; i++ )); do
    [ "$(grep -c '^plugin: open' "$log")" = "$(grep -c '^plugin: close' "$log")" ] &&
      break
    sleep 0.1
  done
  kill "$(cat "$pidfile")"
  for (( i = 0; i < 600; i++ )); do
    grep -q '^lca: unload' "$log" && return 0
    sleep 0.1
  done
  fail "$server did not exit"
}

run "$DEBIAN_NBDKIT" debian "$tmpdir/debian.log"
run "$NBDKIT" ours "$tmpdir/ours.log"

grep -v ': query ' "$tmpdir/debian.log" > "$tmpdir/debian.calls"
grep -v ': query ' "$tmpdir/ours.log" > "$tmpdir/ours.calls"
diff -u "$tmpdir/debian.calls" "$tmpdir/ours.calls" ||
  fail "the servers call the layers in a different order"

# The questions: the same set, each at most once per layer and
# connection (between an "open" and a "close" of that layer).
questions ()
{
  awk '/: open/ { n[$1]++ } / query / { print $1, n[$1], $3 }' "$1" |
    sort
}
questions "$tmpdir/debian.log" | sort -u > "$tmpdir/debian.q"
questions "$tmpdir/ours.log" > "$tmpdir/ours.q"
[ "$(uniq -d "$tmpdir/ours.q")" = "" ] ||
  fail "a question was asked twice: $(uniq -d "$tmpdir/ours.q")"
# We ask no more than nbdkit does.
comm -13 "$tmpdir/debian.q" "$tmpdir/ours.q" > "$tmpdir/extra"
[ ! -s "$tmpdir/extra" ] || fail "questions nbdkit does not ask: $(cat "$tmpdir/extra")"
grep -q '^lcb: get_ready flag=7$' "$tmpdir/ours.log" || fail "-D lcb.flag=7 was not applied"
grep -q '^lca: get_ready flag=0$' "$tmpdir/ours.log" || fail "-D lcb.flag=7 reached lca"
echo "$(wc -l < "$tmpdir/ours.calls") calls in the same order"
