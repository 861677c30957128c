#!/usr/bin/env bash
# -V / --version, alone and with a plugin.
. "$SRCDIR/tests/functions.sh"
. "$SRCDIR/tests/cli/cli-lib.sh"
mem="$(plugin memory)"

for opt in -V --version; do
  "$NBDKIT" $opt > "$tmpdir/out" || fail "$opt failed"
  cat "$tmpdir/out"
  [ "$(wc -l < "$tmpdir/out")" -eq 1 ] || fail "$opt: expected exactly one line"
  grep -Eqx 'nbdkit 1\.[0-9]+\.[0-9]+' "$tmpdir/out" ||
    fail "$opt: first line is not 'nbdkit 1.X.Y'"
  minor="$(sed -E 's/^nbdkit 1\.([0-9]+)\..*/\1/' "$tmpdir/out")"
  [ "$minor" -ge 32 ] || fail "$opt: minor version $minor < 32"
done
if is_debian_server; then
  grep -qx 'nbdkit 1.32.5' "$tmpdir/out" || fail "Debian's server is not 1.32.5"
fi

# The version agrees with --dump-config.
v="$(sed -n 's/^nbdkit //p' "$tmpdir/out")"
"$NBDKIT" --dump-config | grep -qx "version=$v" || fail "--version and --dump-config disagree"

# With a plugin: one more line "NAME VERSION".  The plugin's
# configuration is not looked at (a bad size is no error here).
for opt in -V --version; do
  "$NBDKIT" $opt "$mem" size=not-a-size > "$tmpdir/out" || fail "$opt PLUGIN failed"
  cat "$tmpdir/out"
  [ "$(wc -l < "$tmpdir/out")" -eq 2 ] || fail "$opt PLUGIN: expected two lines"
  sed -n 1p "$tmpdir/out" | grep -Eqx 'nbdkit 1\.[0-9]+\.[0-9]+' || fail "$opt PLUGIN: line 1"
  sed -n 2p "$tmpdir/out" | grep -Eqx 'memory( [^ ]+)?' || fail "$opt PLUGIN: line 2"
done

# A Debian plugin reports its own version, whatever the server's is.
ex1="$(debian_plugin example1)"
"$NBDKIT" -V "$ex1" > "$tmpdir/out"
sed -n 2p "$tmpdir/out" | grep -qx 'example1 1.32.5' ||
  { cat "$tmpdir/out"; fail "-V example1: plugin version line"; }

# The option may come after the plugin name.
"$NBDKIT" "$ex1" --version > "$tmpdir/out2"
cmp "$tmpdir/out" "$tmpdir/out2" || fail "PLUGIN --version differs from --version PLUGIN"

# A plugin that cannot be loaded is an error even with -V.
expect_fail_with "cannot open plugin" "$NBDKIT" -V "$tmpdir/no-such-plugin.so"
