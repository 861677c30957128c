-- ramdisk.lua: a sparse RAM disk using only what nbdkit's own Lua
-- plugin supports (and Lua 5.3), so the same script runs under
-- Debian's nbdkit-plugin-lua and under ours, for comparison.
--
--   nbdkit lua ramdisk.lua [size=BYTES]

local size = 1048576
local BLOCK = 4096
local ZERO = string.rep("\0", BLOCK)
local blocks = {}

function config(key, value)
  if key == "size" then
    size = math.tointeger(tonumber(value))
  else
    error("unknown parameter " .. key)
  end
end

function open(readonly)
  return { readonly = readonly }
end

function close(h)
end

function get_size(h)
  return size
end

local function each_block(count, offset, fn)
  local pos = 0
  while pos < count do
    local b = (offset + pos) // BLOCK
    local start = (offset + pos) % BLOCK
    local len = math.min(BLOCK - start, count - pos)
    fn(b, start, len, pos)
    pos = pos + len
  end
end

function pread(h, count, offset)
  local pieces = {}
  each_block(count, offset, function(b, start, len)
    local data = blocks[b] or ZERO
    pieces[#pieces + 1] = data:sub(start + 1, start + len)
  end)
  return table.concat(pieces)
end

function pwrite(h, buf, offset)
  each_block(#buf, offset, function(b, start, len, pos)
    local old = blocks[b] or ZERO
    blocks[b] = old:sub(1, start) .. buf:sub(pos + 1, pos + len) ..
      old:sub(start + len + 1)
  end)
end

local function clear(count, offset)
  each_block(count, offset, function(b, start, len)
    if len == BLOCK then
      blocks[b] = nil
    elseif blocks[b] then
      local old = blocks[b]
      blocks[b] = old:sub(1, start) .. ZERO:sub(1, len) ..
        old:sub(start + len + 1)
    end
  end)
end

function trim(h, count, offset)
  clear(count, offset)
end

function zero(h, count, offset, may_trim)
  clear(count, offset)
end

function is_rotational(h)
  return false
end
