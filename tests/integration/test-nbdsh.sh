#!/usr/bin/env bash
# nbdsh scripts against our server (memory plugin): synchronous and
# asynchronous requests with many in flight, structured reads, block
# status, zero/trim/cache/flush with flags, option negotiation (opt
# mode: LIST, INFO, GO, LIST_META_CONTEXT), errors for bad requests,
# and nbdsh started by --run with $uri.

. "$SRCDIR/tests/functions.sh"
. "$SRCDIR/tests/integration/itest-lib.sh"

requires nbdsh --version

start_nbdkit memory 64M

# Synchronous requests.
nbdsh -u "$uri" -c '
import os
assert h.get_size() == 64 * 1024 * 1024
buf = os.urandom(1 << 20)
h.pwrite(buf, 3 << 20)
assert h.pread(1 << 20, 3 << 20) == buf
# Unaligned, crossing a megabyte boundary.
small = os.urandom(1001)
h.pwrite(small, (4 << 20) - 500)
assert h.pread(1001, (4 << 20) - 500) == small
h.pwrite(b"F" * 4096, 0, nbd.CMD_FLAG_FUA)
assert h.pread(4096, 0) == b"F" * 4096
h.zero(65536, 3 << 20)
assert h.pread(65536, 3 << 20) == bytes(65536)
assert h.pread(4096, (3 << 20) + 65536) == buf[65536:65536 + 4096]
h.zero(4096, 3 << 20, nbd.CMD_FLAG_NO_HOLE | nbd.CMD_FLAG_FUA)
h.trim(65536, (3 << 20) + 65536)
assert h.pread(65536, (3 << 20) + 65536) == bytes(65536)
h.cache(1 << 20, 0)
h.flush()
'

# Asynchronous requests: 64 writes in flight, then 64 reads, checked.
nbdsh -u "$uri" -c '
import os
blocks = {i: os.urandom(65536) for i in range(64)}
cookies = [h.aio_pwrite(nbd.Buffer.from_bytearray(bytearray(b)),
                        (8 << 20) + i * 65536)
           for i, b in blocks.items()]
while h.aio_in_flight() > 0:
    h.poll(-1)
for c in cookies:
    assert h.aio_command_completed(c), c
h.aio_flush()
while h.aio_in_flight() > 0:
    h.poll(-1)
bufs = {i: nbd.Buffer(65536) for i in blocks}
cookies = {h.aio_pread(bufs[i], (8 << 20) + i * 65536): i for i in blocks}
while h.aio_in_flight() > 0:
    h.poll(-1)
for c, i in cookies.items():
    assert h.aio_command_completed(c)
    assert bufs[i].to_bytearray() == blocks[i], i
'

# Structured reads and block status.
nbdsh --base-allocation -u "$uri" -c '
assert h.can_meta_context(nbd.CONTEXT_BASE_ALLOCATION)
h.pwrite(b"S" * 65536, 16 << 20)
seen = []
def chunk(buf, offset, status, err):
    seen.append((offset, len(buf), status))
    return 0
data = h.pread_structured(65536, 16 << 20, chunk)
assert data == b"S" * 65536
covered = sum(n for (o, n, s) in seen)
assert covered == 65536, seen
extents = []
h.block_status(1 << 20, 16 << 20,
               lambda ctx, off, e, err: extents.extend(e))
assert extents[1] & 1 == 0, extents       # data where we wrote
total = sum(extents[0::2])
assert total >= 65536, extents
one = []
h.block_status(1 << 20, 16 << 20,
               lambda ctx, off, e, err: one.extend(e), nbd.CMD_FLAG_REQ_ONE)
assert len(one) == 2, one
'

# Option negotiation.
nbdsh --opt-mode -u "$uri" -c '
names = []
h.opt_list(lambda n, d: names.append(n))
assert names == [""], names
ctxs = []
h.opt_list_meta_context(lambda c: ctxs.append(c))
assert "base:allocation" in ctxs, ctxs
h.set_full_info(True)
h.opt_info()
assert h.get_size() == 64 * 1024 * 1024
h.opt_go()
assert h.pread(4096, 0) == b"F" * 4096
'

# Errors: the server refuses bad requests and the connection survives.
nbdsh -u "$uri" -c '
h.set_strict_mode(0)
size = h.get_size()
def err(fn):
    try:
        fn()
    except nbd.Error as e:
        return e.errnum
    return 0
import errno
assert err(lambda: h.pread(4096, size - 1024)) == errno.EINVAL
assert err(lambda: h.pwrite(b"x" * 4096, size - 1024)) == errno.ENOSPC
assert err(lambda: h.zero(4096, size)) == errno.ENOSPC
assert err(lambda: h.trim(4096, size + 4096)) in (errno.EINVAL, errno.ENOSPC)
assert h.pread(4096, 0) == b"F" * 4096
'

# Writes on a read-only server fail with EPERM.
start_nbdkit -r memory 1M
nbdsh -u "$uri" -c '
import errno
assert h.is_read_only()
h.set_strict_mode(0)
try:
    h.pwrite(b"x" * 512, 0)
    assert False, "write succeeded"
except nbd.Error as e:
    assert e.errnum == errno.EPERM, e
assert h.pread(512, 0) == bytes(512)
'

# nbdsh run by --run, with $uri and $nbd set.
"$NBDKIT" -U - memory 1M \
  --run 'nbdsh -u "$uri" -c "assert h.get_size() == 1048576" &&
         test "$nbd" = "$uri"' ||
  fail "nbdsh under --run"

stop_all_servers
echo OK
