#!/usr/bin/env bash
# file plugin: zeroing, with and without NO_HOLE, FUA and FAST_ZERO, on
# a regular file (ext4/xfs/... in $tmpdir: fallocate ZERO_RANGE and
# PUNCH_HOLE) and on tmpfs when available (no ZERO_RANGE: the plugin
# punches a hole and allocates it again).
source "$SRCDIR/tests/functions.sh"

plugin="$BUILDDIR/plugins/file/nbdkit-file-plugin.so"
[ -f "$plugin" ] || fail "$plugin has not been built"
requires nbdsh --version
requires nbdinfo --version

checks="$SRCDIR/plugins/file/zero-checks.py"

run_checks ()
{
  local disk="$1"
  truncate -s 4M "$disk"
  start_nbdkit "$plugin" "$disk"
  nbdsh -u "$uri" -c "import errno" -c "strict_fast_zero = True" \
        -c "exec(open('$checks').read())"
  stop_nbdkit
}

run_checks "$tmpdir/disk.img"

# Zeroing with MAY_TRIM frees space; with NO_HOLE it does not.
disk="$tmpdir/space.img"
head -c 4M /dev/urandom > "$disk"
start_nbdkit "$plugin" "$disk"
sync "$disk"
b0="$(stat -c %b "$disk")"
nbdsh -u "$uri" -c "h.zero(1 << 20, 1 << 20, nbd.CMD_FLAG_NO_HOLE)"
b1="$(stat -c %b "$disk")"
nbdsh -u "$uri" -c "h.zero(1 << 20, 2 << 20)"
b2="$(stat -c %b "$disk")"
echo "blocks: $b0 -> $b1 (zero, no hole) -> $b2 (zero, may trim)"
[ "$b1" -ge "$b0" ] || fail "zero with NO_HOLE freed space"
[ "$b2" -lt "$b1" ] || fail "zero with MAY_TRIM did not free space"
stop_nbdkit

if [ -d /dev/shm ] && [ -w /dev/shm ]; then
  shm="$(mktemp -d /dev/shm/nbdkit-test.XXXXXXXX)"
  cleanup_fn "rm -rf '$shm'"
  run_checks "$shm/disk.img"
fi
