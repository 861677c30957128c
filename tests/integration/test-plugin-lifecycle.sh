#!/usr/bin/env bash
# The order of plugin callbacks (reference §4.2), for each build of the
# test plugin (our header and Debian's, API 1 and 2):
#   load, config..., config_complete, thread_model, get_ready,
#   after_fork, then per connection preconnect, list_exports,
#   default_export, open, get_size, can_write, can_zero, can_fast_zero,
#   can_trim, can_fua, can_flush, is_rotational, can_multi_conn,
#   can_cache, can_extents, block_size, export_description, the data
#   callbacks, close; at shutdown cleanup and unload.
# Also with -r (no write-related can_* calls, readonly=1 everywhere)
# and over two connections.

. "$SRCDIR/tests/functions.sh"
. "$SRCDIR/tests/integration/itest-lib.sh"

requires_nbd_python

variants=(ours-v1 ours-v2)
[ -f "$ITEST_BUILD/test-plugin-debian-v1.so" ] &&
  variants+=(debian-v1 debian-v2)

failures=0
check_log ()
{
  if ! diff -u "$2" "$3" >"$tmpdir/diff"; then
    echo "FAIL: $1: callback log differs (- expected, + actual):" >&2
    sed 's/^/  /' "$tmpdir/diff" >&2
    failures=$((failures + 1))
  fi
}

stop_server ()
{
  kill "$pid"
  if ! wait_exit "$pid" 60; then
    echo "FAIL: $1: server did not exit after SIGTERM" >&2
    failures=$((failures + 1))
    kill -9 "$pid" 2>/dev/null || :
  fi
}

# The negotiation callbacks in the documented order.
negotiation ()
{
  cat <<EOF
open readonly=0 exportname=b
get_size -> 2097152
can_write -> 1
can_zero -> 1
can_fast_zero -> 1
can_trim -> 1
can_fua -> 2
can_flush -> 1
is_rotational -> 0
can_multi_conn -> 1
can_cache -> 2
can_extents -> 1
block_size -> 512:4096:65536
export_description -> hello
EOF
}

for v in "${variants[@]}"; do
  plugin="$(itest_plugin "test-plugin-$v")"
  log="$tmpdir/log.$v"

  # --- one connection using every part of the protocol ---
  start_nbdkit "$plugin" "log=$log" exports=a,b default_export=b \
               description=hello block_size=512:4096:65536 2M
  python3 "$ITEST_DIR/lifecycle-client.py" "$uri" >"$tmpdir/client.$v" ||
    fail "$v: lifecycle-client.py failed: $(cat "$tmpdir/client.$v")"
  # The client has hung up; let the server see it before stopping it.
  wait_log "$log" '^close$' 2 || echo "$v: close was not called" >&2
  stop_server "$v"

  {
    cat <<EOF
load
config key=log value=$log
config key=exports value=a,b
config key=default_export value=b
config key=description value=hello
config key=block_size value=512:4096:65536
config key=size value=2M
config_complete
thread_model -> parallel
get_ready
after_fork
preconnect readonly=0
list_exports readonly=0 is_tls=0
default_export readonly=0 is_tls=0 -> b
EOF
    negotiation
    echo close
    negotiation
    cat <<EOF
pwrite count=4096 offset=0 flags=none
pread count=4096 offset=0 flags=none
flush flags=none
trim count=4096 offset=8192 flags=none
zero count=4096 offset=12288 flags=may_trim
cache count=4096 offset=0 flags=none
extents count=16384 offset=0 flags=none
EOF
    # API 1 plugins cannot see FUA: the server flushes after the write.
    case "$v" in
      *-v1) printf '%s\n' "pwrite count=512 offset=0 flags=none" \
                          "flush flags=none" ;;
      *) echo "pwrite count=512 offset=0 flags=fua" ;;
    esac
    cat <<EOF
pread count=512 offset=0 flags=none
close
cleanup
unload
EOF
  } >"$tmpdir/expected.$v"
  check_log "$v" "$tmpdir/expected.$v" "$log"

  cat >"$tmpdir/client.expected" <<'EOF'
exports=[('a', 'export a'), ('b', 'export b')]
info: name=b description=hello size=2097152
go: size=2097152 block_size=512:4096:65536
is_read_only=False
can_flush=True
can_trim=True
can_zero=True
can_fast_zero=True
can_fua=True
can_cache=True
can_multi_conn=True
can_df=True
is_rotational=False
extents=[[4096, 0], [12288, 3]]
done
EOF
  check_log "$v: client view" "$tmpdir/client.expected" "$tmpdir/client.$v"

  # --- read-only server, two connections, default export "" ---
  log="$tmpdir/log-ro.$v"
  start_nbdkit -r "$plugin" "log=$log"
  for i in 1 2; do
    python3 -c '
import sys, nbd
h = nbd.NBD()
h.connect_uri(sys.argv[1])
assert h.is_read_only()
assert h.pread(512, 0) == bytes(512)
h.shutdown()' "$uri" || fail "$v: read-only connection $i failed"
  done
  wait_log "$log" '^close$' 2 || echo "$v -r: close was not called" >&2
  stop_server "$v -r"
  {
    cat <<EOF
load
config key=log value=$log
config_complete
thread_model -> parallel
get_ready
after_fork
EOF
    for i in 1 2; do
      cat <<EOF
preconnect readonly=1
default_export readonly=1 is_tls=0 -> 
open readonly=1 exportname=
get_size -> 1048576
can_flush -> 1
is_rotational -> 0
can_multi_conn -> 1
can_cache -> 2
can_extents -> 1
block_size -> 0:0:0
pread count=512 offset=0 flags=none
close
EOF
    done
    printf '%s\n' cleanup unload
  } >"$tmpdir/expected-ro.$v"
  check_log "$v -r" "$tmpdir/expected-ro.$v" "$log"
done

# All builds log the same calls once the differences of the API
# version are taken out.
for v in "${variants[@]}"; do
  sed -e "s,$tmpdir/log\.$v,LOG," -e '/^flush flags=none$/d' \
      -e 's/^pwrite count=512 offset=0 flags=fua$/pwrite count=512 offset=0 flags=none/' \
      "$tmpdir/log.$v" >"$tmpdir/norm.$v"
  check_log "$v vs ${variants[0]}" "$tmpdir/norm.${variants[0]}" "$tmpdir/norm.$v"
done

[ "$failures" -eq 0 ] || fail "$failures check(s) failed"
echo OK
