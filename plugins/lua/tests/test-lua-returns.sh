#!/usr/bin/env bash
# Wrong return values from the script: a clear error in the log, an
# error for the client, never a crash or a hang.  Values that nbdkit's
# own Lua plugin converts (numeric strings and floats as sizes, longer
# strings from pread) are converted the same way.  Cases that Debian's
# nbdkit-plugin-lua supports are also run there, and the client must
# see the same results.

. "$SRCDIR/tests/functions.sh"
. "$SRCDIR/plugins/lua/tests/functions-lua.sh"
requires python3 -c 'import nbd'

cd "$tmpdir"

base='function open(readonly) return {} end
function get_size(h) return 65536 end
function pread(h, count, offset) return string.rep("\0", count) end
function pwrite(h, buf, offset) end'

conn='^nbdkit: lua\[[0-9]+\]: error: '
zero512='076a27c79e5ace2a'

# ret NAME 'LUA FUNCTION' PROBE_OPS WANT LOG_REGEX DEBIAN
ret ()
{
  mkscript "$1" "$2"
  check_case "$1" "$3" "$4" "$5" "$6"
}

#----------------------------------------------------------------------
# pread
ret r-pread-short 'function pread(h, c, o) return "abc" end' \
  pread:0:512 "pread:0:512 -> ERR EIO" \
  "${conn}pread: returned string is too short: 3 bytes, but 512 were requested" yes
ret r-pread-number 'function pread(h, c, o) return 12345 end' \
  pread:0:512 "pread:0:512 -> ERR EIO" \
  "${conn}pread: return value must be a string, not number" yes
ret r-pread-nil 'function pread(h, c, o) end' \
  pread:0:512 "pread:0:512 -> ERR EIO" \
  "${conn}pread: return value must be a string, not nil" yes
ret r-pread-table 'function pread(h, c, o) return {} end' \
  pread:0:512 "pread:0:512 -> ERR EIO" \
  "${conn}pread: return value must be a string, not table" yes
ret r-pread-long 'function pread(h, c, o) return string.rep("\0", c + 100) end' \
  pread:0:512 "pread:0:512 -> OK $zero512" '' yes

#----------------------------------------------------------------------
# get_size
ret r-size-string 'function get_size(h) return "abc" end' \
  info "CONNECT-ERR .*" \
  "${conn}get_size: return value must be a non-negative integer, not string" yes
ret r-size-nil 'function get_size(h) end' \
  info "CONNECT-ERR .*" \
  "${conn}get_size: return value must be a non-negative integer, not nil" yes
ret r-size-negative 'function get_size(h) return -5 end' \
  info "CONNECT-ERR .*" "${conn}get_size: size must not be negative" yes
ret r-size-numeric-string 'function get_size(h) return "65536" end' \
  info "info -> OK size=65536 .*" '' yes
ret r-size-fraction 'function get_size(h) return 4096.75 end' \
  info "info -> OK size=4096 .*" '' yes

#----------------------------------------------------------------------
# Booleans must be booleans.
for m in can_write can_flush is_rotational can_trim; do
  for v in 1 '"yes"' nil; do
    case $v in 1) t=number ;; '"yes"') t=string ;; nil) t=nil ;; esac
    ret "r-$m-$t" "function $m(h) return $v end" \
      info "CONNECT-ERR .*" \
      "${conn}$m: return value must be a boolean, not $t" yes
  done
done
for m in can_zero can_fast_zero can_multi_conn can_extents; do
  ret "r-$m" "function $m(h) return 1 end" info "CONNECT-ERR .*" \
    "${conn}$m: return value must be a boolean, not number" no
done

#----------------------------------------------------------------------
# Tri-states.
ret r-can_fua-7 'function can_fua(h) return 7 end' info "CONNECT-ERR .*" \
  "${conn}can_fua: return value must be 0, 1 or 2" no
ret r-can_fua-bogus 'function can_fua(h) return "bogus" end' info \
  "CONNECT-ERR .*" \
  "${conn}can_fua: return value must be \"none\", \"emulate\" or \"native\", not \"bogus\"" no
ret r-can_cache-table 'function can_cache(h) return {} end' info \
  "CONNECT-ERR .*" \
  "${conn}can_cache: return value must be a boolean, a number or a string, not table" no

#----------------------------------------------------------------------
# The rest.
ret r-block_size-two 'function block_size(h) return 512, 4096 end' info \
  "CONNECT-ERR .*" "${conn}block_size: maximum must be an integer, not nil" no
ret r-block_size-range 'function block_size(h) return 512, 4096, 2^40 end' info \
  "CONNECT-ERR .*" "${conn}block_size: maximum block size is out of range" no
ret r-block_size-invalid 'function block_size(h) return 3, 4096, 65536 end' \
  info "CONNECT-ERR .*" 'block' no
ret r-export_description 'function export_description(h) return 42 end' \
  info "info -> OK .* description=none" \
  "${conn}export_description: return value must be a string or nil, not number" no
ret r-default_export 'function default_export(ro, tls) return 42 end' \
  info "CONNECT-ERR .*" \
  "${conn}default_export: return value must be a string, not number" no
ret r-list_exports-string 'function list_exports(ro, tls) return "a" end' \
  list "list -> ERR .*" \
  "${conn}list_exports: return value must be a table \(a list of exports\), not string" no
ret r-list_exports-entry 'function list_exports(ro, tls) return { 42 } end' \
  list "list -> ERR .*" \
  "${conn}list_exports: export 1 must be a string or a table, not number" no
ret r-list_exports-desc \
  'function list_exports(ro, tls) return { { "a", 42 } } end' \
  list "list -> ERR .*" \
  "${conn}list_exports: export 1: the description must be a string, not number" no

ext='function can_extents(h) return true end'
ret r-extents-string "$ext
function extents(h, c, o, f) return \"x\" end" \
  extents:0:512 "extents:0:512 -> ERR EIO" \
  "${conn}extents: return value must be a table \(a list of extents\), not string" no
ret r-extents-empty "$ext
function extents(h, c, o, f) return {} end" \
  extents:0:512 "extents:0:512 -> ERR EIO" "${conn}extents: returned no extents" no
ret r-extents-missing "$ext
function extents(h, c, o, f) return { { 0 } } end" \
  extents:0:512 "extents:0:512 -> ERR EIO" \
  "${conn}extents: length must be an integer, not nil" no
ret r-extents-type "$ext
function extents(h, c, o, f) return { { 0, 512, 9 } } end" \
  extents:0:512 "extents:0:512 -> ERR EIO" \
  "${conn}extents: extent 1 is invalid: offset 0, length 512, type 9" no
ret r-extents-entry "$ext
function extents(h, c, o, f) return { 5 } end" \
  extents:0:512 "extents:0:512 -> ERR EIO" \
  "${conn}extents: extent 1 must be a table, not number" no

#----------------------------------------------------------------------
# Bad thread models stop the server at start.
for v in '"bogus"' 9 '{}'; do
  mkscript r-thread_model "function thread_model() return $v end"
  start_fails r-thread_model
  expect_log r-thread_model.ours.log '^nbdkit: (lua: )?error: thread_model: '
done
