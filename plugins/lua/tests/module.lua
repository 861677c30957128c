-- module.lua: exercises the "nbdkit" module.  A read at offset 0
-- returns a report, one "name=value" per line; a read at 4096 shuts
-- the server down, at 8192 drops the client (disconnect), at 12288
-- asks for a forced disconnect.

local m = require "nbdkit"
assert(m == nbdkit, "require 'nbdkit' is the global nbdkit")

local cwd_at_config

function config(key, value)
  if key == "path" then cwd_at_config = nbdkit.absolute_path(value) end
end

function open(readonly)
  nbdkit.debug("open called for %s (%d)", nbdkit.export_name(), 42)
  nbdkit.debug("a message with a % sign")
  return {}
end

function get_size(h)
  return 65536
end

local function try(f, ...)
  local ok, r = pcall(f, ...)
  if ok then return tostring(r) end
  return "error"
end

local function report()
  local peer = nbdkit.peer_name()
  local lines = {
    "export_name=" .. nbdkit.export_name(),
    "parse_size=" .. nbdkit.parse_size("1M") .. "," ..
      nbdkit.parse_size("512") .. "," .. nbdkit.parse_size("2s"),
    "parse_size_bad=" .. try(nbdkit.parse_size, "bogus"),
    "parse_bool=" .. tostring(nbdkit.parse_bool("yes")) .. "," ..
      tostring(nbdkit.parse_bool("off")),
    "parse_bool_bad=" .. try(nbdkit.parse_bool, "maybe"),
    "is_tls=" .. tostring(nbdkit.is_tls()),
    "stdio_safe=" .. type(nbdkit.stdio_safe()),
    "peer_family=" .. peer.family,
    "peer_pid=" .. math.type(nbdkit.peer_pid()),
    "peer_uid=" .. nbdkit.peer_uid(),
    "peer_gid=" .. nbdkit.peer_gid(),
    "absolute_path=" .. tostring(cwd_at_config),
    "nanosleep=" .. try(nbdkit.nanosleep, 0, 1000),
    "nanosleep_bad=" .. try(nbdkit.nanosleep, -1),
    "set_error_bad=" .. try(nbdkit.set_error, {}),
    "constants=" .. table.concat({
      nbdkit.THREAD_MODEL_SERIALIZE_CONNECTIONS,
      nbdkit.THREAD_MODEL_SERIALIZE_ALL_REQUESTS,
      nbdkit.THREAD_MODEL_SERIALIZE_REQUESTS,
      nbdkit.THREAD_MODEL_PARALLEL,
      nbdkit.FLAG_MAY_TRIM, nbdkit.FLAG_FUA, nbdkit.FLAG_REQ_ONE,
      nbdkit.FLAG_FAST_ZERO,
      nbdkit.FUA_NONE, nbdkit.FUA_EMULATE, nbdkit.FUA_NATIVE,
      nbdkit.CACHE_NONE, nbdkit.CACHE_EMULATE, nbdkit.CACHE_NATIVE,
      nbdkit.EXTENT_HOLE, nbdkit.EXTENT_ZERO }, ","),
  }
  return table.concat(lines, "\n") .. "\n"
end

function pread(h, count, offset, flags)
  if offset == 0 then
    local r = report()
    return (r .. string.rep("\0", count)):sub(1, count)
  elseif offset == 4096 then
    nbdkit.shutdown()
  elseif offset == 8192 then
    nbdkit.disconnect()
    nbdkit.set_error("ESHUTDOWN")
    error("disconnecting")
  elseif offset == 12288 then
    nbdkit.disconnect(true)
    error("disconnecting")
  end
  return string.rep("\0", count)
end
