#!/usr/bin/env bash
# The thread model a Rust plugin chooses, as reported by --dump-plugin,
# plus the rest of the dump: struct size, API version, callbacks and the
# plugin's own dump_plugin lines.

. "$SRCDIR/tests/functions.sh"

ramdisk="$BUILDDIR/plugins/rust/libramdisk.so"
memdisk="$BUILDDIR/plugins/rust/libmemdisk.so"
requires_file "$ramdisk"
requires_file "$memdisk"

expect ()
{
  local file="$1"; shift
  local line
  for line in "$@"; do
    grep -qxF -- "$line" "$file" || { cat "$file"; fail "missing line: $line"; }
  done
}

# Raw API: thread_model callback returning Parallel.
"$NBDKIT" --dump-plugin "$ramdisk" > "$tmpdir/ramdisk"
expect "$tmpdir/ramdisk" \
  name=ramdisk api_version=2 struct_size=384 \
  max_thread_model=parallel thread_model=parallel \
  magic_config_key=size \
  has_thread_model=1 has_open=1 has_close=1 has_get_size=1 has_pread=1 \
  has_pwrite=1 has_flush=1 has_extents=1 has_can_extents=1 \
  has_config=1 has_get_ready=1
if grep -q '^has_zero=\|^has__pread_v1=' "$tmpdir/ramdisk"; then
  fail "ramdisk should not have zero or v1 callbacks"
fi

# Safe API: the model comes from Server::thread_model (configurable in
# memdisk); --dump-plugin calls config first.
for model in serialize_connections serialize_all_requests \
             serialize_requests parallel; do
  "$NBDKIT" --dump-plugin "$memdisk" thread-model=$model > "$tmpdir/memdisk"
  expect "$tmpdir/memdisk" \
    name=memdisk api_version=2 struct_size=384 \
    max_thread_model=parallel thread_model=$model has_thread_model=1
done
expect "$tmpdir/memdisk" \
  version=1.34.0 has_longname=1 has_description=1 has_load=1 has_unload=1 \
  has_dump_plugin=1 has_config=1 has_config_complete=1 has_config_help=1 \
  has_get_ready=1 has_after_fork=1 has_cleanup=1 has_preconnect=1 \
  has_list_exports=1 has_default_export=1 has_open=1 has_close=1 \
  has_export_description=1 has_get_size=1 has_block_size=1 has_can_write=1 \
  has_can_flush=1 has_is_rotational=1 has_can_trim=1 has_can_zero=1 \
  has_can_fast_zero=1 has_can_extents=1 has_can_fua=1 has_can_multi_conn=1 \
  has_can_cache=1 has_pread=1 has_pwrite=1 has_flush=1 has_trim=1 has_zero=1 \
  has_extents=1 has_cache=1
# The plugin's own lines come last.
[ "$(tail -n 1 "$tmpdir/memdisk")" = memdisk_page_size=4096 ] ||
  { cat "$tmpdir/memdisk"; fail "dump_plugin output not last"; }

# A bad model is a configuration error.
if "$NBDKIT" --dump-plugin "$memdisk" thread-model=fast > "$tmpdir/bad" 2>&1; then
  fail "thread-model=fast should fail"
fi
grep -q 'unknown thread model: fast' "$tmpdir/bad" || { cat "$tmpdir/bad"; fail "no error"; }

# config_help reaches --help.
"$NBDKIT" "$memdisk" --help > "$tmpdir/help"
grep -q 'panic-offset=<OFFSET>' "$tmpdir/help" || { cat "$tmpdir/help"; fail "no help"; }

echo "$0: OK"
