#!/usr/bin/env bash
# Real concurrency.  With a thread model looser than
# serialize_all_requests each connection has its own interpreter
# (which ran the top level and config again) and the callbacks of two
# connections overlap: this is observed with a barrier that two reads
# can only pass together.  With serialize_all_requests there is one
# interpreter and callbacks never overlap.

. "$SRCDIR/tests/functions.sh"
. "$SRCDIR/plugins/lua/tests/functions-lua.sh"
requires python3 -c 'import nbd'

probe_as ()
{
  local name="$1"
  shift
  client python3 "$LUADIR/probe.py" "nbd+unix:///$name?socket=$sock" "$@"
}

for model in parallel serialize_requests; do
  rm -rf "$tmpdir/b"
  mkdir "$tmpdir/b"
  start_ours "$tmpdir/log.$model" lua "$LUADIR/parallel.lua" \
    dir="$tmpdir/b" model=$model tag=hello

  # Both reads must be in progress at once to pass the barrier.
  probe_as p1 text:0:512 > "$tmpdir/p1.$model" &
  c1=$!
  probe_as p2 text:0:512 > "$tmpdir/p2.$model" &
  c2=$!
  wait $c1 || fail "$model: client 1 failed"
  wait $c2 || fail "$model: client 2 failed"
  grep -qx 'text:0:512 -> OK met p1' "$tmpdir/p1.$model" ||
    fail "$model: p1 did not pass the barrier: $(cat "$tmpdir/p1.$model")"
  grep -qx 'text:0:512 -> OK met p2' "$tmpdir/p2.$model" ||
    fail "$model: p2 did not pass the barrier: $(cat "$tmpdir/p2.$model")"

  # Each connection has a fresh interpreter: its own globals (opens
  # counts only its own open) and the configuration replayed (three
  # config calls, tag visible).
  probe_as p3 text:4096:512 > "$tmpdir/p3.$model"
  probe_as p4 text:4096:512 > "$tmpdir/p4.$model"
  grep -qx 'text:4096:512 -> OK name=p3 opens=1 configs=3 tag=hello' \
    "$tmpdir/p3.$model" || fail "$model: p3: $(cat "$tmpdir/p3.$model")"
  grep -qx 'text:4096:512 -> OK name=p4 opens=1 configs=3 tag=hello' \
    "$tmpdir/p4.$model" || fail "$model: p4: $(cat "$tmpdir/p4.$model")"

  # The connections do not share a disk (each interpreter has its own
  # globals, and the text at 4096 differs between connections), so
  # the script must not claim multi-conn.
  probe_as p6 info > "$tmpdir/p6.$model"
  grep -q '^info -> OK .* can_multi_conn=0 ' "$tmpdir/p6.$model" ||
    fail "$model: parallel.lua claims multi-conn: $(cat "$tmpdir/p6.$model")"

  # Several requests in flight on one connection still complete.
  client python3 - "nbd+unix:///p5?socket=$sock" <<'EOF2'
import sys
import nbd
h = nbd.NBD()
h.connect_uri(sys.argv[1])
bufs = [nbd.Buffer(4096) for _ in range(16)]
cookies = [h.aio_pread(b, 65536 + i * 4096) for i, b in enumerate(bufs)]
while h.aio_in_flight() > 0:
    h.poll(-1)
for c in cookies:
    assert h.aio_command_completed(c)
h.shutdown()
EOF2
  stop_nbdkit
  echo "$model: callbacks of different connections overlapped"
done

#----------------------------------------------------------------------
# serialize_all_requests (also what a script without thread_model
# gets): one interpreter, and callbacks never overlap.
rm -rf "$tmpdir/b"
mkdir "$tmpdir/b"
start_ours "$tmpdir/log.all" lua "$LUADIR/parallel.lua" \
  dir="$tmpdir/b" model=serialize_all_requests
pids=()
for i in 1 2 3 4; do
  probe_as "q$i" pread:8192:512 pread:8192:512 pread:8192:512 \
    > "$tmpdir/q$i" &
  pids+=($!)
done
for p in "${pids[@]}"; do
  wait "$p" || fail "serialize_all_requests: a client failed"
done
for i in 1 2 3 4; do
  if grep -v -- '-> OK' "$tmpdir/q$i"; then
    cat "$tmpdir/log.all" >&2
    fail "serialize_all_requests: callbacks overlapped"
  fi
done
# One interpreter: opens counts all connections.  Even so the text at
# 4096 depends on the connection, so multi-conn is not claimed.
probe_as p9 text:4096:512 info > "$tmpdir/p9"
grep -qx 'text:4096:512 -> OK name=p9 opens=5 configs=2 tag=' "$tmpdir/p9" ||
  fail "serialize_all_requests: $(cat "$tmpdir/p9")"
grep -q '^info -> OK .* can_multi_conn=0 ' "$tmpdir/p9" ||
  fail "serialize_all_requests: parallel.lua claims multi-conn"
echo "serialize_all_requests: one interpreter, no overlap"
