#!/bin/sh -
# build-examples.sh CARGO MANIFEST TARGET-DIR OUTDIR
#
# Called by meson: builds the crate's example plugins with cargo (into
# TARGET-DIR, inside the build directory, never the source tree) and
# copies them to OUTDIR, where meson expects its outputs.

set -e

cargo="$1"
manifest="$2"
target="$3"
outdir="$4"

CARGO_TARGET_DIR="$target" "$cargo" build --offline --release --examples \
    --manifest-path "$manifest"

for e in ramdisk memdisk; do
    src="$target/release/examples/lib$e.so"
    # Replace atomically: a running test may have the old one loaded.
    cp -f "$src" "$outdir/lib$e.so.tmp"
    mv -f "$outdir/lib$e.so.tmp" "$outdir/lib$e.so"
done
