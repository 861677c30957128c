#!/usr/bin/env bash
# memory plugin: data integrity under parallel load.  Four clients
# hammer the same few leaf tables at once, each owning every fourth
# page, with a random mix of whole and partial page writes, zeroes
# (with and without NO_HOLE), trims and reads; meanwhile another client
# keeps reading the whole disk.  Each client checks what it reads
# against its own model of its pages.  This does not depend on timing:
# any interleaving must give the same per-page result.
source "$SRCDIR/tests/functions.sh"

plugin="$BUILDDIR/plugins/memory/nbdkit-memory-plugin.so"
[ -f "$plugin" ] || fail "$plugin has not been built"
requires nbdsh --version
requires nbdcopy --version

start_nbdkit "$plugin" 8M

cat > "$tmpdir/worker.py" <<'PY'
import random
P = 4096
W = int(worker)
NW = 4
rng = random.Random(W)
npages = h.get_size() // P
mine = [p for p in range(npages) if p % NW == W]
model = {p: bytearray(P) for p in mine}

for i in range(4000):
    p = rng.choice(mine)
    start = rng.choice([0, 0, rng.randrange(P)])
    end = rng.choice([P, P, rng.randrange(start, P) + 1])
    n = end - start
    off = p * P + start
    op = rng.random()
    if op < 0.4:
        data = rng.randbytes(n)
        h.pwrite(data, off)
        model[p][start:end] = data
    elif op < 0.5:
        h.zero(n, off)
        model[p][start:end] = bytes(n)
    elif op < 0.6:
        h.zero(n, off, nbd.CMD_FLAG_NO_HOLE)
        model[p][start:end] = bytes(n)
    elif op < 0.7:
        h.trim(n, off)          # our plugin zeroes what it trims
        model[p][start:end] = bytes(n)
    else:
        got = h.pread(n, off)
        assert got == model[p][start:end], ("worker", W, "page", p)

for p in mine:
    assert h.pread(P, p * P) == model[p], ("worker", W, "final page", p)
PY

pids=()
for w in 0 1 2 3; do
  nbdsh -u "$uri" -c "worker = $w" -c "exec(open('$tmpdir/worker.py').read())" &
  pids+=($!)
done
# A reader that keeps scanning the whole disk (and its extents).
(
  while kill -0 "${pids[0]}" 2>/dev/null; do
    nbdcopy --connections=2 "$uri" - > /dev/null
    nbdinfo --map "$uri" > /dev/null
  done
) &
reader=$!

status=0
for p in "${pids[@]}"; do
  wait "$p" || status=1
done
wait "$reader" || status=1
[ "$status" = 0 ] || fail "a parallel client failed"

# The server is still healthy.
nbdsh -u "$uri" -c "h.pwrite(b'ok', 0); assert h.pread(2, 0) == b'ok'"
