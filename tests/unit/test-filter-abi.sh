#!/bin/sh
# The filter ABI of our header is Debian's (nbdkit 1.32.5), field for
# field: see test-filter-abi.c.
set -eu
ours="$1"
debian="$2"
[ -x "$debian" ] || { echo "SKIP: nbdkit-plugin-dev is not installed"; exit 77; }
"$ours" > "${TMPDIR:-/tmp}/filter-abi-ours.$$"
"$debian" > "${TMPDIR:-/tmp}/filter-abi-debian.$$"
trap 'rm -f "${TMPDIR:-/tmp}"/filter-abi-*.$$' EXIT
diff -u "${TMPDIR:-/tmp}/filter-abi-debian.$$" "${TMPDIR:-/tmp}/filter-abi-ours.$$"
echo "$(wc -l < "${TMPDIR:-/tmp}/filter-abi-ours.$$") layout facts identical"
