#!/usr/bin/env bash
# What the server does for the plugin when the plugin cannot (checked
# in the plugin's call log by emulation-client.py), for every build of
# the test plugin:
#   fua-emulate   can_fua=EMULATE: FUA writes/zeroes/trims are followed
#                 by .flush; the plugin never sees the FUA flag
#   fua-native    can_fua=NATIVE: the plugin gets the FUA flag (API 2);
#                 API 1 plugins are treated as EMULATE
#   fua-none      FUA not advertised, a FUA request fails with EINVAL
#   zero-fallback .zero fails with EOPNOTSUPP: the server writes zeroes
#                 with .pwrite over exactly the range; a FAST_ZERO
#                 request is not emulated and fails with ENOTSUP
#   zero-none     can_zero=false: zeroes written with .pwrite only
#   cache-emulate can_cache=EMULATE: cache done by reading the range
#   cache-native  .cache called;  cache-none: EINVAL, no callback
#   extents-none  can_extents=false: one data extent covering the
#                 request, .extents never called
# and, for our server only, a .zero fallback whose .pwrite also fails
# with ENOTSUP fails the request without killing the connection
# (Debian's nbdkit 1.32.5 aborts on an assertion there).

. "$SRCDIR/tests/functions.sh"
. "$SRCDIR/tests/integration/itest-lib.sh"

requires_nbd_python

variants=(ours-v1 ours-v2)
[ -f "$ITEST_BUILD/test-plugin-debian-v1.so" ] &&
  variants+=(debian-v1 debian-v2)

scenarios=(
  "fua-emulate can_fua=emulate"
  "fua-native can_fua=native"
  "fua-none can_fua=none"
  "zero-fallback fail=zero:EOPNOTSUPP"
  "zero-none can_zero=false"
  "cache-emulate can_cache=emulate"
  "cache-native can_cache=native"
  "cache-none can_cache=none"
  "extents-none can_extents=false"
)
if ! testing_debian_server; then
  scenarios+=("enotsup-fallback-fails fail=*:ENOTSUP@65536")
fi

failures=0
pids=()
for v in "${variants[@]}"; do
  plugin="$(itest_plugin "test-plugin-$v")"
  for s in "${scenarios[@]}"; do
    read -r name args <<<"$s"
    log="$tmpdir/log.$v.$name"
    # shellcheck disable=SC2086
    start_nbdkit "$plugin" "log=$log" $args
    pids+=("$pid")
    if ! python3 "$ITEST_DIR/emulation-client.py" "$uri" "$name" "$log" \
         "${v##*-v}" >"$tmpdir/out" 2>&1; then
      echo "FAIL: $v: $name:" >&2
      sed 's/^/  /' "$tmpdir/out" >&2
      failures=$((failures + 1))
    fi
    kill -0 "$pid" 2>/dev/null || {
      echo "FAIL: $v: $name: the server died" >&2
      failures=$((failures + 1))
    }
  done
done

kill "${pids[@]}" 2>/dev/null || :
for p in "${pids[@]}"; do
  wait_exit "$p" 60 || {
    echo "FAIL: server $p did not exit after SIGTERM" >&2
    failures=$((failures + 1))
  }
done

[ "$failures" -eq 0 ] || fail "$failures check(s) failed"
echo OK
