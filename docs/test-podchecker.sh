#!/usr/bin/env bash
# Run podchecker(1) on every POD file in the source tree: the pages in
# docs/ and the plugin pages in plugins/*/.  Fails if any file has a
# POD syntax error or contains no POD at all.  Warnings are shown but
# do not fail the test.

. "$SRCDIR/tests/functions.sh"

requires command -v podchecker

shopt -s nullglob
pods=( "$SRCDIR"/docs/*.pod "$SRCDIR"/plugins/*/*.pod )
[ ${#pods[@]} -gt 0 ] || fail "no .pod files found under $SRCDIR"

errors=0
for f in "${pods[@]}"; do
  # podchecker exits 0 if the file is fine, 1 if it has errors, and
  # 2 if it contains no POD.
  status=0
  podchecker "$f" >"$tmpdir/out" 2>&1 || status=$?
  case $status in
    0) grep -q 'WARNING' "$tmpdir/out" && cat "$tmpdir/out" ;;
    2) echo "$f: no POD found" >&2; errors=$((errors + 1)) ;;
    *) cat "$tmpdir/out" >&2; errors=$((errors + 1)) ;;
  esac
done

echo "checked ${#pods[@]} POD files, $errors with errors"
[ "$errors" -eq 0 ] || fail "$errors POD file(s) failed podchecker"
