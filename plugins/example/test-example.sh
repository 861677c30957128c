#!/usr/bin/env bash
# example plugin: it works as a RAM disk, and it builds outside the
# source tree the way its manual page says.
source "$SRCDIR/tests/functions.sh"

plugin="$BUILDDIR/plugins/example/nbdkit-example-plugin.so"
[ -f "$plugin" ] || fail "$plugin has not been built"
requires nbdsh --version
requires nbdinfo --version
requires nbdcopy --version

start_nbdkit "$plugin"
[ "$(nbdinfo --size "$uri")" = 1048576 ] || fail "default size is not 1M"

start_nbdkit "$plugin" size=4M
head -c 4M /dev/urandom > "$tmpdir/data"
nbdcopy "$tmpdir/data" "$uri"
nbdcopy "$uri" "$tmpdir/out"
cmp "$tmpdir/data" "$tmpdir/out" || fail "data read back differs"
nbdsh -u "$uri" -c "
h.pwrite(b'hello', 4 * 1024 * 1024 - 5)
assert h.pread(5, 4 * 1024 * 1024 - 5) == b'hello'
"

start_nbdkit -r "$plugin"
nbdsh -u "$uri" -c "
assert h.is_read_only()
assert h.pread(512, 0) == bytes(512)
"

# The out-of-tree build from the manual page, with the headers of this
# tree instead of installed ones.
requires cc --version
cc -std=gnu11 -Wall -Werror -fPIC -shared \
   -I"$SRCDIR/include" -I"$BUILDDIR/include" \
   "$SRCDIR/plugins/example/example.c" -o "$tmpdir/nbdkit-example-plugin.so"
start_nbdkit "$tmpdir/nbdkit-example-plugin.so" size=64K
[ "$(nbdinfo --size "$uri")" = 65536 ] || fail "out-of-tree build does not work"

# The generated pkg-config file knows the plugin directory.
pc="$BUILDDIR/meson-private/nbdkit.pc"
if [ -f "$pc" ] && command -v pkg-config > /dev/null; then
  dir="$(PKG_CONFIG_PATH="$BUILDDIR/meson-private" \
         pkg-config nbdkit --variable=plugindir)"
  [ -n "$dir" ] || fail "nbdkit.pc has no plugindir"
fi
