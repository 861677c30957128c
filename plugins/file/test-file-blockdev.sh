#!/usr/bin/env bash
# file plugin on a block device (a loop device; needs root): size from
# the device, zeroing through fallocate/BLKZEROOUT, fast zero refused
# when only a possibly slow method is allowed, trim, extents all data.
source "$SRCDIR/tests/functions.sh"

plugin="$BUILDDIR/plugins/file/nbdkit-file-plugin.so"
[ -f "$plugin" ] || fail "$plugin has not been built"
requires nbdsh --version
requires nbdinfo --version
[ "$(id -u)" = 0 ] || skip "needs root for a loop device"
requires losetup --version

truncate -s 8M "$tmpdir/backing.img"
dev="$(losetup -f --show "$tmpdir/backing.img" 2>/dev/null)" ||
  skip "cannot create a loop device"
cleanup_fn "losetup -d '$dev'"
[ -b "$dev" ] || skip "$dev is not a block device"

start_nbdkit "$plugin" "$dev"
[ "$(nbdinfo --size "$uri")" = $((8 * 1024 * 1024)) ] ||
  fail "wrong block device size"

# On a block device only punching a hole is guaranteed to be fast, so
# a fast zero with NO_HOLE may fail (and must fail with ENOTSUP).
nbdsh -u "$uri" -c "import errno" -c "strict_fast_zero = False" \
      -c "exec(open('$SRCDIR/plugins/file/zero-checks.py').read())"

# ... and ours always refuses it, since BLKZEROOUT/ZERO_RANGE might
# fall back to writing zeroes in the kernel.
nbdsh -u "$uri" -c "
import errno
try:
    h.zero(65536, 0, nbd.CMD_FLAG_FAST_ZERO | nbd.CMD_FLAG_NO_HOLE)
    raise SystemExit('fast zero with NO_HOLE succeeded on a block device')
except nbd.Error as e:
    assert e.errnum == errno.ENOTSUP, e
"

# Block devices are reported as all data.
[ "$(nbdinfo --map "$uri" | awk '{ print $1, $2, $3 }')" = "0 8388608 0" ] ||
  fail "unexpected map for a block device"

# What was written is on the device.
nbdsh -u "$uri" -c "h.pwrite(b'hello block device', 12345); h.flush()"
stop_nbdkit
[ "$(dd if="$dev" bs=1 skip=12345 count=18 status=none)" = "hello block device" ] ||
  fail "data did not reach the device"
