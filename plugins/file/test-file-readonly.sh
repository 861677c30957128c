#!/usr/bin/env bash
# file plugin, read-only: with -r the export is read-only and the file
# is not modified; a file we cannot write to is served read-only.
source "$SRCDIR/tests/functions.sh"

plugin="$BUILDDIR/plugins/file/nbdkit-file-plugin.so"
[ -f "$plugin" ] || fail "$plugin has not been built"
requires nbdsh --version
requires nbdinfo --version
requires jq --version

disk="$tmpdir/disk.img"
head -c 1M /dev/urandom > "$disk"
sum="$(sha256sum < "$disk")"

check_read_only ()
{
  [ "$(nbdinfo --json "$uri" | jq '.exports[0].is_read_only')" = true ] ||
    fail "export is not read-only"
  nbdsh -u "$uri" -c "
with open('$disk', 'rb') as f:
    assert h.pread(1 << 20, 0) == f.read()
for op in (lambda: h.pwrite(b'x', 0), lambda: h.zero(4096, 0),
           lambda: h.trim(4096, 0)):
    try:
        op()
        raise SystemExit('a write to the read-only export succeeded')
    except nbd.Error:
        pass
h.cache(4096, 0)
h.flush()
"
  [ "$(sha256sum < "$disk")" = "$sum" ] || fail "read-only file was modified"
}

start_nbdkit -r "$plugin" "$disk"
check_read_only
stop_nbdkit

# A file without write permission (root can write anyway: skip then).
chmod a-w "$disk"
if [ "$(id -u)" != 0 ]; then
  start_nbdkit "$plugin" "$disk"
  check_read_only
  stop_nbdkit
fi

# dir= mode honours -r too.
start_nbdkit -r "$plugin" dir="$tmpdir"
uri="nbd+unix:///disk.img?socket=$sock"
check_read_only
