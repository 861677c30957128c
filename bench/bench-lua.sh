#!/usr/bin/env bash
# bench-lua.sh: our Lua plugin and server against Debian's nbdkit and
# nbdkit-plugin-lua, serving the same Lua script (bench/ramdisk.lua, a
# pure Lua in-memory disk) in the same run.
#
# Measured, on a read-only server over a Unix domain socket, reading
# the disk as written by no one (it reads as zeroes):
#   fio-qd1    4 KiB random reads, fio's nbd engine, queue depth 1 (IOPS)
#   fio-qd16   the same at queue depth 16 (IOPS)
#   copy-1     nbdcopy of the 256 MiB disk to null:, one connection,
#              COPIES times in a row (MiB/s)
#   copy-4     the same with --connections=4.  Ours runs the script with
#              threads=parallel: one Lua interpreter per connection.
#              Debian's plugin always serializes all requests (and does
#              not advertise multi-conn, so nbdcopy falls back to one
#              connection): that is the comparison.
# For the first three, ours runs the script in its default thread
# model, serialize_all_requests, like Debian's plugin.
#
# All of it is done for each block size in BLOCKS: the script stores
# the disk in blocks of that size, which sets how much Lua work a
# request is.  With 512 a 256 KiB read concatenates 512 strings and
# the Lua interpreter is the bottleneck; with 65536 it is 4 strings,
# and copying the data through the socket is.
#
# The runs are interleaved (ours, Debian's, ours, Debian's, ...) so
# that drift in machine load hits both alike.  Printed at the end:
# median, min-max and the ratio of the medians ours/Debian's (higher
# is better for all).  Targets: >= 1 for the first three, >= 1.5 for
# copy-4.
#
# This is a benchmark, not a test: it never fails on the numbers.
#
# Environment (all optional):
#   BUILDDIR  meson build directory          (default: ../build)
#   NBDKIT    our server                     (default: $BUILDDIR/nbdkit)
#   THEIRS    Debian's server                (default: /usr/bin/nbdkit)
#   REPS      repetitions (at least 3)       (default: 3)
#   RUNTIME   seconds per fio run            (default: 10)
#   SIZE      disk size                      (default: 256M)
#   COPIES    nbdcopy runs per measurement   (default: 3)
#   BLOCKS    block sizes of the script      (default: "512 65536")

set -e
set -u

srcdir="$(cd "$(dirname "$0")/.." && pwd)"
BUILDDIR="${BUILDDIR:-$srcdir/build}"
NBDKIT="${NBDKIT:-$BUILDDIR/nbdkit}"
THEIRS="${THEIRS:-/usr/bin/nbdkit}"
REPS="${REPS:-3}"
RUNTIME="${RUNTIME:-10}"
SIZE="${SIZE:-256M}"
COPIES="${COPIES:-3}"
BLOCKS="${BLOCKS:-512 65536}"
script="$srcdir/bench/ramdisk.lua"
export PATH="/usr/bin:$PATH"

die ()
{
  echo "$0: $*" >&2
  exit 1
}

[ "$REPS" -ge 3 ] || die "REPS must be at least 3"
for p in fio nbdcopy nbdinfo python3; do
  command -v "$p" >/dev/null || die "$p is needed"
done
fio --enghelp=nbd >/dev/null 2>&1 || die "fio has no nbd engine"
"$NBDKIT" --version >/dev/null || die "cannot run our server $NBDKIT"
"$THEIRS" lua --dump-plugin >/dev/null 2>&1 ||
  die "$THEIRS has no Lua plugin (install nbdkit-plugin-lua)"
"$NBDKIT" lua --dump-plugin >/dev/null 2>&1 ||
  die "$NBDKIT has no Lua plugin (build plugins/lua)"

tmpdir="$(mktemp -d /tmp/bench-lua.XXXXXXXX)"
server_pid=
cleanup ()
{
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || :
    wait "$server_pid" 2>/dev/null || :
  fi
  rm -rf "$tmpdir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

sock="$tmpdir/sock"
uri="nbd+unix:///?socket=$sock"

# start_server SERVER [SCRIPT PARAMETERS...]
start_server ()
{
  local server="$1"
  shift
  rm -f "$sock"
  "$server" -f -r -U "$sock" lua "$script" size="$SIZE" block="$block" "$@" \
    >"$tmpdir/server.log" 2>&1 &
  server_pid=$!
  local i
  for (( i = 0; i < 300; i++ )); do
    [ -S "$sock" ] && return 0
    sleep 0.1
  done
  cat "$tmpdir/server.log" >&2
  die "server did not start: $server"
}

stop_server ()
{
  kill "$server_pid"
  wait "$server_pid" 2>/dev/null || :
  server_pid=
}

# fio_iops QD: 4 KiB random read IOPS at queue depth QD.
fio_iops ()
{
  fio --name=randread --ioengine=nbd --uri="$uri" --rw=randread --bs=4k \
      --iodepth="$1" --size="$SIZE" --runtime="$RUNTIME" --time_based \
      --randrepeat=0 --output-format=json --output="$tmpdir/fio.json" \
      >"$tmpdir/fio.log" 2>&1 ||
    { cat "$tmpdir/fio.log" >&2; die "fio failed"; }
  python3 -c '
import json, sys
print(round(json.load(open(sys.argv[1]))["jobs"][0]["read"]["iops"]))' \
    "$tmpdir/fio.json"
}

# copy_mibs CONNECTIONS: nbdcopy the disk to null: COPIES times; MiB/s.
copy_mibs ()
{
  local t0 t1 i
  t0="$(date +%s.%N)"
  for (( i = 0; i < COPIES; i++ )); do
    nbdcopy --connections="$1" "$uri" null: >"$tmpdir/copy.log" 2>&1 ||
      { cat "$tmpdir/copy.log" >&2; die "nbdcopy failed"; }
  done
  t1="$(date +%s.%N)"
  python3 -c '
import sys
size, n = int(sys.argv[1]), int(sys.argv[2])
t0, t1 = float(sys.argv[3]), float(sys.argv[4])
print("%.1f" % (n * size / 1048576 / (t1 - t0)))' \
    "$(nbdinfo --size "$uri")" "$COPIES" "$t0" "$t1"
}

results="$tmpdir/results"
: > "$results"
record ()
{
  printf 'block %-6s rep %d  %-6s  %-8s %10s\n' "$block" "$1" "$2" "$3" "$4"
  echo "$block $2 $3 $4" >> "$results"
}

echo "ours:    $NBDKIT ($("$NBDKIT" --version | head -1)," \
     "$("$NBDKIT" lua --dump-plugin | grep lua_version))"
echo "Debian:  $THEIRS ($("$THEIRS" --version | head -1)," \
     "$("$THEIRS" lua --dump-plugin | grep lua_version))"
echo "script:  bench/ramdisk.lua, disk $SIZE, block sizes $BLOCKS"
echo "runs:    fio $RUNTIME s, nbdcopy x$COPIES, $REPS repetitions," \
     "$(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo

for block in $BLOCKS; do
  for (( rep = 1; rep <= REPS; rep++ )); do
    for who in ours debian; do
      if [ $who = ours ]; then server="$NBDKIT"; else server="$THEIRS"; fi
      start_server "$server"
      record "$rep" $who fio-qd1 "$(fio_iops 1)"
      record "$rep" $who fio-qd16 "$(fio_iops 16)"
      record "$rep" $who copy-1 "$(copy_mibs 1)"
      stop_server
      # Ours with one interpreter per connection; Debian's cannot.
      if [ $who = ours ]; then
        start_server "$server" threads=parallel
      else
        start_server "$server"
      fi
      record "$rep" $who copy-4 "$(copy_mibs 4)"
      stop_server
    done
  done
done

echo
echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$results" $BLOCKS <<'EOF'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    block, who, test, value = line.split()
    runs.setdefault((block, test, who), []).append(float(value))
targets = {"fio-qd1": 1.0, "fio-qd16": 1.0, "copy-1": 1.0, "copy-4": 1.5}
units = {"fio-qd1": "IOPS", "fio-qd16": "IOPS", "copy-1": "MiB/s",
         "copy-4": "MiB/s"}
for block in sys.argv[2:]:
    print()
    print("block size %s:" % block)
    print("%-9s %-6s %24s %24s %7s  %s" % ("test", "unit",
          "ours median (min-max)", "Debian median (min-max)", "ratio",
          "target"))
    for test in ("fio-qd1", "fio-qd16", "copy-1", "copy-4"):
        o = runs[(block, test, "ours")]
        d = runs[(block, test, "debian")]
        mo, md = statistics.median(o), statistics.median(d)
        ratio = mo / md
        print("%-9s %-6s %8.0f (%6.0f-%6.0f) %8.0f (%6.0f-%6.0f) %7.2f"
              "  >= %.1f %s"
              % (test, units[test], mo, min(o), max(o), md, min(d), max(d),
                 ratio, targets[test],
                 "met" if ratio >= targets[test] else "NOT met"))
    # What the interpreters per connection buy by themselves.
    c1 = statistics.median(runs[(block, "copy-1", "ours")])
    c4 = statistics.median(runs[(block, "copy-4", "ours")])
    print("ours copy-4 (an interpreter per connection) / ours copy-1 "
          "(one interpreter): %.2f" % (c4 / c1))
EOF
