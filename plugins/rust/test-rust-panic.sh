#!/usr/bin/env bash
# A panic inside a safe-API callback becomes an error reply (EIO) and a
# log line; the connection and the server keep working.  The memdisk
# example panics on request: in reads covering panic-offset and when the
# export named panic-export is opened.

. "$SRCDIR/tests/functions.sh"

so="$BUILDDIR/plugins/rust/libmemdisk.so"
requires_file "$so"
requires nbdsh --version

# A foreground server, so that its log can be checked.
sock="$tmpdir/sock"
log="$tmpdir/log"
"$NBDKIT" -f -U "$sock" "$so" 1M panic-offset=4096 panic-export=boom > "$log" 2>&1 &
pid=$!
cleanup_fn "kill $pid 2>/dev/null; _wait_gone $pid"
for (( i = 0; i < 300; i++ )); do
  [ -S "$sock" ] && break
  sleep 0.1
done
[ -S "$sock" ] || fail "nbdkit did not start"
uri="nbd+unix:///?socket=$sock"

nbdsh -u "$uri" -c "
import errno
h.pwrite(b'before' * 100, 0)
try:
    h.pread(512, 4000)
    raise AssertionError('the read should have failed')
except nbd.Error as e:
    # libnbd gives the symbolic name (older versions the number).
    assert e.errno in ('EIO', errno.EIO), e
# Same connection, next request.
assert h.pread(600, 0) == b'before' * 100
h.pwrite(b'after', 8192)
"

# A new connection works, and the writes are there.
nbdsh -u "$uri" -c "
assert h.pread(5, 8192) == b'after'
assert h.pread(6, 0) == b'before'
"

# A panic in open: the client cannot connect to that export, but can
# connect to the default one.
if nbdsh -u "nbd+unix:///boom?socket=$sock" -c 'h.pread(1, 0)' 2>"$tmpdir/err"; then
  fail "opening the panicking export should have failed"
fi
nbdsh -u "$uri" -c "assert h.pread(5, 8192) == b'after'"

kill -0 $pid || fail "the server died"
kill $pid
_wait_gone $pid

cat "$log"
grep -q 'error: pread: panic: memdisk: deliberate panic reading offset 4096' "$log" ||
  fail "no log line for the panic in pread"
grep -q "error: open: panic: memdisk: deliberate panic opening export 'boom'" "$log" ||
  fail "no log line for the panic in open"

echo "$0: OK"
