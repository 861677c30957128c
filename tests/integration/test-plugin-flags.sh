#!/usr/bin/env bash
# The export flags a client sees (nbdinfo --json) for many answers of
# the test plugin's can_* callbacks, compared between Debian's server
# and ours, for API 1 and API 2 builds.  Also nbdinfo --list for the
# plugin's export list, and the export name, description and block
# size constraints.

. "$SRCDIR/tests/functions.sh"
. "$SRCDIR/tests/integration/itest-lib.sh"

requires nbdinfo --version
requires_nbd_python
requires_debian_nbdkit

configs=(
  ""
  "-r"
  "can_write=0"
  "can_flush=0"
  "can_flush=0 can_fua=none"
  "can_fua=emulate"
  "can_fua=none"
  "can_trim=0"
  "can_zero=0"
  "can_zero=0 can_fast_zero=0"
  "can_fast_zero=0"
  "can_multi_conn=0"
  "is_rotational=1"
  "can_cache=none"
  "can_cache=emulate"
  "can_extents=0"
  "can_write=0 can_trim=0 can_zero=0 can_fua=none can_flush=0 can_cache=none"
  "block_size=512:4096:1048576 description=hello"
  "exports=x,y,z default_export=y description=desc"
)

failures=0
ref_pids=()
our_pids=()
n=0
for v in ours-v1 ours-v2; do
  plugin="$(itest_plugin "test-plugin-$v")"
  for c in "${configs[@]}"; do
    n=$((n + 1))
    opts=()
    args=()
    for w in $c; do
      case "$w" in -*) opts+=("$w") ;; *) args+=("$w") ;; esac
    done
    NBDKIT="$DEBIAN_NBDKIT" start_nbdkit "${opts[@]}" "$plugin" "${args[@]}"
    ref_uri="$uri"
    ref_pids+=("$pid")
    start_nbdkit "${opts[@]}" "$plugin" "${args[@]}"
    our_pids+=("$pid")

    for what in "--json" "--list --json"; do
      # shellcheck disable=SC2086
      nbdinfo $what "$ref_uri" >"$tmpdir/ref.json"
      # shellcheck disable=SC2086
      if ! nbdinfo $what "$uri" >"$tmpdir/ours.json" 2>"$tmpdir/err"; then
        echo "FAIL: $v [$c]: nbdinfo $what failed: $(cat "$tmpdir/err")" >&2
        failures=$((failures + 1))
        continue
      fi
      json_norm "$tmpdir/ref.json" >"$tmpdir/ref.$n"
      json_norm "$tmpdir/ours.json" >"$tmpdir/ours.$n"
      if ! diff -u "$tmpdir/ref.$n" "$tmpdir/ours.$n" >"$tmpdir/diff"; then
        echo "FAIL: $v [$c]: nbdinfo $what differs (- Debian's server, + ours):" >&2
        sed 's/^/  /' "$tmpdir/diff" >&2
        failures=$((failures + 1))
      fi
    done
  done
done

# A sanity check of the reference itself: the export list is there.
grep -q '"export-name": "z"' "$tmpdir/ref.$n" ||
  fail "nbdinfo --list did not show the export list"

kill "${ref_pids[@]}" "${our_pids[@]}" 2>/dev/null || :
for p in "${our_pids[@]}"; do
  wait_exit "$p" 60 || {
    echo "FAIL: our server $p did not exit after SIGTERM" >&2
    failures=$((failures + 1))
  }
done
for p in "${ref_pids[@]}"; do wait_exit "$p" 60 || :; done

[ "$failures" -eq 0 ] || fail "$failures check(s) failed"
echo OK
