#!/usr/bin/env bash
# nbdinfo against our server: --json, --size, --is, --can, --list and
# --map (text and JSON), over a Unix socket, over TCP and with socket
# activation (nbdinfo -- [ nbdkit ... ]).

. "$SRCDIR/tests/functions.sh"
. "$SRCDIR/tests/integration/itest-lib.sh"

requires nbdinfo --version
requires_nbd_python

plugin="$(itest_plugin test-plugin-ours-v2)"

# --- memory plugin, 1G ---
start_nbdkit memory 1G
mem_uri="$uri"

nbdinfo --json "$uri" >"$tmpdir/mem.json"
python3 - "$tmpdir/mem.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["protocol"] == "newstyle-fixed", d["protocol"]
assert d["structured"] is True
assert len(d["exports"]) == 1
e = d["exports"][0]
assert e["export-name"] == "", e
assert e["export-size"] == 1 << 30, e
assert "base:allocation" in e["contexts"], e
for k in ["can_trim", "can_zero", "can_flush", "can_fua", "can_df",
          "can_multi_conn"]:
    assert e[k] is True, (k, e)
assert e["is_read_only"] is False, e
assert e["is_rotational"] is False, e
EOF

assert_eq "nbdinfo --size" 1073741824 "$(nbdinfo --size "$uri")"
nbdinfo --can write "$uri" || fail "nbdinfo --can write: memory is writable"
nbdinfo --can trim "$uri" || fail "nbdinfo --can trim"
nbdinfo --can zero "$uri" || fail "nbdinfo --can zero"
nbdinfo --can flush "$uri" || fail "nbdinfo --can flush"
nbdinfo --can multi-conn "$uri" || fail "nbdinfo --can multi-conn"
if nbdinfo --is read-only "$uri"; then fail "nbdinfo --is read-only"; fi
if nbdinfo --is rotational "$uri"; then fail "nbdinfo --is rotational"; fi

# --list on a plugin without an export list: the default export.
nbdinfo --list --json "$uri" >"$tmpdir/list.json"
python3 - "$tmpdir/list.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
names = [e["export-name"] for e in d["exports"]]
assert names == [""], names
EOF

# --map: written 1M blocks are data, the rest reads as holes.
python3 - "$uri" <<'EOF'
import sys, nbd
h = nbd.NBD()
h.connect_uri(sys.argv[1])
h.pwrite(b"\x01" * (1 << 20), 0)
h.pwrite(b"\x02" * (1 << 20), 5 << 20)
h.shutdown()
EOF
nbdinfo --map --json "$uri" >"$tmpdir/map.json"
python3 - "$tmpdir/map.json" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))
def state(off):
    for e in m:
        if e["offset"] <= off < e["offset"] + e["length"]:
            return e["type"]
    raise Exception("offset %d not in map %r" % (off, m))
total = sum(e["length"] for e in m)
assert total == 1 << 30, total
pos = 0
for e in m:
    assert e["offset"] == pos, m
    pos += e["length"]
for off in [0, (1 << 20) - 1, 5 << 20, (6 << 20) - 1]:
    assert state(off) == 0, (off, state(off))
for off in [3 << 20, 100 << 20, (1 << 30) - 1]:
    assert state(off) & 1, (off, state(off))
EOF
nbdinfo --map --totals "$uri" >"$tmpdir/totals"
grep -q 'data' "$tmpdir/totals" || fail "nbdinfo --map --totals: $(cat "$tmpdir/totals")"

# --- read-only export ---
start_nbdkit -r memory 1M
nbdinfo --is read-only "$uri" || fail "nbdinfo --is read-only with -r"
if nbdinfo --can write "$uri"; then fail "nbdinfo --can write with -r"; fi

# --- the test plugin: export list, description, exact map ---
start_nbdkit "$plugin" 64K exports=a,b,c default_export=b description=hello
nbdinfo --list "$uri" >"$tmpdir/list.txt"
for e in a b c; do
  grep -q "export=\"$e\"" "$tmpdir/list.txt" ||
    fail "nbdinfo --list lacks export $e: $(cat "$tmpdir/list.txt")"
  grep -q "description: export $e" "$tmpdir/list.txt" ||
    fail "nbdinfo --list lacks the description of $e"
done
nbdinfo --json "nbd+unix:///a?socket=$sock" >"$tmpdir/a.json"
grep -q '"export-name": "a"' "$tmpdir/a.json" ||
  fail "export a: $(cat "$tmpdir/a.json")"
grep -q '"description": "hello"' "$tmpdir/a.json" ||
  fail "export description: $(cat "$tmpdir/a.json")"

python3 - "$uri" <<'EOF'
import sys, nbd
h = nbd.NBD()
h.connect_uri(sys.argv[1])
h.pwrite(b"\x01" * 4096, 0)
h.pwrite(b"\x02" * 4096, 8192)
h.shutdown()
EOF
nbdinfo --map "$uri" >"$tmpdir/map.txt"
# Columns are: offset length type description.
awk '{ print $1, $2, $3 }' "$tmpdir/map.txt" >"$tmpdir/map.cols"
cat >"$tmpdir/map.expected" <<'EOF'
0 4096 0
4096 4096 3
8192 4096 0
12288 53248 3
EOF
diff -u "$tmpdir/map.expected" "$tmpdir/map.cols" ||
  fail "nbdinfo --map of the test plugin: $(cat "$tmpdir/map.txt")"

# --- TCP ---
start_nbdkit_tcp memory 2M
assert_eq "nbdinfo --size over TCP" 2097152 "$(nbdinfo --size "$uri")"
nbdinfo --json "$uri" | grep -q '"export-size": 2097152' ||
  fail "nbdinfo --json over TCP"

# --- socket activation ---
assert_eq "nbdinfo --size with socket activation" 3145728 \
          "$(nbdinfo --size -- [ "$NBDKIT" memory 3M ])"

# The first server was not disturbed by all this.
assert_eq "first server still serves" 1073741824 "$(nbdinfo --size "$mem_uri")"
stop_all_servers
echo OK
