#!/usr/bin/python3
"""compare.py: queue depth 1 and 32, and single-stream copies, for
several servers in one run, with long measurements.

    bench/compare.py [--server NAME=PATH[::ARGS] ...] [--ratio A/B ...]
                     [--pin none,split,same]
                     [--runtime 4] [--ramp 1] [--reps 3] [--quick]
                     [--workloads fio,copy] [--results FILE]

The first --server is the baseline every ratio is against (default:
debian=/usr/bin/nbdkit, then ours=$BUILDDIR/nbdkit).  ARGS, split on
spaces, are more server arguments: those starting with "-" go before
the plugin, KEY=VALUE after it, so a server can stack filters:
    --server 'ours+3=build/nbdkit::--filter=offset offset=0'
--ratio A/B adds a column with the ratio of server A to server B.  Each measurement
runs for every server back to back (the order rotates between
repetitions), with the same plugin .so loaded into each: bench/ramdisk-c.c
(compiled here) and Debian's memory plugin.  For every row the table
gives the median over the repetitions of each server's rate and of its
CPU per request (or per GiB), and the median of the per-repetition
ratios to the baseline.

fio: 4 KiB randread and randwrite at iodepth 1 and 32, one job, RUNTIME
seconds after RAMP seconds of ramp (fio --ramp_time).  The server's CPU
time (user + system, from /proc) is read after the ramp and at the end,
so it covers the measured part.

copy: nbdcopy --no-extents, 4 GiB from a filled memory disk to null:,
and 2 GiB from a file in /dev/shm into the memory disk (after one untimed
copy that allocates), each with one connection and one request in flight
and with nbdcopy's defaults.  Wall-clock rate; server CPU per GiB.

Placements: none (the scheduler decides), split (server on CPU 0,
client on CPU 1: every request crosses CPUs), same (both on CPU 0).  On
a small VM these change queue-depth-1 latency several times over; the
table shows each.

A benchmark, not a test: it never fails because of the numbers.
"""

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEB_PLUGINS = "/usr/lib/x86_64-linux-gnu/nbdkit/plugins"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


class Server:
    def __init__(self, name, path, tmpdir, pin, plugin, params, extra=()):
        self.name = name
        self.sock = os.path.join(tmpdir, name + ".sock")
        pidfile = os.path.join(tmpdir, name + ".pid")
        for f in (self.sock, pidfile):
            if os.path.exists(f):
                os.unlink(f)
        opts = [x for x in extra if x.startswith("-")]
        keys = [x for x in extra if not x.startswith("-")]
        cmd = pin + [path, "-f", "-U", self.sock, "-P", pidfile] + opts + \
            [plugin] + params + keys
        self.log = open(os.path.join(tmpdir, name + ".log"), "wb")
        self.proc = subprocess.Popen(cmd, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        for _ in range(600):
            if os.path.exists(pidfile) and os.path.getsize(pidfile) > 0:
                break
            if self.proc.poll() is not None:
                sys.exit("%s did not start: %s" % (name, " ".join(cmd)))
            time.sleep(0.05)
        self.pid = self.proc.pid
        self.uri = "nbd+unix:///?socket=" + self.sock

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        sys.exit("failed: %s\n%s%s" % (" ".join(cmd), r.stdout, r.stderr))
    return r


def fio_measure(srv, cpin, rw, qd, size, runtime, ramp, tmpdir):
    out = os.path.join(tmpdir, "fio.json")
    cmd = cpin + ["fio", "--name=bench", "--ioengine=nbd", "--uri=" + srv.uri,
                  "--rw=" + rw, "--bs=4k", "--iodepth=%d" % qd,
                  "--numjobs=1", "--size=" + size, "--time_based",
                  "--runtime=%gs" % runtime, "--ramp_time=%gs" % ramp,
                  "--norandommap", "--randrepeat=0",
                  "--output-format=json", "--output=" + out]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    time.sleep(ramp + 0.05)
    c0 = cpu_seconds(srv.pid)
    t0 = time.monotonic()
    _, err = p.communicate()
    c1 = cpu_seconds(srv.pid)
    t1 = time.monotonic()
    if p.returncode != 0:
        sys.exit("fio failed: %s\n%s" % (" ".join(cmd), err))
    d = json.load(open(out))
    iops = sum(j[k]["iops"] for j in d["jobs"] for k in ("read", "write"))
    # CPU per request over the measured part: what the server spent
    # between the end of the ramp and fio's exit, per request at the
    # measured rate.
    cpu_us = (c1 - c0) / (iops * (t1 - t0)) * 1e6 if iops else 0
    return iops, cpu_us


def copy_measure(srv, cpin, src, dst, nbytes, opts):
    cmd = cpin + ["nbdcopy", "--no-extents"] + opts + [src, dst]
    c0 = cpu_seconds(srv.pid)
    t0 = time.monotonic()
    run(cmd)
    t1 = time.monotonic()
    c1 = cpu_seconds(srv.pid)
    gib = nbytes / (1 << 30)
    return nbytes / (1 << 20) / (t1 - t0), (c1 - c0) * 1000 / gib


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--server", action="append", default=[],
                    help="NAME=PATH (first one is the baseline)")
    ap.add_argument("--ratio", action="append", default=[],
                    help="A/B: also show server A's rate over B's")
    ap.add_argument("--pin", default="none,split,same")
    ap.add_argument("--runtime", type=float, default=4)
    ap.add_argument("--ramp", type=float, default=1)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--workloads", default="fio,copy")
    ap.add_argument("--plugins", default="ramdisk,memory",
                    help="for fio: ramdisk (bench/ramdisk-c.c), memory "
                    "(Debian's memory plugin .so)")
    ap.add_argument("--quick", action="store_true",
                    help="1 s runs, 0.5 s ramp, 1 GiB copies")
    ap.add_argument("--results", default=os.path.join(SRC, "bench",
                                                      "RESULTS-compare.md"))
    a = ap.parse_args()
    if a.quick:
        a.runtime, a.ramp = 1, 0.5
    builddir = os.environ.get("BUILDDIR", os.path.join(SRC, "build"))
    servers = [s.split("=", 1) for s in a.server] or \
        [["debian", "/usr/bin/nbdkit"], ["ours", os.path.join(builddir,
                                                               "nbdkit")]]
    extra_args = {}
    for sv in servers:
        path, _, args = sv[1].partition("::")
        sv[1] = path
        extra_args[sv[0]] = args.split()
    base = servers[0][0]
    pins = a.pin.split(",")
    workloads = a.workloads.split(",")
    copy_read = (1 if a.quick else 4) << 30
    copy_write = (1 if a.quick else 2) << 30

    tmpdir = tempfile.mkdtemp(prefix="nbdkit-compare.")
    ramdisk = os.path.join(tmpdir, "ramdisk-c.so")
    run(["cc", "-O2", "-fPIC", "-shared", "-I", os.path.join(SRC, "include"),
         "-o", ramdisk, os.path.join(SRC, "bench", "ramdisk-c.c")])
    memory = os.path.join(DEB_PLUGINS, "nbdkit-memory-plugin.so")
    fio_plugins = {"ramdisk": (ramdisk, ["size=256M"]),
                   "memory": (memory, ["size=256M"])}
    rows = {}                   # label -> {server: [(rate, cpu)]}
    order = []

    def note(label, name, rate, cpu):
        if label not in rows:
            rows[label] = {}
            order.append(label)
        rows[label].setdefault(name, []).append((rate, cpu))

    def start_all(pin, plugin, params):
        spin = {"none": [], "split": ["taskset", "-c", "0"],
                "same": ["taskset", "-c", "0"]}[pin]
        return [Server(n, p, tmpdir, spin, plugin, params, extra_args[n])
                for n, p in servers]

    def cpin_of(pin):
        return {"none": [], "split": ["taskset", "-c", "1"],
                "same": ["taskset", "-c", "0"]}[pin]

    def rotated(lst, rep):
        k = rep % len(lst)
        return lst[k:] + lst[:k]

    def measure_row(rep, label, srvs, measure, fmt):
        """Measure every server (in this repetition's order), record
        the results and print them on one line; fmt formats (rate, cpu)."""
        line = "  rep %d %s:" % (rep + 1, label)
        for s in rotated(srvs, rep):
            rate, cpu = measure(s)
            note(label, s.name, rate, cpu)
            line += "  %s " % s.name + fmt % (rate, cpu)
        print(line, flush=True)

    def copy_series(what, pin, cpin, nbytes, shm):
        """nbdcopy from a filled memory disk to null: (read), or from
        the file shm into the memory disk (write)."""
        srvs = start_all(pin, memory, ["size=%d" % nbytes])
        for s in srvs:
            if what == "read":
                run(cpin + ["nbdcopy", "--no-extents", "--", "[", "nbdkit",
                            "pattern", "size=%d" % nbytes, "]", s.uri])
            else:
                # The first copy (untimed) allocates the disk's memory.
                copy_measure(s, cpin, shm, s.uri, nbytes, [])
        for rep in range(a.reps):
            for name, opts in (("1 conn 1 req",
                                ["--connections=1", "--requests=1"]),
                               ("default", [])):
                label = "nbdcopy %s %d GiB %s pin=%s" % (
                    what, nbytes >> 30, name, pin)

                def measure(s, opts=opts):
                    src, dst = (s.uri, "null:") if what == "read" else \
                        (shm, s.uri)
                    return copy_measure(s, cpin, src, dst, nbytes, opts)
                measure_row(rep, label, srvs, measure,
                            "%.0f MiB/s (%.0f ms/GiB)")
        for s in srvs:
            s.stop()

    t_start = time.time()
    load0 = os.getloadavg()
    shm = None
    try:
        for pin in pins:
            cpin = cpin_of(pin)
            if "fio" in workloads:
                for pname in a.plugins.split(","):
                    plugin, params = fio_plugins[pname]
                    srvs = start_all(pin, plugin, params)
                    for s in srvs:
                        run(cpin + ["fio", "--name=fill", "--ioengine=nbd",
                                    "--uri=" + s.uri, "--rw=write",
                                    "--bs=1M", "--iodepth=8",
                                    "--size=256M"])
                    for rep in range(a.reps):
                        for rw in ("randread", "randwrite"):
                            for qd in (1, 32):
                                label = "fio %s %s qd%d pin=%s" % (
                                    pname, rw, qd, pin)
                                measure_row(
                                    rep, label, srvs,
                                    lambda s, rw=rw, qd=qd: fio_measure(
                                        s, cpin, rw, qd, "256M", a.runtime,
                                        a.ramp, tmpdir),
                                    "%.0f (%.1f us)")
                    for s in srvs:
                        s.stop()
            if "copy" in workloads:
                shm = "/dev/shm/nbdkit-compare.%d" % os.getpid()
                copy_series("read", pin, cpin, copy_read, None)
                with open(shm, "wb") as f:
                    chunk = os.urandom(1 << 20)
                    for _ in range(copy_write >> 20):
                        f.write(chunk)
                copy_series("write", pin, cpin, copy_write, shm)
                os.unlink(shm)
                shm = None
    finally:
        if shm and os.path.exists(shm):
            os.unlink(shm)
        shutil.rmtree(tmpdir, ignore_errors=True)

    names = [n for n, _ in servers]
    pairs = [(n, base) for n in names[1:]] + \
        [tuple(r.split("/", 1)) for r in a.ratio]
    hdr = "| workload | " + " | ".join(
        "%s rate | %s CPU" % (n, n) for n in names) + " | " + \
        " | ".join("%s/%s" % p for p in pairs) + " |"
    lines = [hdr, "|" + "---|" * (1 + 2 * len(names) + len(pairs))]
    for label in order:
        r = rows[label]
        unit_rate = "MiB/s" if label.startswith("nbdcopy") else "IOPS"
        unit_cpu = "ms/GiB" if label.startswith("nbdcopy") else "us/req"
        cells = []
        for n in names:
            cells.append("%.0f %s" % (median([x for x, _ in r[n]]), unit_rate))
            cells.append("%.1f %s" % (median([c for _, c in r[n]]), unit_cpu))
        for n, d in pairs:
            ratios = [x / b for (x, _), (b, _) in zip(r[n], r[d]) if b]
            cells.append("%.2f (%.2f-%.2f)" % (median(ratios), min(ratios),
                                                max(ratios)))
        lines.append("| %s | %s |" % (label, " | ".join(cells)))
    table = "\n".join(lines)
    print()
    print(table)

    if a.results:
        git = subprocess.run(["git", "-C", SRC, "describe", "--always",
                              "--dirty"], capture_output=True,
                             text=True).stdout.strip()
        with open(a.results, "w") as f:
            f.write("# compare.py results\n\n")
            f.write("Written by `bench/compare.py`; see its header and "
                    "bench/README.md.\n\n")
            f.write("- date: %s UTC\n" % time.strftime(
                "%Y-%m-%d %H:%M:%S", time.gmtime(t_start)))
            f.write("- host: %s, %d CPUs, kernel %s\n" % (
                platform.processor() or platform.machine(), os.cpu_count(),
                platform.release()))
            f.write("- git: %s\n" % git)
            for n, p in servers:
                f.write("- %s: %s %s\n" % (n, p, " ".join(extra_args[n])))
            f.write("- runtime %gs after a %gs ramp, %d repetitions, "
                    "placements %s\n" % (a.runtime, a.ramp, a.reps, a.pin))
            f.write("- load average at start %.2f %.2f %.2f, at end "
                    "%.2f %.2f %.2f\n" % (load0 + os.getloadavg()))
            f.write("- run time: %.0f s\n\n" % (time.time() - t_start))
            f.write("Rates and CPU are medians over the repetitions; ratios "
                    "are the median (min-max) of the per-repetition ratios "
                    "to %s.  CPU is the server's user+system time per "
                    "request (fio) or per GiB (nbdcopy).\n\n" % base)
            f.write(table + "\n")


if __name__ == "__main__":
    main()
