#!/usr/bin/env bash
# The thread model a script asks for, and the one it gets.  Every
# model is delivered as asked except parallel: a connection's
# callbacks run in that connection's own Lua interpreter, which can
# only run one of them at a time, so the plugin runs the script under
# serialize_requests (connections still run at the same time).  The
# script must not be left to guess: nbdkit -v says so and why, and
# --dump-plugin shows both the model the script asked for
# (lua_script_thread_model) and the one nbdkit uses (thread_model).

. "$SRCDIR/tests/functions.sh"
. "$SRCDIR/plugins/lua/tests/functions-lua.sh"
requires python3 -c 'import nbd'

cd "$tmpdir"
cb="$LUADIR/callbacks.lua"

# --dump-plugin, for each way of naming each model.
check_dump ()
{
  local asked="$1" script_model="$2" effective="$3"
  local -a args=()
  [ -z "$asked" ] || args=(thread_model="$asked")
  "$NBDKIT" lua "$cb" "${args[@]}" --dump-plugin > dump
  grep -qx "thread_model=$effective" dump ||
    fail "${asked:-default}: want thread_model=$effective, got:
$(grep thread_model dump)"
  grep -qx "lua_script_thread_model=$script_model" dump ||
    fail "${asked:-default}: want lua_script_thread_model=$script_model, got:
$(grep thread_model dump)"
  tail -n1 dump | grep -qx 'callbacks_dump=yes' ||
    fail "${asked:-default}: the script's dump_plugin output should be last"
}
check_dump "" serialize_all_requests serialize_all_requests
check_dump serialize_connections serialize_connections serialize_connections
check_dump 0 serialize_connections serialize_connections
check_dump serialize_all_requests serialize_all_requests serialize_all_requests
check_dump serialize_requests serialize_requests serialize_requests
check_dump 2 serialize_requests serialize_requests
check_dump parallel parallel serialize_requests
check_dump 3 parallel serialize_requests
# A script without thread_model at all.
"$NBDKIT" lua "$LUADIR/minimal.lua" --dump-plugin > dump.minimal
grep -qx 'thread_model=serialize_all_requests' dump.minimal ||
  fail "minimal.lua: thread_model"
grep -qx 'lua_script_thread_model=serialize_all_requests' dump.minimal ||
  fail "minimal.lua: lua_script_thread_model"
echo "--dump-plugin: requested and effective models shown"

# nbdkit -v explains the change, when it happens, and only then.
for model in parallel serialize_requests serialize_all_requests; do
  start_ours "log.$model" -v lua "$cb" thread_model=$model
  client nbdinfo "$uri" > /dev/null
  kill "$pid"
  _wait_gone "$pid"
done
expect_log log.parallel \
  'debug: lua: the script asked for the parallel thread model: using serialize_requests, because'
expect_log log.parallel 'debug: using thread model: serialize_requests$'
for model in serialize_requests serialize_all_requests; do
  if grep -q 'asked for the parallel' "log.$model"; then
    fail "$model: a model that is delivered must not be explained away"
  fi
  expect_log "log.$model" "debug: using thread model: $model\$"
done
echo "nbdkit -v: the change to serialize_requests is explained"

# What the script then gets: the requests of one connection never
# overlap (parallel.lua's read at 8192 fails if another is running),
# even with many of them in flight at once.
mkdir b
start_ours log.run lua "$LUADIR/parallel.lua" dir="$tmpdir/b" model=parallel
client python3 - "nbd+unix:///one?socket=$sock" <<'EOF2'
import sys
import nbd
h = nbd.NBD()
h.connect_uri(sys.argv[1])
bufs = [nbd.Buffer(512) for _ in range(8)]
cookies = [h.aio_pread(b, 8192) for b in bufs]
while h.aio_in_flight() > 0:
    h.poll(-1)
for c in cookies:
    # Raises if the read failed ("overlap detected").
    assert h.aio_command_completed(c)
h.shutdown()
EOF2
echo "parallel: the requests of one connection ran one at a time"
