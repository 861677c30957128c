#!/usr/bin/env bash
# Filters that manage plugin contexts themselves (context-filter.c): a
# shared context opened in .after_fork and used by every connection, a
# second per-connection context swapped in with
# nbdkit_context_set_next, and the extents helpers
# nbdkit_extents_aligned and nbdkit_extents_full.  Each mode runs under
# Debian's nbdkit (the filter built against Debian's header) and ours;
# data and maps must be identical, and the expected ones.  (Debian's
# nbdkit cannot open a second context of the plugin for one connection:
# it fails an assertion in the plugin's .open, so swap mode only runs
# here, against the expected output.)
source "$SRCDIR/tests/functions.sh"
requires nbdsh --version
requires nbdinfo --version
requires nbdcopy --version
requires jq --version

d="$BUILDDIR/tests/filters"
plugin="$d/extents-plugin.so"

check='
  nbdinfo --json "$uri" | jq -c ".exports[0].description"
  nbdinfo --json "$uri" | jq -c ".exports[0].description"
  nbdcopy "$uri" - | sha256sum
  nbdinfo --map "$uri"
  nbdsh -u "$uri" -c "
for i in range(8):
    assert h.pread(4096, 16384 * (i % 4))[:513] == b\"D\" * 512 + b\"\\0\"
"'

for mode in shared swap aligned full; do
  # Two connections at once on the shared context.
  session="$check"
  [ $mode = shared ] && session="$check"'
  nbdsh -u "$uri" -c "
h2 = nbd.NBD(); h2.connect_uri(\"$uri\")
assert h.pread(4096, 0) == h2.pread(4096, 0)
"'
  $NBDKIT -U - --filter="$d/context-filter-ours.so" "$plugin" \
    ctxmode=$mode --run "$session" > "$tmpdir/ours.$mode"
  if [ $mode != swap ] && [ -f "$d/context-filter-debian.so" ] &&
     [ -x "$DEBIAN_NBDKIT" ]; then
    "$DEBIAN_NBDKIT" -U - --filter="$d/context-filter-debian.so" "$plugin" \
      ctxmode=$mode --run "$session" > "$tmpdir/debian.$mode"
    diff -u "$tmpdir/debian.$mode" "$tmpdir/ours.$mode" ||
      fail "ctxmode=$mode differs from Debian's nbdkit"
  fi
done

cmp "$tmpdir/ours.swap" "$tmpdir/ours.full" || fail "swap: $(cat "$tmpdir/ours.swap")"

# The expected maps: 512-byte extents without the helpers (full gives
# the same), and whole 4K blocks with aligned: a block with any data is
# data, and only all-hole blocks stay holes.
[ "$(grep -c " hole,zero$" "$tmpdir/ours.full")" = 36 ] ||
  fail "full: $(cat "$tmpdir/ours.full")"
awk '$1 ~ /^[0-9]+$/ && NF >= 3 { print $1, $2, $3 }' "$tmpdir/ours.aligned" > "$tmpdir/amap"
printf '%s\n' "0 4096 0" "4096 4096 3" "8192 12288 0" "20480 4096 3" \
  "24576 12288 0" "36864 4096 3" "40960 12288 0" "53248 4096 3" \
  "57344 8192 0" | diff -u - "$tmpdir/amap" || fail "aligned map"
echo ok
