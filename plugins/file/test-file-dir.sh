#!/usr/bin/env bash
# file plugin, dir= mode: regular files (also through symlinks) are
# listed and served by export name; anything else is refused, without
# hanging on FIFOs and without escaping the directory.
source "$SRCDIR/tests/functions.sh"

plugin="$BUILDDIR/plugins/file/nbdkit-file-plugin.so"
[ -f "$plugin" ] || fail "$plugin has not been built"
requires nbdsh --version
requires nbdinfo --version
requires jq --version
requires mkfifo --version

d="$tmpdir/exports"
mkdir "$d" "$d/subdir"
printf 'hello' > "$d/small"
truncate -s 1M "$d/big"
printf 'world' > "$d/.hidden"
ln -s big "$d/link"
ln -s "$tmpdir/nonexistent" "$d/dangling"
ln -s subdir "$d/dirlink"
mkfifo "$d/fifo"
printf 'secret' > "$tmpdir/outside"

start_nbdkit "$plugin" dir="$d"

# The list: regular files and symlinks to them, in name order.
nbdinfo --list --json "$uri" | jq -r '.exports[]["export-name"]' \
  > "$tmpdir/list"
printf '%s\n' .hidden big link small > "$tmpdir/expected"
diff -u "$tmpdir/expected" "$tmpdir/list" || fail "wrong export list"

export_uri ()
{
  echo "nbd+unix:///$1?socket=$sock"
}

[ "$(nbdinfo --size "$(export_uri small)")" = 5 ] || fail "wrong size of small"
[ "$(nbdinfo --size "$(export_uri big)")" = 1048576 ] || fail "wrong size of big"
[ "$(nbdinfo --size "$(export_uri link)")" = 1048576 ] || fail "wrong size of link"

# Each export serves its own file, and writes go to that file.
nbdsh -u "$(export_uri small)" -c "
assert h.pread(5, 0) == b'hello'
h.pwrite(b'HE', 0)
"
[ "$(cat "$d/small")" = HEllo ] || fail "write to export 'small' was lost"
nbdsh -u "$(export_uri .hidden)" -c "assert h.pread(5, 0) == b'world'"

# Names that must be refused.  '%2F' is a slash inside the name.
for name in "" .. . subdir dirlink fifo dangling nonexistent \
            ..%2Foutside subdir%2F..%2Fsmall; do
  if nbdinfo --size "$(export_uri "$name")" > /dev/null 2>&1; then
    fail "export name '$name' was accepted"
  fi
done

# The server is still fine after the refusals.
[ "$(nbdinfo --size "$(export_uri small)")" = 5 ] || fail "server broken"
