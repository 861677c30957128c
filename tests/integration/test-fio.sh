#!/usr/bin/env bash
# fio with the nbd engine against our server (memory plugin), over a
# Unix socket and over TCP: random writes with iodepth 16 from two
# jobs (two connections) verified with crc32c in the same run, then
# verified again by a later fio run (verify_only, new connections).
# A negative control corrupts one block and expects verification to
# fail.

. "$SRCDIR/tests/functions.sh"
. "$SRCDIR/tests/integration/itest-lib.sh"

requires fio --version
fio --enghelp=nbd >/dev/null 2>&1 || skip "fio has no nbd engine"
requires nbdsh --version

# run_fio NAME EXTRA-ARGS...: the job; JSON results go to $tmpdir/NAME.json
run_fio ()
{
  local name="$1"
  shift
  (cd "$tmpdir" && fio --name=job --ioengine=nbd --uri="$uri" --rw=randwrite \
      --bs=4k --iodepth=16 --size=32M --numjobs=2 --offset_increment=64M \
      --verify=crc32c --verify_fatal=1 --randrepeat=1 \
      --output-format=json --output="$tmpdir/$name.json" "$@" \
      >"$tmpdir/$name.log" 2>&1)
}

# check_bytes NAME WRITE READ: every job moved exactly these bytes.
check_bytes ()
{
  python3 - "$tmpdir/$1.json" "$2" "$3" <<'EOF' || fail "fio $1: wrong byte counts"
import json, sys
d = json.load(open(sys.argv[1]))
want_w, want_r = int(sys.argv[2]), int(sys.argv[3])
assert len(d["jobs"]) == 2, d["jobs"]
for j in d["jobs"]:
    got = (j["write"]["io_bytes"], j["read"]["io_bytes"], j["error"])
    assert got == (want_w, want_r, 0), (j["jobname"], got)
EOF
}

S=$((32 * 1024 * 1024))
for transport in unix tcp; do
  if [ "$transport" = unix ]; then
    start_nbdkit memory 256M
  else
    start_nbdkit_tcp memory 256M
  fi

  run_fio "$transport-write" --do_verify=1 ||
    fail "fio randwrite + verify over $transport: $(tail -5 "$tmpdir/$transport-write.log")"
  check_bytes "$transport-write" "$S" "$S"

  run_fio "$transport-verify" --verify_only ||
    fail "fio verify_only over $transport: $(tail -5 "$tmpdir/$transport-verify.log")"
  # verify_only counts the writes it pretends to do as well.
  check_bytes "$transport-verify" "$S" "$S"
done

# Negative control: corrupt a block the first job wrote.
nbdsh -u "$uri" -c 'h.pwrite(bytes(4096), 8192)'
if run_fio corrupt --verify_only; then
  fail "fio verify_only did not notice a corrupted block"
fi
grep -q "verify: bad magic header" "$tmpdir/corrupt.log" ||
  fail "negative control: $(tail -5 "$tmpdir/corrupt.log")"

stop_all_servers
echo OK
