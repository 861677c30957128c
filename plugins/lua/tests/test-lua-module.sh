#!/usr/bin/env bash
# The nbdkit module: debug, export_name, parse_size, parse_bool,
# is_tls, peer_name/pid/uid/gid, absolute_path, nanosleep, set_error,
# the constants, shutdown and disconnect.

. "$SRCDIR/tests/functions.sh"
. "$SRCDIR/plugins/lua/tests/functions-lua.sh"
requires python3 -c 'import nbd'

cd "$tmpdir"
start_ours "$tmpdir/log" -v lua "$LUADIR/module.lua" path=some/file
client python3 "$LUADIR/probe.py" "nbd+unix:///myexport?socket=$sock" \
  text:0:1024 | tail -n +1 > report
cat report
want="text:0:1024 -> OK export_name=myexport
parse_size=1048576,512,1024
parse_size_bad=error
parse_bool=true,false
parse_bool_bad=error
is_tls=false
stdio_safe=boolean
peer_family=unix
peer_pid=integer
peer_uid=$(id -u)
peer_gid=$(id -g)
absolute_path=$tmpdir/some/file
nanosleep=nil
nanosleep_bad=error
set_error_bad=error
constants=0,1,2,3,1,2,4,8,0,1,2,0,1,2,1,2"
[ "$(cat report)" = "$want" ] || {
  diff -u <(echo "$want") report
  fail "unexpected report from the nbdkit module"
}
expect_log "$tmpdir/log" 'debug: open called for myexport \(42\)$'
expect_log "$tmpdir/log" 'debug: a message with a % sign$'

# disconnect: the client is dropped, the server keeps serving.
client python3 "$LUADIR/probe.py" "$uri" text:8192:512 pread:0:512 \
  > disc || :
cat disc
grep -q '^text:8192:512 -> ERR' disc || fail "disconnect: the read should fail"
if grep -q '^pread:0:512 -> OK' disc; then
  fail "disconnect: the connection should have been dropped"
fi
client python3 "$LUADIR/probe.py" "$uri" text:12288:512 pread:0:512 \
  > disc2 || :
cat disc2
if grep -q '^pread:0:512 -> OK' disc2; then
  fail "disconnect(true): the connection should have been dropped"
fi
client python3 "$LUADIR/probe.py" "$uri" pid > alive
grep -qx 'pid -> OK' alive || fail "the server should survive disconnect"

# shutdown: the server exits.
client python3 "$LUADIR/probe.py" "$uri" pread:4096:512 > shut || :
for (( i=0; i<600; i++ )); do
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$pid" 2>/dev/null; then
  fail "nbdkit.shutdown: the server is still running"
fi
echo "shutdown: OK"
