#!/usr/bin/env bash
# qemu-img against our server (memory plugin): info, convert in (also
# with 8 parallel coroutines and out-of-order writes) and out (to
# qcow2), compare (identical and a one-byte difference), map (written
# areas are data, the rest zero), over a Unix socket and TCP.

. "$SRCDIR/tests/functions.sh"
. "$SRCDIR/tests/integration/itest-lib.sh"

requires qemu-img --version
requires nbdsh --version

M=$((1024 * 1024))
src="$tmpdir/src.raw"
truncate -s 64M "$src"
for at in 0 10 11 63; do
  head -c 1M /dev/urandom |
    dd of="$src" bs=1M seek="$at" conv=notrunc status=none
done

start_nbdkit memory 64M

qemu-img info --output=json "$uri" >"$tmpdir/info.json"
python3 - "$tmpdir/info.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["virtual-size"] == 64 * 1024 * 1024, d
assert d["format"] == "raw", d
EOF

qemu-img convert -n -f raw -O raw "$src" "$uri"
qemu-img compare -s -f raw -F raw "$src" "$uri" ||
  fail "qemu-img compare: image differs after convert"

qemu-img map --output=json -f raw "$uri" >"$tmpdir/map.json"
python3 - "$tmpdir/map.json" <<'EOF'
import json, sys
M = 1024 * 1024
m = json.load(open(sys.argv[1]))
def at(off):
    for e in m:
        if e["start"] <= off < e["start"] + e["length"]:
            return e
    raise Exception("%d not mapped: %r" % (off, m))
for off in [0, M - 1, 10 * M, 12 * M - 1, 63 * M, 64 * M - 1]:
    assert at(off)["data"] is True, (off, at(off))
for off in [M, 5 * M, 12 * M, 40 * M, 63 * M - 1]:
    e = at(off)
    assert e["zero"] is True and e["data"] is False, (off, e)
EOF

# Change one byte behind qemu-img's back: compare notices.
nbdsh -u "$uri" -c 'h.pwrite(b"\x5a", 11 * 1024 * 1024 + 12345)'
cp "$src" "$tmpdir/expected.raw"
printf '\x5a' | dd of="$tmpdir/expected.raw" bs=1 seek=$((11 * M + 12345)) \
                   conv=notrunc status=none
if qemu-img compare -f raw -F raw "$src" "$uri" >"$tmpdir/cmp" 2>&1; then
  fail "qemu-img compare did not see the changed byte"
fi
# qemu-img reports the start of the block that differs.
at="$(sed -n 's/^Content mismatch at offset \([0-9]*\)!$/\1/p' "$tmpdir/cmp")"
[ -n "$at" ] && [ "$at" -le $((11 * M + 12345)) ] &&
  [ "$at" -gt $((11 * M + 12345 - 65536)) ] ||
  fail "qemu-img compare: unexpected output: $(cat "$tmpdir/cmp")"
qemu-img compare -f raw -F raw "$tmpdir/expected.raw" "$uri" ||
  fail "qemu-img compare with the expected image"

# Out to qcow2 and back in over TCP, with parallel out-of-order writes.
qemu-img convert -f raw -O qcow2 "$uri" "$tmpdir/copy.qcow2"
qemu-img compare -f qcow2 -F raw "$tmpdir/copy.qcow2" "$tmpdir/expected.raw" ||
  fail "qemu-img compare: qcow2 copy differs"

start_nbdkit_tcp memory 64M
qemu-img convert -n -W -m 8 -f qcow2 -O raw "$tmpdir/copy.qcow2" "$uri"
qemu-img compare -s -f raw -F raw "$tmpdir/expected.raw" "$uri" ||
  fail "qemu-img compare over TCP"
qemu-img info "$uri" | grep -q "virtual size: 64 MiB" ||
  fail "qemu-img info over TCP: $(qemu-img info "$uri")"

stop_all_servers
echo OK
