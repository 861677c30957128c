#!/usr/bin/python3
# Write the seed corpus for fuzz-server: client byte streams for typical
# sessions (written here from the NBD protocol spec).  Run from fuzz/:
#   ./make-corpus.py corpus
import os, struct, sys

IHAVEOPT = 0x49484156454F5054
REQ_MAGIC = 0x25609513

def opt(option, data=b""):
    return struct.pack(">QII", IHAVEOPT, option, len(data)) + data

def go(name=b"", infos=(1, 2, 3), option=7):
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
transmission = (req(1, 4096, 512, 1, 2, b"\xaa" * 512) + req(0, 4096, 512) +
                req(4, 0, 65536) + req(6, 8192, 4096, 2) +
                req(6, 8192, 4096, 16) + req(5, 0, 4096) + req(3) +
                req(7, 0, 1 << 20, 0) + req(7, 0, 4096, 8) +
                req(0, 0, 0, 4) + req(2))

seeds = {
    "go-full": CFLAGS + opt(8) + meta(10) + go() + transmission,
    "go-simple": CFLAGS + go(b"", ()) + transmission,
    "export-name": CFLAGS + opt(1, b"") + transmission,
    "export-name-nozeroes": struct.pack(">I", 1) + opt(1, b"x") + req(0, 0, 512),
    "list-info": CFLAGS + opt(3) + meta(9, b"", ()) + meta(9, b"", (b"base:",)) +
                 go(b"second", (1, 2, 3), 6) + opt(2),
    "unknown-options": CFLAGS + opt(99, b"junk") + opt(5) + opt(11) + opt(8, b"x") + opt(2),
    "bad-requests": CFLAGS + opt(8) + go() +
                    req(0, 1 << 40, 512) + req(1, 1 << 20, 512, 0, 3, b"\0" * 512) +
                    req(9) + req(0, 0, 512, 0x80) + req(3, 1, 1) +
                    struct.pack(">IHHQQI", 0xdeadbeef, 0, 0, 0, 0, 0),
    "cut-write": CFLAGS + go(b"", ()) + req(1, 0, 65536, 0, 7, b"\1" * 100),
}

outdir = sys.argv[1] if len(sys.argv) > 1 else "corpus"
os.makedirs(outdir, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(outdir, name), "wb") as f:
        f.write(data)
