# Shared by test-file-zero.sh and test-file-blockdev.sh: run inside
# nbdsh with 'h' connected to a file plugin export of at least 4 MiB.
# Checks that every way of zeroing leaves the right data, by keeping a
# model of the disk.  'strict_fast_zero' says whether fast zeroes must
# succeed (regular files); if False (block devices) they may instead
# fail with ENOTSUP, leaving the data alone.
import os

K = 1024
M = K * K
model = bytearray(h.pread(4 * M, 0))


def write(off, n):
    data = os.urandom(n)
    h.pwrite(data, off)
    model[off:off + n] = data


def zero(off, n, flags=0):
    h.zero(n, off, flags)
    model[off:off + n] = bytes(n)


def check(what):
    assert h.pread(4 * M, 0) == model, what


write(0, 4 * M)
check("write")
zero(256 * K, 256 * K)
check("aligned zero")
zero(512 * K, 256 * K, nbd.CMD_FLAG_NO_HOLE)
check("aligned zero, no hole")
zero(M - 500, 1000)
check("unaligned zero")
zero(M + 4000, 70000, nbd.CMD_FLAG_NO_HOLE | nbd.CMD_FLAG_FUA)
check("unaligned zero, no hole, FUA")


def fast_zero(off, n, flags):
    try:
        zero(off, n, nbd.CMD_FLAG_FAST_ZERO | flags)
    except nbd.Error as e:
        assert not strict_fast_zero, e
        assert e.errnum == errno.ENOTSUP, e


fast_zero(2 * M, 64 * K, 0)
check("fast zero")
fast_zero(3 * M, 64 * K, nbd.CMD_FLAG_NO_HOLE)
check("fast zero, no hole")
h.trim(64 * K, 3 * M + 64 * K)
model[3 * M + 64 * K:3 * M + 128 * K] = bytes(64 * K)
check("trim")
h.flush()
