#!/usr/bin/env bash
# zero plugin: an empty read-only disk that takes no parameters; the
# same flags as Debian's zero plugin.
source "$SRCDIR/tests/functions.sh"

plugin="$BUILDDIR/plugins/zero/nbdkit-zero-plugin.so"
[ -f "$plugin" ] || fail "$plugin has not been built"
requires nbdsh --version
requires nbdinfo --version
requires jq --version

start_nbdkit "$plugin"
[ "$(nbdinfo --size "$uri")" = 0 ] || fail "size is not 0"
nbdinfo --json "$uri" > "$tmpdir/info"
jq -e '.exports[0] | .is_read_only and .can_multi_conn and .can_cache and
       (.can_trim | not) and (.can_zero | not)' "$tmpdir/info" > /dev/null ||
  fail "unexpected flags: $(cat "$tmpdir/info")"

# Any access is out of range, but the connection survives it.
nbdsh -u "$uri" -c "
for op in (lambda: h.pread(1, 0), lambda: h.pwrite(b'x', 0)):
    try:
        op()
        raise SystemExit('access to a zero-length disk succeeded')
    except nbd.Error:
        pass
assert h.get_size() == 0
"

# Parameters are refused.
if $NBDKIT -U - "$plugin" size=1M --run true 2> /dev/null; then
  fail "a parameter was accepted"
fi

# The same flags as Debian's zero plugin.
flags ()
{
  nbdinfo --json "$1" |
    jq -S '.exports[0] | with_entries(select(.key | test("^(can_|is_)")))'
}
flags "$uri" > "$tmpdir/ours"
# (Only if Debian's plugin is installed.)
if debian="$(debian_plugin zero)"; then
  start_nbdkit "$debian"
  flags "$uri" > "$tmpdir/debian"
  diff -u "$tmpdir/debian" "$tmpdir/ours" ||
    fail "flags differ from Debian's"
fi
