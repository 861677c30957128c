#!/usr/bin/python3
# report.py: turn the raw measurements of bench/run-all.sh into the
# summary table (stdout) and bench/RESULTS.md.
#
#   report.py RAWDIR [RESULTS.md]
#
# RAWDIR holds what run-all.sh recorded:
#   facts.txt     "key: value" lines about the machine and the run
#   data.tsv      one line per measurement:
#                   section label cmp group limit server rep value unit cpu
#                 cmp:   same (one plugin .so loaded into both servers),
#                        product (each server with its own plugin),
#                        lua (each server's Lua plugin, same script)
#                 group: lat / thr (the two target groups) or -
#                 limit: the machine limit bounding this result, or -
#                 cpu:   server CPU per unit of work (us per request for
#                        IOPS, ms per GiB for MiB/s), or -
#   limits.tsv    "name value unit"
#   mem.tsv       server pattern data_bytes rss_before_kib rss_after_kib
#   idle.tsv      server conns rss_before_kib rss_kib hwm_kib threads fds
#   commands.txt  the exact commands, in order of first use
#   notes.txt     skipped workloads and other remarks
# Only ratios within one run mean anything: the machine's speed drifts
# between runs by more than the differences being measured.

import math
import os
import statistics
import sys

TARGETS = {"lat": 1.3, "thr": 1.2}
GROUP_NAMES = {
    "lat": "latency-bound (iodepth 1, --connections=1 --requests=1 copies)",
    "thr": "throughput-bound (iodepth 16/32, default-connection copies)",
}
CMP_NAMES = {
    "same": "same plugin .so in both servers",
    "product": "our plugin in our server vs Debian's plugin in Debian's",
    "lua": "same Lua script, each server's Lua plugin",
}


def read_lines(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [line.rstrip("\n") for line in f if line.strip()]


def fnum(v, unit=""):
    if v is None:
        return "-"
    if unit == "ops/s" or unit == "IOPS":
        return f"{v:,.0f}"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def geomean(xs):
    xs = [x for x in xs if x and x > 0]
    if not xs:
        return None
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


class Row:
    def __init__(self, section, label, cmp, group, limit, unit):
        self.section, self.label, self.cmp = section, label, cmp
        self.group, self.limit, self.unit = group, limit, unit
        self.vals = {"ours": {}, "theirs": {}}
        self.cpu = {"ours": {}, "theirs": {}}

    def med(self, who):
        v = list(self.vals[who].values())
        return statistics.median(v) if v else None

    def rng(self, who):
        v = list(self.vals[who].values())
        return (min(v), max(v)) if v else (None, None)

    def ratios(self):
        reps = sorted(set(self.vals["ours"]) & set(self.vals["theirs"]))
        return [self.vals["ours"][r] / self.vals["theirs"][r]
                for r in reps if self.vals["theirs"][r] > 0]

    def ratio(self):
        r = self.ratios()
        return statistics.median(r) if r else None

    def cpu_med(self, who):
        v = [c for c in self.cpu[who].values() if c is not None]
        return statistics.median(v) if v else None


def load(rawdir):
    facts = {}
    for line in read_lines(os.path.join(rawdir, "facts.txt")):
        k, _, v = line.partition(": ")
        facts[k] = v
    rows = {}
    order = []
    for line in read_lines(os.path.join(rawdir, "data.tsv")):
        (section, label, cmp, group, limit, server, rep, value, unit,
         cpu) = line.split("\t")
        key = (section, label, cmp)
        if key not in rows:
            rows[key] = Row(section, label, cmp, group, limit, unit)
            order.append(key)
        rows[key].vals[server][int(rep)] = float(value)
        rows[key].cpu[server][int(rep)] = None if cpu == "-" else float(cpu)
    limits = {}
    for line in read_lines(os.path.join(rawdir, "limits.tsv")):
        name, value, unit = line.split()
        limits[name] = (float(value), unit)
    mem = [line.split() for line in read_lines(os.path.join(rawdir, "mem.tsv"))]
    idle = [line.split() for line in read_lines(os.path.join(rawdir, "idle.tsv"))]
    commands = read_lines(os.path.join(rawdir, "commands.txt"))
    notes = read_lines(os.path.join(rawdir, "notes.txt"))
    return facts, [rows[k] for k in order], limits, mem, idle, commands, notes


def frac(row, who, limits):
    m = row.med(who)
    if row.limit == "-" or row.limit not in limits or m is None:
        return None
    return m / limits[row.limit][0]


def table(rows, limits, md):
    head = ["workload", "unit", "ours median (min-max)",
            "Debian median (min-max)", "ours/Debian (min-max)",
            "of limit ours/Deb", "srv CPU ours/Deb"]
    out = []
    for r in rows:
        lo, hi = r.rng("ours")
        tlo, thi = r.rng("theirs")
        ratios = r.ratios()
        fo, ft = frac(r, "ours", limits), frac(r, "theirs", limits)
        co, ct = r.cpu_med("ours"), r.cpu_med("theirs")
        cells = [
            r.label + ("" if r.cmp == "same" else f" [{r.cmp}]"),
            r.unit,
            f"{fnum(r.med('ours'), r.unit)} ({fnum(lo, r.unit)}-{fnum(hi, r.unit)})",
            f"{fnum(r.med('theirs'), r.unit)} ({fnum(tlo, r.unit)}-{fnum(thi, r.unit)})",
            (f"{r.ratio():.2f} ({min(ratios):.2f}-{max(ratios):.2f})"
             if ratios else "-"),
            (f"{fo:.2f} / {ft:.2f}" if fo is not None and ft is not None
             else "-"),
            (f"{fnum(co)} / {fnum(ct)}" if co is not None and ct is not None
             else "-"),
        ]
        out.append(cells)
    if md:
        lines = ["| " + " | ".join(head) + " |",
                 "|" + "|".join("---" for _ in head) + "|"]
        lines += ["| " + " | ".join(c) + " |" for c in out]
        return "\n".join(lines)
    widths = [max(len(x[i]) for x in out + [head]) for i in range(len(head))]
    fmt = lambda cells: "  ".join(
        c.ljust(w) if i == 0 else c.rjust(w)
        for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([fmt(head), fmt(["-" * w for w in widths])] +
                     [fmt(c) for c in out])


def geomeans(rows):
    lines = []
    pinned = [r for r in rows if r.section == "pinned"]
    rows = [r for r in rows if r.section != "pinned"]
    for g in ("lat", "thr"):
        for label, cmps in (("same .so (server vs server)", {"same"}),
                            ("all rows incl. product and Lua",
                             {"same", "product", "lua"})):
            rs = [r.ratio() for r in rows if r.group == g and r.cmp in cmps
                  and r.ratio() is not None]
            gm = geomean(rs)
            if gm is None:
                continue
            verdict = "met" if gm >= TARGETS[g] else "NOT met"
            lines.append(f"{GROUP_NAMES[g]}, {label}: geometric mean "
                         f"{gm:.2f} over {len(rs)} rows "
                         f"(target >= {TARGETS[g]}: {verdict})")
    for mode in ("split", "same"):
        for g, what in (("lat", "iodepth 1"), ("thr", "iodepth 32")):
            rs = [r.ratio() for r in pinned if r.group == g and
                  r.label.endswith("pin=" + mode) and r.ratio() is not None]
            gm = geomean(rs)
            if gm is not None:
                lines.append(f"pinned ({mode}), {what}: geometric mean "
                             f"{gm:.2f} over {len(rs)} rows (not part of the "
                             f"targets above)")
    return lines


def seqread(rows, limits):
    lines = []
    if "stream" not in limits:
        return lines
    for r in rows:
        if r.section == "copy" and "memory" in r.label and \
           "read" in r.label and r.limit == "stream":
            fo, ft = frac(r, "ours", limits), frac(r, "theirs", limits)
            if fo is None or ft is None:
                continue
            tgt = " (target ours >= 0.90: %s)" % (
                "met" if fo >= 0.9 else "NOT met")
            lines.append(f"{r.label}{'' if r.cmp == 'same' else ' [' + r.cmp + ']'}: "
                         f"ours {fo:.2f}, Debian {ft:.2f} of the "
                         f"single-stream socket limit"
                         + (tgt if "conns=default" in r.label else ""))
    return lines


def memory_lines(mem, idle):
    lines = []
    names = {"ours": "ours", "theirs": "Debian"}
    for server, pattern, data, rss0, rss1 in mem:
        data, rss0, rss1 = int(data), int(rss0), int(rss1)
        growth = (rss1 - rss0) * 1024
        over = growth - data
        pct = 100.0 * over / data if data else 0
        verdict = ""
        if server == "ours":
            verdict = " (target < 1%%: %s)" % ("met" if pct < 1 else "NOT met")
        lines.append(f"memory plugin, {pattern}, {names[server]}: wrote "
                     f"{data / 2**20:.0f} MiB, RSS {rss0 / 1024:.1f} -> "
                     f"{rss1 / 1024:.1f} MiB, overhead {over / 2**20:+.1f} MiB"
                     f" = {pct:+.2f}% of data{verdict}")
    for server, n, rss0, rss, hwm, threads, fds in idle:
        verdict = ""
        if server == "ours":
            verdict = " (target < 50 MiB: %s)" % (
                "met" if int(rss) < 50 * 1024 else "NOT met")
        lines.append(f"{n} idle connections, {names[server]}: RSS "
                     f"{int(rss0) / 1024:.1f} MiB idle -> {int(rss) / 1024:.1f}"
                     f" MiB with {n} connections ({threads} threads, "
                     f"{fds} fds){verdict}")
    return lines


def limit_lines(limits):
    desc = {
        "memcpy": "memcpy, 256 MiB buffers, one thread",
        "stream": "Unix socket stream, one connection, 256 KiB writes",
        "pingpong-r": "4 KiB ping-pong, read shaped (28 B out, 16 B + 4 KiB back)",
        "pingpong-w": "4 KiB ping-pong, write shaped (28 B + 4 KiB out, 16 B back)",
        "pipe32-r": "read shaped, 32 in flight, client and server batching",
        "pipe32-w": "write shaped, 32 in flight, client and server batching",
    }
    lines = []
    for name, (v, unit) in limits.items():
        base, _, pin = name.partition("@")
        extra = ""
        if unit == "ops/s":
            extra = (f"  ({1e6 / v:.1f} us per round trip)"
                     if base.startswith("pingpong") else
                     f"  ({1e6 / v:.2f} us per request)")
        where = f" (pin={pin})" if pin else ""
        lines.append(f"{name:<16} {fnum(v, unit):>10} {unit:<6} "
                     f"{desc.get(base, '')}{where}{extra}")
    return lines


def profile_section(path):
    """The header and summary table of bench/PROFILE.md (profile.sh)."""
    lines = read_lines(path)
    out = ["## Where the time goes", "",
           "From `bench/PROFILE.md`, written by `bench/profile.sh` (not",
           "necessarily in the same run as the tables above; its instruction",
           "counts do not depend on the load, its timings do).  The",
           "per-function breakdown is in that file.", ""]
    keep = False
    for line in lines:
        if line.startswith("- "):
            out.append(line)
        elif line.startswith("## Summary"):
            keep = True
            out.append("")
        elif line.startswith("## ") and keep:
            break
        elif keep:
            out.append(line)
    out.append("")
    return out


def main():
    rawdir = sys.argv[1]
    outpath = sys.argv[2] if len(sys.argv) > 2 else None
    facts, rows, limits, mem, idle, commands, notes = load(rawdir)

    text = []
    if limits:
        text += ["Machine limits (best of the trials):"]
        text += ["  " + x for x in limit_lines(limits)]
        text.append("")
    if rows:
        text.append(table(rows, limits, md=False))
        text.append("")
        text += geomeans(rows)
        text += seqread(rows, limits)
        text.append("")
    ml = memory_lines(mem, idle)
    if ml:
        text += ml
        text.append("")
    text += ["note: " + n for n in notes]
    print("\n".join(text))

    if not outpath:
        return
    md = ["# Benchmark results", ""]
    md += ["Written by `bench/run-all.sh`; see `bench/README.md`.  **Only the",
           "ratios inside one run mean anything**: on a small VM the absolute",
           "numbers drift between runs by more than the differences measured.",
           ""]
    md += ["## Machine and run", ""]
    md += [f"- {k}: {v}" for k, v in facts.items()]
    md.append("")
    if limits:
        md += ["## Machine limits", "",
               "Measured by `bench/limits.c` in the same run, with the same CPU",
               "pinning as the benchmarks; best of the trials (unpinned: best",
               "of three placements, see README.md).", "", "```"]
        md += limit_lines(limits)
        md += ["```", ""]
    if rows:
        md += ["## Results", "",
               "Median over the repetitions, min-max in brackets.  The ratio is",
               "the median of the per-pair ratios ours/Debian (each pair ran back",
               "to back); higher is better for every row.  \"of limit\" is the",
               "median as a fraction of the machine limit that bounds it (queue",
               "depth 1: ping-pong; queue depth 16/32: pipe32, a ceiling far above",
               "what fio can reach -- there CPU per request is the bound; copies:",
               "stream).",
               "\"srv CPU\" is the server process's user+system CPU time per",
               "request (us) for IOPS rows and per GiB (ms) for MiB/s rows.",
               "Rows without a [tag] load the same plugin .so into both servers;",
               "[product] is our plugin in our server vs Debian's plugin in",
               "Debian's server; [lua] is the same script under each server's",
               "Lua plugin.", ""]
        md.append(table(rows, limits, md=True))
        md += ["", "## Against the targets", ""]
        md += ["- " + x for x in geomeans(rows) + seqread(rows, limits)]
        md.append("")
    if ml:
        md += ["## Memory", ""]
        md += ["- " + x for x in ml]
        md.append("")
    profile = os.path.join(os.path.dirname(os.path.abspath(outpath)),
                           "PROFILE.md")
    if os.path.exists(profile):
        md += profile_section(profile)
    if notes:
        md += ["## Notes", ""]
        md += ["- " + n for n in notes]
        md.append("")
    if commands:
        md += ["## Exact commands", "",
               "In order of first use; `$TMP` is the run's temporary directory,",
               "`$SOCK` the server's Unix socket, `$PIDFILE` its pid file.", "",
               "```"]
        md += commands
        md += ["```", ""]
    with open(outpath, "w") as f:
        f.write("\n".join(md))


if __name__ == "__main__":
    main()
