#!/usr/bin/env bash
# The first bare argument becomes script=VALUE, which makes
#   #!/path/to/nbdkit PLUGIN
# scripts work.  Uses Debian's sh and python plugins (by full path).
. "$SRCDIR/tests/functions.sh"
. "$SRCDIR/tests/cli/cli-lib.sh"
requires nbdinfo --version
sh_plugin="$(debian_plugin sh)"

# sh plugin: "nbdkit sh SCRIPT" == "nbdkit sh script=SCRIPT".
cat > "$tmpdir/disk.sh" <<'EOF_SH'
#!/bin/bash
case "$1" in
  get_size) echo 3M ;;
  pread) dd if=/dev/zero count=$3 iflag=count_bytes 2>/dev/null ;;
  *) exit 2 ;;
esac
EOF_SH
chmod +x "$tmpdir/disk.sh"
for arg in "$tmpdir/disk.sh" "script=$tmpdir/disk.sh"; do
  "$NBDKIT" -U - "$sh_plugin" "$arg" --run 'nbdinfo --size "$uri"' > "$tmpdir/out" ||
    fail "sh plugin with '$arg' failed"
  [ "$(cat "$tmpdir/out")" = 3145728 ] || fail "sh plugin with '$arg': size"
done

# python plugin (no magic_config_key): the first bare argument is
# script=, later ones must be key=value.  Also a real shebang script.
py_plugin="$DEBIAN_PLUGINDIR/nbdkit-python-plugin.so"
[ -f "$py_plugin" ] || { echo "python plugin absent: shebang part skipped"; exit 0; }
"$NBDKIT" "$py_plugin" --dump-plugin | grep -q '^magic_config_key=' &&
  skip "python plugin unexpectedly has a magic config key"

script="$tmpdir/disk.py"
cat > "$script" <<EOF_PY
#!$NBDKIT $py_plugin
import builtins
API_VERSION = 2
def config(key, value):
    with builtins.open("$tmpdir/py-config.log", "a") as f:
        f.write("%s=%s\n" % (key, value))
def open(readonly):
    return 1
def get_size(h):
    return 5 * 1024 * 1024
def pread(h, buf, offset, flags):
    buf[:] = bytes(len(buf))
EOF_PY
chmod +x "$script"
[ "$(head -1 "$script" | wc -c)" -lt 250 ] || skip "shebang line too long for the kernel"

# Bare first argument.
"$NBDKIT" -U - "$py_plugin" "$script" foo=bar --run 'nbdinfo --size "$uri"' > "$tmpdir/out" ||
  fail "python plugin with a bare script argument failed"
[ "$(cat "$tmpdir/out")" = 5242880 ] || fail "python: size"
grep -qx 'foo=bar' "$tmpdir/py-config.log" || fail "python: foo=bar not passed to the script"

# A second bare argument is an error.
expect_fail_with 'expecting key=value on the command line but got: extra' \
  "$NBDKIT" -f -U "$tmpdir/s" "$py_plugin" "$script" extra

# Shebang: the kernel runs "$NBDKIT $py_plugin $script ARGS...", and
# the options given to the script are options of the server.
rm -f "$tmpdir/py-config.log"
"$script" -U - k=v --run 'nbdinfo --size "$uri"' > "$tmpdir/out" ||
  fail "shebang script failed"
[ "$(cat "$tmpdir/out")" = 5242880 ] || fail "shebang: size"
grep -qx 'k=v' "$tmpdir/py-config.log" || fail "shebang: k=v not passed to the script"
