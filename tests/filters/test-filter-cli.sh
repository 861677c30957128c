#!/usr/bin/env bash
# The command line with filters: short names, --version, --help,
# --dump-plugin, filters we refuse (with a message naming both
# versions), something that is not a filter, and a shebang script that
# stacks a filter.  Output formats are compared with Debian's nbdkit.
source "$SRCDIR/tests/functions.sh"
requires nbdsh --version

d="$BUILDDIR/tests/filters"
plugin="$d/lifecycle-plugin.so"
lca="$d/lifecycle-lca-ours.so"
lcb="$d/lifecycle-lcb-ours.so"

# A short name resolves through $NBDKIT_FILTER_PATH (the build-tree
# wrapper's search path) as nbdkit-NAME-filter.so.
mkdir "$tmpdir/fdir"
ln -s "$lca" "$tmpdir/fdir/nbdkit-lca-filter.so"
NBDKIT_FILTER_PATH="$tmpdir/fdir" $NBDKIT --filter=lca "$plugin" --version \
  > "$tmpdir/version"
grep -qx 'lca 1.34.0' "$tmpdir/version" || fail "short name: $(cat "$tmpdir/version")"

# --version: the server, each filter (outermost first) with the version
# it was built for, then the plugin.  Same shape as Debian's.
$NBDKIT --filter="$lca" --filter="$lcb" "$plugin" --version > "$tmpdir/version"
printf 'nbdkit 1.34.0\nlca 1.34.0\nlcb 1.34.0\nlifecycle\n' |
  diff -u - "$tmpdir/version" || fail "--version"
if [ -f "$d/lifecycle-lca-debian.so" ] && [ -x "$DEBIAN_NBDKIT" ]; then
  "$DEBIAN_NBDKIT" --filter="$d/lifecycle-lca-debian.so" "$plugin" --version |
    sed 's/[0-9.]*$/V/' > "$tmpdir/dv"
  $NBDKIT --filter="$lca" "$plugin" --version | sed 's/[0-9.]*$/V/' > "$tmpdir/ov"
  diff -u "$tmpdir/dv" "$tmpdir/ov" || fail "--version differs from Debian's"

  # --help: filters (outermost first), then the plugin.
  "$DEBIAN_NBDKIT" --filter="$d/lifecycle-lca-debian.so" "$plugin" --help |
    sed -n '/^filter:/,$p' | sed 's/-debian\.so/.so/' > "$tmpdir/dh"
  $NBDKIT --filter="$lca" "$plugin" --help |
    sed -n '/^filter:/,$p' | sed 's/-ours\.so/.so/' > "$tmpdir/oh"
  diff -u "$tmpdir/dh" "$tmpdir/oh" || fail "--help differs from Debian's"
fi

# Debian's binary filters load by path; --dump-plugin describes the
# plugin, with the thread model the whole stack ends up with.
noparallel="$DEBIAN_FILTERDIR/nbdkit-noparallel-filter.so"
if [ -f "$noparallel" ]; then
  $NBDKIT --filter="$noparallel" --filter="$lca" "$plugin" --dump-plugin \
    > "$tmpdir/dump"
  grep -qx 'name=lifecycle' "$tmpdir/dump" || fail "--dump-plugin: $(cat "$tmpdir/dump")"
  grep -qx 'thread_model=serialize_requests' "$tmpdir/dump" ||
    fail "--dump-plugin thread model: $(grep thread_model "$tmpdir/dump")"
fi

# expect_error PATTERN ARGS...: exit 1 with PATTERN in the message.
expect_error ()
{
  local pattern=$1; shift
  if $NBDKIT "$@" > "$tmpdir/out" 2>&1; then
    fail "$* succeeded"
  fi
  grep -qE "$pattern" "$tmpdir/out" || fail "$*: $(cat "$tmpdir/out")"
}
expect_error "built for nbdkit 1\.30\.0.*this is nbdkit 1\.34\.0.*1\.32\.x" \
  --filter="$d/badversion-filter.so" "$plugin" --version
expect_error "cannot open filter 'no-such-filter'" \
  --filter=no-such-filter "$plugin" --version
expect_error "does not define filter_init" \
  --filter="$plugin" "$plugin" --version

# A shebang script can stack filters (env -S splits the #! line).
if [ -f "$BUILDDIR/plugins/lua/nbdkit-lua-plugin.so" ]; then
  cat > "$tmpdir/disk.lua" <<EOS
#!/usr/bin/env -S $NBDKIT --filter=$lca lua
function open (readonly) return 1 end
function get_size (h) return 4096 end
function pread (h, count, offset) return string.rep ("L", count) end
EOS
  chmod +x "$tmpdir/disk.lua"
  LIFECYCLE_LOG="$tmpdir/lua.log" "$tmpdir/disk.lua" -U - \
    --run 'nbdsh -u "$uri" -c "assert h.pread(3, 0) == b\"LLL\""'
  grep -q '^lca: pread$' "$tmpdir/lua.log" || fail "the filter did not run"
fi
echo ok
