#!/usr/bin/env bash
# The server exports exactly the nbdkit_* API to plugins (nbdkit.syms):
# every function and variable nbdkit 1.32.5 exports, plus
# nbdkit_disconnect (added in nbdkit 1.34), and nothing of its own.
. "$SRCDIR/tests/functions.sh"
requires nm --version

server="$BUILDDIR/server/nbdkit"
[ -x "$server" ] || fail "no server binary at $server"

# (Sanitizer builds add their runtime's __asan_* symbols: not ours.)
nm -D --defined-only "$server" | awk '{ print $3 }' |
  grep -v '@' | grep -v '^__asan_' | sort > "$tmpdir/ours"

# Anything exported that is not nbdkit_* is a leak of internals.
if grep -v '^nbdkit_' "$tmpdir/ours"; then
  fail "the server exports symbols that are not part of the plugin API"
fi

if [ -x /usr/bin/nbdkit ] && /usr/bin/nbdkit --version | grep -q '^nbdkit 1\.32\.'; then
  { nm -D --defined-only /usr/bin/nbdkit | awk '{ print $3 }' |
      grep '^nbdkit_'; echo nbdkit_disconnect; } | sort > "$tmpdir/want"
  diff -u "$tmpdir/want" "$tmpdir/ours" ||
    fail "exported API differs from nbdkit 1.32.5 + nbdkit_disconnect"
else
  echo "Debian's nbdkit 1.32 not installed: checking the count only"
fi
[ "$(wc -l < "$tmpdir/ours")" -eq 55 ] ||
  fail "expected 51 functions and 4 debug flags, got $(wc -l < "$tmpdir/ours")"
