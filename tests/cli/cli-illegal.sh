#!/usr/bin/env bash
# Illegal option combinations: each gives one clear error and exit 1.
. "$SRCDIR/tests/functions.sh"
. "$SRCDIR/tests/cli/cli-lib.sh"
mem="$(plugin memory)"
s="$tmpdir/sock"
port="$(free_tcp_port)"

combo='cannot be used in this combination'
# -f everywhere: a server that wrongly accepts the combination must not
# fork away (the guard timeout in expect_fail_with then fails the test).
expect_fail_with "$combo" "$NBDKIT" -f -p "$port" -U "$s" "$mem" size=1M
expect_fail_with "$combo" "$NBDKIT" -f -p "$port" -s "$mem" size=1M
expect_fail_with "$combo" "$NBDKIT" -f -U "$s" -s "$mem" size=1M
expect_fail_with "$combo" "$NBDKIT" -f -s --run true "$mem" size=1M
expect_fail_with "$combo" "$NBDKIT" -s --dump-plugin "$mem"
# Options after the plugin count too.
expect_fail_with "$combo" "$NBDKIT" -f "$mem" size=1M -U "$s" -p "$port"
# Only one error message (the first line), not a cascade.
n="$(grep -c . "$tmpdir/expect_fail.out")"
[ "$n" -le 2 ] || { cat "$tmpdir/expect_fail.out"; fail "more than one error printed"; }
grep -q "^nbdkit: " "$tmpdir/expect_fail.out" || fail "error does not start with 'nbdkit: '"
[ ! -e "$s" ] || fail "a socket was created although the command line is invalid"

# --vsock with -U or -s: an error in both servers (ours rejects --vsock
# altogether for now).
expect_fail_with "$combo|vsock" "$NBDKIT" -f --vsock -U "$s" "$mem" size=1M
expect_fail_with "$combo|vsock" "$NBDKIT" -f --vsock -s "$mem" size=1M
if is_debian_server; then
  expect_fail_with "$combo" "$NBDKIT" -f --vsock -U "$s" "$mem" size=1M
fi

# -o with --tls=require (ours rejects --tls altogether for now).
expect_fail_with 'oldstyle|TLS|tls' "$NBDKIT" -f -o --tls=require -U "$s" "$mem" size=1M

# No plugin.
expect_fail_with 'no plugins given' "$NBDKIT" -f -U "$s"
grep -q "nbdkit --help" "$tmpdir/expect_fail.out" || fail "no hint to nbdkit --help"
# --dump-plugin without a plugin.
expect_fail_with 'dump-plugin' "$NBDKIT" --dump-plugin
# Unknown options.
expect_fail_with 'unrecognized option|--no-such-option' "$NBDKIT" --no-such-option "$mem" size=1M
expect_fail_with "invalid option|-- 'Z'" "$NBDKIT" -Z "$mem" size=1M
# Missing option argument.
expect_fail_with 'requires an argument|-U' "$NBDKIT" "$mem" size=1M -U
