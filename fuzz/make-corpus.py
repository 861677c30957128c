#!/usr/bin/python3
# Write the hand-made seeds for fuzz-server: client byte streams for
# typical and hostile sessions (written here from the NBD protocol
# spec), each behind the harness's 4-byte configuration header (see the
# top of fuzz-server.c).  Run from fuzz/:
#   ./make-corpus.py corpus
# The seeds are named seed-*; the other files in fuzz/corpus are inputs
# the fuzzer found that reach code the seeds do not (fuzz/README.md).
import os, struct, sys

IHAVEOPT = 0x49484156454F5054
REQ_MAGIC = 0x25609513

# Option, command and flag codes.
EXPORT_NAME, ABORT, LIST, PEEK, STARTTLS, INFO, GO, SR, LIST_META, \
    SET_META, EXT_HDRS = range(1, 12)
READ, WRITE, DISC, FLUSH, TRIM, CACHE, ZERO, BLOCK_STATUS = range(8)
FUA, NO_HOLE, DF, REQ_ONE, FAST_ZERO = 1, 2, 4, 8, 16

def header(server=0, plugin=0, plugin2=0, faults=0):
    return bytes([server, plugin, plugin2, faults])

def opt(option, data=b""):
    return struct.pack(">QII", IHAVEOPT, option, len(data)) + data

def go(name=b"", infos=(1, 2, 3), option=GO):
    return opt(option, struct.pack(">I", len(name)) + name +
               struct.pack(">H", len(infos)) +
               b"".join(struct.pack(">H", i) for i in infos))

def meta(option, name=b"", queries=(b"base:allocation",)):
    return opt(option, struct.pack(">I", len(name)) + name +
               struct.pack(">I", len(queries)) +
               b"".join(struct.pack(">I", len(q)) + q for q in queries))

def req(cmd, offset=0, count=0, flags=0, cookie=1, payload=b""):
    return struct.pack(">IHHQQI", REQ_MAGIC, flags, cmd, cookie,
                       offset, count) + payload

CFLAGS = struct.pack(">I", 3)
SR_GO = CFLAGS + opt(SR) + meta(SET_META) + go()
transmission = (req(WRITE, 4096, 512, FUA, 2, b"\xaa" * 512) +
                req(READ, 4096, 512) + req(TRIM, 0, 65536) +
                req(ZERO, 8192, 4096, NO_HOLE) +
                req(ZERO, 8192, 4096, FAST_ZERO) + req(CACHE, 0, 4096) +
                req(FLUSH) + req(BLOCK_STATUS, 0, 1 << 20) +
                req(BLOCK_STATUS, 0, 4096, REQ_ONE) +
                req(READ, 0, 0, DF) + req(DISC))

seeds = {
    # The plain configuration.
    "go-full": header() + SR_GO + transmission,
    "go-simple": header() + CFLAGS + go(b"", ()) + transmission,
    "export-name": header() + CFLAGS + opt(EXPORT_NAME, b"") + transmission,
    "export-name-nozeroes": header() + struct.pack(">I", 1) +
        opt(EXPORT_NAME, b"x") + req(READ, 0, 512),
    "list-info": header() + CFLAGS + opt(LIST) + meta(LIST_META, b"", ()) +
        meta(LIST_META, b"", (b"base:",)) +
        go(b"second", (1, 2, 3), INFO) + opt(ABORT),
    "unknown-options": header() + CFLAGS + opt(99, b"junk") +
        opt(STARTTLS) + opt(EXT_HDRS) + opt(PEEK) + opt(SR, b"x") +
        opt(LIST, b"x") + meta(SET_META) + opt(ABORT),
    "bad-requests": header() + CFLAGS + opt(SR) + go() +
        req(READ, 1 << 40, 512) + req(WRITE, 1 << 20, 512, 0, 3, b"\0" * 512) +
        req(9) + req(READ, 0, 512, 0x80) + req(FLUSH, 1, 1) +
        req(BLOCK_STATUS, 0, 512) + req(READ, 0, (1 << 26) + 1) +
        struct.pack(">IHHQQI", 0xdeadbeef, 0, 0, 0, 0, 0),
    "cut-write": header() + CFLAGS + go(b"", ()) +
        req(WRITE, 0, 65536, 0, 7, b"\1" * 100),
    "partial-header": header() + SR_GO + req(READ, 0, 512) * 8 +
        req(READ, 0, 512)[:13],
    # Server configurations.
    "oldstyle": header(server=0x01) + transmission,
    "readonly-workers": header(server=0x02 | 0x20) + SR_GO + transmission * 2,
    "no-sr-verbose": header(server=0x04 | 0x80 | 0x40) + CFLAGS + opt(SR) +
        meta(SET_META) + meta(LIST_META) + go() + transmission,
    "not-fixed-newstyle": header(server=0x18) + struct.pack(">I", 0) +
        opt(LIST) + opt(EXPORT_NAME, b"") + transmission,
    "bad-cflags": header(server=0x10) + CFLAGS + opt(LIST),
    # Plugin shapes.
    "huge-block-status": header(plugin=0x03, plugin2=0x02) + SR_GO +
        req(BLOCK_STATUS, 0, 0xfffffe00) +
        req(BLOCK_STATUS, 0, 0xfffffe00, REQ_ONE) +
        req(BLOCK_STATUS, 5 << 30, 0xffffffff) + req(CACHE, 0, 0xffffffff) +
        req(ZERO, 0, 0xffffffff),
    "junk-extents": header(plugin2=0x03) + SR_GO +
        req(BLOCK_STATUS, 100, 100000) +
        req(BLOCK_STATUS, 4000, 200, REQ_ONE),
    "v1-emulated": header(plugin=0x08 | 0x10 | 0x40 | 0x80, plugin2=0x80 | 0x04) +
        SR_GO + transmission + req(ZERO, 0, 1 << 20, FUA | FAST_ZERO),
    "unaligned-size": header(plugin=0x02 | 0x0c | 0x20,
                             plugin2=0x08 | 0x10 | 0x20 | 0x40) +
        SR_GO + transmission +
        req(READ, (1 << 20) - 1000 - 512, 1024),
    "empty-export": header(plugin=0x01) + SR_GO + transmission,
    # Faults.
    "failing-data": header(faults=0x08 | 0x03) + SR_GO +
        b"".join(req(c, 512, 512, 0, c, b"\0" * 512 if c == WRITE else b"")
                 for c in (READ, WRITE, TRIM, CACHE, ZERO, BLOCK_STATUS)) +
        req(FLUSH) + req(FLUSH) + req(READ, 512, 512, DF),
    "bad-extents": header(faults=0x10) + SR_GO +
        b"".join(req(BLOCK_STATUS, 1024 + (k << 11), 4096) for k in range(4)),
    "handshake-faults": header(server=0x80, plugin2=0x40, faults=0x60) +
        CFLAGS + opt(LIST) + go(b"", (1, 2, 3), INFO) + go(b"", (2,)),
    "preconnect-fails": header(faults=0x20) + SR_GO,
    # Each step of opening an export fails in turn (the name picks it).
    "open-fails": header(faults=0x40) + CFLAGS + opt(SR) +
        b"".join(go(bytes([0x40 + k]), (1, 2, 3), INFO) for k in range(16)) +
        go(b"", (), INFO) + opt(EXPORT_NAME, b"A"),
    "invalid-block-sizes": header(faults=0x60) + CFLAGS +
        b"".join(go(n, (3,), INFO) for n in (b"a", b"b", b"c", b"d")) +
        go(b"e", (1, 2, 3)) + req(READ, 0, 512),
    "meta-other-export": header() + CFLAGS + opt(SR) +
        meta(SET_META, b"second") + meta(SET_META, b"second", (b"x", b"base:allocation", b"base:allocation")) +
        go(b"", ()) + req(BLOCK_STATUS, 0, 512),
    "soft-disconnect": header(faults=0x80) + SR_GO +
        req(READ, 1 << 11, 512) + req(READ, 0, 512) + req(WRITE, 0, 1, 0, 2, b"x"),
    "force-disconnect": header(server=0x20, faults=0x80) + SR_GO +
        req(WRITE, (1 << 11) | (1 << 13), 1, 0, 1, b"x") + req(READ, 0, 512) * 4,
    "shutdown": header(faults=0x80) + SR_GO +
        req(READ, (1 << 11) | (1 << 12), 512) + req(READ, 0, 512) * 4,
}

outdir = sys.argv[1] if len(sys.argv) > 1 else "corpus"
os.makedirs(outdir, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(outdir, "seed-" + name), "wb") as f:
        f.write(data)
