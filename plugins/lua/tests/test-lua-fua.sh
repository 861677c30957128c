#!/usr/bin/env bash
# When FUA is advertised, and what a FUA request does (fua.lua counts
# writes, writes that saw the FUA flag, and flushes).  As for a C
# plugin, a script without can_fua gets FUA emulated if it defines
# flush (each FUA write is followed by a call to flush) and no FUA at
# all otherwise: advertising FUA with nothing to flush would let a
# client believe a write is durable when it is not.  A script that
# defines can_fua gets exactly what it returns.  This holds whatever
# the thread model (one interpreter, or one per connection).
#
# Debian's nbdkit-plugin-lua, when installed, is run on the same
# script: with flush it behaves the same; without flush it still
# advertises FUA (documented in nbdkit-lua-plugin(3), COMPATIBILITY).

. "$SRCDIR/tests/functions.sh"
. "$SRCDIR/plugins/lua/tests/functions-lua.sh"
requires python3 -c 'import nbd'

cd "$tmpdir"
script="$LUADIR/fua.lua"

# The NBD_FLAG_SEND_FLUSH / SEND_FUA bits of the export, as nbdinfo
# reports them (a second, independent client).
nbdinfo_flags ()
{
  client nbdinfo --json "$uri" |
    grep -E '"(can_flush|can_fua)"' | tr -d ' \t,\n'
}

# serve NAME SERVER ARGS...: start SERVER on fua.lua ARGS, write
# "info" and the results of PROBE_OPS into NAME.probe and the nbdinfo
# flags into NAME.nbdinfo, then stop it.
serve ()
{
  local name="$1" server="$2"
  shift 2
  "start_$server" "$name.log" -v lua "$script" "$@"
  # shellcheck disable=SC2086
  client python3 "$LUADIR/probe.py" "$uri" info $PROBE_OPS > "$name.probe"
  nbdinfo_flags > "$name.nbdinfo"
  kill "$pid"
  _wait_gone "$pid"
}

# expect NAME REGEX...: each REGEX must match a whole line of NAME.probe.
expect ()
{
  local name="$1" re
  shift
  for re in "$@"; do
    if ! grep -qxE -- "$re" "$name.probe"; then
      echo "--- $name.probe:" >&2
      cat "$name.probe" >&2
      echo "--- $name.log:" >&2
      cat "$name.log" >&2
      fail "$name: expected a line matching: $re"
    fi
  done
}

# A FUA write, a FUA zero, a FUA trim, a plain write, then the counters.
PROBE_OPS="pwrite:4096:512:1:fua zero:8192:512:fua trim:8192:512:fua
           pwrite:4096:512:2 text:0:64"
write_ok='pwrite:4096:512:1:fua -> OK'
fua_refused='pwrite:4096:512:1:fua -> ERR EINVAL'  # libnbd: not advertised

for model in "" serialize_requests parallel; do
  m=${model:+thread_model=$model}
  tag=${model:-default}

  # 1. No flush, no can_fua: FUA is not advertised, and the client
  #    (libnbd) refuses to send FUA requests; plain writes still work.
  n="noflush.$tag"
  # shellcheck disable=SC2086
  serve "$n" ours $m
  expect "$n" \
    'info -> OK size=1048576 can_write=1 can_flush=0 can_fua=0 .*' \
    "$fua_refused" \
    'text:0:64 -> OK writes=1 fua_writes=0 flushes=0'
  [ "$(cat "$n.nbdinfo")" = '"can_flush":false"can_fua":false' ] ||
    fail "$n: nbdinfo says $(cat "$n.nbdinfo")"

  # 2. flush, no can_fua: FUA is emulated.  Each FUA request reaches
  #    the script without the flag and is followed by one flush.
  n="flush.$tag"
  # shellcheck disable=SC2086
  serve "$n" ours flush=yes $m
  expect "$n" \
    'info -> OK size=1048576 can_write=1 can_flush=1 can_fua=1 .*' \
    "$write_ok" \
    'text:0:64 -> OK writes=4 fua_writes=0 flushes=3'
  [ "$(cat "$n.nbdinfo")" = '"can_flush":true"can_fua":true' ] ||
    fail "$n: nbdinfo says $(cat "$n.nbdinfo")"
  echo "$tag: no flush -> no FUA; flush -> FUA emulated with flush"
done

# 3. An explicit can_fua is obeyed, with or without flush.
serve none-flush ours flush=yes can_fua=none
expect none-flush 'info -> OK .* can_flush=1 can_fua=0 .*' "$fua_refused"
serve zero-flush ours flush=yes can_fua=0
expect zero-flush 'info -> OK .* can_flush=1 can_fua=0 .*'

serve native ours can_fua=native
expect native 'info -> OK .* can_flush=0 can_fua=1 .*' "$write_ok" \
  'text:0:64 -> OK writes=4 fua_writes=3 flushes=0'
serve native-flush ours flush=yes can_fua=2 thread_model=parallel
expect native-flush 'info -> OK .* can_flush=1 can_fua=1 .*' \
  'text:0:64 -> OK writes=4 fua_writes=3 flushes=0'

# Emulated FUA without a flush function: the script asked for it, so
# it gets it (there is nothing to call after the write), and the log
# says that FUA requests are then not made durable by anything.
serve emulate ours can_fua=emulate
expect emulate 'info -> OK .* can_flush=0 can_fua=1 .*' "$write_ok" \
  'text:0:64 -> OK writes=4 fua_writes=0 flushes=0'
expect_log emulate.log 'can_fua returned emulate, but the script has no flush'
serve emulate-flush ours flush=yes can_fua=1
expect emulate-flush 'info -> OK .* can_fua=1 .*' \
  'text:0:64 -> OK writes=4 fua_writes=0 flushes=3'
if grep -q 'has no flush' emulate-flush.log; then
  fail "emulate-flush: the script does have flush"
fi
echo "explicit can_fua: obeyed"

#----------------------------------------------------------------------
# Debian's nbdkit-plugin-lua on the same script.
if [ -z "$have_debian" ]; then
  echo "Debian's nbdkit-plugin-lua not installed: not compared"
  exit 0
fi
# With flush: the same FUA behaviour as ours (Debian's plugin does not
# advertise flush itself, see COMPATIBILITY, and its write callbacks
# never see flags).
serve deb-flush debian flush=yes
expect deb-flush 'info -> OK .* can_fua=1 .*' "$write_ok" \
  'text:0:64 -> OK writes=4 fua_writes=0 flushes=3'
# Without flush, Debian's plugin advertises FUA and acknowledges FUA
# writes that nothing made durable; ours does not advertise it.
serve deb-noflush debian
expect deb-noflush 'info -> OK .* can_fua=1 .*' "$write_ok" \
  'text:0:64 -> OK writes=4 fua_writes=0 flushes=0'
echo "Debian: the same with flush; FUA advertised without flush"
