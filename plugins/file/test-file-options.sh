#!/usr/bin/env bash
# file plugin: command line parsing, cache= and fadvise= modes,
# --dump-plugin.
source "$SRCDIR/tests/functions.sh"

plugin="$BUILDDIR/plugins/file/nbdkit-file-plugin.so"
[ -f "$plugin" ] || fail "$plugin has not been built"
requires nbdsh --version
requires nbdinfo --version
requires nbdcopy --version

disk="$tmpdir/disk.img"
head -c 3M /dev/urandom > "$disk"
mkdir "$tmpdir/d"

# expect_error "MESSAGE" ARGS...: the server must refuse to start.
expect_error ()
{
  local msg="$1"; shift
  if $NBDKIT -U - "$plugin" "$@" --run true > "$tmpdir/out" 2>&1; then
    fail "nbdkit $* should have failed"
  fi
  grep -q -- "$msg" "$tmpdir/out" ||
    fail "nbdkit $*: expected '$msg', got: $(cat "$tmpdir/out")"
}

expect_error "file=" cache=none
expect_error "cannot be used together" "$disk" dir="$tmpdir/d"
expect_error "use dir=" "$tmpdir/d"
expect_error "not a directory" dir="$disk"
expect_error "" "$tmpdir/nonexistent"
expect_error "cache: expecting" "$disk" cache=some
expect_error "fadvise: expecting" "$disk" fadvise=often
expect_error "delay" "$disk" rdelay=10
expect_error "unknown parameter 'colour'" "$disk" colour=red

# Relative file names are resolved when nbdkit starts (it may change
# directory later).
( cd "$tmpdir" && $NBDKIT -U - "$plugin" disk.img \
    --run 'nbdinfo --size "$uri"' ) > "$tmpdir/size"
[ "$(cat "$tmpdir/size")" = $((3 * 1024 * 1024)) ] ||
  fail "relative file name did not work"

# Every cache/fadvise mode serves the same data, reading and writing.
for opts in "cache=default" "cache=none" "fadvise=normal" "fadvise=random" \
            "fadvise=sequential" "cache=none fadvise=sequential"; do
  # shellcheck disable=SC2086
  start_nbdkit "$plugin" file="$disk" $opts
  head -c 1M /dev/urandom > "$tmpdir/data"
  nbdsh -u "$uri" -c "
with open('$tmpdir/data', 'rb') as f:
    buf = f.read()
h.pwrite(buf, 12345)
h.zero(1000, 12345 + 100)
h.flush()
"
  dd if=/dev/zero of="$tmpdir/data" bs=1 seek=100 count=1000 conv=notrunc \
     status=none
  nbdcopy "$uri" "$tmpdir/out"
  cmp "$disk" "$tmpdir/out" || fail "$opts: NBD and the file disagree"
  cmp -n 1048576 "$tmpdir/data" <(tail -c +12346 "$disk") ||
    fail "$opts: wrong data in the file"
  stop_nbdkit
done

$NBDKIT "$plugin" --dump-plugin > "$tmpdir/dump"
for line in name=file magic_config_key=file thread_model=parallel \
            errno_is_preserved=1 has_list_exports=1 has_extents=1 \
            file_falloc_fl_punch_hole=yes file_falloc_fl_zero_range=yes \
            file_blkzeroout=yes; do
  grep -qx "$line" "$tmpdir/dump" || fail "--dump-plugin lacks $line"
done
