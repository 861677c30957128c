#!/usr/bin/env bash
# Plugins that cannot be loaded: clear error, exit 1.
. "$SRCDIR/tests/functions.sh"
. "$SRCDIR/tests/cli/cli-lib.sh"
s="$tmpdir/sock"

# Short name that exists nowhere.
expect_fail_with "^nbdkit: error: cannot open plugin 'nosuchplugin': " \
  "$NBDKIT" -f -U "$s" nosuchplugin
grep -q "nbdkit-nosuchplugin-plugin.so" "$tmpdir/expect_fail.out" ||
  fail "the error does not name the file that was looked for"
grep -qx "Use 'nbdkit --help' or read the nbdkit(1) manual page for documentation." \
  "$tmpdir/expect_fail.out" || fail "no hint line"

# A path that does not exist: the dlopen error is included.
expect_fail_with "^nbdkit: error: cannot open plugin '$tmpdir/missing.so': .*No such file or directory" \
  "$NBDKIT" -f -U "$s" "$tmpdir/missing.so"

# A file that is not a shared object.
echo 'not an ELF file' > "$tmpdir/bogus.so"
expect_fail_with "^nbdkit: error: cannot open plugin '$tmpdir/bogus.so': " \
  "$NBDKIT" -f -U "$s" "$tmpdir/bogus.so"

# A shared library that is not a plugin (no plugin_init).
libz="$(ls /usr/lib/x86_64-linux-gnu/libz.so.1 /lib/x86_64-linux-gnu/libz.so.1 2>/dev/null | head -1)"
if [ -n "$libz" ]; then
  expect_fail_with 'plugin_init' "$NBDKIT" -f -U "$s" "$libz"
fi

# The same errors with --dump-plugin and --help.
expect_fail_with "cannot open plugin" "$NBDKIT" "$tmpdir/missing.so" --dump-plugin
expect_fail_with "cannot open plugin" "$NBDKIT" --help "$tmpdir/missing.so"
[ ! -e "$s" ] || fail "socket created although the plugin could not be loaded"
