-- callbacks.lua: defines every callback our Lua plugin knows and
-- writes a line for each call to the file given by log=PATH, so tests
-- can check what the script received.  Other parameters choose the
-- answers of the negotiation callbacks:
--
--   fua=VALUE cache=VALUE    returned by can_fua / can_cache as given:
--                            none|emulate|native (strings), 0|1|2
--                            (numbers), true|false (booleans)
--   fast_zero=BOOL multi_conn=BOOL rotational=BOOL extents=BOOL
--   block_size=MIN,PREF,MAX  (or "table" for {512, 4096, 65536},
--                            or "nil" for no constraints)
--   extents_style=positional|named
--   thread_model=NAME|NUMBER
--   exports=NAME[/DESC],...  for list_exports (default: none)
--   default_export=NAME
--
-- The log file can also be set with $CALLBACKS_LOG, which also
-- catches load().

local nbdkit = require "nbdkit"

local size = 1048576
local disk = {}                -- offset // 512 -> 512 byte string
local ZERO = string.rep("\0", 512)
local logfile = os.getenv("CALLBACKS_LOG")  -- so load() can log too
local opts = {
  fua = "native", cache = "native", fast_zero = "true",
  multi_conn = "true", rotational = "false", extents = "true",
  block_size = "512,4096,65536", extents_style = "positional",
  thread_model = "serialize_all_requests", exports = "",
  default_export = "",
}

local function log(fmt, ...)
  if logfile == nil then return end
  local f = assert(io.open(logfile, "a"))
  f:write(string.format(fmt, ...), "\n")
  f:close()
end

local function value(s)
  if s == "true" then return true end
  if s == "false" then return false end
  if s == "nil" then return nil end
  return math.tointeger(tonumber(s)) or s
end

function load()           log("load") end
function unload()         log("unload") end
function dump_plugin()    print("callbacks_dump=yes") end

function config(key, v)
  if key == "log" then
    logfile = v
  elseif key == "size" then
    size = nbdkit.parse_size(v)
  elseif opts[key] ~= nil then
    opts[key] = v
  else
    error("unknown parameter " .. key)
  end
  log("config %s=%s", key, v)
end

function config_complete() log("config_complete") end

function thread_model()
  log("thread_model")
  return value(opts.thread_model)
end

function get_ready()      log("get_ready") end
function after_fork()     log("after_fork") end
function cleanup()        log("cleanup") end

function preconnect(readonly)
  log("preconnect readonly=%s", tostring(readonly))
end

function list_exports(readonly, is_tls)
  log("list_exports readonly=%s is_tls=%s", tostring(readonly),
      tostring(is_tls))
  local list = {}
  for item in opts.exports:gmatch("[^,]+") do
    local name, desc = item:match("^([^/]*)/(.*)$")
    if name then
      list[#list + 1] = { name = name, description = desc }
    else
      list[#list + 1] = item
    end
  end
  return list
end

function default_export(readonly, is_tls)
  log("default_export readonly=%s is_tls=%s", tostring(readonly),
      tostring(is_tls))
  return opts.default_export
end

function open(readonly)
  log("open readonly=%s (%s) export=%s", tostring(readonly), type(readonly),
      nbdkit.export_name())
  return { readonly = readonly }
end

function close(h)
  log("close handle=%s", type(h))
end

function export_description(h)
  return "callbacks test disk"
end

function get_size(h)
  log("get_size")
  return size
end

function block_size(h)
  if opts.block_size == "nil" then return nil end
  if opts.block_size == "table" then return { 512, 4096, 65536 } end
  local a, b, c = opts.block_size:match("^(-?%d+),(-?%d+),(-?%d+)$")
  return tonumber(a), tonumber(b), tonumber(c)
end

function can_write(h)      return not h.readonly end
function can_flush(h)      return true end
function is_rotational(h)  return value(opts.rotational) end
function can_trim(h)       return true end
function can_zero(h)       return true end
function can_fast_zero(h)  return value(opts.fast_zero) end
function can_multi_conn(h) return value(opts.multi_conn) end
function can_extents(h)    return value(opts.extents) end
function can_fua(h)        return value(opts.fua) end
function can_cache(h)      return value(opts.cache) end

local function get_sector(s)
  return disk[s] or ZERO
end

function pread(h, count, offset, flags)
  log("pread count=%d offset=%d flags=%d", count, offset, flags)
  local t = {}
  local first, last = offset // 512, (offset + count - 1) // 512
  for s = first, last do t[#t + 1] = get_sector(s) end
  local all = table.concat(t)
  local start = offset - first * 512
  return all:sub(start + 1, start + count)
end

local function write(buf, offset)
  local first, last = offset // 512, (offset + #buf - 1) // 512
  for s = first, last do
    local sec = get_sector(s)
    local lo = math.max(offset, s * 512)
    local hi = math.min(offset + #buf, (s + 1) * 512)
    sec = sec:sub(1, lo - s * 512) .. buf:sub(lo - offset + 1, hi - offset) ..
      sec:sub(hi - s * 512 + 1)
    disk[s] = sec
  end
end

function pwrite(h, buf, offset, flags)
  log("pwrite count=%d offset=%d flags=%d", #buf, offset, flags)
  write(buf, offset)
end

function flush(h, flags)
  log("flush flags=%d", flags)
end

function trim(h, count, offset, flags)
  log("trim count=%d offset=%d flags=%d", count, offset, flags)
  write(string.rep("\0", count), offset)
end

function zero(h, count, offset, may_trim, flags)
  log("zero count=%d offset=%d may_trim=%s flags=%d", count, offset,
      tostring(may_trim), flags)
  write(string.rep("\0", count), offset)
end

function cache(h, count, offset, flags)
  log("cache count=%d offset=%d flags=%d", count, offset, flags)
end

-- The first 64 KiB are data, the rest a hole reading as zeroes.
function extents(h, count, offset, flags)
  log("extents count=%d offset=%d flags=%d", count, offset, flags)
  local list
  if opts.extents_style == "named" then
    list = {
      { offset = 0, length = 65536, type = 0 },
      { offset = 65536, length = size - 65536,
        type = nbdkit.EXTENT_HOLE | nbdkit.EXTENT_ZERO },
    }
  else
    list = {
      { 0, 65536, 0 },
      { 65536, size - 65536, nbdkit.EXTENT_HOLE | nbdkit.EXTENT_ZERO },
    }
  end
  if flags & nbdkit.FLAG_REQ_ONE ~= 0 then
    -- Only the extent containing offset.
    if offset >= 65536 then return { list[2] } end
    return { list[1] }
  end
  return list
end
