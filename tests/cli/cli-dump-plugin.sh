#!/usr/bin/env bash
# PLUGIN --dump-plugin: keys, their order and values (reference §7).
# Debian's binary plugins must be described exactly as Debian's own
# nbdkit 1.32.5 describes them; any plugin's output must follow the
# documented key order.
. "$SRCDIR/tests/functions.sh"
. "$SRCDIR/tests/cli/cli-lib.sh"

# check_order FILE: the server's part of the output follows the order
# path name [version] api_version struct_size max_thread_model
# thread_model errno_is_preserved [magic_config_key] has_X...; whatever
# follows the last has_X line is the plugin's own output.
check_order ()
{
  /usr/bin/python3 - "$1" <<'PY'
import sys
lines = open(sys.argv[1]).read().splitlines()
fixed = ["path", "name", "version", "api_version", "struct_size",
         "max_thread_model", "thread_model", "errno_is_preserved",
         "magic_config_key"]
optional = {"version", "magic_config_key"}
has = ["longname", "description", "load", "unload", "dump_plugin", "config",
       "config_complete", "config_help", "thread_model", "get_ready",
       "after_fork", "cleanup", "preconnect", "list_exports",
       "default_export", "open", "close", "export_description", "get_size",
       "block_size", "can_write", "can_flush", "is_rotational", "can_trim",
       "can_zero", "can_fast_zero", "can_extents", "can_fua",
       "can_multi_conn", "can_cache", "pread", "pwrite", "flush", "trim",
       "zero", "extents", "cache", "_pread_v1", "_pwrite_v1", "_flush_v1",
       "_trim_v1", "_zero_v1"]
i = 0
for k in fixed:
    if i < len(lines) and lines[i].split("=", 1)[0] == k:
        i += 1
    elif k not in optional:
        sys.exit("missing or misplaced key %s at line %d" % (k, i + 1))
last = -1
while i < len(lines) and lines[i].startswith("has_"):
    k, _, v = lines[i].partition("=")
    name = k[4:]
    if name not in has:
        sys.exit("unknown key " + k)
    if has.index(name) <= last:
        sys.exit("has_ keys out of order at " + k)
    if v != "1":
        sys.exit(k + " is not 1")
    last = has.index(name)
    i += 1
for l in lines:
    if "=" not in l:
        sys.exit("line is not key=value: " + l)
models = {"serialize_connections", "serialize_all_requests",
          "serialize_requests", "parallel"}
d = dict(l.split("=", 1) for l in lines)
assert d["max_thread_model"] in models, d["max_thread_model"]
assert d["thread_model"] in models, d["thread_model"]
assert d["api_version"] in ("1", "2"), d["api_version"]
assert d["errno_is_preserved"] in ("0", "1")
assert d["struct_size"].isdigit()
PY
}

# expect PLUGIN-NAME: compare with the exact output below.
expect ()
{
  local p
  p="$(debian_plugin "$1")"
  "$NBDKIT" "$p" --dump-plugin > "$tmpdir/$1.out" || fail "$1 --dump-plugin failed"
  check_order "$tmpdir/$1.out" || { cat "$tmpdir/$1.out"; fail "$1: bad key order"; }
  diff -u "$tmpdir/$1.expected" "$tmpdir/$1.out" || fail "$1: unexpected --dump-plugin output"
}

cat > "$tmpdir/memory.expected" <<'EOF_EXPECTED'
path=/usr/lib/x86_64-linux-gnu/nbdkit/plugins/nbdkit-memory-plugin.so
name=memory
version=1.32.5
api_version=2
struct_size=384
max_thread_model=parallel
thread_model=parallel
errno_is_preserved=1
magic_config_key=size
has_unload=1
has_dump_plugin=1
has_config=1
has_config_complete=1
has_config_help=1
has_get_ready=1
has_open=1
has_get_size=1
has_can_fast_zero=1
has_can_fua=1
has_can_multi_conn=1
has_can_cache=1
has_pread=1
has_pwrite=1
has_flush=1
has_trim=1
has_zero=1
has_extents=1
mlock=yes
zstd=yes
EOF_EXPECTED
expect memory

cat > "$tmpdir/example1.expected" <<'EOF_EXPECTED'
path=/usr/lib/x86_64-linux-gnu/nbdkit/plugins/nbdkit-example1-plugin.so
name=example1
version=1.32.5
api_version=2
struct_size=384
max_thread_model=serialize_all_requests
thread_model=serialize_all_requests
errno_is_preserved=0
has_load=1
has_open=1
has_get_size=1
has_pread=1
EOF_EXPECTED
expect example1

cat > "$tmpdir/example3.expected" <<'EOF_EXPECTED'
path=/usr/lib/x86_64-linux-gnu/nbdkit/plugins/nbdkit-example3-plugin.so
name=example3
version=1.32.5
api_version=2
struct_size=384
max_thread_model=serialize_all_requests
thread_model=serialize_all_requests
errno_is_preserved=1
has_dump_plugin=1
has_config=1
has_config_help=1
has_open=1
has_close=1
has_get_size=1
has_pread=1
has_pwrite=1
has_flush=1
example3_extra=hello
EOF_EXPECTED
expect example3

cat > "$tmpdir/lua.expected" <<'EOF_EXPECTED'
path=/usr/lib/x86_64-linux-gnu/nbdkit/plugins/nbdkit-lua-plugin.so
name=lua
version=1.32.5
api_version=1
struct_size=384
max_thread_model=serialize_all_requests
thread_model=serialize_all_requests
errno_is_preserved=0
has_load=1
has_unload=1
has_dump_plugin=1
has_config=1
has_config_complete=1
has_config_help=1
has_open=1
has_close=1
has_get_size=1
has_can_write=1
has_can_flush=1
has_is_rotational=1
has_can_trim=1
has__pread_v1=1
has__pwrite_v1=1
has__flush_v1=1
has__trim_v1=1
has__zero_v1=1
lua_version=5.3.6
EOF_EXPECTED
expect lua

cat > "$tmpdir/sh.expected" <<'EOF_EXPECTED'
path=/usr/lib/x86_64-linux-gnu/nbdkit/plugins/nbdkit-sh-plugin.so
name=sh
version=1.32.5
api_version=2
struct_size=384
max_thread_model=parallel
thread_model=parallel
errno_is_preserved=1
magic_config_key=script
has_load=1
has_unload=1
has_dump_plugin=1
has_config=1
has_config_complete=1
has_config_help=1
has_thread_model=1
has_get_ready=1
has_after_fork=1
has_preconnect=1
has_list_exports=1
has_default_export=1
has_open=1
has_close=1
has_export_description=1
has_get_size=1
has_block_size=1
has_can_write=1
has_can_flush=1
has_is_rotational=1
has_can_trim=1
has_can_zero=1
has_can_fast_zero=1
has_can_extents=1
has_can_fua=1
has_can_multi_conn=1
has_can_cache=1
has_pread=1
has_pwrite=1
has_flush=1
has_trim=1
has_zero=1
has_extents=1
has_cache=1
max_known_status=3
EOF_EXPECTED
expect sh

# The option may come before the plugin, and key=value parameters are
# passed to .config (but .config_complete is not called: memory's
# required size may be missing, but a bad value is an error).
mem="$(debian_plugin memory)"
"$NBDKIT" --dump-plugin "$mem" > "$tmpdir/a" || fail "--dump-plugin PLUGIN"
diff -u "$tmpdir/memory.expected" "$tmpdir/a" || fail "--dump-plugin before the plugin"
"$NBDKIT" "$mem" allocator=sparse --dump-plugin > "$tmpdir/a" || fail "PLUGIN key=value --dump-plugin"
diff -u "$tmpdir/memory.expected" "$tmpdir/a" || fail "with key=value"
expect_fail_with 'size' "$NBDKIT" "$mem" size=garbage --dump-plugin

# path= is the canonical path of the plugin.
ln -s "$mem" "$tmpdir/link-plugin.so"
"$NBDKIT" "$tmpdir/link-plugin.so" --dump-plugin > "$tmpdir/a"
grep -qx "path=$(readlink -f "$mem")" "$tmpdir/a" || { head -1 "$tmpdir/a"; fail "path= is not canonical"; }

# Plugins built in this tree, if any: only the documented key order.
for d in "$BUILDDIR"/plugins/*/; do
  n="$(basename "$d")"
  so="$d/nbdkit-$n-plugin.so"
  [ -f "$so" ] || continue
  "$NBDKIT" "$so" --dump-plugin > "$tmpdir/own.out" || fail "$n --dump-plugin failed"
  check_order "$tmpdir/own.out" || { cat "$tmpdir/own.out"; fail "$n: bad key order"; }
  grep -qx "name=$n" "$tmpdir/own.out" || fail "$n: name= line"
done

# Without a plugin: a clear error.
expect_fail_with 'dump-plugin' "$NBDKIT" --dump-plugin
