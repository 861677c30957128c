#!/usr/bin/env bash
# The safe-API example (examples/memdisk.rs) served by our server:
# checksummed write/read-back, every flag it advertises, block sizes and
# export description, extents after writes, trims and zeroes, and FUA
# reaching the plugin.

. "$SRCDIR/tests/functions.sh"

so="$BUILDDIR/plugins/rust/libmemdisk.so"
requires_file "$so"
requires nbdcopy --version
requires nbdsh --version
requires nbdinfo --version
requires python3 -c 'import json'
requires sha256sum --version

size=$((16 * 1024 * 1024))
start_nbdkit "$so" 16M description="rust test disk"

head -c $size /dev/urandom > "$tmpdir/in"
nbdcopy "$tmpdir/in" "$uri"
nbdcopy "$uri" "$tmpdir/out"
in_sum="$(sha256sum < "$tmpdir/in")"
out_sum="$(sha256sum < "$tmpdir/out")"
[ "$in_sum" = "$out_sum" ] || fail "checksum mismatch: $in_sum != $out_sum"

nbdsh -u "$uri" -c "
import hashlib
data = open('$tmpdir/in', 'rb').read()
# Unaligned, page-crossing I/O.
buf = b'rust' * 5000
h.pwrite(buf, 4095)
data = data[:4095] + buf + data[4095 + len(buf):]
assert h.pread(len(buf) + 2, 4094) == data[4094:4096 + len(buf)]
h.flush()
got = h.pread($size, 0)
assert hashlib.sha256(got).hexdigest() == hashlib.sha256(data).hexdigest()
"

nbdinfo --json "$uri" > "$tmpdir/info.json"
python3 - "$tmpdir/info.json" <<'PY'
import json, sys
e = json.load(open(sys.argv[1]))["exports"][0]
want = {
    "export-size": 16 * 1024 * 1024,
    "description": "rust test disk",
    "is_read_only": False,
    "is_rotational": False,
    "can_cache": True,
    "can_fast_zero": True,
    "can_flush": True,
    "can_fua": True,
    "can_multi_conn": True,
    "can_trim": True,
    "can_zero": True,
    "block_size_minimum": 1,
    "block_size_preferred": 4096,
    "block_size_maximum": 4294967295,
}
for k, v in want.items():
    assert e.get(k) == v, f"{k}: got {e.get(k)!r}, want {v!r}"
assert "base:allocation" in e["contexts"], e["contexts"]
PY

# Trim everything: one sparse hole.  Then write 8K at 64K, zero the
# second page of it without permission to trim (it stays allocated,
# as zeroes), and zero 1M..2M of the hole with a fast zero.
nbdsh -u "$uri" -c "
h.trim($size, 0)
assert h.pread(4096, 8192) == bytes(4096)
h.pwrite(b'x' * 8192, 65536)
h.zero(4096, 69632, nbd.CMD_FLAG_NO_HOLE)
h.zero(1024 * 1024, 1024 * 1024, nbd.CMD_FLAG_FAST_ZERO)
h.cache(4096, 0)
assert h.pread(8192, 65536) == b'x' * 4096 + bytes(4096)
"
nbdinfo --map --json "$uri" > "$tmpdir/map.json"
python3 - "$tmpdir/map.json" <<'PY'
import json, sys
m = [(x["offset"], x["length"], x["type"]) for x in json.load(open(sys.argv[1]))]
K = 1024
want = [(0, 64 * K, 3), (64 * K, 4 * K, 0), (68 * K, 4 * K, 2),
        (72 * K, 16 * K * K - 72 * K, 3)]
assert m == want, m
PY

# The export list comes from list_exports.
nbdinfo --list --json "$uri" > "$tmpdir/list.json"
python3 - "$tmpdir/list.json" <<'PY'
import json, sys
exports = json.load(open(sys.argv[1]))["exports"]
assert [x["export-name"] for x in exports] == [""], exports
PY

# Parallel requests on two connections, verified: &self methods called
# from many threads at once (thread model parallel).  Only if fio has
# the nbd engine; the rest of the test does not need it.
if fio --enghelp=nbd >/dev/null 2>&1; then
  (cd "$tmpdir" && fio --name=job --ioengine=nbd --uri="$uri" --rw=randrw \
      --bssplit=512/20:4k/50:64k/30 --iodepth=32 --size=4M --numjobs=2 \
      --offset_increment=8M --verify=crc32c --verify_fatal=1 --do_verify=1 \
      > "$tmpdir/fio.log" 2>&1) ||
    { cat "$tmpdir/fio.log"; fail "parallel fio with verification failed"; }
else
  echo "$0: fio with the nbd engine not available, skipping that part"
fi

# FUA reaches the plugin (which logs it with -v): use a foreground
# server whose log we keep.
sock2="$tmpdir/fua.sock"
"$NBDKIT" -f -v -U "$sock2" "$so" 1M > "$tmpdir/fua.log" 2>&1 &
fg_pid=$!
cleanup_fn "kill $fg_pid 2>/dev/null; _wait_gone $fg_pid"
for (( i = 0; i < 300; i++ )); do
  [ -S "$sock2" ] && break
  sleep 0.1
done
[ -S "$sock2" ] || fail "foreground nbdkit did not start"
nbdsh -u "nbd+unix:///?socket=$sock2" -c "
assert h.can_fua()
h.pwrite(b'a' * 512, 0, nbd.CMD_FLAG_FUA)
h.pwrite(b'b' * 512, 512)
"
kill $fg_pid
_wait_gone $fg_pid
grep -q 'memdisk: FUA write of 512 bytes at 0' "$tmpdir/fua.log" ||
  { cat "$tmpdir/fua.log"; fail "FUA write not seen by the plugin"; }
if grep -q 'FUA write of 512 bytes at 512' "$tmpdir/fua.log"; then
  cat "$tmpdir/fua.log"; fail "FUA flag on a write that did not have it"
fi

echo "$0: OK"
