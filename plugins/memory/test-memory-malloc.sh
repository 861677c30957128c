#!/usr/bin/env bash
# memory plugin, allocator=malloc: a flat preallocated disk.
source "$SRCDIR/tests/functions.sh"

plugin="$BUILDDIR/plugins/memory/nbdkit-memory-plugin.so"
[ -f "$plugin" ] || fail "$plugin has not been built"
requires nbdsh --version
requires nbdcopy --version
requires nbdinfo --version
requires jq --version

size=$((32 * 1024 * 1024))
start_nbdkit "$plugin" "$size" allocator=malloc

head -c "$size" /dev/urandom > "$tmpdir/data"
nbdcopy --connections=4 "$tmpdir/data" "$uri"
nbdcopy "$uri" "$tmpdir/out"
cmp "$tmpdir/data" "$tmpdir/out" || fail "data read back differs"

# Zero and trim, aligned and unaligned, read back as zeroes.
nbdsh -u "$uri" -c "
import os
h.zero(100000, 12345)
h.zero(100000, 1 << 20, nbd.CMD_FLAG_NO_HOLE)
h.trim(3 << 20, 5 << 20)
h.trim(777, (9 << 20) + 1)
assert h.pread(100000, 12345) == bytes(100000)
assert h.pread(100000, 1 << 20) == bytes(100000)
assert h.pread(3 << 20, 5 << 20) == bytes(3 << 20)
assert h.pread(777, (9 << 20) + 1) == bytes(777)
with open('$tmpdir/data', 'rb') as f:
    data = f.read()
assert h.pread(1000, 12345 + 100000) == data[112345:113345]
assert h.pread(1000, (9 << 20) + 778) == data[(9 << 20) + 778:(9 << 20) + 1778]
"

# This allocator cannot tell holes from data: everything is data.
[ "$(nbdinfo --map "$uri" | awk '{ print $1, $2, $3 }')" = "0 $size 0" ] ||
  fail "unexpected map with allocator=malloc"

# Same flags as the sparse allocator.
nbdinfo --json "$uri" | jq -e '.exports[0] | .can_trim and .can_zero and
  .can_fast_zero and .can_fua and .can_multi_conn' > /dev/null ||
  fail "wrong flags with allocator=malloc"

# mlock=true locks the disk into RAM (skip if the limit is too low).
# The lock must still be held after the server forked into the
# background (Debian's nbdkit 1.32.5 loses it there).
if sanitizer_build; then
  # ASan's shadow memory makes the locked size meaningless.
  echo "sanitizer build: not checking mlock=true"
elif $NBDKIT -U - "$plugin" 1M allocator=malloc,mlock=true --run true \
     2> "$tmpdir/err"; then
  start_nbdkit "$plugin" 1M allocator=malloc,mlock=true
  [ "$(awk '/^VmLck:/ { print $2 }' "/proc/$pid/status")" -ge 1024 ] ||
    fail "mlock=true did not lock the disk"
  nbdsh -u "$uri" -c "
h.pwrite(b'abc' * 3000, 1)
h.trim(4096, 0)
assert h.pread(4096, 0) == bytes(4096)
assert h.pread(9001 - 4096, 4096) == (b'abc' * 3000)[4095:]
"
else
  grep -q 'mlock' "$tmpdir/err" || fail "mlock=true failed: $(cat "$tmpdir/err")"
  echo "mlock=true not permitted here: $(cat "$tmpdir/err")"
fi
