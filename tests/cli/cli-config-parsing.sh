#!/usr/bin/env bash
# Parsing of the plugin parameters (reference §7): KEY=VALUE with a
# valid key ([A-Za-z][A-Za-z0-9._-]*), otherwise a bare value which goes
# to the plugin's magic_config_key, or (first one only) to script=, or
# is an error.
. "$SRCDIR/tests/functions.sh"
. "$SRCDIR/tests/cli/cli-lib.sh"
requires nbdinfo --version
sh_plugin="$(debian_plugin sh)"
dmem="$(debian_plugin memory)"
ex1="$(debian_plugin example1)"
ex2="$(debian_plugin example2)"

# A shell plugin script that logs every .config call.
log="$tmpdir/config.log"
script="$tmpdir/log.sh"
cat > "$script" <<EOF_SCRIPT
#!/bin/bash
case "\$1" in
  config) printf '%s|%s\n' "\$2" "\$3" >> '$log' ;;
  config_complete) echo complete >> '$log' ;;
  get_size) echo 1M ;;
  pread) dd if=/dev/zero count=\$3 iflag=count_bytes 2>/dev/null ;;
  *) exit 2 ;;
esac
EOF_SCRIPT
chmod +x "$script"

# Valid keys, in order; the value is everything after the first '='.
"$NBDKIT" -U - "$sh_plugin" "$script" a=1 c.d-e_f=3 k=v=w K9= "Z=a b" Ab.9-x_=ok \
  --run true || fail "valid keys rejected"
cat > "$tmpdir/expected" <<'EOF_EXP'
a|1
c.d-e_f|3
k|v=w
K9|
Z|a b
Ab.9-x_|ok
complete
EOF_EXP
diff -u "$tmpdir/expected" "$log" || fail "config calls differ"

# Magic config key: a bare value means size=VALUE for memory.
"$NBDKIT" -U - "$dmem" 3M --run 'nbdinfo --size "$uri"' > "$tmpdir/out" || fail "magic key"
[ "$(cat "$tmpdir/out")" = 3145728 ] || fail "bare 3M did not become size=3M"

# An argument whose "key" is not a valid key is a bare value: memory
# receives the whole argument as its size (and cannot parse it).
for arg in "_z=1" "9=1" ".a=1" "a/b=1" "a b=c" "=y" "1M=2" "a+b=c"; do
  expect_fail_with 'size' "$NBDKIT" -f -U "$tmpdir/s" "$dmem" "$arg"
  grep -qF -- "${arg#?}" "$tmpdir/expect_fail.out" ||
    { cat "$tmpdir/expect_fail.out"; fail "'$arg' was not passed whole as the size"; }
done

# No magic key: the first bare argument becomes script=VALUE (example2
# rejects the unknown key "script", which shows what it received).
expect_fail_with "unknown parameter 'script'" "$NBDKIT" -f -U "$tmpdir/s" "$ex2" somefile

# ... and a later bare argument is an error.
truncate -s 1M "$tmpdir/disk"
expect_fail_with 'expecting key=value on the command line but got: extra' \
  "$NBDKIT" -f -U "$tmpdir/s" "$ex2" file="$tmpdir/disk" extra
expect_fail_with 'expecting key=value on the command line but got: 9x=1' \
  "$NBDKIT" -f -U "$tmpdir/s" "$ex2" file="$tmpdir/disk" 9x=1

# A plugin without .config takes no parameters at all.
expect_fail_with 'this plugin does not need command line configuration' \
  "$NBDKIT" -f -U "$tmpdir/s" "$ex1" foo=bar
expect_fail_with 'this plugin does not need command line configuration' \
  "$NBDKIT" -f -U "$tmpdir/s" "$ex1" bare

# ... but runs fine without.
"$NBDKIT" -U - "$ex1" --run 'nbdinfo --size "$uri"' > "$tmpdir/out" || fail "example1"
[ -s "$tmpdir/out" ] || fail "example1: no size"
