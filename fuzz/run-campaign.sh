#!/bin/bash
# Run a libFuzzer campaign on fuzz-server (ASan + UBSan) until a given
# number of executions, in total, is reached; print the executions, the
# wall time, the coverage and the findings, and a row for the results
# table in fuzz/README.md.
#
# Usage: fuzz/run-campaign.sh [EXECUTIONS [JOBS]]
#   EXECUTIONS  total over all jobs (default 10000000)
#   JOBS        fuzzer processes, sharing one corpus (default: nproc)
# Environment:
#   BUILDDIR    the fuzzing build (default: build-fuzz in the source
#               tree); set up with clang if it does not exist yet
#   MAX_LEN     largest input (default 16384)
#
# The campaign starts from fuzz/corpus and works in a new directory
# BUILDDIR/campaign-DATE (corpus/, artifacts/, job-N.log).  Exit status:
# 0 if every job ran to the end with no finding, 1 otherwise.
set -u
cd "$(dirname "$0")/.."
src=$PWD

execs=${1:-10000000}
jobs=${2:-$(nproc)}
builddir=${BUILDDIR:-$src/build-fuzz}
max_len=${MAX_LEN:-16384}

if [ ! -f "$builddir/build.ninja" ]; then
  CC=clang meson setup "$builddir" -Dfuzzing=true \
    -Db_sanitize=address,undefined -Db_lundef=false >/dev/null || exit 1
fi
ninja -C "$builddir" fuzz/fuzz-server >/dev/null || {
  echo "run-campaign: build failed (ninja -C $builddir fuzz/fuzz-server)" >&2
  exit 1
}
fuzzer=$builddir/fuzz/fuzz-server

work=$builddir/campaign-$(date +%Y%m%d-%H%M%S)
mkdir -p "$work/corpus" "$work/artifacts"
cp fuzz/corpus/* "$work/corpus/"

# Any UBSan report is a finding (by default UBSan reports and goes on).
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}

per_job=$(( (execs + jobs - 1) / jobs ))
echo "campaign: $jobs job(s) x $per_job executions, max_len $max_len, in $work"
start=$(date +%s)
pids=()
for i in $(seq 1 "$jobs"); do
  "$fuzzer" -runs="$per_job" -max_len="$max_len" \
    -dict=fuzz/nbd.dict -timeout=60 -rss_limit_mb=4096 \
    -print_final_stats=1 -artifact_prefix="$work/artifacts/" \
    "$work/corpus" >"$work/job-$i.log" 2>&1 &
  pids+=($!)
done
status=0
for pid in "${pids[@]}"; do
  wait "$pid" || status=1
done
end=$(date +%s)
secs=$((end - start))

total=0
for i in $(seq 1 "$jobs"); do
  n=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/job-$i.log")
  if [ -z "$n" ]; then
    # A job that stopped early (a finding) prints no final stats: use
    # its last status line.
    n=$(grep -o '^#[0-9]*' "$work/job-$i.log" | tail -1 | tr -d '#')
    status=1
  fi
  echo "job $i: ${n:-0} executions; $(grep -E '^#[0-9]+.*(DONE|cov:)' \
    "$work/job-$i.log" | tail -1 | grep -o 'cov: [0-9]* ft: [0-9]*')"
  total=$((total + ${n:-0}))
done

# Coverage of everything the campaign found, in one number.
cov=$("$fuzzer" -runs=0 -max_len="$max_len" "$work/corpus" 2>&1 |
      grep -E 'INITED|DONE' | tail -1 | grep -o 'cov: [0-9]* ft: [0-9]*')
files=$(ls "$work/corpus" | wc -l)

findings=$(ls "$work/artifacts" | wc -l)
if [ "$findings" -ne 0 ] || [ $status -ne 0 ]; then
  status=1
  result="FINDINGS: $(ls "$work/artifacts" | tr '\n' ' ')(see $work/job-*.log)"
else
  result="none"
fi

rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
# GIT_OPTIONAL_LOCKS=0: only look, never refresh the index.
if [ -n "$(GIT_OPTIONAL_LOCKS=0 git status --porcelain 2>/dev/null)" ]; then
  rev="$rev with uncommitted changes"
fi

echo "executions: $total"
echo "wall time: ${secs} s ($((secs / 60)) min), $jobs job(s)"
echo "coverage of the final corpus ($files files): $cov"
echo "findings: $result"
echo "table row:"
echo "| $(date +%Y-%m-%d) | $rev | $total | ${secs} s ($jobs jobs) | $cov | $result |"
exit $status
