#!/usr/bin/env bash
# memory plugin: data written through NBD reads back unchanged, from
# the same and from other connections; size, flags and read-only mode.
source "$SRCDIR/tests/functions.sh"

plugin="$BUILDDIR/plugins/memory/nbdkit-memory-plugin.so"
[ -f "$plugin" ] || fail "$plugin has not been built"
requires nbdsh --version
requires nbdcopy --version
requires nbdinfo --version
requires jq --version

size=$((100 * 1024 * 1024))
start_nbdkit "$plugin" "$size"

[ "$(nbdinfo --size "$uri")" = "$size" ] || fail "wrong export size"

# Random data at unaligned offsets: across page boundaries, across the
# 2 MiB boundary of a leaf table, and up to the last byte of the disk.
head -c 5000000 /dev/urandom > "$tmpdir/data"
truncate -s "$size" "$tmpdir/expected"
for off in 12345 $((2097152 - 777)) $((size - 5000000)); do
  dd if="$tmpdir/data" of="$tmpdir/expected" bs=1M oflag=seek_bytes \
     seek="$off" conv=notrunc status=none
done
nbdsh -u "$uri" -c "
import nbd
with open('$tmpdir/data', 'rb') as f:
    buf = f.read()
h.pwrite(buf, 12345)
h.pwrite(buf, $((2097152 - 777)), nbd.CMD_FLAG_FUA)
h.pwrite(buf, $((size - 5000000)))
h.flush()
h.cache(1024 * 1024, 0)
assert h.pread(len(buf), $((size - 5000000))) == buf
"

# Read everything back over 4 parallel connections.
nbdcopy --connections=4 "$uri" "$tmpdir/out"
[ "$(sha256sum < "$tmpdir/out")" = "$(sha256sum < "$tmpdir/expected")" ] ||
  fail "data read back differs from data written"

# Overwrite the whole disk from a file over several connections.
head -c "$size" /dev/urandom > "$tmpdir/full"
nbdcopy --connections=4 "$tmpdir/full" "$uri"
rm "$tmpdir/out"
nbdcopy "$uri" "$tmpdir/out"
cmp "$tmpdir/full" "$tmpdir/out" || fail "full-disk copy differs"

# The same flags as Debian's memory plugin.
flags ()
{
  nbdinfo --json "$1" |
    jq -S '.exports[0] | with_entries(select(.key | test("^(can_|is_)")))'
}
flags "$uri" > "$tmpdir/ours"
jq -e '.can_fua and .can_flush and .can_trim and .can_zero and
       .can_fast_zero and .can_multi_conn and .can_cache and
       (.is_read_only | not)' "$tmpdir/ours" >/dev/null ||
  fail "unexpected flags: $(cat "$tmpdir/ours")"
# (Only if Debian's plugin is installed.)
if debian="$(debian_plugin memory)"; then
  start_nbdkit "$debian" "$size"
  flags "$uri" > "$tmpdir/debian"
  diff -u "$tmpdir/debian" "$tmpdir/ours" ||
    fail "flags differ from Debian's"
fi

# Read-only server: reads work, writes are refused.
start_nbdkit -r "$plugin" 1M
[ "$(nbdinfo --json "$uri" | jq '.exports[0].is_read_only')" = true ] ||
  fail "-r did not make the export read-only"
nbdsh -u "$uri" -c "
assert h.pread(4096, 0) == bytes(4096)
try:
    h.pwrite(b'x', 0)
    raise SystemExit('write to read-only export succeeded')
except nbd.Error:
    pass
"
