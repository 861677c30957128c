-- parallel.lua: observe whether callbacks of different connections
-- run at the same time.
--
--   nbdkit lua parallel.lua dir=DIR [model=THREAD_MODEL] [tag=TEXT]
--
-- Clients name themselves with the export name.  A read at offset 0
-- is a barrier: the connection's pread creates DIR/NAME and waits
-- until DIR/<each name in "parties">, so it can only finish if the
-- reads of all the parties are in progress at the same time (60 s is
-- only a guard against hanging forever).  A read at offset 4096
-- returns text describing the interpreter serving the connection.
-- A read at offset 8192 fails if another such read is in progress.

local nbdkit = require "nbdkit"

local dir
local model = "parallel"
local tag = ""
local parties = { "p1", "p2" }
opens = 0                       -- per interpreter
local configs = 0

function config(key, value)
  configs = configs + 1
  if key == "dir" then dir = value
  elseif key == "model" then model = value
  elseif key == "tag" then tag = value
  elseif key == "parties" then
    parties = {}
    for p in value:gmatch("[^,]+") do parties[#parties + 1] = p end
  else error("unknown parameter " .. key) end
end

function config_complete()
  if not dir then error("dir parameter is required") end
end

function thread_model()
  return model
end

function open(readonly)
  opens = opens + 1
  return { name = nbdkit.export_name() }
end

function get_size(h)
  return 1048576
end

-- Multi-conn promises a client that all connections to an export see
-- one and the same disk.  Here they do not: under serialize_requests
-- and parallel each connection has its own interpreter and globals,
-- and under every model the text at 4096 describes the connection
-- asking.  So say no, as a disk kept in Lua must when it differs
-- between connections (see "Multi-conn" in nbdkit-lua-plugin(3)).
function can_multi_conn(h)
  return false
end

local function exists(path)
  local f = io.open(path, "r")
  if f then f:close() return true end
  return false
end

local function touch(path)
  local f = assert(io.open(path, "w"))
  f:close()
end

local function pad(s, count)
  return (s .. string.rep("\0", count)):sub(1, count)
end

function pread(h, count, offset, flags)
  if offset == 0 then
    touch(dir .. "/" .. h.name)
    for i = 1, 6000 do             -- 6000 * 10 ms
      local all = true
      for _, p in ipairs(parties) do
        if not exists(dir .. "/" .. p) then all = false end
      end
      if all then return pad("met " .. h.name, count) end
      nbdkit.nanosleep(0, 10000000)
    end
    error("barrier: the other connections never arrived")
  elseif offset == 4096 then
    return pad(string.format("name=%s opens=%d configs=%d tag=%s",
                             h.name, opens, configs, tag), count)
  elseif offset == 8192 then
    local busy = dir .. "/busy"
    if exists(busy) then error("overlap detected") end
    touch(busy)
    nbdkit.nanosleep(0, 20000000)
    os.remove(busy)
    return string.rep("\0", count)
  end
  return string.rep("\0", count)
end
