#!/usr/bin/env bash
# -v (debug messages on stderr) and -D NAME.FLAG=N (debug flags).
. "$SRCDIR/tests/functions.sh"
. "$SRCDIR/tests/cli/cli-lib.sh"
requires nbdinfo --version
mem="$(plugin memory)"
ex2="$(debian_plugin example2)"

# -v: debug lines go to stderr in nbdkit's format; stdout is untouched.
for opt in -v --verbose; do
  "$NBDKIT" $opt -U - "$mem" size=1M --run 'nbdinfo --size "$uri"' \
    >"$tmpdir/out" 2>"$tmpdir/err" || { cat "$tmpdir/err"; fail "$opt: run failed"; }
  [ "$(cat "$tmpdir/out")" = 1048576 ] || { cat "$tmpdir/out"; fail "$opt: stdout polluted"; }
  grep -q '^nbdkit: debug: ' "$tmpdir/err" ||
    { cat "$tmpdir/err"; fail "$opt: no 'nbdkit: debug:' line on stderr"; }
  # Connection-level debug messages carry the plugin name and
  # connection number, e.g. "nbdkit: memory[1]: debug: ...".
  grep -Eq '^nbdkit: memory(\[[0-9]+\]|\.[0-9]+): debug: ' "$tmpdir/err" ||
    { cat "$tmpdir/err"; fail "$opt: no per-connection debug line"; }
done
# Without -v there are no debug messages.
"$NBDKIT" -U - "$mem" size=1M --run 'nbdinfo --size "$uri"' >"$tmpdir/out" 2>"$tmpdir/err"
grep -q 'debug:' "$tmpdir/err" && { cat "$tmpdir/err"; fail "debug output without -v"; }

# -D PLUGIN.FLAG=N sets the plugin's global variable PLUGIN_debug_FLAG.
# Debian's example2 plugin prints an extra debug line when
# example2_debug_extra is set.
img="$tmpdir/disk.img"
truncate -s 1M "$img"
"$NBDKIT" -v -D example2.extra=1 -U - "$ex2" file="$img" --run 'nbdinfo --size "$uri"' \
  >"$tmpdir/out" 2>"$tmpdir/err" || { cat "$tmpdir/err"; fail "-D example2.extra=1"; }
grep -q 'extra debugging' "$tmpdir/err" ||
  { cat "$tmpdir/err"; fail "-D example2.extra=1 did not set the flag"; }
"$NBDKIT" -v -U - "$ex2" file="$img" --run 'nbdinfo --size "$uri"' \
  >"$tmpdir/out" 2>"$tmpdir/err"
grep -q 'extra debugging' "$tmpdir/err" && fail "extra debugging without -D"
# Long form.
"$NBDKIT" -v --debug example2.extra=1 -U - "$ex2" file="$img" --run 'nbdinfo --size "$uri"' \
  >"$tmpdir/out" 2>"$tmpdir/err"
grep -q 'extra debugging' "$tmpdir/err" || fail "--debug example2.extra=1 did not work"

# Unknown flags only give warnings; the server still runs.
"$NBDKIT" -D memory.nosuchflag=1 -D otherplugin.x=2 -U - "$mem" size=1M \
  --run 'nbdinfo --size "$uri"' >"$tmpdir/out" 2>"$tmpdir/err" ||
  { cat "$tmpdir/err"; fail "unknown -D flags are not just warnings"; }
cat "$tmpdir/err"
[ "$(cat "$tmpdir/out")" = 1048576 ] || fail "server did not work with unknown -D flags"
grep -q 'memory_debug_nosuchflag' "$tmpdir/err" ||
  fail "no warning naming memory_debug_nosuchflag"
grep -q 'warning' "$tmpdir/err" || fail "no warning for unknown -D flags"
grep -q 'otherplugin\.x' "$tmpdir/err" || fail "no warning for unused -D otherplugin.x"

# Malformed -D arguments are errors.
expect_fail_with 'NAME\.FLAG=N' "$NBDKIT" -f -U "$tmpdir/s" -D foo "$mem" size=1M
expect_fail_with 'NAME\.FLAG=N|number' "$NBDKIT" -f -U "$tmpdir/s" -D memory.dir=abc "$mem" size=1M
