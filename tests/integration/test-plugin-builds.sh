#!/usr/bin/env bash
# The four builds of test-plugin.c (our header and Debian's, API 1 and
# 2) behave the same in our server:
#  - --dump-plugin prints the expected fields and every has_* line
#    (pread... for API 2, _pread_v1... for API 1), the same text as
#    Debian's server prints for the same build, and the plugin's own
#    dump_plugin output; only load, config, thread_model, dump_plugin
#    and unload are called (no config_complete);
#  - each build really used the header it was meant to;
#  - --help shows the plugin's name, description and config_help, and
#    -V its version;
#  - the same requests (data-ops.py) give the same answers and data
#    (API 1 builds: FAST_ZERO fails with ENOTSUP).

. "$SRCDIR/tests/functions.sh"
. "$SRCDIR/tests/integration/itest-lib.sh"

requires_nbd_python

variants=(ours-v1 ours-v2)
[ -f "$ITEST_BUILD/test-plugin-debian-v1.so" ] &&
  variants+=(debian-v1 debian-v2)

our_header_version="$(sed -n 's/^#define NBDKIT_VERSION_STRING "\(.*\)"$/\1/p' \
                      "$BUILDDIR/include/nbdkit-version.h")"
[ -n "$our_header_version" ] || fail "cannot read our nbdkit-version.h"

failures=0
bad ()
{
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

callbacks=(longname description load unload dump_plugin config
           config_complete config_help thread_model get_ready after_fork
           cleanup preconnect list_exports default_export open close
           export_description get_size block_size can_write can_flush
           is_rotational can_trim can_zero can_fast_zero can_extents can_fua
           can_multi_conn can_cache)

for v in "${variants[@]}"; do
  plugin="$(itest_plugin "test-plugin-$v")"
  api="${v##*-v}"
  case "$v" in
    ours-*) hv="$our_header_version" ;;
    debian-*) hv=1.32.5 ;;
  esac

  {
    cat <<EOF
path=$plugin
name=testplugin
version=1.0
api_version=$api
struct_size=384
max_thread_model=parallel
thread_model=parallel
errno_is_preserved=1
magic_config_key=size
EOF
    for c in "${callbacks[@]}"; do echo "has_$c=1"; done
    if [ "$api" = 2 ]; then
      printf 'has_%s=1\n' pread pwrite flush trim zero extents cache
    else
      printf 'has_%s=1\n' extents cache _pread_v1 _pwrite_v1 _flush_v1 \
             _trim_v1 _zero_v1
    fi
    cat <<EOF
test_variant=$v
test_api_version=$api
test_header_version=$hv
EOF
  } >"$tmpdir/dump.expected"

  log="$tmpdir/dumplog.$v"
  "$NBDKIT" "$plugin" "log=$log" --dump-plugin >"$tmpdir/dump.$v" \
           2>"$tmpdir/dump.err" ||
    bad "$v: --dump-plugin failed: $(cat "$tmpdir/dump.err")"
  diff -u "$tmpdir/dump.expected" "$tmpdir/dump.$v" >"$tmpdir/diff" ||
    bad "$v: --dump-plugin (- expected, + actual):
$(cat "$tmpdir/diff")"

  printf '%s\n' load "config key=log value=$log" "thread_model -> parallel" \
         dump_plugin unload >"$tmpdir/dumplog.expected"
  diff -u "$tmpdir/dumplog.expected" "$log" >"$tmpdir/diff" ||
    bad "$v: callbacks during --dump-plugin (- expected, + actual):
$(cat "$tmpdir/diff")"

  if [ -x "$DEBIAN_NBDKIT_BIN" ]; then
    "$DEBIAN_NBDKIT" "$plugin" --dump-plugin >"$tmpdir/dump.ref"
    "$NBDKIT" "$plugin" --dump-plugin >"$tmpdir/dump.ours" 2>&1 || :
    diff -u "$tmpdir/dump.ref" "$tmpdir/dump.ours" >"$tmpdir/diff" ||
      bad "$v: --dump-plugin (- Debian's server, + ours):
$(cat "$tmpdir/diff")"
  fi

  # --help with a plugin shows the plugin's help.
  "$NBDKIT" "$plugin" --help >"$tmpdir/help" 2>&1 ||
    bad "$v: --help with a plugin failed"
  for s in "testplugin" "nbdkit integration test plugin" \
           "Implements and logs every plugin callback" \
           "log=FILE size=SIZE file=FILE can_\*=... fail=CB:ERRNO"; do
    grep -q "$s" "$tmpdir/help" || bad "$v: --help does not show: $s"
  done
  "$NBDKIT" -V "$plugin" >"$tmpdir/version" 2>&1 ||
    bad "$v: -V with a plugin failed"
  grep -qx "testplugin 1.0" "$tmpdir/version" ||
    bad "$v: -V does not show 'testplugin 1.0': $(cat "$tmpdir/version")"

  # The data path.
  start_nbdkit "$plugin" size=8M
  python3 "$ITEST_DIR/data-ops.py" "$uri" --model >"$tmpdir/ops.$v" 2>&1 ||
    bad "$v: data-ops.py failed: $(tail -3 "$tmpdir/ops.$v")"
  kill "$pid"
  wait_exit "$pid" 60 || bad "$v: server did not exit after SIGTERM"
  # Builds of the same API version answer alike.  (API 1 cannot honour
  # FAST_ZERO, so the server answers ENOTSUP for it.)
  if [ "$v" != "ours-v$api" ]; then
    diff -u "$tmpdir/ops.ours-v$api" "$tmpdir/ops.$v" >"$tmpdir/diff" ||
      bad "$v: answers differ from ours-v$api:
$(cat "$tmpdir/diff")"
  fi
done

# Between API versions only the fast zero differs.
sed 's/^fast zero: error ENOTSUP$/fast zero: ok/' "$tmpdir/ops.ours-v1" |
  diff -u - "$tmpdir/ops.ours-v2" >"$tmpdir/diff" ||
  bad "API 1 and API 2 builds answer differently:
$(cat "$tmpdir/diff")"
grep -qx "fast zero: error ENOTSUP" "$tmpdir/ops.ours-v1" ||
  bad "FAST_ZERO with an API 1 plugin should fail with ENOTSUP"

[ "$failures" -eq 0 ] || fail "$failures check(s) failed"
echo OK
