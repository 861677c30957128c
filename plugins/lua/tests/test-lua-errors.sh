#!/usr/bin/env bash
# Errors raised by the script in each callback: the log line is
#   nbdkit: lua[N]: error: METHOD: SCRIPT.lua:LINE: message
# the client gets an error reply (EIO unless the script chose another
# errno with nbdkit.set_error), nothing hangs and the server keeps
# serving.  Error objects that are not strings are reported too.
# Scripts using only what nbdkit's own Lua plugin supports are also
# run under Debian's nbdkit + nbdkit-plugin-lua, and the client must
# see the same results.

. "$SRCDIR/tests/functions.sh"
. "$SRCDIR/plugins/lua/tests/functions-lua.sh"
requires python3 -c 'import nbd'

# Error messages name the script as given, so run from its directory.
cd "$tmpdir"

base='disk = string.rep("\0", 65536)
function open(readonly) return {} end
function get_size(h) return #disk end
function pread(h, count, offset) return disk:sub(offset + 1, offset + count) end
function pwrite(h, buf, offset)
  disk = disk:sub(1, offset) .. buf .. disk:sub(offset + #buf + 1)
end
function can_flush(h) return true end
function flush(h) end
function trim(h, count, offset) end
function zero(h, count, offset, may_trim) pwrite(h, string.rep("\0", count), offset) end
function config(k, v) end'

conn='^nbdkit: lua\[[0-9]+\]: error: '

#----------------------------------------------------------------------
# error() in each per-connection callback.
for m in open get_size can_write can_flush is_rotational can_trim; do
  mkscript "e-$m" "function $m(h) error(\"$m failed\") end"
  check_case "e-$m" info "CONNECT-ERR ENOENT" \
    "${conn}$m: e-$m.lua:$line: $m failed\$" yes
done
for m in can_zero can_fast_zero can_fua can_multi_conn can_cache \
         can_extents; do
  mkscript "e-$m" "function $m(h) error(\"$m failed\") end"
  check_case "e-$m" info "CONNECT-ERR ENOENT" \
    "${conn}$m: e-$m.lua:$line: $m failed\$" no
done
# (nbdkit drops the connection here, other servers reply with an error.)
mkscript e-block_size "function block_size(h) error(\"block_size failed\") end"
check_case e-block_size info "CONNECT-ERR .*" \
  "${conn}block_size: e-block_size.lua:$line: block_size failed\$" no
for m in preconnect default_export; do
  mkscript "e-$m" "function $m(readonly) error(\"$m failed\") end"
  check_case "e-$m" info "CONNECT-ERR .*" \
    "${conn}$m: e-$m.lua:$line: $m failed\$" no
done

mkscript e-pread 'function pread(h, count, offset) error("pread failed at " .. offset) end'
check_case e-pread "pread:4096:512" "pread:4096:512 -> ERR EIO" \
  "${conn}pread: e-pread.lua:$line: pread failed at 4096\$" yes
mkscript e-pwrite 'function pwrite(h, buf, offset) error("pwrite failed") end'
check_case e-pwrite "pwrite:0:512:1" "pwrite:0:512:1 -> ERR EIO" \
  "${conn}pwrite: e-pwrite.lua:$line: pwrite failed\$" yes
mkscript e-flush 'function flush(h) error("flush failed") end'
check_case e-flush "flush" "flush -> ERR EIO" \
  "${conn}flush: e-flush.lua:$line: flush failed\$" yes
mkscript e-trim 'function trim(h, c, o) error("trim failed") end'
check_case e-trim "trim:0:512" "trim:0:512 -> ERR EIO" \
  "${conn}trim: e-trim.lua:$line: trim failed\$" yes
mkscript e-zero 'function zero(h, c, o, t) error("zero failed") end'
check_case e-zero "zero:0:512" "zero:0:512 -> ERR EIO" \
  "${conn}zero: e-zero.lua:$line: zero failed\$" yes
mkscript e-extents 'function extents(h, c, o, f) error("extents failed") end'
check_case e-extents "extents:0:512" "extents:0:512 -> ERR EIO" \
  "${conn}extents: e-extents.lua:$line: extents failed\$" no
mkscript e-cache 'function cache(h, c, o, f) error("cache failed") end'
check_case e-cache "cache:0:512" "cache:0:512 -> ERR EIO" \
  "${conn}cache: e-cache.lua:$line: cache failed\$" no
# A failing export_description just means no description.
mkscript e-export_description \
  'function export_description(h) error("export_description failed") end'
check_case e-export_description "pread:0:512" \
  "pread:0:512 -> OK 076a27c79e5ace2a" \
  "${conn}export_description: e-export_description.lua:$line: export_description failed\$" no
mkscript e-list_exports \
  'function list_exports(ro, tls) error("list_exports failed") end'
check_case e-list_exports "list" "list -> ERR ENOTSUP" \
  "${conn}list_exports: e-list_exports.lua:$line: list_exports failed\$" no
# A failing close is only logged.
mkscript e-close 'function close(h) error("close failed") end'
check_case e-close "pread:0:512" "pread:0:512 -> OK 076a27c79e5ace2a" \
  "${conn}close: e-close.lua:$line: close failed\$" yes

#----------------------------------------------------------------------
# Every kind of error object, in pread.
kinds=(
  'error("plain")|e-kind-error.lua:LINE: plain|yes'
  'assert(false, "asserted")|e-kind-assert.lua:LINE: asserted|yes'
  'assert(false)|e-kind-assert0.lua:LINE: assertion failed!|yes'
  'assert(count < 0, "count is " .. count)|e-kind-assert2.lua:LINE: count is 512|yes'
  'error({ code = 1 })|e-kind-table.lua:LINE: \(error object is a table value\)|yes'
  'error(setmetatable({}, { __tostring = function() return "custom" end }))|e-kind-tostring.lua:LINE: custom|yes'
  'error()|e-kind-nil.lua:LINE: \(error object is a nil value\)|yes'
  'error(true)|e-kind-boolean.lua:LINE: \(error object is a boolean value\)|yes'
  'error("no position", 0)|no position|yes'
  'error(42)|42|yes'
  'local t; return t.x|e-kind-runtime.lua:LINE: attempt to index a nil value \(local .t.\)|yes'
  'return string.rep()|e-kind-badarg.lua:LINE: bad argument #1 to .rep.|yes'
)
names=(error assert assert0 assert2 table tostring nil boolean level0 number
       runtime badarg)
for i in "${!kinds[@]}"; do
  IFS='|' read -r code msg deb <<< "${kinds[$i]}"
  n="e-kind-${names[$i]}"
  mkscript "$n" "function pread(h, count, offset)" "  $code" "end"
  check_case "$n" "pread:0:512" "pread:0:512 -> ERR EIO" \
    "${conn}pread: ${msg//LINE/$((line + 1))}" "$deb"
done

#----------------------------------------------------------------------
# nbdkit.set_error chooses the errno the client sees.
for e in 'ENOSPC|ENOSPC' '28|ENOSPC' 'EPERM|EPERM' 'EROFS|EPERM' \
         'ENOMEM|ENOMEM' 'EDQUOT|ENOSPC' 'ESHUTDOWN|ESHUTDOWN' \
         'EINVAL|EINVAL' 'EIO|EIO'; do
  IFS='|' read -r set want <<< "$e"
  n="e-errno-${set}"
  if [[ $set =~ ^[0-9]+$ ]]; then arg="$set"; else arg="\"$set\""; fi
  mkscript "$n" "function pwrite(h, buf, offset)" \
    "  nbdkit.set_error($arg)" "  error(\"no room\")" "end"
  check_case "$n" "pwrite:0:512:1" "pwrite:0:512:1 -> ERR $want" \
    "${conn}pwrite: $n.lua:$((line + 2)): no room\$" no
done
# An unknown errno name is itself an error (and the client sees EIO).
mkscript e-errno-bogus "function pwrite(h, buf, offset)" \
  '  nbdkit.set_error("EBOGUS")' "end"
check_case e-errno-bogus "pwrite:0:512:1" "pwrite:0:512:1 -> ERR EIO" \
  "${conn}pwrite: e-errno-bogus.lua:$((line + 1)): set_error: unknown errno name 'EBOGUS'" no
# zero asking for the pwrite fallback, as in the Python plugin.
mkscript e-zero-fallback "function zero(h, count, offset, may_trim)" \
  '  nbdkit.set_error("EOPNOTSUPP")' '  error("use pwrite")' "end"
check_case e-zero-fallback "pwrite:0:512:1 zero:0:512 pread:0:512" \
  "pwrite:0:512:1 -> OK
zero:0:512 -> OK
pread:0:512 -> OK 076a27c79e5ace2a" "${conn}zero: .*use pwrite" no

#----------------------------------------------------------------------
# Errors while starting or stopping the server.

startup='^nbdkit: (lua: )?error: '
for m in config_complete get_ready after_fork; do
  mkscript "s-$m" "function $m() error(\"$m failed\") end"
  deb=no; [ $m = config_complete ] && deb=yes
  start_fails "s-$m"
  expect_log "s-$m.ours.log" "${startup}$m: s-$m.lua:$line: $m failed\$"
done
mkscript s-config 'function config(k, v) error("bad key " .. k) end'
deb=yes start_fails s-config foo=bar
expect_log s-config.ours.log "${startup}config: s-config.lua:$line: bad key foo\$"
mkscript s-thread_model 'function thread_model() error("no model") end'
deb=no start_fails s-thread_model
expect_log s-thread_model.ours.log \
  "${startup}thread_model: s-thread_model.lua:$line: no model\$"
mkscript s-load 'function load() error("load failed") end'
deb=no start_fails s-load
expect_log s-load.ours.log "${startup}load: s-load.lua:$line: load failed\$"
# Top level statements, and syntax errors.
mkscript s-toplevel 'error("top level failed")'
deb=yes start_fails s-toplevel
expect_log s-toplevel.ours.log "s-toplevel.lua:$line: top level failed"
mkscript s-syntax 'function broken('
deb=yes start_fails s-syntax
expect_log s-syntax.ours.log "s-syntax.lua:$((line + 1)): .*expected"
# A script without the required callbacks.
printf 'function open(readonly) return 1 end\n' > s-noreq.lua
deb=yes start_fails s-noreq
expect_log s-noreq.ours.log 'get_size'
# No script at all.
deb=yes
if timeout 60 "$NBDKIT" -f -U "$tmpdir/never.sock" lua 2> s-none.log; then
  fail "no script: the server should not start"
fi
expect_log s-none.log 'script'
# The script is missing.
if timeout 60 "$NBDKIT" -f -U "$tmpdir/never.sock" lua missing.lua \
   2> s-missing.log; then
  fail "missing script: the server should not start"
fi
expect_log s-missing.log 'missing.lua'
# Parameters but no config function.
printf 'function open(readonly) return 1 end\nfunction get_size(h) return 0 end\nfunction pread(h, c, o) return "" end\n' > s-noconfig.lua
deb=yes start_fails s-noconfig a=b
expect_log s-noconfig.ours.log 'a=b'

# Errors at shutdown are logged.
for m in cleanup unload; do
  mkscript "x-$m" "function $m() error(\"$m failed\") end"
  start_ours "x-$m.log" lua "x-$m.lua"
  kill "$pid"
  _wait_gone "$pid"
  expect_log "x-$m.log" "${startup}$m: x-$m.lua:$line: $m failed\$"
  echo "x-$m: OK"
done
