#!/usr/bin/env bash
# -o / --oldstyle / --old-style, and -n / --newstyle (the default).
. "$SRCDIR/tests/functions.sh"
. "$SRCDIR/tests/cli/cli-lib.sh"
requires nbdinfo --version
requires nbdsh --version
mem="$(plugin memory)"
export PYTHONPATH="$SRCDIR/tests/protocol"

for opt in -o --oldstyle --old-style; do
  "$NBDKIT" -U - $opt "$mem" size=1M --run 'nbdinfo --json "$uri"' > "$tmpdir/json" ||
    fail "$opt: nbdinfo failed"
  grep -Eq '"protocol": *"oldstyle"' "$tmpdir/json" || { cat "$tmpdir/json"; fail "$opt: not oldstyle"; }
  grep -Eq '"export-size": *1048576' "$tmpdir/json" || fail "$opt: size"
done

# Data goes through an oldstyle connection.
"$NBDKIT" -U - -o "$mem" size=1M --run 'nbdsh -u "$uri" -c "
h.pwrite(b\"old\" * 1000, 4096)
assert h.pread(3000, 4096) == b\"old\" * 1000
"' || fail "-o: write/read back"

# The raw oldstyle greeting: NBDMAGIC, 0x00420281861253, u64 size,
# u16 global flags (0), u16 transmission flags (HAS_FLAGS set), 124 zeroes.
"$NBDKIT" -U - -o "$mem" size=1M --run '/usr/bin/python3 -c "
import socket, struct, sys, nbdraw as R
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
c = R.Conn(s)
buf = c.recv_exact(152)
magic, magic2, size, gflags, eflags = struct.unpack(\">QQQHH\", buf[:28])
assert magic == R.NBDMAGIC, hex(magic)
assert magic2 == R.OLDSTYLE_MAGIC, hex(magic2)
assert size == 1048576, size
assert gflags == 0, gflags
assert eflags & R.EFLAG_HAS_FLAGS, eflags
assert not eflags & R.EFLAG_READ_ONLY
assert buf[28:] == bytes(124)
# Transmission starts at once: a read works.
assert c.read(0, 512) == bytes(512)
c.disconnect()
" "$unixsocket"' || fail "-o: raw greeting layout"

# -o with -r: READ_ONLY flag in the greeting.
"$NBDKIT" -U - -o -r "$mem" size=1M --run 'nbdinfo --json "$uri"' > "$tmpdir/json"
grep -Eq '"is_read_only": *true' "$tmpdir/json" || fail "-o -r: not read-only"

# -n / --newstyle select the default, fixed newstyle.
for opt in "" -n --newstyle --new-style; do
  "$NBDKIT" -U - $opt "$mem" size=1M --run 'nbdinfo --json "$uri"' > "$tmpdir/json" ||
    fail "'$opt': nbdinfo failed"
  grep -Eq '"protocol": *"newstyle-fixed"' "$tmpdir/json" ||
    { cat "$tmpdir/json"; fail "'$opt': not fixed newstyle"; }
done
