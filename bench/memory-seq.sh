#!/usr/bin/env bash
# bench/memory-seq.sh: large sequential requests (nbdcopy, 256 KiB) on
# the memory plugin: OUR plugin .so against Debian's, loaded into the
# SAME server, so that the server's cost cancels out.
#
#   bench/memory-seq.sh [--reps=N] [--host=debian|ours|both|servers]
#                       [--alloc=sparse|malloc|both] [--read=4G] [--write=2G]
#                       [--only=read|write] [--pin=none|split|same]
#
# For each host server (Debian's /usr/bin/nbdkit, and ours) and each
# allocator, two servers run side by side: one with Debian's
# nbdkit-memory-plugin.so ("deb"), one with ours ("ours").  Every
# measurement is made for both, one right after the other, the order
# alternating between repetitions:
#
#   read     nbdcopy --no-extents of the whole disk to null:, with
#            --connections=1 --requests=1 (1x1) and with nbdcopy's
#            defaults; the disks are filled first (untimed);
#   write    nbdcopy --no-extents of a file of random data in /dev/shm
#            into a FRESH server (first write: allocation, first touch)
#            and then again into the same server (re-write), 1x1 and
#            default.  Fresh servers are started for every repetition.
#
# --pin=split runs the servers on CPU 0 and nbdcopy on CPU 1, --pin=same
# everything on CPU 0 (default: the scheduler decides).
#
# --host=servers turns it around: Debian's server ("deb") against ours
# ("ours"), both loading the same plugin, PAIR_PLUGIN (default: ours).
#
# Reported: MiB/s (wall clock) and the server's CPU (user+system from
# /proc/PID/stat) in ms per GiB; medians, min-max, and the median of the
# per-pair ratios ours/deb.  A benchmark, not a test.
#
# Environment: BUILDDIR (default SRCDIR/build), and to compare other
# files, DEB_SERVER, OUR_SERVER, DEB_PLUGIN, OUR_PLUGIN (the "deb" and
# "ours" columns are then whatever these name).

set -euo pipefail

srcdir="$(cd "$(dirname "$0")/.." && pwd)"
BUILDDIR="${BUILDDIR:-$srcdir/build}"
REPS=3 HOSTS=both ALLOCS=sparse RSIZE=4G WSIZE=2G ONLY= PIN=none
for a in "$@"; do
  case "$a" in
    --reps=*) REPS="${a#*=}" ;;
    --host=*) HOSTS="${a#*=}" ;;
    --alloc=*) ALLOCS="${a#*=}" ;;
    --read=*) RSIZE="${a#*=}" ;;
    --write=*) WSIZE="${a#*=}" ;;
    --only=*) ONLY="${a#*=}" ;;
    --pin=*) PIN="${a#*=}" ;;
    -h|--help) sed -n '2,37p' "$0"; exit 0 ;;
    *) echo "$0: unknown option $a" >&2; exit 1 ;;
  esac
done
[ "$HOSTS" = both ] && HOSTS="debian ours"
case "$PIN" in
  none)  SPIN=() CPIN=() ;;
  split) SPIN=(taskset -c 0) CPIN=(taskset -c 1) ;;
  same)  SPIN=(taskset -c 0) CPIN=(taskset -c 0) ;;
  *) echo "$0: --pin must be none, split or same" >&2; exit 1 ;;
esac
[ "$ALLOCS" = both ] && ALLOCS="sparse malloc"

DEB_SERVER="${DEB_SERVER:-/usr/bin/nbdkit}"
OUR_SERVER="${OUR_SERVER:-$BUILDDIR/server/nbdkit}"
DEB_PLUGIN="${DEB_PLUGIN:-/usr/lib/x86_64-linux-gnu/nbdkit/plugins/nbdkit-memory-plugin.so}"
OUR_PLUGIN="${OUR_PLUGIN:-$BUILDDIR/plugins/memory/nbdkit-memory-plugin.so}"
PAIR_PLUGIN="${PAIR_PLUGIN:-$OUR_PLUGIN}"
for f in "$DEB_SERVER" "$OUR_SERVER" "$DEB_PLUGIN" "$OUR_PLUGIN"; do
  [ -e "$f" ] || { echo "$0: missing $f" >&2; exit 1; }
done
CLK_TCK="$(getconf CLK_TCK)"

bytes ()
{
  case "$1" in
    *G) echo $(( ${1%G} << 30 )) ;;
    *M) echo $(( ${1%M} << 20 )) ;;
    *) echo "$1" ;;
  esac
}
rbytes="$(bytes "$RSIZE")" wbytes="$(bytes "$WSIZE")"

tmp="$(mktemp -d /tmp/memory-seq.XXXXXX)"
shm="/dev/shm/memory-seq.$$"
declare -A spid=()
cleanup ()
{
  local t
  for t in "${!spid[@]}"; do
    kill "${spid[$t]}" 2>/dev/null || :
    wait "${spid[$t]}" 2>/dev/null || :
  done
  rm -rf "$tmp" "$shm"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

: >"$tmp/data"

# start TAG HOST ALLOC SIZE
start ()
{
  local tag="$1" host="$2" alloc="$3" size="$4" server plugin i
  if [ "$host" = servers ]; then
    # the two servers, both with the same plugin
    if [ "$tag" = deb ]; then server="$DEB_SERVER"; else server="$OUR_SERVER"; fi
    plugin="$PAIR_PLUGIN"
  else
    if [ "$host" = debian ]; then server="$DEB_SERVER"; else server="$OUR_SERVER"; fi
    if [ "$tag" = deb ]; then plugin="$DEB_PLUGIN"; else plugin="$OUR_PLUGIN"; fi
  fi
  rm -f "$tmp/$tag.sock" "$tmp/$tag.pid"
  "${SPIN[@]}" "$server" -f -U "$tmp/$tag.sock" -P "$tmp/$tag.pid" "$plugin" \
    "size=$size" "allocator=$alloc" >"$tmp/$tag.log" 2>&1 &
  spid[$tag]=$!
  # Debian's allocator=malloc fills the whole disk before it is ready
  for (( i = 0; i < 6000; i++ )); do
    [ -s "$tmp/$tag.pid" ] && return 0
    kill -0 "${spid[$tag]}" 2>/dev/null || break
    sleep 0.05
  done
  cat "$tmp/$tag.log" >&2
  echo "$0: $tag server did not start" >&2
  exit 1
}

stop ()
{
  local t
  for t in "$@"; do
    kill "${spid[$t]}" 2>/dev/null || :
    wait "${spid[$t]}" 2>/dev/null || :
    unset "spid[$t]"
  done
}

ticks ()
{
  local s a
  s="$(<"/proc/$1/stat")"
  s="${s##*) }"
  read -ra a <<<"$s"
  echo $(( a[11] + a[12] ))
}

uri () { echo "nbd+unix:///?socket=$tmp/$1.sock"; }

# measure TAG NBYTES SRC DST OPTS... -> "MIB_S CPU_MS_PER_GIB"
measure ()
{
  local tag="$1" n="$2" src="$3" dst="$4" t0 t1 c0 c1
  shift 4
  c0="$(ticks "${spid[$tag]}")"
  t0="$(date +%s%N)"
  "${CPIN[@]}" nbdcopy --no-extents "$@" "$src" "$dst"
  t1="$(date +%s%N)"
  c1="$(ticks "${spid[$tag]}")"
  awk -v b="$n" -v ns="$(( t1 - t0 ))" -v t="$(( c1 - c0 ))" \
      -v hz="$CLK_TCK" 'BEGIN {
        printf "%.1f %.1f\n", b / 1048576 / (ns / 1e9),
               t / hz * 1000 / (b / 1073741824) }'
}

order () { if (( $1 % 2 )); then echo ours deb; else echo deb ours; fi; }

# row HOST ALLOC LABEL REP TAG RESULT
row ()
{
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" \
    "${6% *}" "${6#* }" >>"$tmp/data"
  printf '  %-7s %-6s %-22s rep %s %-4s %8s MiB/s %7s ms/GiB\n' \
    "$1" "$2" "$3" "$4" "$5" "${6% *}" "${6#* }"
}

echo "load before: $(uptime)"

if [ "$ONLY" != write ]; then
  for host in $HOSTS; do
    for alloc in $ALLOCS; do
      echo "== read $RSIZE, host $host, allocator=$alloc"
      start deb "$host" "$alloc" "$RSIZE"
      start ours "$host" "$alloc" "$RSIZE"
      for t in deb ours; do
        fio --name=fill --ioengine=nbd "--uri=$(uri $t)" --rw=write \
          --bs=1M --iodepth=8 "--size=$RSIZE" >/dev/null 2>&1
      done
      for (( rep = 1; rep <= REPS; rep++ )); do
        for v in 1x1 default; do
          if [ $v = 1x1 ]; then opts=(--connections=1 --requests=1)
          else opts=(); fi
          for t in $(order $rep); do
            row "$host" "$alloc" "read $v" "$rep" "$t" \
              "$(measure "$t" "$rbytes" "$(uri $t)" null: "${opts[@]}")"
          done
        done
      done
      stop deb ours
    done
  done
fi

if [ "$ONLY" != read ]; then
  head -c "$wbytes" /dev/urandom >"$shm"
  for host in $HOSTS; do
    for alloc in $ALLOCS; do
      echo "== write $WSIZE from /dev/shm, host $host, allocator=$alloc"
      for (( rep = 1; rep <= REPS; rep++ )); do
        for v in 1x1 default; do
          if [ $v = 1x1 ]; then opts=(--connections=1 --requests=1)
          else opts=(); fi
          for t in $(order $rep); do
            start "$t" "$host" "$alloc" "$WSIZE"
            row "$host" "$alloc" "write-fresh $v" "$rep" "$t" \
              "$(measure "$t" "$wbytes" "$shm" "$(uri $t)" "${opts[@]}")"
            row "$host" "$alloc" "write-again $v" "$rep" "$t" \
              "$(measure "$t" "$wbytes" "$shm" "$(uri $t)" "${opts[@]}")"
            stop "$t"
          done
        done
      done
    done
  done
fi

echo "load after: $(uptime)"
echo
python3 - "$tmp/data" <<'EOF'
import sys, statistics as st
rows = {}
for line in open(sys.argv[1]):
    host, alloc, label, rep, tag, mib, cpu = line.rstrip("\n").split("\t")
    rows.setdefault((host, alloc, label), {}).setdefault(tag, {})[int(rep)] = (float(mib), float(cpu))
def mm(xs):
    return "%.0f (%.0f-%.0f)" % (st.median(xs), min(xs), max(xs))
def rr(xs):
    return "%.2f (%.2f-%.2f)" % (st.median(xs), min(xs), max(xs))
print("| host | alloc | workload | deb MiB/s | ours MiB/s | ratio | deb ms CPU/GiB | ours ms CPU/GiB | CPU ratio |")
print("|---|---|---|---|---|---|---|---|---|")
for (host, alloc, label), d in rows.items():
    reps = sorted(set(d.get("deb", {})) & set(d.get("ours", {})))
    if not reps:
        continue
    dm = [d["deb"][r][0] for r in reps]; om = [d["ours"][r][0] for r in reps]
    dc = [d["deb"][r][1] for r in reps]; oc = [d["ours"][r][1] for r in reps]
    ratio = [o / x for o, x in zip(om, dm)]
    cratio = [o / x if x else float("nan") for o, x in zip(oc, dc)]
    print("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
        host, alloc, label, mm(dm), mm(om), rr(ratio), mm(dc), mm(oc), rr(cratio)))
EOF
