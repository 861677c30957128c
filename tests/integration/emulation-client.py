#!/usr/bin/python3
# emulation-client.py URI SCENARIO LOG API
#
# Sends the requests of SCENARIO to a server running the test plugin
# (with the configuration the shell test chose for SCENARIO), then
# reads the plugin's call LOG and checks which data callbacks the
# server made for them.  API is the plugin's API version (1 or 2).
# Prints "FAIL: ..." lines and exits 1 on any difference.

import errno
import sys
import time

import nbd

uri, scenario, logfile, api = sys.argv[1], sys.argv[2], sys.argv[3], \
    int(sys.argv[4])
problems = []


def expect(what, cond):
    if not cond:
        problems.append(what)


def errname(fn):
    try:
        fn()
    except nbd.Error as e:
        return errno.errorcode.get(e.errnum, str(e.errnum))
    return "ok"


h = nbd.NBD()
h.add_meta_context(nbd.CONTEXT_BASE_ALLOCATION)
h.connect_uri(uri)
h.set_strict_mode(0)           # let flags the server did not offer through

extents = []


def extent_cb(ctx, off, entries, err):
    extents.append(list(entries))
    return 0


# --- the requests ---
if scenario.startswith("fua-"):
    h.pwrite(b"x" * 4096, 0)
    h.flush()
    mark = len(open(logfile).readlines())
    if scenario == "fua-none":
        expect("can_fua is false", not h.can_fua())
        expect("pwrite with FUA fails with EINVAL",
               errname(lambda: h.pwrite(b"y" * 4096, 0, nbd.CMD_FLAG_FUA))
               == "EINVAL")
    else:
        expect("can_fua is true", h.can_fua())
        h.pwrite(b"y" * 4096, 0, nbd.CMD_FLAG_FUA)
        h.zero(4096, 8192, nbd.CMD_FLAG_FUA)
        h.trim(4096, 16384, nbd.CMD_FLAG_FUA)
    expect("data written with FUA reads back",
           h.pread(4096, 0) == (b"x" if scenario == "fua-none" else b"y")
           * 4096)

elif scenario.startswith("zero-"):
    h.pwrite(b"\xff" * 300000, 0)
    mark = len(open(logfile).readlines())
    expect("can_zero is true", h.can_zero())
    expect("zero succeeds", errname(lambda: h.zero(200000, 1000)) == "ok")
    fast = errname(lambda: h.zero(4096, 0, nbd.CMD_FLAG_FAST_ZERO))
    expect("fast zero fails with ENOTSUP (got %s)" % fast, fast == "ENOTSUP")
    data = h.pread(300000, 0)
    expect("zeroed range reads back as zeroes",
           data[1000:201000] == bytes(200000))
    expect("data around the zeroed range is intact",
           data[:1000] == b"\xff" * 1000 and
           data[201000:] == b"\xff" * 99000)

elif scenario.startswith("cache-"):
    mark = len(open(logfile).readlines())
    if scenario == "cache-none":
        expect("can_cache is false", not h.can_cache())
        expect("cache fails with EINVAL",
               errname(lambda: h.cache(65536, 0)) == "EINVAL")
    else:
        expect("can_cache is true", h.can_cache())
        expect("cache succeeds", errname(lambda: h.cache(65536, 0)) == "ok")

elif scenario == "extents-none":
    expect("base:allocation negotiated",
           h.can_meta_context(nbd.CONTEXT_BASE_ALLOCATION))
    h.pwrite(b"z" * 4096, 0)
    mark = len(open(logfile).readlines())
    h.block_status(65536, 0, extent_cb)
    h.block_status(65536, 4096, extent_cb, nbd.CMD_FLAG_REQ_ONE)
    expect("one data extent covers each request, got %r" % extents,
           extents == [[65536, 0], [65536, 0]])

elif scenario == "enotsup-fallback-fails":
    # .zero and the .pwrite the server falls back to both fail with
    # ENOTSUP: the request fails, the server and connection survive.
    mark = len(open(logfile).readlines())
    r = errname(lambda: h.zero(512, 65536))
    expect("zero fails (got %s)" % r, r not in ("ok", "ENOTCONN"))
    expect("connection still works", h.pread(512, 0) == bytes(512))

else:
    sys.exit("unknown scenario " + scenario)

h.shutdown()

# --- the log ---
for i in range(300):
    lines = open(logfile).read().splitlines()
    if "close" in lines[mark:]:
        break
    time.sleep(0.1)
end = lines.index("close", mark) if "close" in lines[mark:] else len(lines)
calls = [line for line in lines[mark:end] if "->" not in line]


def parse(line):
    """'pwrite count=4096 offset=0 flags=none' -> ('pwrite', 4096, 0, 'none')"""
    w = line.split()
    kv = dict(x.split("=", 1) for x in w[1:] if "=" in x)
    return (w[0], int(kv.get("count", 0)), int(kv.get("offset", 0)),
            kv.get("flags", ""))


def covered(calls, name, off, count):
    """The calls NAME (flags none) cover exactly [off, off+count)."""
    pos = off
    for c in calls:
        n, cnt, o, fl = parse(c)
        if n != name or fl != "none" or o != pos:
            return False
        pos += cnt
    return pos == off + count


def strip_reads(calls):
    """Drop the final read-back of the data (zero scenarios)."""
    while calls and calls[-1].startswith("pread "):
        calls = calls[:-1]
    return calls


if scenario == "fua-emulate" or (scenario == "fua-native" and api == 1):
    want = ["pwrite count=4096 offset=0 flags=none", "flush flags=none",
            "zero count=4096 offset=8192 flags=may_trim", "flush flags=none",
            "trim count=4096 offset=16384 flags=none", "flush flags=none"]
    expect("FUA emulated by flush: want %r, got %r" % (want, strip_reads(calls)),
           strip_reads(calls) == want)
elif scenario == "fua-native":
    want = ["pwrite count=4096 offset=0 flags=fua",
            "zero count=4096 offset=8192 flags=may_trim,fua",
            "trim count=4096 offset=16384 flags=fua"]
    expect("FUA passed to the plugin: want %r, got %r" % (want, strip_reads(calls)),
           strip_reads(calls) == want)
elif scenario == "fua-none":
    expect("no write reaches the plugin: got %r" % strip_reads(calls),
           strip_reads(calls) == [])
elif scenario == "zero-fallback":
    c = strip_reads(calls)
    head = ["zero count=200000 offset=1000 flags=may_trim",
            "zero failing errno=95"]
    expect("zero tried first: got %r" % c[:2], c[:2] == head)
    rest = c[2:]
    if api == 2:
        tail = ["zero count=4096 offset=0 flags=may_trim,fast_zero",
                "zero failing errno=95"]
        expect("fast zero is tried and not emulated: got %r" % rest[-2:],
               rest[-2:] == tail)
        rest = rest[:-2]
    expect("zero emulated with pwrite over exactly the range: got %r" % rest,
           covered(rest, "pwrite", 1000, 200000))
elif scenario == "zero-none":
    c = strip_reads(calls)
    expect("zero done by pwrite only, fast zero not attempted: got %r" % c,
           covered(c, "pwrite", 1000, 200000))
elif scenario == "cache-emulate":
    expect("cache emulated by reads over the range: got %r" % calls,
           covered(calls, "pread", 0, 65536))
elif scenario == "cache-native":
    want = ["cache count=65536 offset=0 flags=none"]
    expect("cache passed to the plugin: want %r, got %r" % (want, calls),
           calls == want)
elif scenario == "cache-none":
    expect("cache does not reach the plugin: got %r" % calls, calls == [])
elif scenario == "extents-none":
    expect("extents callback not called: got %r" % calls, calls == [])

for p in problems:
    print("FAIL: %s: %s" % (scenario, p))
sys.exit(1 if problems else 0)
