-- bench/ramdisk.lua: the Lua in-memory disk used by bench-lua.sh.
--
--   nbdkit lua ramdisk.lua [size=BYTES] [block=BYTES] [threads=MODEL]
--
-- Pure Lua, and only what nbdkit's own Lua plugin (Lua 5.3) supports,
-- so the very same script runs under Debian's nbdkit-plugin-lua and
-- under ours.  The disk is sparse: a table of blocks (default 512
-- bytes, a sector), where a block never written reads as zeroes.  The
-- block size decides how much Lua work a request takes: a 256 KiB read
-- is 512 pieces to concatenate with 512-byte blocks, 4 with 64 KiB.
--
-- threads=parallel (our plugin only: nbdkit's ignores thread_model)
-- gives each connection its own interpreter, and so its own copy of
-- the disk.  That is only consistent for a read-only server (-r), so
-- can_multi_conn is true only then.

local size = 256 * 1024 * 1024
local threads = "serialize_all_requests"
local BLOCK = 512
local ZERO
local blocks = {}

local function parse_size(value)
  local n, suffix = value:match("^(%d+)([KMG]?)$")
  assert(n, "expecting a number with an optional K, M or G: " .. value)
  return math.tointeger(n) * ({ [""] = 1, K = 1024, M = 1048576,
                                G = 1073741824 })[suffix]
end

function config(key, value)
  if key == "size" then
    size = parse_size(value)
  elseif key == "block" then
    BLOCK = parse_size(value)
  elseif key == "threads" then
    threads = value
  else
    error("unknown parameter " .. key)
  end
end

function config_complete()
  ZERO = string.rep("\0", BLOCK)
end

function thread_model()
  return threads
end

function open(readonly)
  return { readonly = readonly }
end

function get_size(h)
  return size
end

function can_multi_conn(h)
  return h.readonly
end

function pread(h, count, offset)
  local b = offset // BLOCK
  local start = offset % BLOCK
  if start + count <= BLOCK then
    -- The common case: inside one block.
    local data = blocks[b] or ZERO
    return data:sub(start + 1, start + count)
  end
  local pieces = {}
  local pos = 0
  while pos < count do
    b = (offset + pos) // BLOCK
    start = (offset + pos) % BLOCK
    local len = math.min(BLOCK - start, count - pos)
    local data = blocks[b] or ZERO
    pieces[#pieces + 1] = data:sub(start + 1, start + len)
    pos = pos + len
  end
  return table.concat(pieces)
end

function pwrite(h, buf, offset)
  local pos = 0
  local count = #buf
  while pos < count do
    local b = (offset + pos) // BLOCK
    local start = (offset + pos) % BLOCK
    local len = math.min(BLOCK - start, count - pos)
    local old = blocks[b] or ZERO
    blocks[b] = old:sub(1, start) .. buf:sub(pos + 1, pos + len) ..
      old:sub(start + len + 1)
    pos = pos + len
  end
end
