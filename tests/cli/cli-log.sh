#!/usr/bin/env bash
# --log=stderr|syslog|null, checked with a plugin that fails a request
# and with a configuration error at startup.
. "$SRCDIR/tests/functions.sh"
. "$SRCDIR/tests/cli/cli-lib.sh"
requires nbdsh --version
requires nbdinfo --version
sh_plugin="$(debian_plugin sh)"
mem="$(plugin memory)"

script="$tmpdir/fail.sh"
cat > "$script" <<'EOF_SCRIPT'
#!/bin/bash
case "$1" in
  get_size) echo 1M ;;
  pread) echo "EIO pread failed on purpose xyzzy" >&2; exit 1 ;;
  *) exit 2 ;;
esac
EOF_SCRIPT
chmod +x "$script"

client='nbdsh -u "$uri" -c "
try:
    h.pread(512, 0)
except nbd.Error as e:
    assert e.errno == \"EIO\", e.errno
else:
    raise AssertionError(\"read did not fail\")
"'

# run_log [--log=X]: the client sees EIO; stderr saved in $tmpdir/err.
run_log ()
{
  "$NBDKIT" "$@" -U - "$sh_plugin" "$script" --run "$client" \
    >"$tmpdir/out" 2>"$tmpdir/err" || { cat "$tmpdir/out" "$tmpdir/err"; fail "$*: run failed"; }
  cat "$tmpdir/err"
}

# Default in the foreground (--run implies it) and --log=stderr: the
# error goes to stderr as "nbdkit: sh[N]: error: ...".
for opt in "" --log=stderr; do
  run_log $opt
  grep -Eq '^nbdkit: sh\[[0-9]+\]: error: .*xyzzy' "$tmpdir/err" ||
    fail "'$opt': plugin error not on stderr in nbdkit's format"
done

# syslog and null: not on stderr.
for opt in --log=syslog --log=null; do
  run_log $opt
  grep -q xyzzy "$tmpdir/err" && fail "$opt: plugin error still on stderr"
done

# Startup errors follow --log too.
st=0
"$NBDKIT" -f --log=stderr -U "$tmpdir/s1" "$mem" size=garbage 2>"$tmpdir/err" || st=$?
[ "$st" = 1 ] || fail "bad size: exit status $st"
grep -q '^nbdkit: error: .*garbage' "$tmpdir/err" || { cat "$tmpdir/err"; fail "startup error not on stderr"; }
for opt in --log=syslog --log=null; do
  st=0
  "$NBDKIT" -f $opt -U "$tmpdir/s2" "$mem" size=garbage 2>"$tmpdir/err" || st=$?
  [ "$st" = 1 ] || fail "$opt bad size: exit status $st"
  grep -q garbage "$tmpdir/err" && fail "$opt: startup error on stderr"
done

# Debug messages (-v) always go to stderr.
"$NBDKIT" -v --log=null -U - "$mem" size=1M --run 'nbdinfo --size "$uri"' \
  >"$tmpdir/out" 2>"$tmpdir/err"
grep -q 'debug:' "$tmpdir/err" || fail "--log=null -v: no debug on stderr"

# Anything else is an error.
expect_fail_with 'log' "$NBDKIT" -f --log=foo -U "$tmpdir/s3" "$mem" size=1M
