#!/usr/bin/env bash
# profile.sh: where does each server spend its instructions per request?
#
#   bench/profile.sh [OPTIONS]
#
# Runs a fixed workload -- COUNT 4 KiB requests at fixed pseudo-random
# offsets from bench/nbd-reqs.c, a small libnbd client, at queue depth 1
# and 32 -- against our server and Debian's /usr/bin/nbdkit, both
# loading the same plugin .so (bench/ramdisk-c.c by default), with the
# server under valgrind --tool=callgrind.  Instruction counts do not
# depend on the machine's load, so unlike timings they can be compared
# between runs.
#
# Each case runs twice, with BASE and BASE+COUNT requests, and the
# difference of the server's total instructions divided by COUNT is the
# instructions per request: start-up, handshake and shutdown cancel out.
# Then the functions with the most instructions (self cost) in the
# bigger run are listed.  The callgrind files are kept for
# callgrind_annotate or kcachegrind.
#
# Also printed for each case (no valgrind): the server's CPU time per
# request and the client's request rate natively (noisy, but real), and
# with --perf a perf record profile (cpu-clock) of the server.
#
# Options:
#   --count=N        requests measured (default 20000)
#   --base=N         requests in the baseline run (default 2000)
#   --depths="1 32"  queue depths
#   --ops=read       read, write or read,write
#   --plugin=P       ramdisk (bench/ramdisk-c.c, default), memory or null
#                    (Debian's .so) or a path to a plugin .so
#   --servers="ours theirs"
#   --top=N          functions listed per case (default 25)
#   --perf           also profile natively with perf record
#   --out=DIR        where to keep the profiles (default: a new
#                    /tmp/nbdkit-profile.XXXXXXXX)
#   --report=FILE    where to write the report (default bench/PROFILE.md,
#                    which run-all.sh quotes in RESULTS.md)
#   --no-report      do not write one
#
# Environment: BUILDDIR (default SRCDIR/build), OURS (default: the real
# binary $BUILDDIR/server/nbdkit), THEIRS (default /usr/bin/nbdkit),
# DEBIAN_PLUGINS, SERVER_ARGS (more arguments for every server, split
# on spaces: those starting with "-" go before the plugin, KEY=VALUE
# after it; eg. "--filter=/path/offset.so offset=0" to cost a filter).
#
# Caveat: under valgrind every thread runs about 50 times slower and one
# at a time.  A server that times its plugin to decide whether to hand
# requests to other threads will see a slow plugin; and batching depends
# on how much input is waiting.  The counts show the cost of the path
# taken under valgrind, which at queue depth 32 can differ from the
# native one.

set -euo pipefail

srcdir="$(cd "$(dirname "$0")/.." && pwd)"
benchdir="$srcdir/bench"
BUILDDIR="${BUILDDIR:-$srcdir/build}"
OURS="${OURS:-$BUILDDIR/server/nbdkit}"
THEIRS="${THEIRS:-/usr/bin/nbdkit}"
DEBIAN_PLUGINS="${DEBIAN_PLUGINS:-/usr/lib/x86_64-linux-gnu/nbdkit/plugins}"
export PATH="/usr/bin:/bin:/usr/sbin:/sbin:$PATH"
export LC_ALL=C

COUNT=20000
BASE=2000
DEPTHS="1 32"
OPS=read
PLUGIN=ramdisk
SERVERS="ours theirs"
TOP=25
PERF=false
OUT=
REPORT="$benchdir/PROFILE.md"

die ()
{
  echo "profile.sh: $*" >&2
  exit 1
}

while [ $# -gt 0 ]; do
  case "$1" in
    --count=*) COUNT="${1#*=}" ;;
    --base=*) BASE="${1#*=}" ;;
    --depths=*) DEPTHS="${1#*=}" ;;
    --ops=*) OPS="${1#*=}" ;;
    --plugin=*) PLUGIN="${1#*=}" ;;
    --servers=*) SERVERS="${1#*=}" ;;
    --top=*) TOP="${1#*=}" ;;
    --perf) PERF=true ;;
    --out=*) OUT="${1#*=}" ;;
    --report=*) REPORT="${1#*=}" ;;
    --no-report) REPORT= ;;
    -h|--help) sed -n '2,/^$/s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) die "unknown option $1 (try --help)" ;;
  esac
  shift
done
[[ "$COUNT" =~ ^[0-9]+$ && "$COUNT" -gt 0 ]] || die "bad --count"
[[ "$BASE" =~ ^[0-9]+$ ]] || die "bad --base"

for p in valgrind callgrind_annotate cc; do
  command -v "$p" >/dev/null || die "$p is needed"
done
[ -f /usr/include/libnbd.h ] || die "libnbd.h is needed (apt-get install libnbd-dev)"
"$OURS" --version >/dev/null 2>&1 || die "cannot run our server $OURS"
"$THEIRS" --version >/dev/null 2>&1 || die "cannot run $THEIRS"
if $PERF; then
  command -v perf >/dev/null || die "--perf: perf is not installed"
fi
HAVE_PERF_STAT=false
if command -v perf >/dev/null &&
   perf stat -e task-clock,context-switches,raw_syscalls:sys_enter true \
     >/dev/null 2>&1; then
  HAVE_PERF_STAT=true
fi
NATIVE_COUNT=$(( COUNT * 5 ))
DISK_SIZE=64M

if [ -z "$OUT" ]; then
  OUT="$(mktemp -d /tmp/nbdkit-profile.XXXXXXXX)"
else
  mkdir -p "$OUT"
fi
tmpdir="$(mktemp -d /tmp/nbdkit-profile-run.XXXXXXXX)"
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

cc -O2 -Wall -o "$tmpdir/nbd-reqs" "$benchdir/nbd-reqs.c" -lnbd
inc=(-I "$srcdir/include")
[ -f "$BUILDDIR/include/nbdkit-version.h" ] && inc+=(-I "$BUILDDIR/include")
case "$PLUGIN" in
  ramdisk)
    # -g so that the plugin's own functions have names in the profiles
    plugin_so="$OUT/ramdisk-c.so"
    cc -O2 -g -Wall -fPIC -shared "${inc[@]}" -o "$plugin_so" \
       "$benchdir/ramdisk-c.c" ;;
  memory|null) plugin_so="$DEBIAN_PLUGINS/nbdkit-$PLUGIN-plugin.so" ;;
  *) plugin_so="$PLUGIN" ;;
esac
[ -f "$plugin_so" ] || die "no plugin $plugin_so"

sock="$tmpdir/sock"
pidfile="$tmpdir/pid"

# start_server SERVER [WRAPPER...]: the server under the wrapper command
start_server ()
{
  local server="$1" i
  shift
  local opts=() keys=() a
  for a in ${SERVER_ARGS:-}; do
    if [[ $a == -* ]]; then opts+=("$a"); else keys+=("$a"); fi
  done
  rm -f "$sock" "$pidfile"
  "$@" "$server" -f -U "$sock" -P "$pidfile" ${opts[@]+"${opts[@]}"} \
    "$plugin_so" "size=$DISK_SIZE" ${keys[@]+"${keys[@]}"} \
    >"$tmpdir/server.log" 2>&1 &
  server_pid=$!
  for (( i = 0; i < 1200; i++ )); do
    [ -s "$pidfile" ] && return 0
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.05
  done
  cat "$tmpdir/server.log" >&2
  die "server did not start: $*"
}

stop_server ()
{
  kill "$server_pid" 2>/dev/null || :
  wait "$server_pid" 2>/dev/null || :
  server_pid=
}

cpu_ticks ()
{
  local s a
  s="$(<"/proc/$1/stat")"
  s="${s##*) }"
  read -ra a <<<"$s"
  echo $(( a[11] + a[12] ))
}

# the total instructions recorded in a callgrind file
# fill the RAM disk (untimed) so that reads do not fault in fresh pages
fill ()
{
  "$tmpdir/nbd-reqs" -f -q 8 -b 1048576 "$sock" >/dev/null
}

cg_total ()
{
  awk '/^(summary|totals):/ { print $2; exit }' "$1"
}

client_args ()
{
  local op="$1" qd="$2"
  if [ "$op" = write ]; then echo -w -q "$qd"; else echo -q "$qd"; fi
}

summary_table ()
{
  awk '
    { key = $1 " qd" $2; ipr[key, $3] = $4; cpu[key, $3] = $5
      sc[key, $3] = $7; cs[key, $3] = $8
      if (!(key in seen)) { seen[key] = 1; order[++n] = key } }
    END {
      printf "%-11s %16s %7s %18s %16s %16s\n", "case", "instr ours/theirs",
             "ratio", "CPU us ours/theirs", "syscalls o/t", "ctx-sw o/t"
      for (i = 1; i <= n; i++) {
        k = order[i]
        o = ipr[k, "ours"]; t = ipr[k, "theirs"]
        printf "%-11s %16s %7s %18s %16s %16s\n", k, o " / " t,
               (o && t) ? sprintf("%.2f", o / t) : "-",
               cpu[k, "ours"] " / " cpu[k, "theirs"],
               sc[k, "ours"] " / " sc[k, "theirs"],
               cs[k, "ours"] " / " cs[k, "theirs"]
      }
    }' "$results"
}

results="$tmpdir/results"
: >"$results"
echo "plugin: $plugin_so"
echo "ours:   $OURS ($("$OURS" --version | head -1))"
[ -z "${SERVER_ARGS:-}" ] || echo "server arguments: $SERVER_ARGS"
echo "theirs: $THEIRS ($("$THEIRS" --version | head -1))"
echo "profiles in: $OUT"
echo

for op in ${OPS//,/ }; do
  [ "$op" = read ] || [ "$op" = write ] || die "bad op $op"
  for qd in $DEPTHS; do
    for who in $SERVERS; do
      if [ "$who" = ours ]; then server="$OURS"
      elif [ "$who" = theirs ]; then server="$THEIRS"
      else die "bad server $who"; fi
      name="$who-$op-qd$qd"

      # native: server CPU, syscalls and context switches per request,
      # and the client's rate (one run of NATIVE_COUNT requests)
      start_server "$server"
      fill
      "$tmpdir/nbd-reqs" $(client_args "$op" "$qd") -n 2000 "$sock" >/dev/null
      c0="$(cpu_ticks "$server_pid")"
      stat_pid=
      if $HAVE_PERF_STAT; then
        perf stat -x, -o "$tmpdir/stat" -p "$server_pid" \
          -e task-clock,context-switches,raw_syscalls:sys_enter \
          >/dev/null 2>&1 &
        stat_pid=$!
        sleep 0.3
      fi
      native="$("$tmpdir/nbd-reqs" $(client_args "$op" "$qd") -n "$NATIVE_COUNT" "$sock")"
      if [ -n "$stat_pid" ]; then
        kill -INT "$stat_pid" 2>/dev/null || :
        wait "$stat_pid" 2>/dev/null || :
      fi
      c1="$(cpu_ticks "$server_pid")"
      stop_server
      rate="$(awk '{ print $(NF-1) }' <<<"$native")"
      if [ -n "$stat_pid" ] && [ -s "$tmpdir/stat" ]; then
        read -r cpu_us cs_req sc_req < <(awk -F, -v n="$NATIVE_COUNT" '
          $3 == "task-clock" { t = $1 }
          $3 == "context-switches" { cs = $1 }
          $3 == "raw_syscalls:sys_enter" { sc = $1 }
          END { printf "%.2f %.2f %.2f\n", t * 1000 / n, cs / n, sc / n }' \
          "$tmpdir/stat")
      else
        cpu_us="$(awk -v t=$(( c1 - c0 )) -v hz="$(getconf CLK_TCK)" \
                  -v n="$NATIVE_COUNT" 'BEGIN { printf "%.2f", t / hz * 1e6 / n }')"
        cs_req=- sc_req=-
      fi

      # perf (optional)
      if $PERF; then
        start_server "$server"
        fill
        perf record -q -g -e cpu-clock -F 9999 -p "$server_pid" \
             -o "$OUT/$name.perf.data" >/dev/null 2>&1 &
        perf_pid=$!
        sleep 0.5
        "$tmpdir/nbd-reqs" $(client_args "$op" "$qd") -n "$NATIVE_COUNT" "$sock" >/dev/null
        kill -INT "$perf_pid" 2>/dev/null || :
        wait "$perf_pid" 2>/dev/null || :
        stop_server
        perf report -i "$OUT/$name.perf.data" --stdio --no-children -g none \
             --sort dso,symbol 2>/dev/null |
          grep -E '^ +[0-9.]+%' | sed 's/[ -]*$//' |
          head -n "$TOP" >"$OUT/$name.perf.txt" || :
      fi

      # callgrind: BASE and BASE+COUNT requests
      totals=()
      for n in "$BASE" $(( BASE + COUNT )); do
        cgfile="$OUT/$name.n$n.callgrind"
        start_server "$server" valgrind --tool=callgrind \
          "--callgrind-out-file=$cgfile" --dump-instr=no
        "$tmpdir/nbd-reqs" $(client_args "$op" "$qd") -n "$n" "$sock" >/dev/null
        stop_server
        t="$(cg_total "$cgfile")"
        [ -n "$t" ] || die "no totals in $cgfile"
        totals+=("$t")
      done
      ipr=$(( (totals[1] - totals[0]) / COUNT ))
      echo "$op $qd $who $ipr $cpu_us $rate $sc_req $cs_req" >>"$results"
      printf '%-5s qd%-3s %-6s %6d instr/req | native: %6s us CPU/req, %5s syscalls/req, %5s ctx-switches/req, %6.0f req/s\n' \
             "$op" "$qd" "$who" "$ipr" "$cpu_us" "$sc_req" "$cs_req" "$rate"
      for n in "$BASE" $(( BASE + COUNT )); do
        callgrind_annotate --inclusive=no --auto=no --threshold=100 \
          "$OUT/$name.n$n.callgrind" 2>/dev/null >"$OUT/$name.n$n.annotate.txt" || :
      done
    done
  done
done

echo
echo "== summary: server per request -- user-space instructions (callgrind);"
echo "   native CPU time, syscalls and context switches (perf stat), ours / theirs"
summary_table > "$tmpdir/summary.txt"
cat "$tmpdir/summary.txt"

echo
# Per function: (instructions in the big run - in the base run) / COUNT
per_function ()
{
  /usr/bin/python3 -S - "$1" "$2" "$COUNT" "$TOP" <<'EOF'
import re, sys
line_re = re.compile(r"^\s*([\d,]+)\s+\([\s\d.]+%\)\s+(.*)$")
def load(path):
    d = {}
    on = False
    for line in open(path):
        if "file:function" in line:
            on = True
            continue
        m = line_re.match(line)
        if on and m:
            # shorten "path/file.c:function [object]"
            fn = re.sub(r"^\S*/", "", m.group(2))
            d[fn] = d.get(fn, 0) + int(m.group(1).replace(",", ""))
    return d
base, big = load(sys.argv[1]), load(sys.argv[2])
count, top = int(sys.argv[3]), int(sys.argv[4])
diff = {k: (v - base.get(k, 0)) / count for k, v in big.items()}
total = sum(diff.values())
for k, v in sorted(diff.items(), key=lambda kv: -kv[1])[:top]:
    print("  %8.1f  %5.1f%%  %s" % (v, 100 * v / total if total else 0, k))
EOF
}

for f in "$OUT"/*.n$(( BASE + COUNT )).annotate.txt; do
  [ -f "$f" ] || continue
  {
  name="$(basename "$f" .n$(( BASE + COUNT )).annotate.txt)"
  echo "== $name: top $TOP functions, own instructions per request"
  per_function "$OUT/$name.n$BASE.annotate.txt" "$f"
  if [ -f "$OUT/$name.perf.txt" ]; then
    echo "  -- perf record (cpu-clock, native, $NATIVE_COUNT requests, kernel included):"
    sed 's/^/  /' "$OUT/$name.perf.txt"
  fi
  echo
  } | tee -a "$tmpdir/functions.txt"
done
echo "callgrind files: $OUT/*.callgrind   (callgrind_annotate --inclusive=yes FILE)"

[ -n "$REPORT" ] || exit 0
buildtype="$(/usr/bin/python3 -S -c '
import json, sys
o = {x["name"]: x["value"] for x in json.load(open(sys.argv[1]))}
print(o.get("buildtype", "unknown"))' "$BUILDDIR/meson-info/intro-buildoptions.json" 2>/dev/null || :)"
{
  echo "# Where the time goes: bench/profile.sh"
  echo
  echo "Written by \`bench/profile.sh\`; see \`bench/README.md\`.  Instruction"
  echo "counts (callgrind, user space only) do not depend on the machine's load"
  echo "and can be compared between runs; syscalls and context switches per"
  echo "request are nearly as stable; CPU time per request is not."
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "- host CPU: $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(nproc) CPUs; kernel $(uname -r)"
  echo "- load average: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "- ours: $OURS ($("$OURS" --version | head -1)), git $(git -C "$srcdir" rev-parse --short HEAD 2>/dev/null || echo '?'), buildtype ${buildtype:-unknown}"
  echo "- theirs: $THEIRS ($("$THEIRS" --version | head -1))"
  echo "- plugin: $PLUGIN ($plugin_so), size=$DISK_SIZE"
  echo "- workload: $(( BASE + COUNT )) minus $BASE requests of 4 KiB ($OPS), depths $DEPTHS, from bench/nbd-reqs.c; native runs $NATIVE_COUNT requests"
  echo
  echo "## Summary"
  echo
  echo '```'
  cat "$tmpdir/summary.txt"
  echo '```'
  echo
  echo "## Per function (instructions per request, own cost) and perf"
  echo
  echo '```'
  cat "$tmpdir/functions.txt"
  echo '```'
} >"$REPORT"
echo "written: $REPORT"
