#!/usr/bin/env bash
# Every callback beyond the manual, checked from the client side and
# from the log callbacks.lua writes: the flags (FUA, MAY_TRIM,
# FAST_ZERO, REQ_ONE) reach the script, tri-state and boolean answers
# are honoured in every accepted form, the export list, default
# export, description, block sizes and extents reach the client, and
# the lifecycle callbacks run in order.

. "$SRCDIR/tests/functions.sh"
. "$SRCDIR/plugins/lua/tests/functions-lua.sh"
requires python3 -c 'import nbd'

probe ()
{
  client python3 "$LUADIR/probe.py" "$uri" "$@"
}

# Fail unless FILE contains exactly the lines given on stdin, in that
# order (other lines may come in between).
expect_in_order ()
{
  local file="$1"
  python3 -c '
import sys
want = [l.rstrip("\n") for l in sys.stdin if l.strip()]
have = [l.rstrip("\n") for l in open(sys.argv[1])]
i = 0
for l in have:
    if i < len(want) and l == want[i]:
        i += 1
if i < len(want):
    sys.exit("missing (in order) from %s: %r" % (sys.argv[1], want[i]))
' "$file" || { cat "$file" >&2; fail "unexpected log in $file"; }
}

expect_probe ()
{
  local file="$1"
  shift
  diff -u <(printf '%s\n' "$@") "$file" || fail "unexpected results: $file"
}

cb="$LUADIR/callbacks.lua"

#----------------------------------------------------------------------
# 1: the script advertises everything natively.
export CALLBACKS_LOG="$tmpdir/log1"
start_ours "$tmpdir/err1" lua "$cb" exports=a/first,b default_export=a
probe info pwrite:0:512:1:fua zero:0:512 zero:0:512:nohole zero:0:512:fast \
      trim:0:512:fua cache:0:512 extents:0:131072 extents:69632:1024:reqone \
      extents:0:1024:reqone pread:0:1024 flush > "$tmpdir/probe1"
probe list > "$tmpdir/list1"
client nbdinfo --json "$uri" > "$tmpdir/json1"
stop_nbdkit
unset CALLBACKS_LOG

expect_probe "$tmpdir/probe1" \
  "info -> OK size=1048576 can_write=1 can_flush=1 can_fua=1 can_trim=1 can_zero=1 can_fast_zero=1 can_cache=1 can_multi_conn=1 can_df=1 is_rotational=0 extents=1 block_size=512/4096/65536 description='callbacks test disk'" \
  "pwrite:0:512:1:fua -> OK" \
  "zero:0:512 -> OK" \
  "zero:0:512:nohole -> OK" \
  "zero:0:512:fast -> OK" \
  "trim:0:512:fua -> OK" \
  "cache:0:512 -> OK" \
  "extents:0:131072 -> OK 0+65536:0 65536+983040:3" \
  "extents:69632:1024:reqone -> OK 69632+1024:3" \
  "extents:0:1024:reqone -> OK 0+1024:0" \
  "pread:0:1024 -> OK 5f70bf18a0860070" \
  "flush -> OK"
expect_probe "$tmpdir/list1" "list -> OK 'a':'first' 'b':''"
grep -q '"export-name": "a"' "$tmpdir/json1" ||
  fail "default_export: the canonical name should be a"

expect_in_order "$tmpdir/log1" <<'EOF2'
load
config exports=a/first,b
config default_export=a
config_complete
thread_model
get_ready
after_fork
preconnect readonly=false
open readonly=false (boolean) export=a
pwrite count=512 offset=0 flags=2
zero count=512 offset=0 may_trim=true flags=1
zero count=512 offset=0 may_trim=false flags=0
zero count=512 offset=0 may_trim=true flags=9
trim count=512 offset=0 flags=2
cache count=512 offset=0 flags=0
extents count=131072 offset=0 flags=0
extents count=1024 offset=69632 flags=4
extents count=1024 offset=0 flags=4
pread count=1024 offset=0 flags=0
flush flags=0
close handle=table
list_exports readonly=false is_tls=false
cleanup
unload
EOF2

#----------------------------------------------------------------------
# 2: emulated FUA and cache, no fast zero, no multi-conn, rotational,
# block sizes as a table, named extents, thread model as a number.
start_ours "$tmpdir/err2" lua "$cb" log="$tmpdir/log2" \
  fua=emulate cache=emulate fast_zero=false multi_conn=false \
  rotational=true block_size=table extents_style=named thread_model=1
probe info pwrite:0:512:1:fua cache:0:512 zero:0:512:fast \
      extents:0:131072 > "$tmpdir/probe2"
expect_probe "$tmpdir/probe2" \
  "info -> OK size=1048576 can_write=1 can_flush=1 can_fua=1 can_trim=1 can_zero=1 can_fast_zero=0 can_cache=1 can_multi_conn=0 can_df=1 is_rotational=1 extents=1 block_size=512/4096/65536 description='callbacks test disk'" \
  "pwrite:0:512:1:fua -> OK" \
  "cache:0:512 -> OK" \
  "zero:0:512:fast -> ERR EINVAL" \
  "extents:0:131072 -> OK 0+65536:0 65536+983040:3"
# FUA emulated: a flush follows the write.  Cache emulated: a read.
expect_in_order "$tmpdir/log2" <<'EOF2'
pwrite count=512 offset=0 flags=0
flush flags=0
pread count=512 offset=0 flags=0
extents count=131072 offset=0 flags=0
EOF2
grep -q '^cache' "$tmpdir/log2" && fail "cache=emulate: cache must not be called"

#----------------------------------------------------------------------
# 3: booleans for the tri-states (false = none, true = native), no
# block size information, no extents, a thread model name.  Each
# connection then has its own interpreter, so its own disk: no
# multi-conn.
start_ours "$tmpdir/err3" lua "$cb" log="$tmpdir/log3" \
  fua=false cache=true block_size=nil extents=false \
  thread_model=serialize_requests multi_conn=false
probe info cache:0:512 extents:0:131072 > "$tmpdir/probe3"
expect_probe "$tmpdir/probe3" \
  "info -> OK size=1048576 can_write=1 can_flush=1 can_fua=0 can_trim=1 can_zero=1 can_fast_zero=1 can_cache=1 can_multi_conn=0 can_df=1 is_rotational=0 extents=1 block_size=0/0/0 description='callbacks test disk'" \
  "cache:0:512 -> OK" \
  "extents:0:131072 -> OK 0+131072:0"
grep -q '^cache count=512 offset=0 flags=0$' "$tmpdir/log3" ||
  fail "cache=true (native): cache must be called"
grep -q '^extents' "$tmpdir/log3" && fail "extents=false: extents called"

#----------------------------------------------------------------------
# 4: names and numbers for the tri-states.
start_ours "$tmpdir/err4" lua "$cb" fua=none cache=0
probe info > "$tmpdir/probe4"
grep -q ' can_fua=0 .* can_cache=0 ' "$tmpdir/probe4" ||
  fail "fua=none cache=0: $(cat "$tmpdir/probe4")"
start_ours "$tmpdir/err5" lua "$cb" fua=2 cache=native
probe info > "$tmpdir/probe5"
grep -q ' can_fua=1 .* can_cache=1 ' "$tmpdir/probe5" ||
  fail "fua=2 cache=native: $(cat "$tmpdir/probe5")"

#----------------------------------------------------------------------
# 5: read-only server: readonly is true everywhere.
start_ours "$tmpdir/err6" -r lua "$cb" log="$tmpdir/log6"
probe info > "$tmpdir/probe6"
grep -q '^info -> OK size=1048576 can_write=0 ' "$tmpdir/probe6" ||
  fail "-r: $(cat "$tmpdir/probe6")"
expect_in_order "$tmpdir/log6" <<'EOF2'
preconnect readonly=true
default_export readonly=true is_tls=false
open readonly=true (boolean) export=
EOF2
