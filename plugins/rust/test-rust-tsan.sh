#!/usr/bin/env bash
# The crate's parallel tests built with ThreadSanitizer: the ramdisk
# example declares the parallel thread model and shares one disk
# between all threads without a lock, so TSan must find no data race
# in tests/ramdisk_example.rs (several threads reading and writing the
# same words through the C callbacks).
#
# -Zsanitizer needs a nightly toolchain (from rustup) with the TSan
# runtime; without one the test is skipped.  It builds in its own cargo
# target directory.

. "$SRCDIR/tests/functions.sh"

# It tests the crate, not the server: once (in the normal build) is
# enough.
if sanitizer_build; then
  skip "runs in the build without sanitizers"
fi

rustup="$(command -v rustup || echo "$HOME/.cargo/bin/rustup")"
[ -x "$rustup" ] || skip "no rustup: -Zsanitizer needs a nightly toolchain"
cargo="$("$rustup" which --toolchain nightly cargo 2>/dev/null)" ||
  skip "no nightly toolchain (rustup toolchain install nightly)"
rustc="$("$rustup" which --toolchain nightly rustc)" || skip "no nightly rustc"
host="$("$rustc" -vV | sed -n 's/^host: //p')"
sysroot="$("$rustc" --print sysroot)"
ls "$sysroot/lib/rustlib/$host/lib/" 2>/dev/null | grep -q 'rt\.tsan\.a$' ||
  skip "the nightly toolchain has no TSan runtime for $host"

export RUSTC="$rustc"
export CARGO_TARGET_DIR="$BUILDDIR/plugins/rust/target-tsan"
# std itself is not instrumented (that needs -Zbuild-std and rust-src).
export RUSTFLAGS="-Zsanitizer=thread -Cunsafe-allow-abi-mismatch=sanitizer"
export TSAN_OPTIONS="halt_on_error=1 suppressions=$SRCDIR/plugins/rust/tsan.supp"

# --target keeps RUSTFLAGS away from anything cargo runs on the host.
if ! "$cargo" test --offline --manifest-path "$SRCDIR/plugins/rust/Cargo.toml" \
     --target "$host" --test ramdisk_example > "$tmpdir/out" 2>&1; then
  if grep -q 'FATAL: ThreadSanitizer' "$tmpdir/out"; then
    grep 'FATAL: ThreadSanitizer' "$tmpdir/out" | head -n 1 >&2
    skip "ThreadSanitizer cannot start here"
  fi
  cat "$tmpdir/out"
  fail "the ramdisk example under ThreadSanitizer"
fi
grep -q 'test result: ok' "$tmpdir/out" || { cat "$tmpdir/out"; fail "no test ran"; }
if grep -q 'WARNING: ThreadSanitizer' "$tmpdir/out"; then
  cat "$tmpdir/out"
  fail "ThreadSanitizer warnings"
fi

echo "$0: OK"
