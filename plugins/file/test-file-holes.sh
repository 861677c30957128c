#!/usr/bin/env bash
# file plugin: holes in a sparse file are reported as hole+zero extents
# (the same map as Debian's file plugin), and trim punches holes.
source "$SRCDIR/tests/functions.sh"

plugin="$BUILDDIR/plugins/file/nbdkit-file-plugin.so"
[ -f "$plugin" ] || fail "$plugin has not been built"
requires nbdsh --version
requires nbdinfo --version

disk="$tmpdir/sparse.img"
truncate -s 64M "$disk"
for mib in 1 2 10 33 63; do
  dd if=/dev/urandom of="$disk" bs=64K count=3 seek=$((mib * 16)) \
     conv=notrunc status=none
done

# Skip if this file system does not keep holes or cannot report them.
first_data="$(python3 -c "
import os
fd = os.open('$disk', os.O_RDONLY)
print(os.lseek(fd, 0, os.SEEK_DATA))
")"
[ "$first_data" = 1048576 ] || skip "$tmpdir does not support SEEK_DATA/SEEK_HOLE"

start_nbdkit "$plugin" "$disk"
nbdinfo --map "$uri" > "$tmpdir/map"
cat > "$tmpdir/expected" <<'MAP'
0 1048576 3 hole,zero
1048576 196608 0 data
1245184 851968 3 hole,zero
2097152 196608 0 data
2293760 8192000 3 hole,zero
10485760 196608 0 data
10682368 23920640 3 hole,zero
34603008 196608 0 data
34799616 31260672 3 hole,zero
66060288 196608 0 data
66256896 851968 3 hole,zero
MAP
awk '{ print $1, $2, $3, $4 }' "$tmpdir/map" > "$tmpdir/map2"
diff -u "$tmpdir/expected" "$tmpdir/map2" || fail "wrong extents map"

# Debian's file plugin reports the same.
# (Only if Debian's plugin is installed.)
if debian="$(debian_plugin file)"; then
  start_nbdkit "$debian" "$disk"
  nbdinfo --map "$uri" > "$tmpdir/debian-map"
  diff -u "$tmpdir/debian-map" "$tmpdir/map" ||
    fail "map differs from Debian's"
fi

# REQ_ONE gives one extent, starting at the requested offset.
start_nbdkit "$plugin" "$disk"
nbdsh --base-allocation -u "$uri" -c "
def one(off, count):
    got = []
    def cb(meta, offset, entries, err):
        got.extend(entries)
    h.block_status(count, off, cb, nbd.CMD_FLAG_REQ_ONE)
    return got
assert one(0, 1 << 24) == [1 << 20, 3], one(0, 1 << 24)
assert one(1 << 20, 1 << 24) == [196608, 0], one(1 << 20, 1 << 24)
assert one((1 << 20) + 4096, 100) == [100, 0], one((1 << 20) + 4096, 100)
"

# Trim punches a hole: the data reads as zeroes and the file shrinks.
blocks_before="$(stat -c %b "$disk")"
nbdsh --base-allocation -u "$uri" -c "
h.trim(196608, 2 << 20, nbd.CMD_FLAG_FUA)
assert h.pread(196608, 2 << 20) == bytes(196608)
"
blocks_after="$(stat -c %b "$disk")"
[ "$blocks_after" -lt "$blocks_before" ] ||
  fail "trim did not free space ($blocks_before -> $blocks_after blocks)"
nbdinfo --map "$uri" | awk '{ print $1, $2, $3, $4 }' > "$tmpdir/map3"
grep -qx "1245184 9240576 3 hole,zero" "$tmpdir/map3" ||
  fail "trimmed range is not a hole: $(cat "$tmpdir/map3")"
