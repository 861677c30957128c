#!/usr/bin/env bash
# --help, alone and with a plugin (then the plugin's help follows).
. "$SRCDIR/tests/functions.sh"
. "$SRCDIR/tests/cli/cli-lib.sh"

"$NBDKIT" --help > "$tmpdir/out" 2>"$tmpdir/err" || fail "--help failed"
[ ! -s "$tmpdir/err" ] || { cat "$tmpdir/err"; fail "--help wrote to stderr"; }
cat "$tmpdir/out"
head -1 "$tmpdir/out" | grep -q '^nbdkit ' || fail "--help: synopsis does not start with 'nbdkit '"
for word in '-U|--unix' '-p|--port' '--run' '-s|--single' '-f|--foreground' \
            '-P|--pidfile' '-r|--readonly' '-t|--threads' '-v|--verbose' \
            'PLUGIN [[KEY=]VALUE' 'nbdkit --dump-config' 'nbdkit PLUGIN --dump-plugin' \
            'nbdkit --help' 'nbdkit [-V|--version]'; do
  grep -qF -- "$word" "$tmpdir/out" || fail "--help does not mention '$word'"
done
tail -1 "$tmpdir/out" | grep -qx 'Please read the nbdkit(1) manual page for full usage.' ||
  fail "--help: last line"

# plugin_help NAME: the part after the synopsis.
plugin_help ()
{
  sed -n '/^Please read the nbdkit(1) manual page for full usage\.$/,$p' "$1" | tail -n +2
}

expect ()
{
  local p
  p="$(debian_plugin "$1")"
  "$NBDKIT" --help "$p" > "$tmpdir/$1.out" || fail "--help $1 failed"
  # The general part is printed first, unchanged.
  head -n "$(wc -l < "$tmpdir/out")" "$tmpdir/$1.out" | cmp -s - "$tmpdir/out" ||
    fail "--help $1: synopsis differs from plain --help"
  plugin_help "$tmpdir/$1.out" > "$tmpdir/$1.got"
  diff -u "$tmpdir/$1.expected" "$tmpdir/$1.got" || fail "--help $1: plugin part"
  # PLUGIN --help gives the same.
  "$NBDKIT" "$p" --help > "$tmpdir/$1.out2"
  cmp -s "$tmpdir/$1.out" "$tmpdir/$1.out2" || fail "PLUGIN --help differs from --help PLUGIN"
}

cat > "$tmpdir/example1.expected" <<'EOF_EXPECTED'

plugin: example1
(/usr/lib/x86_64-linux-gnu/nbdkit/plugins/nbdkit-example1-plugin.so)
EOF_EXPECTED
expect example1

cat > "$tmpdir/example3.expected" <<'EOF_EXPECTED'

plugin: example3
(/usr/lib/x86_64-linux-gnu/nbdkit/plugins/nbdkit-example3-plugin.so)
size=<SIZE>  (optional) Size of the backing disk (default: 100M)
EOF_EXPECTED
expect example3

cat > "$tmpdir/file.expected" <<'EOF_EXPECTED'

plugin: file (nbdkit file plugin)
(/usr/lib/x86_64-linux-gnu/nbdkit/plugins/nbdkit-file-plugin.so)
[file=]<FILENAME>     The filename to serve.
dir=<DIRNAME>         A directory containing files to serve.
cache=<MODE>          Set use of caching (default, none).
fadise=<LEVEL>        Set fadvise hint (normal, random, sequential).
EOF_EXPECTED
expect file

cat > "$tmpdir/sh.expected" <<'EOF_EXPECTED'

plugin: sh
(/usr/lib/x86_64-linux-gnu/nbdkit/plugins/nbdkit-sh-plugin.so)
script=<FILENAME>     (required) The shell script to run.
[other arguments may be used by the plugin that you load]
EOF_EXPECTED
expect sh

# The plugin's configuration is not looked at with --help.
mem="$(plugin memory)"
"$NBDKIT" --help "$mem" size=not-a-size > "$tmpdir/a" || fail "--help PLUGIN bad-config"
grep -q '^plugin: memory' "$tmpdir/a" || fail "--help memory: no plugin section"
grep -q '^size=' "$tmpdir/a" || fail "--help memory: no config_help"

# An unloadable plugin is an error.
expect_fail_with 'cannot open plugin' "$NBDKIT" --help "$tmpdir/nonexistent.so"
