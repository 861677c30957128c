#!/usr/bin/env bash
# nbdcopy 256 MiB of random data into our server (memory plugin) and
# back out, comparing sha256; with the default (multi-conn, many
# requests in flight), with one connection and one request at a time,
# over TCP, and to/from a server started by socket activation
# (nbdcopy -- [ nbdkit ... ]) with the file plugin.

. "$SRCDIR/tests/functions.sh"
. "$SRCDIR/tests/integration/itest-lib.sh"

requires nbdcopy --version

head -c 256M /dev/urandom >"$tmpdir/in"
want="$(sha256sum <"$tmpdir/in" | cut -d' ' -f1)"

check_sum ()
{
  local got
  got="$(sha256sum <"$2" | cut -d' ' -f1)"
  assert_eq "$1: sha256 of the copy" "$want" "$got"
  rm -f "$2"
}

start_nbdkit memory 256M
nbdcopy "$tmpdir/in" "$uri"
nbdcopy "$uri" "$tmpdir/out"
check_sum "memory, default nbdcopy" "$tmpdir/out"

# One connection, one request in flight, small requests.
start_nbdkit memory 256M
nbdcopy --connections=1 --requests=1 --request-size=65536 "$tmpdir/in" "$uri"
nbdcopy --connections=4 --requests=16 "$uri" "$tmpdir/out"
check_sum "memory, 1 connection in, 4 connections out" "$tmpdir/out"

# A server-to-server copy between two of our servers (sparse-aware).
first="$uri"
start_nbdkit memory 256M
nbdcopy "$first" "$uri"
nbdcopy "$uri" "$tmpdir/out"
check_sum "memory to memory" "$tmpdir/out"

# TCP.
start_nbdkit_tcp memory 256M
nbdcopy "$tmpdir/in" "$uri"
nbdcopy "$uri" "$tmpdir/out"
check_sum "memory over TCP" "$tmpdir/out"
stop_all_servers

# Socket activation and the file plugin: the data lands in the file.
truncate -s 256M "$tmpdir/disk"
nbdcopy -- "$tmpdir/in" [ "$NBDKIT" file "$tmpdir/disk" ]
cp "$tmpdir/disk" "$tmpdir/out"
check_sum "file plugin, socket activation, in" "$tmpdir/out"
nbdcopy -- [ "$NBDKIT" -r file "$tmpdir/disk" ] "$tmpdir/out"
check_sum "file plugin, socket activation, out" "$tmpdir/out"

echo OK
