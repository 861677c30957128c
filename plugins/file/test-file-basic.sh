#!/usr/bin/env bash
# file plugin: data written through NBD lands in the file, and the file
# reads back through NBD; flush, FUA and cache work; the flags match
# Debian's file plugin except for fast zero, which we support.
source "$SRCDIR/tests/functions.sh"

plugin="$BUILDDIR/plugins/file/nbdkit-file-plugin.so"
[ -f "$plugin" ] || fail "$plugin has not been built"
requires nbdsh --version
requires nbdcopy --version
requires nbdinfo --version
requires jq --version

# An odd size, so the last request is not block aligned.
size=$((10 * 1024 * 1024 + 123))
disk="$tmpdir/disk.img"
head -c "$size" /dev/urandom > "$disk"
cp "$disk" "$tmpdir/expected"

start_nbdkit "$plugin" "$disk"
[ "$(nbdinfo --size "$uri")" = "$size" ] || fail "wrong size"

# NBD sees what is in the file.
nbdcopy "$uri" "$tmpdir/out"
cmp "$disk" "$tmpdir/out" || fail "reading the file through NBD differs"

# Writes through NBD end up in the file.
head -c 3000000 /dev/urandom > "$tmpdir/data"
for off in 0 4097 $((size - 3000000)); do
  dd if="$tmpdir/data" of="$tmpdir/expected" bs=1M oflag=seek_bytes \
     seek="$off" conv=notrunc status=none
done
nbdsh -u "$uri" -c "
with open('$tmpdir/data', 'rb') as f:
    buf = f.read()
h.pwrite(buf, 0)
h.pwrite(buf, 4097, nbd.CMD_FLAG_FUA)
h.pwrite(buf, $size - len(buf))
h.flush()
h.cache(1 << 20, 0)
assert h.pread(len(buf), $size - len(buf)) == buf
"
cmp "$disk" "$tmpdir/expected" || fail "the file does not hold what was written"

# Whole-disk copy over several connections (multi-conn is advertised).
head -c "$size" /dev/urandom > "$tmpdir/new"
nbdcopy --connections=4 "$tmpdir/new" "$uri"
cmp "$disk" "$tmpdir/new" || fail "multi-connection copy differs"

# Flags: as Debian's file plugin, except that we advertise fast zero.
flags ()
{
  nbdinfo --json "$1" |
    jq -S '.exports[0] | with_entries(select(.key | test("^(can_|is_)")))
           | del(.can_fast_zero)'
}
flags "$uri" > "$tmpdir/ours"
[ "$(nbdinfo --json "$uri" | jq '.exports[0].can_fast_zero')" = true ] ||
  fail "fast zero is not advertised"
# (Only if Debian's plugin is installed.)
if debian="$(debian_plugin file)"; then
  start_nbdkit "$debian" "$disk"
  flags "$uri" > "$tmpdir/debian"
  diff -u "$tmpdir/debian" "$tmpdir/ours" ||
    fail "flags differ from Debian's"
fi
