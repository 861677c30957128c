#!/usr/bin/env bash
# The raw-API example (examples/ramdisk.rs) served by our server:
# write/read-back with checksums through nbdcopy and nbdsh, the flags it
# advertises, and the extents it computes.

. "$SRCDIR/tests/functions.sh"

so="$BUILDDIR/plugins/rust/libramdisk.so"
requires_file "$so"
requires nbdcopy --version
requires nbdsh --version
requires nbdinfo --version
requires python3 -c 'import json'
requires sha256sum --version

size=$((8 * 1024 * 1024))
start_nbdkit "$so" size=8M

# A whole-disk copy in, a whole-disk copy out, same checksum.
head -c $size /dev/urandom > "$tmpdir/in"
nbdcopy "$tmpdir/in" "$uri"
nbdcopy "$uri" "$tmpdir/out"
in_sum="$(sha256sum < "$tmpdir/in")"
out_sum="$(sha256sum < "$tmpdir/out")"
[ "$in_sum" = "$out_sum" ] || fail "checksum mismatch: $in_sum != $out_sum"

# Byte-level writes and reads on a new connection, checked in Python
# against the expected contents; the data written by nbdcopy is still
# there (one disk shared by all connections).
nbdsh -u "$uri" -c "
import hashlib
data = open('$tmpdir/in', 'rb').read()
assert h.get_size() == $size
assert h.pread(4096, 12345) == data[12345:12345 + 4096]
buf = bytes(range(256)) * 300
h.pwrite(buf, 1000000)
h.pwrite(b'edge', $size - 4)
h.flush()
data = data[:1000000] + buf + data[1000000 + len(buf):$size - 4] + b'edge'
got = h.pread($size, 0)
assert hashlib.sha256(got).hexdigest() == hashlib.sha256(data).hexdigest()
# Zero 1M..2M: the plugin has no zero callback, so the server writes
# zeroes with pwrite.
h.zero(1024 * 1024, 1024 * 1024)
assert h.pread(1024 * 1024, 1024 * 1024) == bytes(1024 * 1024)
"

# What the export advertises.
nbdinfo --json "$uri" > "$tmpdir/info.json"
python3 - "$tmpdir/info.json" <<'PY'
import json, sys
e = json.load(open(sys.argv[1]))["exports"][0]
want = {
    "export-size": 8 * 1024 * 1024,
    "is_read_only": False,
    "can_flush": True,
    "can_fua": True,          # emulated with flush
    "can_multi_conn": True,
    "can_trim": False,
    "can_zero": True,         # emulated by the server
    "is_rotational": False,
}
for k, v in want.items():
    assert e.get(k) == v, f"{k}: got {e.get(k)!r}, want {v!r}"
assert "base:allocation" in e["contexts"], e["contexts"]
PY

# Extents: the zeroed MiB is reported as zero, the rest as data.
nbdinfo --map --json "$uri" > "$tmpdir/map.json"
python3 - "$tmpdir/map.json" <<'PY'
import json, sys
m = [(x["offset"], x["length"], x["type"]) for x in json.load(open(sys.argv[1]))]
M = 1024 * 1024
assert m == [(0, M, 0), (M, M, 2), (2 * M, 6 * M, 0)], m
PY

# A single extent for REQ_ONE.
nbdsh --base-allocation -u "$uri" -c "
seen = []
def f(meta, off, ents, err):
    seen.extend(ents)
h.block_status(8 * 1024 * 1024, 0, f, nbd.CMD_FLAG_REQ_ONE)
assert seen == [1024 * 1024, 0], seen
"

echo "$0: OK"
