#!/usr/bin/env bash
# The callbacks of the manual on simple scripts: flags seen by the
# client, reads, writes, trim, zero, config passing, script= and
# key=value, data checked with nbdcopy and sha256.  Everything is also
# run against Debian's nbdkit + nbdkit-plugin-lua when installed, and
# the client-visible results must be identical.

. "$SRCDIR/tests/functions.sh"
. "$SRCDIR/plugins/lua/tests/functions-lua.sh"
requires nbdcopy --version
requires python3 -c 'import nbd'

servers=(ours)
if [ -x "$DEBIAN_NBDKIT" ] && [ -f "$DEBIAN_PLUGINDIR/nbdkit-lua-plugin.so" ]
then
  servers+=(debian)
else
  echo "$0: Debian's nbdkit-plugin-lua not installed: testing ours only"
fi

probe ()
{
  client python3 "$LUADIR/probe.py" "$uri" "$@"
}

# Expected contents of minimal.lua: byte N is N % 251.
python3 -c '
import sys
sys.stdout.buffer.write(bytes(i % 251 for i in range(1048576)))' \
  > "$tmpdir/minimal.expected"
dd if=/dev/urandom of="$tmpdir/random" bs=1M count=2 status=none

for s in "${servers[@]}"; do
  out="$tmpdir/$s"
  mkdir "$out"

  # minimal.lua: only open, get_size, pread.  Read-only.
  start_$s "$out/log1" lua "$LUADIR/minimal.lua"
  probe info pread:0:512 pread:1000:3000 pread:1048064:512 \
    pwrite:0:512:1 zero:0:512 trim:0:512 flush > "$out/minimal.probe"
  client nbdcopy "$uri" "$out/minimal.copy"
  cmp "$out/minimal.copy" "$tmpdir/minimal.expected" ||
    fail "$s: minimal.lua: data differs"
  client nbdinfo --json "$uri" | json_flags > "$out/minimal.json"

  # ramdisk.lua with a size parameter, given as script=.
  start_$s "$out/log2" lua script="$LUADIR/ramdisk.lua" size=2097152
  probe info > "$out/ramdisk.probe"
  client nbdcopy "$tmpdir/random" "$uri"
  client nbdcopy "$uri" "$out/ramdisk.copy"
  cmp "$out/ramdisk.copy" "$tmpdir/random" ||
    fail "$s: ramdisk.lua: data read back differs from data written"
  # No FUA here: ramdisk.lua has no flush, so our plugin does not
  # advertise FUA while Debian's does (see below; test-lua-fua.sh).
  probe pwrite:0:4096:7 pwrite:4000:200:8 pread:0:8192 \
        trim:8192:4096 pread:8192:4096 trim:8192:4096 \
        zero:12288:100 pread:12288:4096 zero:12388:4096:nohole \
        zero:0:512:fast pread:0:16384 zero:0:4096 \
        cache:0:512 extents:0:65536 \
        pwrite:2097000:1000:1 pread:2097000:1000 \
        >> "$out/ramdisk.probe"
  client nbdinfo --json "$uri" | json_flags > "$out/ramdisk.json"

  # Read-only server: open gets readonly = true.
  start_$s "$out/log3" -r lua "$LUADIR/ramdisk.lua"
  probe info pwrite:0:512:1 > "$out/readonly.probe"
done

cat "$tmpdir/ours/minimal.probe" "$tmpdir/ours/ramdisk.probe" \
    "$tmpdir/ours/readonly.probe"

# What we expect from our plugin, whatever Debian does.
p="$tmpdir/ours"
grep -q '^info -> OK size=1048576 can_write=0 ' "$p/minimal.probe" ||
  fail "minimal.lua: expected a read-only 1 MiB disk"
grep -q '^pread:1000:3000 -> OK ' "$p/minimal.probe" || fail "minimal.lua read"
grep -q '^info -> OK size=2097152 can_write=1 can_flush=0 can_fua=0 can_trim=1 can_zero=1 can_fast_zero=1 can_cache=0 can_multi_conn=0 ' \
  "$p/ramdisk.probe" || fail "ramdisk.lua: unexpected flags"
grep -q '^zero:0:512:fast -> ERR ENOTSUP' "$p/ramdisk.probe" ||
  fail "fast zero must fail fast with ENOTSUP when the script has no can_fast_zero"
grep -q '^pwrite:2097000:1000:1 -> ERR ENOSPC' "$p/ramdisk.probe" ||
  fail "write beyond the end must fail with ENOSPC"
grep -q '^info -> OK size=1048576 can_write=0 ' "$p/readonly.probe" ||
  fail "-r: expected a read-only disk"

if [[ " ${servers[*]} " == *" debian "* ]]; then
  # The one intended difference: without flush, Debian's plugin
  # advertises FUA that nothing makes durable, ours does not (see
  # COMPATIBILITY in nbdkit-lua-plugin(3)).  Check it, then take it
  # out of the comparison.
  d="$tmpdir/debian"
  grep -q '^info -> .* can_flush=0 can_fua=1 ' "$d/ramdisk.probe" ||
    fail "Debian's plugin no longer advertises FUA without flush: \
update COMPATIBILITY in nbdkit-lua-plugin.pod"
  sed -i 's/ can_fua=1 / can_fua=0 /' "$d/ramdisk.probe"
  sed -i 's/"can_fua": true/"can_fua": false/' "$d/ramdisk.json"
  for f in minimal.probe minimal.json ramdisk.probe ramdisk.json \
           readonly.probe; do
    diff -u "$tmpdir/debian/$f" "$tmpdir/ours/$f" ||
      fail "$f: our results differ from Debian's nbdkit-plugin-lua"
  done
fi
