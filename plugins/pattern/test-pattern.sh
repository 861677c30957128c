#!/usr/bin/env bash
# pattern plugin: every 8-byte word holds its own offset, big-endian;
# byte for byte the same as Debian's pattern plugin, including odd
# sizes, unaligned reads and offsets near 2^63.
source "$SRCDIR/tests/functions.sh"

plugin="$BUILDDIR/plugins/pattern/nbdkit-pattern-plugin.so"
[ -f "$plugin" ] || fail "$plugin has not been built"
requires nbdsh --version
requires nbdinfo --version
requires nbdcopy --version
requires jq --version
debian="$(debian_plugin pattern)"

# The documented start of the disk.
start_nbdkit "$plugin" 1M
nbdsh -u "$uri" -c "
want = bytes.fromhex('0000000000000000 0000000000000008 '
                     '0000000000000010 0000000000000018')
assert h.pread(32, 0) == want, h.pread(32, 0)
assert h.pread(5, 13) == want[13:18]
"
nbdinfo --json "$uri" > "$tmpdir/info"
jq -e '.exports[0] | .is_read_only and .can_multi_conn' "$tmpdir/info" \
  > /dev/null || fail "unexpected flags: $(cat "$tmpdir/info")"
[ "$(nbdinfo --map "$uri" | awk '{ print $1, $2, $3 }')" = "0 1048576 0" ] ||
  fail "pattern is not all data"

# Whole disks of awkward sizes are identical to Debian's.  (--run
# servers exit as soon as the command is done.)
summary='nbdcopy "$uri" - | sha256sum
  nbdinfo --json "$uri" |
    jq -S -c ".exports[0] | with_entries(select(.key | test(\"^(can_|is_)\")))"'
for size in 1 7 8 9 4095 1000001 $((32 * 1024 * 1024 + 3)); do
  $NBDKIT -U - "$plugin" "$size" --run "$summary" > "$tmpdir/ours"
  $NBDKIT -U - "$debian" "$size" --run "$summary" > "$tmpdir/debian"
  [ "$(wc -l < "$tmpdir/ours")" = 2 ] || fail "no result for size $size"
  diff -u "$tmpdir/debian" "$tmpdir/ours" || fail "size $size differs"
done

# Random unaligned reads anywhere in the largest possible disk.
size=$(( 2**63 - 1 ))
start_nbdkit "$plugin" "$size"
ours="$uri"
start_nbdkit "$debian" "$size"
nbdsh -c "
import random
a = nbd.NBD(); a.connect_uri('$ours')
b = nbd.NBD(); b.connect_uri('$uri')
size = $size
assert a.get_size() == size
rng = random.Random(7)
reads = [(1000, size - 1000), (7, size - 7), (1, size - 1), (8, size - 15)]
for i in range(200):
    n = rng.randrange(1, 5000)
    reads.append((n, rng.randrange(0, size - n)))
for n, off in reads:
    x = a.pread(n, off)
    assert x == b.pread(n, off), (n, off)
    # and check against the definition directly
    want = b''.join((w).to_bytes(8, 'big')
                    for w in range(off // 8 * 8, off + n + 8, 8))
    assert x == want[off % 8:off % 8 + n], (n, off)
"

# size is required; errors are reported.
if $NBDKIT -U - "$plugin" --run true 2> "$tmpdir/err"; then
  fail "pattern without a size was accepted"
fi
grep -q "size=" "$tmpdir/err" || fail "wrong error: $(cat "$tmpdir/err")"
