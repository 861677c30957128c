-- fua.lua: a writable disk that counts what FUA requests turn into,
-- to check when FUA is advertised and how it is carried out.  It uses
-- only what nbdkit's own Lua plugin supports (and Lua 5.3), so that
-- it runs under Debian's nbdkit-plugin-lua too.
--
--   nbdkit lua fua.lua [flush=yes|no] [can_fua=VALUE]
--                      [thread_model=NAME]
--
-- flush=yes (the default is no) defines a flush function.  can_fua=
-- defines a can_fua function returning VALUE (none, emulate, native,
-- or a number); without it the script has no can_fua.  A read at
-- offset 0 returns the counters of the interpreter serving the
-- connection as text: "writes=N fua_writes=N flushes=N", where
-- fua_writes counts the write callbacks that saw the FUA flag.  The
-- rest of the disk reads as zeroes and ignores what is written.

local FLAG_FUA = 2              -- nbdkit.FLAG_FUA, which Debian lacks

local writes, fua_writes, flushes = 0, 0, 0
local model = "serialize_all_requests"

local function count_write(flags)
  writes = writes + 1
  if flags ~= nil and flags & FLAG_FUA ~= 0 then
    fua_writes = fua_writes + 1
  end
end

-- Defined as the global "flush" only when flush=yes.
local function do_flush(h, flags)
  flushes = flushes + 1
end

function config(key, value)
  if key == "flush" then
    if value == "yes" then flush = do_flush
    elseif value == "no" then flush = nil
    else error("flush must be yes or no") end
  elseif key == "can_fua" then
    local v = math.tointeger(tonumber(value)) or value
    can_fua = function(h) return v end
  elseif key == "thread_model" then
    model = value
    thread_model = function() return model end
  else
    error("unknown parameter " .. key)
  end
end

function open(readonly)
  return {}
end

function get_size(h)
  return 1048576
end

function pread(h, count, offset)
  local s = ""
  if offset == 0 then
    s = string.format("writes=%d fua_writes=%d flushes=%d",
                      writes, fua_writes, flushes)
  end
  return (s .. string.rep("\0", count)):sub(1, count)
end

function pwrite(h, buf, offset, flags)
  count_write(flags)
end

function zero(h, count, offset, may_trim, flags)
  count_write(flags)
end

function trim(h, count, offset, flags)
  count_write(flags)
end
