#!/bin/sh
# Install everything needed to build nbdkit and run its test suite on
# Debian 12: compilers and Meson, Lua and Rust for the language plugins,
# the real NBD clients the tests drive (libnbd tools, qemu-img, fio),
# and Debian's own nbdkit, whose binary plugins and behaviour the tests
# compare against.
set -e

if [ "$(id -u)" -ne 0 ]; then
  exec sudo "$0" "$@"
fi

export DEBIAN_FRONTEND=noninteractive
packages="
  build-essential meson ninja-build pkg-config perl
  liblua5.4-dev lua5.4
  nbdkit nbdkit-plugin-dev nbdkit-plugin-lua
  libnbd-bin python3 python3-libnbd
  qemu-utils fio
  procps psmisc util-linux iproute2 man-db jq
  fdisk gdisk e2fsprogs xz-utils gzip tar
"
# The Rust crate builds with any cargo >= Debian's; only install
# Debian's when the machine has none (eg. no rustup toolchain).
if ! command -v cargo >/dev/null 2>&1 && [ ! -x "$HOME/.cargo/bin/cargo" ]; then
  packages="$packages cargo rustc"
fi

missing=
for p in $packages; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
    missing="$missing $p"
done
if [ -n "$missing" ]; then
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $missing
fi
