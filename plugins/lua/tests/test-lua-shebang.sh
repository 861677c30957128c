#!/usr/bin/env bash
# Executable scripts with a "#!/path/to/nbdkit lua" line: run
# directly, installed as $plugindir/nbdkit-NAME-plugin and found by
# short name, and the #! line ignored (with correct line numbers in
# errors) when the script is given to "nbdkit lua".  The same script
# under Debian's nbdkit must give the same results.

. "$SRCDIR/tests/functions.sh"
. "$SRCDIR/plugins/lua/tests/functions-lua.sh"
requires python3 -c 'import nbd'

cd "$tmpdir"

body='function config(k, v) if k == "size" then size = tonumber(v) end end
function open(readonly) return 1 end
function get_size(h) return size or 65536 end
function pread(h, count, offset)
  if offset == 4096 then error("no reading here") end
  return string.rep("s", count)
end'

# The manual's form: "nbdkit lua script" skips the #! line.
{ echo '#!/usr/sbin/nbdkit lua'; echo "$body"; } > manual.lua
start_ours log1 lua manual.lua size=8192
client python3 "$LUADIR/probe.py" "$uri" info text:0:4 pread:4096:512 > p1
cat p1
grep -q '^info -> OK size=8192 ' p1 || fail "manual.lua: size"
grep -qx 'text:0:4 -> OK ssss' p1 || fail "manual.lua: data"
# error() is on line 6 of the file, counting the #! line.
expect_log log1 '^nbdkit: lua\[[0-9]+\]: error: pread: manual.lua:6: no reading here$'
stop_nbdkit

# A script that runs itself with our nbdkit.  The kernel limits the
# length of the #! line.
shebang="#!$NBDKIT lua"
[ ${#shebang} -lt 250 ] || skip "build directory path too long for #!"
{ echo "$shebang"; echo "$body"; } > self.lua
chmod +x self.lua
./self.lua -f -U "$tmpdir/self.sock" size=12288 --run \
  "python3 '$LUADIR/probe.py' \"\$uri\" info text:0:4" > p2 2> log2
cat p2
grep -q '^info -> OK size=12288 ' p2 || fail "self.lua: $(cat log2)"
grep -qx 'text:0:4 -> OK ssss' p2 || fail "self.lua: data"

# Installed as a plugin: nbdkit finds the executable
# nbdkit-NAME-plugin and runs it.
mkdir plugins
cp self.lua plugins/nbdkit-selftest-plugin
NBDKIT_PLUGIN_PATH="$tmpdir/plugins" \
  "$NBDKIT" -f -U "$tmpdir/inst.sock" selftest size=16384 --run \
  "python3 '$LUADIR/probe.py' \"\$uri\" info text:0:4" > p3 2> log3
cat p3
grep -q '^info -> OK size=16384 ' p3 || fail "installed script: $(cat log3)"

# Debian's nbdkit runs the same kind of script the same way.
if [ -n "$have_debian" ]; then
  { echo "#!$DEBIAN_NBDKIT lua"; echo "$body"; } > deb.lua
  chmod +x deb.lua
  ./deb.lua -f -U "$tmpdir/deb.sock" size=12288 --run \
    "python3 '$LUADIR/probe.py' \"\$uri\" info text:0:4" > p4 2> log4
  diff -u p4 p2 || fail "Debian's nbdkit gives different results"
  echo "same results under Debian's nbdkit"
fi
