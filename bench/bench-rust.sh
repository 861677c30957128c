#!/usr/bin/env bash
# bench-rust.sh: does the Rust binding cost anything?
#
# Serves the same RAM disk written twice, once in Rust with the raw API
# (plugins/rust/examples/ramdisk.rs) and once in C (bench/ramdisk-c.c),
# with the same server in the same run, and measures 4 KiB random reads
# with fio's nbd engine at queue depth 1 and 32.  Runs are interleaved
# (C, Rust, C, Rust, ...) so that drift in machine load hits both alike;
# the medians and the Rust/C ratios are printed at the end.
#
# This is a benchmark, not a test: it never fails on the numbers.
#
# Environment (all optional):
#   BUILDDIR  meson build directory        (default: ../build)
#   NBDKIT    server to use                (default: $BUILDDIR/nbdkit)
#   RUST_SO   Rust ramdisk plugin          (default: $BUILDDIR/plugins/rust/libramdisk.so,
#                                           else built here with cargo)
#   REPS      repetitions per variant      (default: 3, minimum 3)
#   RUNTIME   seconds per fio run          (default: 10)
#   SIZE      disk size                    (default: 1G)
#   THREADS   server -t                    (default: server's default)
#   PAIRED    if 1, also run C and Rust side by side at the same time,
#             REPS times per queue depth, and report the median of the
#             per-pair Rust/C ratios.  Both then suffer the same
#             interference, which makes this robust on a busy machine.

set -e
set -u

srcdir="$(cd "$(dirname "$0")/.." && pwd)"
BUILDDIR="${BUILDDIR:-$srcdir/build}"
NBDKIT="${NBDKIT:-$BUILDDIR/nbdkit}"
REPS="${REPS:-3}"
RUNTIME="${RUNTIME:-10}"
SIZE="${SIZE:-1G}"
THREADS="${THREADS:-}"
PAIRED="${PAIRED:-0}"
export PATH="/usr/bin:$PATH"

[ "$REPS" -ge 3 ] || { echo "$0: REPS must be at least 3" >&2; exit 1; }
for p in fio python3 cc; do
  command -v "$p" >/dev/null || { echo "$0: $p is needed" >&2; exit 1; }
done
fio --enghelp=nbd >/dev/null 2>&1 ||
  { echo "$0: fio has no nbd engine" >&2; exit 1; }
"$NBDKIT" --version >/dev/null ||
  { echo "$0: cannot run the server $NBDKIT" >&2; exit 1; }

tmpdir="$(mktemp -d /tmp/bench-rust.XXXXXXXX)"
server_pids=()
cleanup ()
{
  local p
  for p in "${server_pids[@]}"; do
    kill "$p" 2>/dev/null || :
    wait "$p" 2>/dev/null || :
  done
  rm -rf "$tmpdir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The C plugin, built against our header.
c_so="$tmpdir/ramdisk-c.so"
cc -O2 -g -fPIC -shared -fvisibility=hidden -I "$srcdir/include" \
   -o "$c_so" "$srcdir/bench/ramdisk-c.c"

# The Rust plugin (release build).
rust_so="${RUST_SO:-$BUILDDIR/plugins/rust/libramdisk.so}"
if [ ! -f "$rust_so" ]; then
  command -v cargo >/dev/null ||
    { echo "$0: no $rust_so and no cargo to build it" >&2; exit 1; }
  CARGO_TARGET_DIR="$tmpdir/target" cargo build --offline --release \
    --example ramdisk --manifest-path "$srcdir/plugins/rust/Cargo.toml"
  rust_so="$tmpdir/target/release/examples/libramdisk.so"
fi

# start_server PLUGIN SOCKET: a foreground server, filled with data so
# that reads touch real memory, not the shared zero page.
start_server ()
{
  rm -f "$2"
  "$NBDKIT" -f ${THREADS:+-t "$THREADS"} -U "$2" "$1" size="$SIZE" \
    >"$tmpdir/server.log" 2>&1 &
  server_pids+=($!)
  local i
  for (( i = 0; i < 300; i++ )); do
    [ -S "$2" ] && break
    sleep 0.1
  done
  [ -S "$2" ] ||
    { cat "$tmpdir/server.log" >&2; echo "$0: server did not start" >&2; exit 1; }
  fio --name=fill --ioengine=nbd --uri="nbd+unix:///?socket=$2" --rw=write \
      --bs=1M --iodepth=8 --size="$SIZE" >"$tmpdir/fill.log" 2>&1 ||
    { cat "$tmpdir/fill.log" >&2; exit 1; }
}

stop_servers ()
{
  local p
  for p in "${server_pids[@]}"; do
    kill "$p"
    wait "$p" 2>/dev/null || :
  done
  server_pids=()
}

# fio_run SOCKET QD OUT: 4 KiB random reads at queue depth QD; JSON to OUT.
fio_run ()
{
  fio --name=randread --ioengine=nbd --uri="nbd+unix:///?socket=$1" \
      --rw=randread --bs=4k --iodepth="$2" --size="$SIZE" \
      --runtime="$RUNTIME" --time_based --randrepeat=0 \
      --output-format=json --output="$3" >"$3.log" 2>&1 ||
    { cat "$3.log" >&2; return 1; }
}

iops_of ()
{
  python3 -c '
import json, sys
print(round(json.load(open(sys.argv[1]))["jobs"][0]["read"]["iops"]))' "$1"
}

echo "server:  $NBDKIT ($("$NBDKIT" --version | head -1))"
echo "C:       bench/ramdisk-c.c"
echo "Rust:    $rust_so"
echo "disk $SIZE, $RUNTIME s per run, $REPS repetitions, $(nproc) CPUs," \
     "load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo

results="$tmpdir/results"
: > "$results"
sock_c="$tmpdir/sock-c"
sock_rust="$tmpdir/sock-rust"

for (( rep = 1; rep <= REPS; rep++ )); do
  for variant in c rust; do
    if [ "$variant" = c ]; then so="$c_so"; else so="$rust_so"; fi
    start_server "$so" "$sock_c"
    for qd in 1 32; do
      fio_run "$sock_c" "$qd" "$tmpdir/fio.json"
      iops="$(iops_of "$tmpdir/fio.json")"
      printf 'rep %d  %-4s  qd %-2d  %8d IOPS\n' "$rep" "$variant" "$qd" "$iops"
      echo "$variant $qd $iops" >> "$results"
    done
    stop_servers
  done
done

if [ "$PAIRED" = 1 ]; then
  echo
  echo "paired runs (C and Rust at the same time):"
  start_server "$c_so" "$sock_c"
  start_server "$rust_so" "$sock_rust"
  for (( rep = 1; rep <= REPS; rep++ )); do
    for qd in 1 32; do
      fio_run "$sock_c" "$qd" "$tmpdir/pair-c.json" &
      fc=$!
      fio_run "$sock_rust" "$qd" "$tmpdir/pair-rust.json" &
      fr=$!
      wait $fc
      wait $fr
      c="$(iops_of "$tmpdir/pair-c.json")"
      r="$(iops_of "$tmpdir/pair-rust.json")"
      printf 'rep %d  qd %-2d  C %8d  Rust %8d IOPS\n' "$rep" "$qd" "$c" "$r"
      echo "pair $qd $c $r" >> "$results"
    done
  done
  stop_servers
fi

echo
python3 - "$results" <<'PY'
import statistics, sys

runs, pairs = {}, {}
for line in open(sys.argv[1]):
    f = line.split()
    if f[0] == "pair":
        pairs.setdefault(int(f[1]), []).append(int(f[3]) / int(f[2]))
    else:
        runs.setdefault((f[0], int(f[1])), []).append(int(f[2]))

def verdict(ratio):
    return "within 5%" if abs(ratio - 1) <= 0.05 else "NOT within 5%"

print("interleaved runs:")
print("qd   C median   Rust median   Rust/C")
for qd in (1, 32):
    c = statistics.median(runs[("c", qd)])
    r = statistics.median(runs[("rust", qd)])
    print(f"{qd:<3} {c:>9.0f} {r:>13.0f}   {r / c:6.3f}  ({verdict(r / c)})")
if pairs:
    print("paired runs:")
    print("qd   median Rust/C")
    for qd in (1, 32):
        m = statistics.median(pairs[qd])
        print(f"{qd:<3} {m:6.3f}  ({verdict(m)})")
PY
