#!/usr/bin/env bash
# Errors raised by the plugin reach the client as nbdkit maps them
# (reference §3): EPERM/EROFS -> EPERM, EIO, ENOMEM, EDQUOT/EFBIG/ENOSPC
# -> ENOSPC, ESHUTDOWN, ENOTSUP only for FAST_ZERO, EOVERFLOW only for
# reads with DF, anything else -> EINVAL.  Checked for every data
# command, every build of the test plugin, with the errno passed by
# nbdkit_set_error and by errno (errno_is_preserved).  A failing
# request never breaks the connection.
#
# Failing negotiation callbacks: the client gets a clean error at the
# right step, the server logs "error: CALLBACK: injected failure" and
# keeps serving.

. "$SRCDIR/tests/functions.sh"
. "$SRCDIR/tests/integration/itest-lib.sh"

requires_nbd_python

variants=(ours-v1 ours-v2)
[ -f "$ITEST_BUILD/test-plugin-debian-v1.so" ] &&
  variants+=(debian-v1 debian-v2)

failures=0
bad ()
{
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

errnos=(EPERM EROFS EIO ENOMEM EINVAL ENOSPC EDQUOT EFBIG ESHUTDOWN ENOTSUP
        EOVERFLOW EBADF EACCES ENOENT EAGAIN)

expected_errno ()
{
  local cmd="$1" e="$2"
  # An API 1 plugin cannot honour FAST_ZERO: the server answers ENOTSUP
  # without calling it.
  if [ "$cmd" = zero-fast ] && [ "$api" = 1 ]; then
    echo ENOTSUP
    return
  fi
  case "$e" in
    EPERM|EROFS) echo EPERM ;;
    EIO|ENOMEM|ESHUTDOWN|EINVAL) echo "$e" ;;
    ENOSPC|EDQUOT|EFBIG) echo ENOSPC ;;
    ENOTSUP) [ "$cmd" = zero-fast ] && echo ENOTSUP || echo EINVAL ;;
    EOVERFLOW) [ "$cmd" = pread-df ] && echo EOVERFLOW || echo EINVAL ;;
    *) echo EINVAL ;;
  esac
}

rules=()
i=1
for e in "${errnos[@]}"; do
  rules+=("fail=*:$e@$((i * 65536))")
  i=$((i + 1))
done

for api in 1 2; do
  for e in "${errnos[@]}"; do
    for cmd in pwrite pwrite-fua pread pread-df trim zero zero-fast cache \
               block_status; do
      [ "$cmd" = zero ] && [ "$e" = ENOTSUP ] && continue
      echo "$cmd $e $(expected_errno "$cmd" "$e")"
    done
  done >"$tmpdir/expected.v$api"
done

pids=()
for v in "${variants[@]}"; do
  plugin="$(itest_plugin "test-plugin-$v")"
  for style in set_error errno; do
    start_nbdkit_fg "$plugin" size=4M "errno_style=$style" "${rules[@]}"
    pids+=("$pid")
    if ! python3 "$ITEST_DIR/errors-client.py" "$uri" "${errnos[@]}" \
         >"$tmpdir/actual.$v.$style" 2>&1; then
      bad "$v ($style): errors-client.py failed:
$(tail -5 "$tmpdir/actual.$v.$style")"
      continue
    fi
    diff -u "$tmpdir/expected.${v##*-}" "$tmpdir/actual.$v.$style" >"$tmpdir/diff" ||
      bad "$v ($style): errors seen by the client (COMMAND PLUGIN-ERRNO CLIENT-ERRNO; - expected, + actual):
$(cat "$tmpdir/diff")"
    grep -Eq '^nbdkit: testplugin(\[[0-9]+\]|\.[0-9]+)?: error: pwrite: injected failure$' \
         "$errlog" ||
      bad "$v ($style): no 'nbdkit: testplugin...: error: pwrite: injected failure' in the server's log:
$(head -5 "$errlog")"
  done
done

# Negotiation callbacks that fail.  Expected outcome per callback:
outcome ()
{
  case "$1" in
    preconnect) echo "connect: *" ;;
    list_exports) printf '%s\n' "list: *" "go ok" "read ok" ;;
    default_export) printf '%s\n' "list *" "go: *" ;;
    block_size) printf '%s\n' "list ok" "go: *" ;;
    export_description) printf '%s\n' "list ok" "go ok" "read ok" ;;
    # Reference §3: open failure -> NBD_REP_ERR_UNKNOWN (ENOENT in libnbd).
    *) printf '%s\n' "list ok" "go: ENOENT" ;;
  esac
}

for v in ours-v1 ours-v2; do
  plugin="$(itest_plugin "test-plugin-$v")"
  for cb in preconnect list_exports default_export open get_size can_write \
            can_zero can_fast_zero can_trim can_fua can_flush is_rotational \
            can_multi_conn can_cache can_extents block_size \
            export_description; do
    start_nbdkit_fg "$plugin" "fail=$cb:EIO"
    pids+=("$pid")
    # Twice: the first failure must not break the server.
    for try in 1 2; do
      python3 "$ITEST_DIR/control-client.py" "$uri" >"$tmpdir/cc" 2>&1 ||
        bad "$v: fail=$cb: control-client.py failed: $(cat "$tmpdir/cc")"
      n=0
      while read -r pattern; do
        n=$((n + 1))
        line="$(sed -n "${n}p" "$tmpdir/cc")"
        # shellcheck disable=SC2053
        [[ "$line" == $pattern ]] ||
          bad "$v: fail=$cb (connection $try): expected '$pattern', got '$line' (all: $(tr '\n' '|' <"$tmpdir/cc"))"
      done < <(outcome "$cb")
      kill -0 "$pid" 2>/dev/null ||
        bad "$v: fail=$cb: the server died"
    done
    if [ "$cb" != export_description ]; then
      grep -Eq "^nbdkit: testplugin(\[[0-9]+\]|\.[0-9]+)?: error: $cb: injected failure\$" \
           "$errlog" ||
        bad "$v: fail=$cb: error message missing from the server's log:
$(head -5 "$errlog")"
    fi
  done
done

kill "${pids[@]}" 2>/dev/null || :
for p in "${pids[@]}"; do
  wait_exit "$p" 60 || bad "server $p did not exit after SIGTERM"
done

[ "$failures" -eq 0 ] || fail "$failures check(s) failed"
echo OK
