#!/usr/bin/env bash
# memory plugin: command line parsing and --dump-plugin.
source "$SRCDIR/tests/functions.sh"

plugin="$BUILDDIR/plugins/memory/nbdkit-memory-plugin.so"
[ -f "$plugin" ] || fail "$plugin has not been built"
requires nbdinfo --version

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

expect_error "size=" allocator=sparse
expect_error "unknown allocator 'foo'" 1M allocator=foo
expect_error "zstd is not supported" 1M allocator=zstd
expect_error "unknown parameter 'mlock=true'" 1M allocator=sparse,mlock=true
expect_error "unknown parameter 'frob=1'" 1M allocator=malloc,frob=1
expect_error "unknown parameter 'colour'" 1M colour=red
expect_error "" size=1X
expect_error "" $(( 2**63 ))

# Size with and without the magic key, with suffixes.
for arg in 1M size=1M 1048576 size=1024K; do
  [ "$($NBDKIT -U - "$plugin" "$arg" --run 'nbdinfo --size "$uri"')" = 1048576 ] ||
    fail "wrong size for $arg"
done
[ "$($NBDKIT -U - "$plugin" 0 --run 'nbdinfo --size "$uri"')" = 0 ] ||
  fail "an empty disk does not work"
[ "$($NBDKIT -U - "$plugin" 0 allocator=malloc --run 'nbdinfo --size "$uri"')" = 0 ] ||
  fail "an empty malloc disk does not work"

# The last allocator given wins.
[ "$($NBDKIT -U - "$plugin" 1M allocator=malloc allocator=sparse \
      --run 'nbdinfo --map "$uri"' | awk '{ print $4 }')" = hole,zero ] ||
  fail "allocator=sparse after allocator=malloc was not used"

$NBDKIT "$plugin" --dump-plugin > "$tmpdir/dump"
for line in name=memory magic_config_key=size thread_model=parallel \
            mlock=yes has_extents=1 has_zero=1 has_trim=1 has_cache=1; do
  grep -qx "$line" "$tmpdir/dump" || fail "--dump-plugin lacks $line"
done
