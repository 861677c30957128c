#!/usr/bin/env bash
# -r / --readonly / --read-only: read-only export.
. "$SRCDIR/tests/functions.sh"
. "$SRCDIR/tests/cli/cli-lib.sh"
requires nbdinfo --version
requires nbdsh --version
mem="$(plugin memory)"

for opt in -r --readonly --read-only; do
  "$NBDKIT" -U - $opt "$mem" size=1M --run 'nbdinfo --json "$uri"' > "$tmpdir/json" ||
    fail "$opt: nbdinfo failed"
  grep -Eq '"is_read_only": *true' "$tmpdir/json" ||
    { cat "$tmpdir/json"; fail "$opt: export not read-only"; }
done

# Without -r the same export is writable.
"$NBDKIT" -U - "$mem" size=1M --run 'nbdinfo --json "$uri"' > "$tmpdir/json"
grep -Eq '"is_read_only": *false' "$tmpdir/json" ||
  { cat "$tmpdir/json"; fail "export is read-only without -r"; }

# Writes are refused by the server with EPERM (libnbd's own client-side
# check is turned off so the request really reaches the server); reads work.
"$NBDKIT" -U - -r "$mem" size=1M --run 'nbdsh -u "$uri" -c "
assert h.is_read_only()
h.set_strict_mode(0)
for name, fn in [(\"pwrite\", lambda: h.pwrite(b\"x\" * 512, 0)),
                 (\"zero\", lambda: h.zero(512, 0)),
                 (\"trim\", lambda: h.trim(512, 0))]:
    try:
        fn()
    except nbd.Error as e:
        assert e.errno == \"EPERM\", (name, e.errno, e.string)
    else:
        raise AssertionError(name + \" succeeded on a read-only export\")
assert h.pread(512, 0) == bytes(512)
"' || fail "-r: write not refused with EPERM"
