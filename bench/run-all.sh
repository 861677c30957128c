#!/usr/bin/env bash
# run-all.sh: the benchmark suite.  Runs our server and Debian's nbdkit
# (/usr/bin/nbdkit) in the same run, interleaved, and prints a summary
# table; writes bench/RESULTS.md.  See bench/README.md.
#
#   bench/run-all.sh [OPTIONS] [WORKLOAD...]
#
# Workloads (default: all of them, in this order):
#   limits              the machine's limits (bench/limits.c); always run
#                       when a fio or copy workload is selected
#   fio-ramdisk         fio, 4 KiB random I/O, bench/ramdisk-c.c in both
#   fio-memory          the same, Debian's memory plugin .so in both
#   fio-memory-product  the same, our memory plugin in ours vs Debian's
#                       memory plugin in Debian's
#   fio-lua             the same, bench/ramdisk.lua under each server's
#                       Lua plugin (skipped if absent)
#   pinned              fio-ramdisk at iodepth 1 and 32 (numjobs 1) twice
#                       more: with the server on CPU 0 and fio on CPU 1
#                       (pin=split), and with both on CPU 0 (pin=same),
#                       each with its own ping-pong/pipe32 limits; these
#                       rows are left out of the geometric means
#   copy                nbdcopy sequential copies (Debian's null and
#                       memory plugin .so in both)
#   copy-product        nbdcopy memory read, our plugin vs Debian's
#   mem                 memory plugin overhead (RSS growth minus data)
#   idle                RSS with 100 idle connections
#   fio                 all four fio workloads
#
# Options:
#   --quick          a one-minute subset: fio-ramdisk with iodepth 1 and
#                    32 only, 0.5 s runs, copies of 1 GiB / 512 MiB, idle
#                    (workloads named on the command line still apply)
#   --pin=MODE       none (default): let the scheduler place everything;
#                    split: server on CPU 0, clients on CPU 1;
#                    same: server and clients all on CPU 0
#   --reps=N         repetitions per measurement, at least 3 (default 3)
#   --runtime=SECS   seconds per fio measurement (default 0.8)
#   --results=FILE   where to write the report (default bench/RESULTS.md)
#   --no-results     do not write a report file
#   --keep           keep the temporary directory with the raw data
#
# Environment:
#   BUILDDIR   our meson build directory (default: SRCDIR/build)
#   OURS       our server (default: $BUILDDIR/nbdkit, the build-tree
#              wrapper that finds the in-tree plugins by short name)
#   THEIRS     the server to compare with (default: /usr/bin/nbdkit)
#   DEBIAN_PLUGINS  its plugin directory
#              (default: /usr/lib/x86_64-linux-gnu/nbdkit/plugins)
#   PYTHON     a python3 with the libnbd bindings (default: /usr/bin/python3)
#
# A benchmark, not a test: it never fails because of the numbers.

set -euo pipefail

srcdir="$(cd "$(dirname "$0")/.." && pwd)"
benchdir="$srcdir/bench"
BUILDDIR="${BUILDDIR:-$srcdir/build}"
OURS="${OURS:-$BUILDDIR/nbdkit}"
THEIRS="${THEIRS:-/usr/bin/nbdkit}"
DEBIAN_PLUGINS="${DEBIAN_PLUGINS:-/usr/lib/x86_64-linux-gnu/nbdkit/plugins}"
PYTHON="${PYTHON:-/usr/bin/python3}"
export PATH="/usr/bin:/bin:/usr/sbin:/sbin:$PATH"
export LC_ALL=C

REPS=3
RUNTIME=0.8
PIN=none
QUICK=false
RESULTS=default
KEEP=false
workloads=()

usage ()
{
  sed -n '2,/^$/s/^# \{0,1\}//p' "$0"
}

die ()
{
  echo "run-all.sh: $*" >&2
  exit 1
}

while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=true ;;
    --pin=*) PIN="${1#*=}" ;;
    --reps=*) REPS="${1#*=}" ;;
    --runtime=*) RUNTIME="${1#*=}" ;;
    --results=*) RESULTS="${1#*=}" ;;
    --no-results) RESULTS= ;;
    --keep) KEEP=true ;;
    -h|--help) usage; exit 0 ;;
    -*) die "unknown option $1 (try --help)" ;;
    *) workloads+=("$1") ;;
  esac
  shift
done

all_workloads=(limits fio-ramdisk fio-memory fio-memory-product fio-lua
               pinned copy copy-product mem idle)
subset=false
[ ${#workloads[@]} -gt 0 ] && subset=true
if [ ${#workloads[@]} -eq 0 ]; then
  if $QUICK; then
    workloads=(limits fio-ramdisk copy idle)
  else
    workloads=("${all_workloads[@]}")
  fi
fi
# expand aliases, check names, add limits when anything needs them
declare -A want=()
for w in "${workloads[@]}"; do
  case "$w" in
    fio) want[fio-ramdisk]=1 want[fio-memory]=1 want[fio-memory-product]=1
         want[fio-lua]=1 ;;
    pin|pinning) want[pinned]=1 ;;
    all) for x in "${all_workloads[@]}"; do want[$x]=1; done ;;
    *) [[ " ${all_workloads[*]} " == *" $w "* ]] ||
         die "unknown workload $w (try --help)"
       want[$w]=1 ;;
  esac
done
for w in "${!want[@]}"; do
  case "$w" in fio-*|copy*|pinned) want[limits]=1 ;; esac
done

[[ "$REPS" =~ ^[0-9]+$ ]] && [ "$REPS" -ge 3 ] || die "--reps must be >= 3"
[[ "$RUNTIME" =~ ^[0-9]*\.?[0-9]+$ ]] || die "bad --runtime"
$QUICK && [ "$RUNTIME" = 0.8 ] && RUNTIME=0.5
RUNTIME_MS="$(awk -v s="$RUNTIME" 'BEGIN { printf "%d", s * 1000 }')"
[ "$RUNTIME_MS" -ge 100 ] || die "--runtime must be at least 0.1"
if [ "$RESULTS" = default ]; then
  # the full default run writes RESULTS.md; other runs their own file
  RESULTS="$benchdir/RESULTS"
  [ "$PIN" != none ] && RESULTS+="-pin-$PIN"
  if $QUICK; then RESULTS+="-quick"
  elif $subset; then RESULTS+="-partial"; fi
  RESULTS+=".md"
fi
case "$PIN" in
  none)  SPIN=() CPIN=() LPIN=() ;;
  split) SPIN=(taskset -c 0) CPIN=(taskset -c 1) LPIN=(-S 0 -C 1) ;;
  same)  SPIN=(taskset -c 0) CPIN=(taskset -c 0) LPIN=(-S 0 -C 0) ;;
  *) die "--pin must be none, split or same" ;;
esac
if $QUICK; then
  COPY_READ_SIZE=1G COPY_WRITE_SIZE=512M
  FIO_RW=(randread randwrite) FIO_QD=(1 32) FIO_NJ=(1)
else
  COPY_READ_SIZE=4G COPY_WRITE_SIZE=2G
  FIO_RW=(randread randwrite) FIO_QD=(1 16 32) FIO_NJ=(1 2)
fi
FIO_SIZE=256M           # RAM disk size for the fio workloads
SECTION=fio LABEL_SUFFIX= LIMIT_SUFFIX=   # changed by the pinned workload
LUA_SIZE=128M           # the Lua disk is slower to fill
IDLE_CONNS=100

# ---------------------------------------------------------------------
# Tools

for p in fio nbdcopy nbdinfo cc taskset awk; do
  command -v "$p" >/dev/null || die "$p is needed"
done
fio --enghelp=nbd >/dev/null 2>&1 || die "fio has no nbd engine"
"$PYTHON" -c 'import nbd' 2>/dev/null ||
  die "$PYTHON cannot import nbd (install python3-libnbd)"
"$OURS" --version >/dev/null 2>&1 || die "cannot run our server $OURS"
"$THEIRS" --version >/dev/null 2>&1 || die "cannot run $THEIRS"
for p in null memory; do
  [ -f "$DEBIAN_PLUGINS/nbdkit-$p-plugin.so" ] ||
    die "no $DEBIAN_PLUGINS/nbdkit-$p-plugin.so"
done
DEB_NULL="$DEBIAN_PLUGINS/nbdkit-null-plugin.so"
DEB_MEMORY="$DEBIAN_PLUGINS/nbdkit-memory-plugin.so"
CLK_TCK="$(getconf CLK_TCK)"

tmpdir="$(mktemp -d /tmp/nbdkit-bench.XXXXXXXX)"
raw="$tmpdir/raw"
mkdir "$raw"
shmfile=
declare -A spid=()

cleanup ()
{
  local tag
  for tag in "${!spid[@]}"; do
    kill "${spid[$tag]}" 2>/dev/null || :
    wait "${spid[$tag]}" 2>/dev/null || :
  done
  [ -n "$shmfile" ] && rm -f "$shmfile"
  if $KEEP; then
    echo "raw data kept in $tmpdir"
  else
    rm -rf "$tmpdir"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

: >"$raw/data.tsv"
: >"$raw/commands.txt"
: >"$raw/notes.txt"
: >"$raw/times.txt"

note ()
{
  echo "note: $*"
  echo "$*" >>"$raw/notes.txt"
}

# Remember a command for RESULTS.md, with the temporary paths replaced.
note_cmd ()
{
  local line= a
  for a in "$@"; do
    if [[ "$a" =~ ^[][A-Za-z0-9_./=:,+@%{}|-]+$ ]]; then line+="$a "
    else line+="\"$a\" "; fi
  done
  line="${line% }"
  line="${line//$tmpdir\/ours.sock/\$SOCK}"
  line="${line//$tmpdir\/theirs.sock/\$SOCK}"
  line="${line//$tmpdir\/ours.pid/\$PIDFILE}"
  line="${line//$tmpdir\/theirs.pid/\$PIDFILE}"
  line="${line//$tmpdir/\$TMP}"
  grep -qxF -- "$line" "$raw/commands.txt" || echo "$line" >>"$raw/commands.txt"
}

# record SECTION LABEL CMP GROUP LIMIT SERVER REP VALUE UNIT CPU
record ()
{
  local IFS=$'\t'
  echo "$*" >>"$raw/data.tsv"
}

# user+system CPU ticks of a process, its dead threads included
cpu_ticks ()
{
  local s a
  s="$(<"/proc/$1/stat")"
  s="${s##*) }"
  read -ra a <<<"$s"
  echo $(( a[11] + a[12] ))
}

rss_kib ()
{
  awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

bytes ()
{
  case "$1" in
    *G) echo $(( ${1%G} * 1024 * 1024 * 1024 )) ;;
    *M) echo $(( ${1%M} * 1024 * 1024 )) ;;
    *) echo "$1" ;;
  esac
}

# ---------------------------------------------------------------------
# Servers.  Tags: "ours" and "theirs"; each has its own socket.

# start_server TAG SERVER PLUGIN [PARAMS...]
start_server ()
{
  local tag="$1" server="$2"
  shift 2
  local sock="$tmpdir/$tag.sock" pidfile="$tmpdir/$tag.pid" i
  rm -f "$sock" "$pidfile"
  local cmd=("${SPIN[@]}" "$server" -f -U "$sock" -P "$pidfile" "$@")
  note_cmd "${cmd[@]}"
  "${cmd[@]}" >"$tmpdir/$tag.log" 2>&1 &
  spid[$tag]=$!
  for (( i = 0; i < 600; i++ )); do
    if [ -s "$pidfile" ]; then
      [ "$(<"$pidfile")" = "${spid[$tag]}" ] ||
        die "$tag: pid file says $(<"$pidfile"), started ${spid[$tag]}"
      return 0
    fi
    kill -0 "${spid[$tag]}" 2>/dev/null || break
    sleep 0.05
  done
  cat "$tmpdir/$tag.log" >&2
  die "$tag server did not start: ${cmd[*]}"
}

stop_server ()
{
  local tag="$1"
  [ -n "${spid[$tag]:-}" ] || return 0
  kill "${spid[$tag]}" 2>/dev/null || :
  wait "${spid[$tag]}" 2>/dev/null || :
  unset "spid[$tag]"
}

stop_servers ()
{
  stop_server ours
  stop_server theirs
}

uri ()
{
  echo "nbd+unix:///?socket=$tmpdir/$1.sock"
}

# fill_both SIZE: write both servers' disks once (untimed, at the same
# time), with non-zero data
fill_both ()
{
  local tag pids=() cmd
  for tag in ours theirs; do
    cmd=("${CPIN[@]}" fio --name=fill --ioengine=nbd "--uri=$(uri "$tag")"
         --rw=write --bs=1M --iodepth=8 "--size=$1")
    note_cmd "${cmd[@]}"
    "${cmd[@]}" >"$tmpdir/fill-$tag.log" 2>&1 &
    pids+=($!)
  done
  for tag in 0 1; do
    wait "${pids[$tag]}" ||
      { cat "$tmpdir"/fill-*.log >&2; die "filling the RAM disks failed"; }
  done
}

# Pair order alternates between repetitions (ours first in odd ones) so
# that neither server always runs right after the other.
pair_order ()
{
  if (( $1 % 2 )); then echo ours theirs; else echo theirs ours; fi
}

# ---------------------------------------------------------------------
# fio

# fio_measure TAG RW QD NJ SIZE -> "IOPS CPU_US_PER_REQUEST"
fio_measure ()
{
  local tag="$1" rw="$2" qd="$3" nj="$4" size="$5" c0 c1
  local cmd=("${CPIN[@]}" fio --name=bench --ioengine=nbd "--uri=$(uri "$tag")"
             "--rw=$rw" --bs=4k "--iodepth=$qd" "--numjobs=$nj"
             --group_reporting "--size=$size" --time_based
             "--runtime=${RUNTIME_MS}ms" --norandommap --randrepeat=0
             --output-format=json "--output=$tmpdir/fio.json")
  # one line for the whole matrix in RESULTS.md
  local tmpl=("${cmd[@]}")
  tmpl=("${tmpl[@]/#--rw=$rw/--rw=\{$(IFS=,; echo "${FIO_RW[*]}")\}}")
  tmpl=("${tmpl[@]/#--iodepth=$qd/--iodepth=\{$(IFS=,; echo "${FIO_QD[*]}")\}}")
  tmpl=("${tmpl[@]/#--numjobs=$nj/--numjobs=\{$(IFS=,; echo "${FIO_NJ[*]}")\}}")
  note_cmd "${tmpl[@]}"
  c0="$(cpu_ticks "${spid[$tag]}")"
  "${cmd[@]}" >"$tmpdir/fio.log" 2>&1 ||
    { cat "$tmpdir/fio.log" >&2; die "fio failed against $tag"; }
  c1="$(cpu_ticks "${spid[$tag]}")"
  "$PYTHON" -S - "$tmpdir/fio.json" "$(( c1 - c0 ))" "$CLK_TCK" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
iops = ios = 0
for j in d["jobs"]:
    for k in ("read", "write"):
        iops += j[k]["iops"]
        ios += j[k]["total_ios"]
cpu = int(sys.argv[2]) / int(sys.argv[3]) * 1e6 / ios if ios else 0
print("%.0f %.2f" % (iops, cpu))
EOF
}

# fio_workload NAME CMP SIZE OURS_ARGS... -- THEIRS_ARGS...
# (ARGS: server plugin params)
fio_workload ()
{
  local name="$1" cmp="$2" size="$3"
  shift 3
  local ours_args=() theirs_args=()
  while [ "$1" != -- ]; do ours_args+=("$1"); shift; done
  shift
  theirs_args=("$@")

  echo "== fio-$name: ${ours_args[*]}  vs  ${theirs_args[*]}"
  start_server ours "${ours_args[@]}"
  start_server theirs "${theirs_args[@]}"
  fill_both "$size"
  local rep rw qd nj who group limit label r
  for (( rep = 1; rep <= REPS; rep++ )); do
    for rw in "${FIO_RW[@]}"; do
      for qd in "${FIO_QD[@]}"; do
        for nj in "${FIO_NJ[@]}"; do
          if [ "$qd" = 1 ]; then group=lat; else group=thr; fi
          if [ "$rw" = randread ]; then limit=r; else limit=w; fi
          if [ "$qd" = 1 ]; then limit="pingpong-$limit"; else limit="pipe32-$limit"; fi
          limit+="$LIMIT_SUFFIX"
          label="fio $name $rw qd$qd j$nj$LABEL_SUFFIX"
          local line="  rep $rep  $label:"
          for who in $(pair_order "$rep"); do
            r="$(fio_measure "$who" "$rw" "$qd" "$nj" "$size")"
            record "$SECTION" "$label" "$cmp" "$group" "$limit" "$who" "$rep" \
                   "${r% *}" IOPS "${r#* }"
            line+="  $who ${r% *} (${r#* } us cpu)"
          done
          echo "$line"
        done
      done
    done
  done
  stop_servers
}

# ---------------------------------------------------------------------
# nbdcopy

# copy_measure TAG SECONDS_VAR... ; prints "MIB_S CPU_MS_PER_GIB"
# copy_measure TAG NBYTES SRC DST [NBDCOPY OPTIONS...]
copy_measure ()
{
  local tag="$1" nbytes="$2" src="$3" dst="$4"
  shift 4
  local cmd=("${CPIN[@]}" nbdcopy --no-extents "$@" "$src" "$dst")
  local t0 t1 c0 c1
  note_cmd "${cmd[@]}"
  c0="$(cpu_ticks "${spid[$tag]}")"
  t0="$(date +%s%N)"
  "${cmd[@]}" >"$tmpdir/copy.log" 2>&1 ||
    { cat "$tmpdir/copy.log" >&2; die "nbdcopy failed against $tag"; }
  t1="$(date +%s%N)"
  c1="$(cpu_ticks "${spid[$tag]}")"
  awk -v b="$nbytes" -v ns="$(( t1 - t0 ))" -v t="$(( c1 - c0 ))" \
      -v hz="$CLK_TCK" 'BEGIN {
        printf "%.1f %.1f\n", b / 1048576 / (ns / 1e9),
               t / hz * 1000 / (b / 1073741824) }'
}

# copy_series NAME CMP NBYTES DIRECTION(read|write) SRCFILE
# Runs default connections and --connections=1 --requests=1 for both
# servers, which must already be running.
copy_series ()
{
  local name="$1" cmp="$2" nbytes="$3" dir="$4" srcfile="${5:-}"
  local rep who variant opts group label r src dst line
  for (( rep = 1; rep <= REPS; rep++ )); do
    for variant in default 1x1; do
      if [ $variant = default ]; then
        opts=() group=thr label="nbdcopy $name conns=default"
      else
        opts=(--connections=1 --requests=1) group=lat
        label="nbdcopy $name conns=1 reqs=1"
      fi
      line="  rep $rep  $label:"
      for who in $(pair_order "$rep"); do
        if [ "$dir" = read ]; then src="$(uri "$who")" dst=null:
        else src="$srcfile" dst="$(uri "$who")"; fi
        r="$(copy_measure "$who" "$nbytes" "$src" "$dst" "${opts[@]}")"
        record copy "$label" "$cmp" "$group" stream "$who" "$rep" \
               "${r% *}" MiB/s "${r#* }"
        line+="  $who ${r% *} MiB/s (${r#* } ms cpu/GiB)"
      done
      echo "$line"
    done
  done
}

run_copy ()
{
  local rsize wsize
  rsize="$(bytes "$COPY_READ_SIZE")"
  wsize="$(bytes "$COPY_WRITE_SIZE")"

  echo "== copy: null plugin, read $COPY_READ_SIZE"
  start_server ours "$OURS" "$DEB_NULL" "size=$COPY_READ_SIZE"
  start_server theirs "$THEIRS" "$DEB_NULL" "size=$COPY_READ_SIZE"
  copy_series "null read $COPY_READ_SIZE" same "$rsize" read
  stop_servers

  echo "== copy: memory plugin, read $COPY_READ_SIZE (filling first)"
  start_server ours "$OURS" "$DEB_MEMORY" "size=$COPY_READ_SIZE"
  start_server theirs "$THEIRS" "$DEB_MEMORY" "size=$COPY_READ_SIZE"
  fill_both "$COPY_READ_SIZE"
  copy_series "memory read $COPY_READ_SIZE" same "$rsize" read
  stop_servers

  echo "== copy: memory plugin, write $COPY_WRITE_SIZE from /dev/shm"
  shmfile="/dev/shm/nbdkit-bench.$$"
  local cmd=(fio --name=src "--filename=$shmfile" --rw=write --bs=1M
             "--size=$COPY_WRITE_SIZE")
  note_cmd "${cmd[@]}"
  "${cmd[@]}" >"$tmpdir/fill.log" 2>&1 ||
    { cat "$tmpdir/fill.log" >&2; die "could not create $shmfile"; }
  start_server ours "$OURS" "$DEB_MEMORY" "size=$COPY_WRITE_SIZE"
  start_server theirs "$THEIRS" "$DEB_MEMORY" "size=$COPY_WRITE_SIZE"
  # the first copy (untimed) allocates the RAM disks' memory
  copy_measure ours "$wsize" "$shmfile" "$(uri ours)" >/dev/null
  copy_measure theirs "$wsize" "$shmfile" "$(uri theirs)" >/dev/null
  copy_series "memory write $COPY_WRITE_SIZE" same "$wsize" write "$shmfile"
  stop_servers
  rm -f "$shmfile"
  shmfile=
}

run_copy_product ()
{
  local rsize
  rsize="$(bytes "$COPY_READ_SIZE")"
  echo "== copy-product: our memory plugin vs Debian's, read $COPY_READ_SIZE"
  start_server ours "$OURS" memory "size=$COPY_READ_SIZE"
  start_server theirs "$THEIRS" memory "size=$COPY_READ_SIZE"
  fill_both "$COPY_READ_SIZE"
  copy_series "memory read $COPY_READ_SIZE" product "$rsize" read
  stop_servers
}

# ---------------------------------------------------------------------
# Memory

# mem_pattern TAG PATTERN SIZE FIO_ARGS...
mem_pattern ()
{
  local tag="$1" pattern="$2" size="$3"
  shift 3
  local server rss0 rss1 data
  if [ "$tag" = ours ]; then server="$OURS"; else server="$THEIRS"; fi
  start_server "$tag" "$server" memory "size=$size"
  rss0="$(rss_kib "${spid[$tag]}")"
  local cmd=("${CPIN[@]}" fio --name=mem --ioengine=nbd "--uri=$(uri "$tag")"
             --bs=4k --iodepth=16 --randrepeat=1 "$@"
             --output-format=json "--output=$tmpdir/fio.json")
  note_cmd "${cmd[@]}"
  "${cmd[@]}" >"$tmpdir/fio.log" 2>&1 ||
    { cat "$tmpdir/fio.log" >&2; die "fio failed against $tag"; }
  rss1="$(rss_kib "${spid[$tag]}")"
  stop_server "$tag"
  data="$("$PYTHON" -S -c '
import json, sys
d = json.load(open(sys.argv[1]))
print(sum(j["write"]["io_bytes"] for j in d["jobs"]))' "$tmpdir/fio.json")"
  echo "$tag $pattern $data $rss0 $rss1" >>"$raw/mem.tsv"
  echo "  $tag $pattern: wrote $(( data >> 20 )) MiB, RSS $(( rss0 >> 10 ))" \
       "-> $(( rss1 >> 10 )) MiB"
}

# Does our server find a memory plugin of its own by short name?
have_our_memory ()
{
  "$OURS" memory --dump-plugin >/dev/null 2>&1
}

run_mem ()
{
  echo "== mem: memory plugin overhead (each server with its own plugin)"
  local tags=(ours theirs) tag
  have_our_memory || { note "mem: our memory plugin is not built, only Debian's measured"; tags=(theirs); }
  for tag in "${tags[@]}"; do
    mem_pattern "$tag" "random-4K-1G-of-4G" 4G \
                --rw=randwrite --size=4G --io_size=1G
    mem_pattern "$tag" "sparse-4K-every-1M-of-64G" 64G \
                --rw=write:1020k --size=64G --io_size=256M
  done
}

run_idle ()
{
  echo "== idle: RSS with $IDLE_CONNS idle connections (memory plugin, size=1G)"
  local tag server rss0 out
  for tag in ours theirs; do
    if [ "$tag" = ours ]; then
      server="$OURS"
      if ! have_our_memory; then
        note "idle: our memory plugin is not built, using Debian's .so in ours"
        start_server ours "$server" "$DEB_MEMORY" size=1G
      else
        start_server ours "$server" memory size=1G
      fi
    else
      start_server theirs "$THEIRS" memory size=1G
    fi
    sleep 0.2
    rss0="$(rss_kib "${spid[$tag]}")"
    note_cmd "$PYTHON" "$benchdir/idle-conns.py" "$tmpdir/$tag.sock" \
             "$IDLE_CONNS" PID
    out="$("$PYTHON" "$benchdir/idle-conns.py" "$tmpdir/$tag.sock" \
             "$IDLE_CONNS" "${spid[$tag]}")" ||
      die "idle-conns.py failed against $tag"
    stop_server "$tag"
    read -r rss hwm threads fds <<<"$out"
    echo "$tag $IDLE_CONNS $rss0 $rss $hwm $threads $fds" >>"$raw/idle.tsv"
    echo "  $tag: RSS $(( rss0 >> 10 )) MiB idle, $(( rss >> 10 )) MiB with" \
         "$IDLE_CONNS connections, $threads threads"
  done
}

# ---------------------------------------------------------------------
# Build the helpers

cc_flags=(-O2 -Wall)
cc "${cc_flags[@]}" -o "$tmpdir/limits" "$benchdir/limits.c"
inc=(-I "$srcdir/include")
[ -f "$BUILDDIR/include/nbdkit-version.h" ] && inc+=(-I "$BUILDDIR/include")
RAMDISK_SO="$tmpdir/ramdisk-c.so"
cc "${cc_flags[@]}" -fPIC -shared "${inc[@]}" -o "$RAMDISK_SO" \
   "$benchdir/ramdisk-c.c"
note_cmd cc "${cc_flags[@]}" -o "$tmpdir/limits" "$benchdir/limits.c"
note_cmd cc "${cc_flags[@]}" -fPIC -shared "${inc[@]}" -o "$RAMDISK_SO" \
   "$benchdir/ramdisk-c.c"

# ---------------------------------------------------------------------
# Facts about the machine and the run

buildinfo ()
{
  local f="$BUILDDIR/meson-info/intro-buildoptions.json"
  [ -f "$f" ] || { echo "unknown (no $f)"; return; }
  "$PYTHON" -S -c '
import json, sys
o = {x["name"]: x["value"] for x in json.load(open(sys.argv[1]))}
print("buildtype=%s optimization=%s debug=%s b_ndebug=%s" % (
    o.get("buildtype"), o.get("optimization"), o.get("debug"),
    o.get("b_ndebug")))' "$f"
}

{
  echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "host CPU: $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(nproc) CPUs online"
  echo "kernel: $(uname -srm)"
  echo "memory: $(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "ours: $OURS ($("$OURS" --version 2>&1 | head -1)), git $(git -C "$srcdir" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$srcdir" diff --quiet HEAD -- server include 2>/dev/null || echo ' (server/ or include/ modified)')"
  echo "our build: $(buildinfo)"
  echo "theirs: $THEIRS ($("$THEIRS" --version 2>&1 | head -1)), plugins from $DEBIAN_PLUGINS"
  echo "clients: $(fio --version), $(nbdcopy --version 2>&1 | head -1)"
  echo "compiler for bench/: $(cc --version | head -1)"
  echo "fio matrix: rw={$(IFS=,; echo "${FIO_RW[*]}")} iodepth={$(IFS=,; echo "${FIO_QD[*]}")} numjobs={$(IFS=,; echo "${FIO_NJ[*]}")}, bs=4k, ${RUNTIME}s per measurement"
  echo "options: reps=$REPS runtime=${RUNTIME}s pin=$PIN quick=$QUICK workloads=$(printf '%s\n' "${all_workloads[@]}" | while read -r w; do [ -n "${want[$w]:-}" ] && echo "$w"; done | paste -sd, -)"
  echo "server threads: each server's default -t"
} >"$raw/facts.txt"
sed 's/^/  /' "$raw/facts.txt"
echo

start_time="$(date +%s)"
section_start="$start_time"
# section_done NAME: log how long a workload took
section_done ()
{
  local now
  now="$(date +%s)"
  echo "  ($1: $(( now - section_start )) s)"
  echo "$1: $(( now - section_start )) s" >>"$raw/times.txt"
  section_start="$now"
}

# ---------------------------------------------------------------------
# Run

if [ -n "${want[limits]:-}" ]; then
  echo "== limits"
  note_cmd "$tmpdir/limits" -t 0.25 -n 6 "${LPIN[@]}"
  "$tmpdir/limits" -t 0.25 -n 6 "${LPIN[@]}" | tee "$raw/limits.tsv" |
    sed 's/^/  /'
  section_done limits
fi

if [ -n "${want[fio-ramdisk]:-}" ]; then
  fio_workload ramdisk-c same "$FIO_SIZE" \
    "$OURS" "$RAMDISK_SO" "size=$FIO_SIZE" -- \
    "$THEIRS" "$RAMDISK_SO" "size=$FIO_SIZE"
  section_done fio-ramdisk
fi

if [ -n "${want[fio-memory]:-}" ]; then
  fio_workload memory same "$FIO_SIZE" \
    "$OURS" "$DEB_MEMORY" "size=$FIO_SIZE" -- \
    "$THEIRS" "$DEB_MEMORY" "size=$FIO_SIZE"
  section_done fio-memory
fi

if [ -n "${want[fio-memory-product]:-}" ]; then
  if have_our_memory; then
    fio_workload memory product "$FIO_SIZE" \
      "$OURS" memory "size=$FIO_SIZE" -- \
      "$THEIRS" memory "size=$FIO_SIZE"
    section_done fio-memory-product
  else
    note "fio-memory-product skipped: our memory plugin is not built"
  fi
fi

if [ -n "${want[fio-lua]:-}" ]; then
  if [ ! -f "$benchdir/ramdisk.lua" ]; then
    note "fio-lua skipped: bench/ramdisk.lua does not exist"
  elif ! "$OURS" lua --dump-plugin >/dev/null 2>&1; then
    note "fio-lua skipped: our server has no Lua plugin"
  elif ! "$THEIRS" lua --dump-plugin >/dev/null 2>&1; then
    note "fio-lua skipped: $THEIRS has no Lua plugin (nbdkit-plugin-lua)"
  else
    fio_workload ramdisk.lua lua "$LUA_SIZE" \
      "$OURS" lua "$benchdir/ramdisk.lua" "size=$LUA_SIZE" -- \
      "$THEIRS" lua "$benchdir/ramdisk.lua" "size=$LUA_SIZE"
    section_done fio-lua
  fi
fi

if [ -n "${want[pinned]:-}" ]; then
  saved=("${SPIN[*]}" "${CPIN[*]}" "${FIO_RW[*]}" "${FIO_QD[*]}" "${FIO_NJ[*]}")
  FIO_RW=(randread randwrite) FIO_QD=(1 32) FIO_NJ=(1)
  SECTION=pinned
  for mode in split same; do
    if [ $mode = split ]; then
      SPIN=(taskset -c 0) CPIN=(taskset -c 1) lpin=(-S 0 -C 1)
    else
      SPIN=(taskset -c 0) CPIN=(taskset -c 0) lpin=(-S 0 -C 0)
    fi
    LABEL_SUFFIX=" pin=$mode" LIMIT_SUFFIX="@$mode"
    echo "== pinned ($mode): limits"
    note_cmd "$tmpdir/limits" -t 0.3 -n 5 "${lpin[@]}" pingpong-r pingpong-w pipe32-r pipe32-w
    "$tmpdir/limits" -t 0.3 -n 5 "${lpin[@]}" pingpong-r pingpong-w pipe32-r pipe32-w |
      awk -v m="$mode" '{ print $1 "@" m, $2, $3 }' | tee -a "$raw/limits.tsv" |
      sed 's/^/  /'
    fio_workload ramdisk-c same "$FIO_SIZE" \
      "$OURS" "$RAMDISK_SO" "size=$FIO_SIZE" -- \
      "$THEIRS" "$RAMDISK_SO" "size=$FIO_SIZE"
  done
  read -ra SPIN <<<"${saved[0]}"; read -ra CPIN <<<"${saved[1]}"
  read -ra FIO_RW <<<"${saved[2]}"; read -ra FIO_QD <<<"${saved[3]}"
  read -ra FIO_NJ <<<"${saved[4]}"
  SECTION=fio LABEL_SUFFIX= LIMIT_SUFFIX=
  section_done pinned
fi
if [ -n "${want[copy]:-}" ]; then run_copy; section_done copy; fi
if [ -n "${want[copy-product]:-}" ]; then
  if have_our_memory; then run_copy_product; section_done copy-product
  else note "copy-product skipped: our memory plugin is not built"; fi
fi
if [ -n "${want[mem]:-}" ]; then run_mem; section_done mem; fi
if [ -n "${want[idle]:-}" ]; then run_idle; section_done idle; fi

elapsed=$(( $(date +%s) - start_time ))
{
  echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "suite run time: ${elapsed} s ($(paste -sd, "$raw/times.txt" 2>/dev/null | sed 's/,/, /g'))"
} >>"$raw/facts.txt"

echo
echo "== summary (suite took ${elapsed} s; load average now $(cut -d' ' -f1-3 /proc/loadavg))"
echo
"$PYTHON" "$benchdir/report.py" "$raw" ${RESULTS:+"$RESULTS"}
[ -n "$RESULTS" ] && echo && echo "written: $RESULTS"
exit 0
