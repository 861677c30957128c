#!/usr/bin/env bash
# memory plugin: huge sparse disks.  A 2^63-1 byte disk with a few
# writes scattered over it must read back correctly, report the right
# extents, and use only a little memory.
source "$SRCDIR/tests/functions.sh"

plugin="$BUILDDIR/plugins/memory/nbdkit-memory-plugin.so"
[ -f "$plugin" ] || fail "$plugin has not been built"
requires nbdsh --version
requires nbdinfo --version

rss_kb ()
{
  awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status"
}

for size in $(( 2**62 )) $(( 2**63 - 1 )); do
  start_nbdkit "$plugin" "size=$size"
  [ "$(nbdinfo --size "$uri")" = "$size" ] || fail "wrong size for $size"
  before="$(rss_kb)"

  # 200 writes of 64 KiB spread over the whole disk, each one hitting a
  # different part of the radix tree, and a write at the very end.
  nbdsh --base-allocation -u "$uri" -c "
import random
size = $size
rng = random.Random(1)
offsets = sorted({rng.randrange(0, size - 65536) for i in range(200)})
for i, off in enumerate(offsets):
    h.pwrite(bytes([i % 251 + 1]) * 65536, off)
h.pwrite(b'last', size - 4)
for i, off in enumerate(offsets):
    assert h.pread(65536, off) == bytes([i % 251 + 1]) * 65536, off
assert h.pread(4, size - 4) == b'last'
assert h.pread(4096, size // 2 + 12345) == bytes(4096)

# Extents: the region of a write is data, the space between is a hole.
def extents_at(off, count):
    got = []
    def cb(meta, offset, entries, err):
        got.extend(zip(entries[0::2], entries[1::2]))
    h.block_status(count, off, cb)
    return got

off = offsets[0]
page = off // 4096 * 4096
end = (off + 65536 + 4095) // 4096 * 4096
if page > 0:
    e = extents_at(page - 8192, 8192)
    assert e[0] == (8192, 3), e
e = extents_at(page, end - page)
assert e[0] == (end - page, 0), e
e = extents_at(size - 4, 4)
assert e == [(4, 0)], e
# Far from any write: a single hole covering the whole request.
e = extents_at(size // 3 // 4096 * 4096, 2**31)
assert e[0][1] == 3, e
"
  after="$(rss_kb)"
  echo "size=$size: RSS $before KiB -> $after KiB"
  # 12.5 MiB of data; allow the page tables of 200 separate paths.
  [ $(( after - before )) -lt $(( 64 * 1024 )) ] ||
    fail "RSS grew by $(( after - before )) KiB for 12.5 MiB of data"
done

# nbdinfo --map of a 1 TiB disk: runs are merged across requests.
start_nbdkit "$plugin" 1T
nbdsh -u "$uri" -c "
h.pwrite(b'a' * 4096, 0)
h.pwrite(b'b' * 10000, 2**39 + 100)
"
nbdinfo --map "$uri" > "$tmpdir/map"
cat > "$tmpdir/expected" <<'MAP'
0 4096 0 data
4096 549755809792 3 hole,zero
549755813888 12288 0 data
549755826176 549755801600 3 hole,zero
MAP
awk '{ print $1, $2, $3, $4 }' "$tmpdir/map" > "$tmpdir/map2"
diff -u "$tmpdir/expected" "$tmpdir/map2" || fail "wrong extents map"
