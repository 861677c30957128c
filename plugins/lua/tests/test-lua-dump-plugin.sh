#!/usr/bin/env bash
# --dump-plugin prints the Lua version and then the script's own
# dump_plugin output; the script's name, version, longname,
# description, config_help and magic_config_key (global strings or
# functions) show up in --dump-plugin, --help and --version as a C
# plugin's would.

. "$SRCDIR/tests/functions.sh"
. "$SRCDIR/plugins/lua/tests/functions-lua.sh"

cd "$tmpdir"
luaver="$(pkg-config --modversion lua5.4 2>/dev/null || :)"

# Without a script.
"$NBDKIT" lua --dump-plugin > dump0
grep -qx 'name=lua' dump0 || fail "no script: name"
grep -qx 'api_version=2' dump0 || fail "no script: api_version"
grep -qx 'max_thread_model=parallel' dump0 || fail "no script: max model"
tail -n1 dump0 | grep -qE '^lua_version=5\.4\.[0-9]+$' ||
  fail "no script: the last line should be lua_version"
[ -z "$luaver" ] || grep -qx "lua_version=$luaver" dump0 ||
  fail "lua_version should be $luaver"

# A script with dump_plugin and thread_model: lua_version, then the
# script's lines; parameters reach config first.
"$NBDKIT" lua "$LUADIR/callbacks.lua" thread_model=parallel --dump-plugin \
  > dump1
tail -n2 dump1 | head -n1 | grep -qE '^lua_version=' ||
  fail "lua_version should come just before the script's output"
tail -n1 dump1 | grep -qx 'callbacks_dump=yes' ||
  fail "the script's dump_plugin output should come last"
grep -qx 'max_thread_model=parallel' dump1 ||
  fail "max_thread_model should be parallel"
# parallel runs as serialize_requests (one interpreter per connection).
grep -qx 'thread_model=serialize_requests' dump1 ||
  fail "thread_model=parallel should become serialize_requests"
"$NBDKIT" lua "$LUADIR/callbacks.lua" thread_model=serialize_connections \
  --dump-plugin | grep -qx 'thread_model=serialize_connections' ||
  fail "thread_model should be the one the script chose"

# Metadata, as strings and as functions.
for how in strings functions; do
  if [ $how = functions ]; then export META_FUNCTIONS=1; fi
  "$NBDKIT" lua "$LUADIR/meta.lua" one.img --dump-plugin > dump.$how
  "$NBDKIT" lua "$LUADIR/meta.lua" --help > help.$how
  "$NBDKIT" lua "$LUADIR/meta.lua" --version > version.$how
  cat dump.$how help.$how version.$how
  for l in name=luameta version=7.8.9 magic_config_key=file \
           meta_files=one.img; do
    grep -qx "$l" dump.$how || fail "$how: --dump-plugin lacks $l"
  done
  grep -q '^plugin: luameta (Lua metadata test)$' help.$how ||
    fail "$how: --help should name the plugin with its longname"
  grep -qx 'A script that describes itself.' help.$how ||
    fail "$how: --help should show the description"
  grep -qx 'file=<FILE>  The file (also a bare parameter).' help.$how ||
    fail "$how: --help should show config_help"
  grep -qx 'luameta 7.8.9' version.$how ||
    fail "$how: --version should show the name and version"
done
unset META_FUNCTIONS

# Unusable metadata is ignored: a global "name" that is not a valid
# plugin name, a number for version.
cat > odd.lua <<'EOF2'
name = "disk.img"
version = 3
function open(readonly) return 1 end
function get_size(h) return 512 end
function pread(h, count, offset) return string.rep("\0", count) end
EOF2
"$NBDKIT" lua odd.lua --dump-plugin > dump.odd
grep -qx 'name=lua' dump.odd || fail "an invalid name should be ignored"
grep -qx 'version=3' dump.odd && fail "a number is not a version string"
"$NBDKIT" lua odd.lua --version | grep -q '^lua ' ||
  fail "--version: an invalid name should be ignored"
echo OK
