#!/usr/bin/env bash
# --tls and --vsock.  Our server does not implement them yet and must
# reject them with one clear error (exit 1); Debian's server implements
# them, so those assertions only apply to ours.  (--filter is tested in
# tests/filters/.)
. "$SRCDIR/tests/functions.sh"
. "$SRCDIR/tests/cli/cli-lib.sh"
mem="$(plugin memory)"
s="$tmpdir/sock"

# Both servers: a filter that does not exist is an error.
expect_fail_with 'filter' "$NBDKIT" -f -U "$s" --filter=no-such-filter "$mem" size=1M

if is_debian_server; then
  echo "Debian's server implements --tls/--vsock: ours-only checks skipped"
  exit 0
fi

# check OPTION...: exit 1, a message that names the feature, no socket.
check ()
{
  local re="$1"; shift
  expect_fail_with "$re" "$NBDKIT" -f -U "$s" "$@"
  grep -q '^nbdkit: ' "$tmpdir/expect_fail.out" ||
    { cat "$tmpdir/expect_fail.out"; fail "$*: error does not start with 'nbdkit: '"; }
  [ ! -e "$s" ] || fail "$*: a socket was created"
}

check 'TLS|tls' --tls=require "$mem" size=1M
check 'TLS|tls' --tls=on "$mem" size=1M
for mode in required force; do
  check 'TLS|tls' --tls=$mode "$mem" size=1M
  ! grep -q 'boolean' "$tmpdir/expect_fail.out" ||
    fail "--tls=$mode: $(cat "$tmpdir/expect_fail.out")"
done
check 'TLS|tls' --tls-psk="$tmpdir/psk" "$mem" size=1M
check 'TLS|tls' --tls-certificates="$tmpdir" "$mem" size=1M
# --vsock without -U (the "check" helper adds -U, which is an illegal
# combination anyway, so run it by hand).
expect_fail_with 'vsock' "$NBDKIT" -f --vsock "$mem" size=1M
expect_fail_with 'vsock' "$NBDKIT" -f --vsock -p 10809 "$mem" size=1M
