#!/usr/bin/env bash
# memory plugin: zero and trim.  Zeroing honours NO_HOLE (allocated
# pages stay allocated) and never allocates; trim and zero with
# MAY_TRIM free whole pages and zero partial ones; freed memory is
# given back.
source "$SRCDIR/tests/functions.sh"

plugin="$BUILDDIR/plugins/memory/nbdkit-memory-plugin.so"
[ -f "$plugin" ] || fail "$plugin has not been built"
requires nbdsh --version

start_nbdkit "$plugin" 1T

nbdsh --base-allocation -u "$uri" -c "
import os
P = 4096

def extents(off, count):
    got = []
    def cb(meta, offset, entries, err):
        got.extend(zip(entries[0::2], entries[1::2]))
    h.block_status(count, off, cb)
    # merge runs of the same type
    out = []
    for length, flags in got:
        if out and out[-1][1] == flags:
            out[-1] = (out[-1][0] + length, flags)
        else:
            out.append((length, flags))
    return out

DATA, HOLE = 0, 3

# 16 pages of random data at 1 MiB.
base = 1 << 20
buf = bytearray(os.urandom(16 * P))
h.pwrite(buf, base)
assert extents(base, 16 * P) == [(16 * P, DATA)]

# Zero with NO_HOLE, unaligned: data is zero, pages stay allocated.
h.zero(3 * P + 100, base + 100, nbd.CMD_FLAG_NO_HOLE)
buf[100:100 + 3 * P + 100] = bytes(3 * P + 100)
assert h.pread(16 * P, base) == buf
assert extents(base, 16 * P) == [(16 * P, DATA)], extents(base, 16 * P)

# Zero with MAY_TRIM, unaligned: pages 1 and 2, entirely covered, are
# freed; pages 0 and 3 still hold some data and stay.
h.zero(3 * P + 100, base + 200)
buf[200:200 + 3 * P + 100] = bytes(3 * P + 100)
assert h.pread(16 * P, base) == buf
assert extents(base, 16 * P) == [(P, DATA), (2 * P, HOLE), (13 * P, DATA)], \
    extents(base, 16 * P)

# Fast zero is supported and behaves like a normal zero (page 4).
h.zero(P, base + 4 * P, nbd.CMD_FLAG_FAST_ZERO)
buf[4 * P:5 * P] = bytes(P)
assert h.pread(16 * P, base) == buf
assert extents(base, 16 * P) == [(P, DATA), (2 * P, HOLE), (P, DATA),
                                  (P, HOLE), (11 * P, DATA)]

# A page that becomes all zeroes through partial zeroing is freed too
# (page 5: its second half is zeroed with NO_HOLE, then the first half).
h.zero(P // 2, base + 5 * P + P // 2, nbd.CMD_FLAG_NO_HOLE)
assert extents(base + 5 * P, P) == [(P, DATA)]
h.zero(P // 2, base + 5 * P)
buf[5 * P:6 * P] = bytes(P)
assert h.pread(16 * P, base) == buf
assert extents(base, 16 * P) == [(P, DATA), (2 * P, HOLE), (P, DATA),
                                  (2 * P, HOLE), (10 * P, DATA)]

# Trim: whole pages (6-9) are freed, partial pages read back as zeroes.
h.trim(4 * P + 10, base + 6 * P - 5)
buf[6 * P - 5:10 * P + 5] = bytes(4 * P + 10)
assert h.pread(16 * P, base) == buf
assert extents(base, 16 * P) == [(P, DATA), (2 * P, HOLE), (P, DATA),
                                  (6 * P, HOLE), (6 * P, DATA)], \
    extents(base, 16 * P)

# Trimming the rest frees everything.
h.trim(16 * P, base, nbd.CMD_FLAG_FUA)
assert h.pread(16 * P, base) == bytes(16 * P)
assert extents(0, 1 << 30) == [(1 << 30, HOLE)]

# Zeroing unallocated space never allocates, with or without NO_HOLE.
h.zero(1 << 30, 1 << 32, nbd.CMD_FLAG_NO_HOLE)
h.zero(1 << 30, 1 << 33)
assert extents(1 << 32, 1 << 31) == [(1 << 31, HOLE)]

# Writing zeroes to unallocated pages does not allocate them either.
h.pwrite(bytes(8 * P), 1 << 34)
assert extents(1 << 34, 8 * P) == [(8 * P, HOLE)]
"

# Memory is given back: write 64 MiB, then trim it all.
rss_kb ()
{
  awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status"
}
start_nbdkit "$plugin" 1G
head -c $((64 * 1024 * 1024)) /dev/urandom > "$tmpdir/data"
nbdcopy "$tmpdir/data" "$uri"
full="$(rss_kb)"
nbdsh -u "$uri" -c "
for off in range(0, 1 << 30, 1 << 25):
    h.trim(1 << 25, off)
"
trimmed="$(rss_kb)"
echo "RSS after writing 64 MiB: $full KiB, after trimming: $trimmed KiB"
[ "$full" -gt $((64 * 1024)) ] || fail "64 MiB written but RSS is $full KiB"
# ASan's allocator quarantines freed memory, so RSS cannot drop there.
sanitizer_build ||
  [ "$trimmed" -lt $((full - 32 * 1024)) ] || fail "trim did not free memory"
