#!/usr/bin/env bash
# The example script shipped with the plugin (plugins/lua/example.lua):
# an in-memory disk implementing every callback.

. "$SRCDIR/tests/functions.sh"
. "$SRCDIR/plugins/lua/tests/functions-lua.sh"
requires nbdcopy --version
requires python3 -c 'import nbd'

example="$SRCDIR/plugins/lua/example.lua"
cd "$tmpdir"

"$NBDKIT" lua "$example" --dump-plugin > dump
grep -qx 'name=luadisk' dump || fail "--dump-plugin: name"
tail -n1 dump | grep -qx 'luadisk_block_size=4096' || fail "dump_plugin"

# The size as a bare parameter (magic_config_key).
start_ours log -v lua "$example" 8M
probe ()
{
  client python3 "$LUADIR/probe.py" "$uri" "$@"
}
probe info > info
cat info
grep -qx "info -> OK size=8388608 can_write=1 can_flush=1 can_fua=1 can_trim=1 can_zero=1 can_fast_zero=1 can_cache=1 can_multi_conn=1 can_df=1 is_rotational=0 extents=1 block_size=1/4096/4294967295 description='8388608 byte Lua RAM disk'" info ||
  fail "unexpected flags"
probe list | grep -qx "list -> OK '':'the only export'" || fail "list"

# A new disk is one hole.
probe extents:0:8388608 | grep -qx 'extents:0:8388608 -> OK 0+8388608:3' ||
  fail "a new disk should be a hole"

# Data round trip, unaligned writes, FUA, fast zero, trim, cache.
dd if=/dev/urandom of=data bs=1M count=8 status=none
client nbdcopy data "$uri"
client nbdcopy "$uri" copy
cmp data copy || fail "data read back differs"
probe pwrite:1000:5000:7:fua pread:0:8192 zero:4096:8192:fast \
      trim:65536:65536 cache:0:4096 flush extents:0:196608 \
      pwrite:8388000:1000:1 > ops
cat ops
python3 - data <<'EOF2' > expect
import hashlib, sys
d = bytearray(open(sys.argv[1], "rb").read())
d[1000:6000] = b"\x07" * 5000
print(hashlib.sha256(d[0:8192]).hexdigest()[:16])
EOF2
grep -qx "pread:0:8192 -> OK $(cat expect)" ops || fail "unaligned write"
grep -qx 'zero:4096:8192:fast -> OK' ops || fail "fast zero"
grep -qx 'extents:0:196608 -> OK 0+4096:0 4096+8192:3 12288+53248:0 65536+65536:3 131072+65536:0' ops ||
  fail "zeroed and trimmed blocks should be holes"
grep -qx 'pwrite:8388000:1000:1 -> ERR ENOSPC' ops || fail "write past the end"
stop_nbdkit
expect_log log 'debug: example.lua loaded'
expect_log log 'debug: cleanup'
echo OK
