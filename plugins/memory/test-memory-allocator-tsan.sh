#!/bin/sh
# Run the allocator stress test built with ThreadSanitizer.  Any report
# fails the test.  A kernel whose address-space layout this version of
# TSan cannot work with makes it refuse to start: that is a skip.
exe="$1"
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
TSAN_OPTIONS="halt_on_error=1 exitcode=66${TSAN_OPTIONS:+ $TSAN_OPTIONS}" \
  "$exe" >"$out" 2>&1
status=$?
cat "$out"
if [ $status -ne 0 ] &&
   grep -q -E 'unexpected memory mapping|failed to allocate|personality' "$out"
then
  echo "SKIP: ThreadSanitizer cannot run on this machine"
  exit 77
fi
exit $status
