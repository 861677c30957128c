#!/usr/bin/env bash
# Passing the script and its parameters: script.lua or script=...,
# key=value in order (values may contain '='), the script's
# magic_config_key for bare parameters, the errors nbdkit gives, and a
# relative script path with per-connection interpreters after the
# server has forked and changed directory.

. "$SRCDIR/tests/functions.sh"
. "$SRCDIR/plugins/lua/tests/functions-lua.sh"
requires python3 -c 'import nbd'

cd "$tmpdir"
cp "$LUADIR/callbacks.lua" "$LUADIR/meta.lua" "$LUADIR/ramdisk.lua" .

probe ()
{
  client python3 "$LUADIR/probe.py" "$uri" "$@"
}

# key=value parameters arrive in order, after the script.
for form in callbacks.lua script=callbacks.lua; do
  rm -f log
  start_ours err lua $form log="$tmpdir/log" exports=x=1/y=2 size=64k \
    default_export=x=1
  probe info > probe.out
  stop_nbdkit
  grep -q '^info -> OK size=65536 ' probe.out || fail "$form: size=64k"
  printf '%s\n' "config log=$tmpdir/log" "config exports=x=1/y=2" \
    "config size=64k" "config default_export=x=1" "config_complete" \
    > want
  grep '^config' log | diff -u want - || fail "$form: config calls"
done

# The magic config key: bare parameters go to config("file", ...),
# and the first bare parameter is still the script.
start_ours err lua meta.lua a.img file=b.img c.img
probe text:0:512 > probe.out
grep -qx 'text:0:512 -> OK a.img,b.img,c.img' probe.out ||
  fail "magic_config_key: $(cat probe.out)"
stop_nbdkit

# Errors: the first parameter must be the script; bare parameters
# need a magic config key; the script must exist.
deb=yes
expect_start_error ()
{
  local regex="$1" s server
  shift
  local -a servers=(ours)
  [ -n "$have_debian" ] && servers+=(debian)
  for s in "${servers[@]}"; do
    server="$NBDKIT"
    [ "$s" = debian ] && server="$DEBIAN_NBDKIT"
    if timeout 60 "$server" -f -U "$tmpdir/never.sock" "$@" 2> err.$s; then
      fail "$*: the server should not start ($s)"
    fi
  done
  expect_log err.ours "$regex"
  echo "$*: refused"
}
expect_start_error 'the first parameter must be script=' \
  lua size=1 ramdisk.lua
expect_start_error 'expecting key=value on the command line but got: extra' \
  lua ramdisk.lua extra
expect_start_error 'unknown parameter bogus' lua ramdisk.lua bogus=1
expect_start_error 'nonexistent.lua' lua nonexistent.lua

# A relative script path and per-connection interpreters, with the
# server in the background (it changes directory to /): connections
# load the script from memory, not from the (now wrong) path.
cat > rel.lua <<'EOF2'
function thread_model() return "parallel" end
function config(k, v) size = tonumber(v) end
function open(readonly) return 1 end
function get_size(h) return size end
function pread(h, count, offset) return string.rep("r", count) end
EOF2
start_nbdkit lua rel.lua size=4096
probe info text:0:4 > probe.out
grep -q '^info -> OK size=4096 ' probe.out || fail "relative: $(cat probe.out)"
grep -qx 'text:0:4 -> OK rrrr' probe.out || fail "relative: $(cat probe.out)"
echo "relative script path with per-connection interpreters: OK"
