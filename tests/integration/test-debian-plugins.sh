#!/usr/bin/env bash
# Debian's binary plugins, loaded by full path, behave the same in our
# server as in Debian's: the same nbdinfo --json flags, the same
# --dump-plugin output, and the same answers and data for a fixed
# sequence of requests (data-ops.py), whose writes are also checked
# against a model of the disk where the plugin keeps what is written.

. "$SRCDIR/tests/functions.sh"
. "$SRCDIR/tests/integration/itest-lib.sh"

requires nbdinfo --version
requires_nbd_python
requires_debian_nbdkit

failures=0

# compare NAME WHAT REF OURS: report a difference between two files.
compare ()
{
  if ! cmp -s "$3" "$4"; then
    echo "FAIL: $1: $2 differs (- Debian's server, + ours):" >&2
    diff -u "$3" "$4" | sed 's/^/  /' >&2 || :
    failures=$((failures + 1))
    return 1
  fi
}

# check NAME MODE [SERVER OPTIONS...] -- [PLUGIN ARGS...]
# MODE is passed to data-ops.py (--model, --discard or none).
check ()
{
  local name="$1" mode="$2" so
  shift 2
  local opts=() args=()
  while [ "$1" != "--" ]; do opts+=("$1"); shift; done
  shift
  args=("$@")
  so="$(debian_plugin "$name")"
  local d="$tmpdir/$name${opts[*]:+-opt}"
  mkdir -p "$d"
  echo "== $name ${opts[*]} ${args[*]}"

  # --dump-plugin must print the same text.
  "$DEBIAN_NBDKIT" "$so" "${args[@]/@ID@/ref}" --dump-plugin >"$d/dump.ref" 2>&1 ||
    fail "$name: Debian's server: --dump-plugin failed"
  if ! "$NBDKIT" "$so" "${args[@]/@ID@/ref}" --dump-plugin >"$d/dump.ours" 2>&1; then
    echo "FAIL: $name: --dump-plugin exited with an error:" >&2
    sed 's/^/  /' "$d/dump.ours" >&2
    failures=$((failures + 1))
  else
    compare "$name" "--dump-plugin" "$d/dump.ref" "$d/dump.ours" || :
    for key in "path=$so" "name=$name" "api_version=" "has_open=1" \
               "has_get_size=1" "thread_model="; do
      grep -q "^$key" "$d/dump.ours" || {
        echo "FAIL: $name: --dump-plugin lacks $key" >&2
        failures=$((failures + 1))
      }
    done
  fi

  # Serve the plugin from both servers at once.
  NBDKIT="$DEBIAN_NBDKIT" start_nbdkit "${opts[@]}" "$so" "${args[@]/@ID@/ref}"
  local ref_uri="$uri" ref_pid="$pid"
  start_nbdkit "${opts[@]}" "$so" "${args[@]/@ID@/ours}"
  local our_uri="$uri" our_pid="$pid"

  nbdinfo --json "$ref_uri" >"$d/info.ref.json"
  if nbdinfo --json "$our_uri" >"$d/info.ours.json"; then
    json_norm "$d/info.ref.json" >"$d/info.ref"
    json_norm "$d/info.ours.json" >"$d/info.ours"
    compare "$name" "nbdinfo --json" "$d/info.ref" "$d/info.ours" || :
  else
    echo "FAIL: $name: nbdinfo --json failed against our server" >&2
    failures=$((failures + 1))
  fi

  python3 "$ITEST_DIR/data-ops.py" "$ref_uri" $mode >"$d/ops.ref" 2>&1 ||
    fail "$name: data-ops.py failed against Debian's server: $(cat "$d/ops.ref")"
  if ! python3 "$ITEST_DIR/data-ops.py" "$our_uri" $mode >"$d/ops.ours" 2>&1; then
    echo "FAIL: $name: data-ops.py $mode failed against our server:" >&2
    tail -5 "$d/ops.ours" | sed 's/^/  /' >&2
    failures=$((failures + 1))
  else
    compare "$name" "answers to data-ops.py" "$d/ops.ref" "$d/ops.ours" || :
  fi

  # Servers take a moment to exit: stop them all together at the end.
  ref_pids+=("$ref_pid")
  our_pids+=("$our_pid")
}
ref_pids=()
our_pids=()

check memory --model -- 64M
check memory --model -r -- size=8M
check memory --model -- 8M allocator=malloc
check null --discard -- 8M
check pattern --pattern -- size=8M
check data --model -- 'data=1 2 3 @0x1fe 0x55 0xaa @4096 "hello"' size=8M
check full "" -- 8M
check zero "" --
truncate -s 16M "$tmpdir/file-ref" "$tmpdir/file-ours"
printf 'first sector' | dd of="$tmpdir/file-ref" conv=notrunc status=none
printf 'first sector' | dd of="$tmpdir/file-ours" conv=notrunc status=none
check file --model -- "file=$tmpdir/file-@ID@"
check sparse-random "" -- 32M seed=4321
check example1 "" --
head -c 5M /dev/urandom >"$tmpdir/ex2-ref"
cp "$tmpdir/ex2-ref" "$tmpdir/ex2-ours"
check example2 --model -- "file=$tmpdir/ex2-@ID@"
check example3 --model -- size=8M

kill "${ref_pids[@]}" "${our_pids[@]}"
for p in "${ref_pids[@]}"; do
  wait_exit "$p" 30 || fail "Debian's server did not exit"
done
for p in "${our_pids[@]}"; do
  if ! wait_exit "$p" 30; then
    echo "FAIL: our server $p did not exit on SIGTERM" >&2
    failures=$((failures + 1))
  fi
done

# The file plugin wrote through to the files: both servers left the
# same bytes, and they are what data-ops.py read back.
ref_sum="$(sha256sum <"$tmpdir/file-ref" | cut -d' ' -f1)"
our_sum="$(sha256sum <"$tmpdir/file-ours" | cut -d' ' -f1)"
if [ "$ref_sum" != "$our_sum" ]; then
  echo "FAIL: file: the backing files differ after the same requests" >&2
  failures=$((failures + 1))
fi
grep -q "^sha256=$our_sum\$" "$tmpdir/file/ops.ours" || {
  echo "FAIL: file: the backing file does not hold what the client read" >&2
  failures=$((failures + 1))
}

if [ "$failures" -gt 0 ]; then
  fail "$failures check(s) failed"
fi
echo "OK"
