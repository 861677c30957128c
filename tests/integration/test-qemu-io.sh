#!/usr/bin/env bash
# qemu-io against our server (memory plugin): write/read with -P
# pattern verification, write -z (and -z -u), write -f (FUA), discard,
# aio_write + aio_flush, writev/readv; the data is checked again from
# later connections (qemu-io and nbdsh).  A negative control makes
# sure a wrong pattern is noticed.

. "$SRCDIR/tests/functions.sh"
. "$SRCDIR/tests/integration/itest-lib.sh"

requires qemu-io --version
requires nbdsh --version

qio ()
{
  qemu-io -f raw "$@" "$uri" >"$tmpdir/qio.out" 2>&1 || {
    cat "$tmpdir/qio.out" >&2
    fail "qemu-io $*"
  }
  if grep -q "verification failed\|error\|failed" "$tmpdir/qio.out"; then
    cat "$tmpdir/qio.out" >&2
    fail "qemu-io reported a failure: $*"
  fi
}

start_nbdkit memory 64M

qio -c 'write -P 0xab 0 1M' \
    -c 'read -P 0xab 0 1M' \
    -c 'write -P 0xcd 1M 1M' \
    -c 'write -z 1536k 64k' \
    -c 'write -f -P 0x11 2M 4k' \
    -c 'write -P 0x44 3M 256k' \
    -c 'discard 3M 128k' \
    -c 'write -z -u 4M 1M' \
    -c 'aio_write -P 0x22 5M 64k' \
    -c 'aio_write -P 0x23 6M 64k' \
    -c 'aio_flush' \
    -c 'writev -P 0x33 7M 4k 8k 512' \
    -c 'readv -P 0x33 7M 4k 8k 512' \
    -c 'flush'

# A later connection sees the same data.
qio -c 'read -P 0xab 0 1M' \
    -c 'read -P 0xcd 1M 512k' \
    -c 'read -P 0 1536k 64k' \
    -c 'read -P 0xcd 1600k 448k' \
    -c 'read -P 0x11 2M 4k' \
    -c 'read -P 0 3M 128k' \
    -c 'read -P 0x44 3200k 128k' \
    -c 'read -P 0 4M 1M' \
    -c 'read -P 0x22 5M 64k' \
    -c 'read -P 0x23 6M 64k' \
    -c 'read -P 0x33 7M 12800'

nbdsh -u "$uri" -c '
assert h.pread(1 << 20, 0) == b"\xab" * (1 << 20)
assert h.pread(65536, 1536 * 1024) == bytes(65536)
assert h.pread(131072, 3 << 20) == bytes(131072)
assert h.pread(4096, 2 << 20) == b"\x11" * 4096
'

# Negative control: a wrong pattern must be reported.
if qemu-io -f raw -c 'read -P 0xac 0 64k' "$uri" >"$tmpdir/neg" 2>&1 &&
   ! grep -q "verification failed" "$tmpdir/neg"; then
  fail "qemu-io did not notice a wrong pattern: $(cat "$tmpdir/neg")"
fi
grep -q "Pattern verification failed" "$tmpdir/neg" ||
  fail "negative control: $(cat "$tmpdir/neg")"

# Reads and writes past the end are refused by qemu-io or the server,
# and the server keeps working.
qemu-io -f raw -c 'read 64M 4k' "$uri" >/dev/null 2>&1 || :
qio -c 'read -P 0xab 0 4k'

stop_all_servers
echo OK
