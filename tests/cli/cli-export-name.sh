#!/usr/bin/env bash
# -e NAME: only sets $exportname (and the path of $uri) for --run; the
# server still advertises and serves its normal exports.
. "$SRCDIR/tests/functions.sh"
. "$SRCDIR/tests/cli/cli-lib.sh"
requires nbdinfo --version
mem="$(plugin memory)"

for opt in -e --export --export-name --exportname; do
  "$NBDKIT" -U - $opt foo "$mem" size=1M --run '
    echo "exportname=$exportname"
    echo "uri=$uri"
    echo "unixsocket=$unixsocket"
    nbdinfo --list --json "$uri"
    nbdinfo --size "$uri"
  ' > "$tmpdir/out" || { cat "$tmpdir/out"; fail "$opt: --run failed"; }
  grep -qx "exportname=foo" "$tmpdir/out" || { cat "$tmpdir/out"; fail "$opt: \$exportname"; }
  s="$(sed -n 's/^unixsocket=//p' "$tmpdir/out")"
  grep -qx "uri=nbd+unix:///foo?socket=$s" "$tmpdir/out" ||
    { cat "$tmpdir/out"; fail "$opt: \$uri does not carry the export name"; }
  # The advertised export list is unchanged: only the default export "".
  grep -Eq '"export-name": *""' "$tmpdir/out" ||
    { cat "$tmpdir/out"; fail "$opt: default export not listed"; }
  grep -Eq '"export-name": *"foo"' "$tmpdir/out" &&
    { cat "$tmpdir/out"; fail "$opt: -e changed the advertised exports"; }
  grep -qx 1048576 "$tmpdir/out" || fail "$opt: cannot connect to \$uri"
done

# Without -e, $exportname is empty and $uri has no export path.
"$NBDKIT" -U - "$mem" size=1M --run 'echo "exportname=[$exportname]"; echo "uri=$uri"' \
  > "$tmpdir/out"
grep -qx "exportname=\[\]" "$tmpdir/out" || fail "default \$exportname not empty"
grep -Eq '^uri=nbd\+unix:///?\?socket=' "$tmpdir/out" || { cat "$tmpdir/out"; fail "default \$uri"; }

# Without --run, -e has no effect on what is served.
sock="$tmpdir/sock"
run_bg "$tmpdir/log" "$NBDKIT" -f -e foo -U "$sock" "$mem" size=1M
wait_for "socket" test -S "$sock"
nbdinfo --list --json "nbd+unix:///?socket=$sock" > "$tmpdir/list"
grep -Eq '"export-name": *""' "$tmpdir/list" || { cat "$tmpdir/list"; fail "-e without --run changed exports"; }
[ "$(nbdinfo --size "nbd+unix:///?socket=$sock")" = 1048576 ] || fail "-e without --run"
