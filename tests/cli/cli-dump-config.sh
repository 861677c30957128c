#!/usr/bin/env bash
# --dump-config: compile-time configuration as key=value lines.
. "$SRCDIR/tests/functions.sh"
. "$SRCDIR/tests/cli/cli-lib.sh"

"$NBDKIT" --dump-config > "$tmpdir/out" || fail "--dump-config failed"
cat "$tmpdir/out"

# Every line is key=value.
grep -Evq '^[a-z_]+=' "$tmpdir/out" && fail "a line is not key=value"

# The keys of nbdkit 1.32.5, in this order (version_extra is optional).
keys="$(sed 's/=.*//' "$tmpdir/out" | grep -vx version_extra | tr '\n' ' ')"
expected="binary bindir exit_with_parent filterdir host_cpu host_os libdir mandir name plugindir root_tls_certificates_dir sbindir selinux sysconfdir tls version version_major version_minor zstd "
[ "$keys" = "$expected" ] || fail "keys are: $keys
expected:     $expected"

get () { sed -n "s/^$1=//p" "$tmpdir/out"; }
[ "$(get name)" = nbdkit ] || fail "name"
[ "$(get version_major)" = 1 ] || fail "version_major is not 1"
minor="$(get version_minor)"
[[ "$minor" =~ ^[0-9]+$ ]] && [ "$minor" -ge 32 ] || fail "version_minor $minor < 32"
[[ "$(get version)" =~ ^1\.$minor\.[0-9]+$ ]] || fail "version does not match version_minor"
for k in exit_with_parent selinux tls zstd; do
  [[ "$(get $k)" =~ ^(yes|no)$ ]] || fail "$k is not yes/no"
done
[ "$(get exit_with_parent)" = yes ] || fail "exit_with_parent should be yes on Linux"
[ "$(get host_os)" = linux-gnu ] || fail "host_os"
[ "$(get host_cpu)" = "$(uname -m)" ] || fail "host_cpu"
for k in bindir filterdir libdir mandir plugindir sbindir sysconfdir binary; do
  [[ "$(get $k)" = /* ]] || fail "$k is not an absolute path"
done

# Nothing else is needed: no plugin, and the output goes to stdout.
"$NBDKIT" --dump-config 2>&1 >/dev/null | grep . && fail "--dump-config wrote to stderr"
exit 0
