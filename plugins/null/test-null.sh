#!/usr/bin/env bash
# null plugin: writes vanish, reads are zeroes, every operation is
# accepted, block status is one hole; the flags and data match Debian's
# null plugin.
source "$SRCDIR/tests/functions.sh"

plugin="$BUILDDIR/plugins/null/nbdkit-null-plugin.so"
[ -f "$plugin" ] || fail "$plugin has not been built"
requires nbdsh --version
requires nbdinfo --version
requires nbdcopy --version
requires jq --version

# Without a size the disk is empty; size= and the magic key both work.
start_nbdkit "$plugin"
[ "$(nbdinfo --size "$uri")" = 0 ] || fail "default size is not 0"
for arg in 1G size=1G; do
  start_nbdkit "$plugin" "$arg"
  [ "$(nbdinfo --size "$uri")" = 1073741824 ] || fail "wrong size with $arg"
done

nbdsh --base-allocation -u "$uri" -c "
h.pwrite(b'x' * 65536, 4096, nbd.CMD_FLAG_FUA)
assert h.pread(65536, 4096) == bytes(65536)
h.zero(1 << 20, 0, nbd.CMD_FLAG_FAST_ZERO)
h.zero(1 << 20, 0, nbd.CMD_FLAG_NO_HOLE)
h.trim(1 << 20, 0)
h.flush()
h.cache(1 << 20, 0)
got = []
def cb(meta, offset, entries, err):
    got.extend(entries)
h.block_status(1 << 29, 12345, cb)
assert got == [1 << 29, 3], got
"
[ "$(nbdinfo --map "$uri" | awk '{ print $1, $2, $3 }')" = "0 1073741824 3" ] ||
  fail "wrong map"

# Writing a lot and reading it back gives zeroes.
head -c 8M /dev/urandom > "$tmpdir/data"
nbdcopy "$tmpdir/data" "$uri"
[ "$(nbdcopy "$uri" - | head -c 8M | tr -d '\0' | wc -c)" = 0 ] ||
  fail "read back something that was not zeroes"

# The same flags as Debian's null plugin.
flags ()
{
  nbdinfo --json "$1" |
    jq -S '.exports[0] | with_entries(select(.key | test("^(can_|is_)")))'
}
flags "$uri" > "$tmpdir/ours"
# (Only if Debian's plugin is installed.)
if debian="$(debian_plugin null)"; then
  start_nbdkit "$debian" 1G
  flags "$uri" > "$tmpdir/debian"
  diff -u "$tmpdir/debian" "$tmpdir/ours" ||
    fail "flags differ from Debian's"
fi

# Errors.
if $NBDKIT -U - "$plugin" colour=red --run true 2> "$tmpdir/err"; then
  fail "unknown parameter accepted"
fi
grep -q "unknown parameter 'colour'" "$tmpdir/err" || fail "wrong error"
if $NBDKIT -U - "$plugin" size=lots --run true 2> /dev/null; then
  fail "bad size accepted"
fi
