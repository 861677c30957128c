#!/usr/bin/env bash
# Thread models.  test-threads-plugin.so is PARALLEL and tightens its
# model with .thread_model (thread_model=...).  It records the largest
# number of .pread calls running at once, overall and per connection,
# and the largest number of open connections (see the plugin for how
# overlap is made certain without looking at the clock).  Under a
# parallel client (several connections, several reads in flight on
# each):
#   serialize_connections   one connection at a time, one callback
#   serialize_all_requests  one callback at a time across connections
#   serialize_requests      one per connection, more than one overall
#   parallel                several at once on one connection
#   parallel with -t 1      one per connection, more than one overall
#   parallel with -t 4      at most four on one connection
# Multi-conn is advertised except with serialize_connections, and
# --dump-plugin shows the tightened model.

. "$SRCDIR/tests/functions.sh"
. "$SRCDIR/tests/integration/itest-lib.sh"

requires_nbd_python
requires nbdinfo --version

plugin="$(itest_plugin test-threads-plugin)"
failures=0
bad ()
{
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# run NAME CONNS REQS [SERVER OPTIONS...] -- [PLUGIN ARGS...]
# Leaves the stats in $tmpdir/NAME.stats and "multi_conn=..." lines in
# $tmpdir/NAME.out.
run ()
{
  local name="$1" conns="$2" reqs="$3"
  shift 3
  local opts=()
  while [ "$1" != "--" ]; do opts+=("$1"); shift; done
  shift
  local stats="$tmpdir/$name.stats"
  start_nbdkit "${opts[@]}" "$plugin" "stats=$stats" "$@"
  python3 "$ITEST_DIR/threads-client.py" "$uri" "$conns" "$reqs" \
          >"$tmpdir/$name.out" || bad "$name: client failed"
  nbdinfo --json "$uri" >"$tmpdir/$name.json" || bad "$name: nbdinfo failed"
  kill "$pid"
  wait_exit "$pid" 60 || bad "$name: server did not exit after SIGTERM"
  [ -s "$stats" ] || bad "$name: no stats written"
}

# stat NAME KEY
stat ()
{
  sed -n "s/^$2=//p" "$tmpdir/$1.stats"
}

# expect NAME KEY OP VALUE
expect ()
{
  local v
  v="$(stat "$1" "$2")"
  [ -n "$v" ] && [ "$v" "$3" "$4" ] ||
    bad "$1: expected $2 $3 $4, got '$v' ($(tr '\n' ' ' <"$tmpdir/$1.stats"))"
}

multi_conn ()
{
  local want="$2" got
  got="$(sed -n 's/^multi_conn=//p' "$tmpdir/$1.out")"
  [ "$got" = "$want" ] || bad "$1: client saw can_multi_conn=$got, expected $want"
  grep -q "\"can_multi_conn\": ${want,,}" "$tmpdir/$1.json" ||
    bad "$1: nbdinfo --json: $(grep can_multi_conn "$tmpdir/$1.json")"
}

for m in serialize_connections serialize_all_requests serialize_requests \
         parallel; do
  out="$("$NBDKIT" "$plugin" "thread_model=$m" --dump-plugin)" ||
    bad "--dump-plugin thread_model=$m failed"
  grep -qx "max_thread_model=parallel" <<<"$out" ||
    bad "--dump-plugin thread_model=$m: no max_thread_model=parallel"
  grep -qx "thread_model=$m" <<<"$out" ||
    bad "--dump-plugin thread_model=$m: $(grep thread_model <<<"$out")"
done

# Models where the target cannot be reached wait for the guard once.
run sc 3 4 -- thread_model=serialize_connections target=2 guard=2000
expect sc max_open -eq 1
expect sc max_global -eq 1
expect sc max_per_conn -eq 1
expect sc preads -ge 12
multi_conn sc False

run sar 3 4 -- thread_model=serialize_all_requests target=2 guard=2000
expect sar max_global -eq 1
expect sar max_per_conn -eq 1
expect sar preads -ge 12
multi_conn sar True

# Reachable targets, so a generous guard costs nothing.
run sr 3 4 -- thread_model=serialize_requests target=3 guard=15000
expect sr max_per_conn -eq 1
expect sr max_global -eq 3
expect sr max_open -eq 3
multi_conn sr True

run par 1 8 -- thread_model=parallel target=8 guard=15000
expect par max_per_conn -eq 8
expect par max_global -eq 8
multi_conn par True

run par2 2 8 -- thread_model=parallel target=16 guard=15000
expect par2 max_global -eq 16
expect par2 max_per_conn -eq 8
expect par2 max_open -eq 2

run t1 2 8 -t 1 -- thread_model=parallel target=2 guard=15000
expect t1 max_per_conn -eq 1
expect t1 max_global -eq 2
multi_conn t1 True

run t4 1 16 -t 4 -- thread_model=parallel target=4 guard=15000
expect t4 max_per_conn -eq 4
expect t4 preads -ge 16

[ "$failures" -eq 0 ] || fail "$failures check(s) failed"
echo OK
