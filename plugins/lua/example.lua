#!/usr/sbin/nbdkit lua
--[[
example.lua: an in-memory disk for nbdkit, written in Lua.

It implements every callback that nbdkit-lua-plugin(3) knows about,
to show what each one receives and returns.  Run it with:

  nbdkit lua example.lua                 # 64 MiB
  nbdkit lua example.lua size=1G         # or any size nbdkit understands
  nbdkit lua example.lua 1G              # the same (magic_config_key)

and connect with any NBD client, eg:

  nbdsh -u nbd://localhost -c 'h.pwrite(b"hello", 0); print(h.pread(5, 0))'

The disk is sparse: it is stored as a table of 4 KiB blocks, and a
block that was never written (or was trimmed or zeroed) takes no
memory and reads as zeroes.  The contents are lost when nbdkit exits.
]]

-- The "nbdkit" module is always loaded as a global; require works too.
local nbdkit = require "nbdkit"

-- Metadata.  These may also be functions returning a string.
name = "luadisk"
version = "1.0"
longname = "nbdkit Lua in-memory disk example"
description = "A sparse RAM disk implemented in Lua."
config_help = "size=<SIZE>  Size of the disk (default 64M)."
magic_config_key = "size"

local BLOCK = 4096
local ZERO_BLOCK = string.rep("\0", BLOCK)

local size = 64 * 1024 * 1024
local blocks = {}             -- block number -> string of BLOCK bytes
local exportname = ""

-- Top level statements run when the script is loaded.
nbdkit.debug("example.lua loaded")

------------------------------------------------------------------------
-- Start-up and shut-down.

function load()
  nbdkit.debug("load")
end

function unload()
  nbdkit.debug("unload")
end

function dump_plugin()
  -- Printed by "nbdkit lua example.lua --dump-plugin".
  print("luadisk_block_size=" .. BLOCK)
end

function config(key, value)
  if key == "size" then
    size = nbdkit.parse_size(value)
  else
    error("unknown parameter " .. key)
  end
end

function config_complete()
  if size < 0 then error("size must not be negative") end
end

-- One Lua interpreter serves every connection, so they all see the
-- same "blocks" table.  Returning "parallel" or "serialize_requests"
-- here would give each connection an interpreter (and a disk) of its
-- own: see "Threads" in nbdkit-lua-plugin(3).
function thread_model()
  return nbdkit.THREAD_MODEL_SERIALIZE_ALL_REQUESTS
end

function get_ready()
  nbdkit.debug(string.format("serving a %d byte disk", size))
end

function after_fork()
  nbdkit.debug("after_fork")
end

function cleanup()
  nbdkit.debug("cleanup")
end

------------------------------------------------------------------------
-- Connections.

function preconnect(readonly)
  local ok, peer = pcall(nbdkit.peer_name)
  if ok then nbdkit.debug("client connecting over " .. peer.family) end
end

function list_exports(readonly, is_tls)
  return { { "", "the only export" } }
end

function default_export(readonly, is_tls)
  return ""
end

-- The handle can be any Lua value; it is passed to every later call.
function open(readonly)
  return { readonly = readonly, exportname = nbdkit.export_name() }
end

function close(h)
  nbdkit.debug("close")
end

function export_description(h)
  return string.format("%d byte Lua RAM disk", size)
end

function get_size(h)
  return size
end

function block_size(h)
  return 1, BLOCK, 0xffffffff
end

function can_write(h)      return not h.readonly end
function can_flush(h)      return true end
function is_rotational(h)  return false end
function can_trim(h)       return true end
function can_zero(h)       return true end
function can_fast_zero(h)  return true end
-- Honest only because one interpreter serves every connection (see
-- thread_model above), so they all read and write the same blocks.
function can_multi_conn(h) return true end
function can_extents(h)    return true end

-- Memory needs no flushing, so FUA is trivially native.
function can_fua(h)   return nbdkit.FUA_NATIVE end
function can_cache(h) return nbdkit.CACHE_NATIVE end

------------------------------------------------------------------------
-- Data.

-- Call fn(blocknum, start, len, pos) for each block the byte range
-- [offset, offset+count) touches: start is the offset inside the
-- block (0-based), len the number of bytes, pos the offset inside the
-- range.
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

function pread(h, count, offset, flags)
  local pieces = {}
  each_block(count, offset, function(b, start, len)
    local data = blocks[b]
    if data == nil then
      pieces[#pieces + 1] = ZERO_BLOCK:sub(1, len)
    else
      pieces[#pieces + 1] = data:sub(start + 1, start + len)
    end
  end)
  return table.concat(pieces)
end

function pwrite(h, buf, offset, flags)
  if offset + #buf > size then
    nbdkit.set_error("ENOSPC")
    error("write beyond the end of the disk")
  end
  each_block(#buf, offset, function(b, start, len, pos)
    local piece = buf:sub(pos + 1, pos + len)
    if len == BLOCK then
      blocks[b] = piece
    else
      local old = blocks[b] or ZERO_BLOCK
      blocks[b] = old:sub(1, start) .. piece .. old:sub(start + len + 1)
    end
  end)
  -- flags may contain nbdkit.FLAG_FUA: nothing to do for memory.
end

function flush(h, flags)
end

-- Trimmed and zeroed ranges read back as zeroes.  Whole blocks are
-- dropped, the edges are overwritten with zeroes.
local function clear(count, offset)
  each_block(count, offset, function(b, start, len)
    if len == BLOCK then
      blocks[b] = nil
    elseif blocks[b] ~= nil then
      local old = blocks[b]
      blocks[b] = old:sub(1, start) .. ZERO_BLOCK:sub(1, len) ..
        old:sub(start + len + 1)
    end
  end)
end

function trim(h, count, offset, flags)
  clear(count, offset)
end

-- may_trim is flags & nbdkit.FLAG_MAY_TRIM as a boolean.  Zeroing is
-- always fast here, so FLAG_FAST_ZERO needs no special case.
function zero(h, count, offset, may_trim, flags)
  clear(count, offset)
end

function cache(h, count, offset, flags)
  -- Everything is in memory already.
end

-- Unwritten blocks are reported as holes that read as zeroes.
function extents(h, count, offset, flags)
  local list = {}
  each_block(count, offset, function(b, start, len, pos)
    local type = 0
    if blocks[b] == nil then
      type = nbdkit.EXTENT_HOLE | nbdkit.EXTENT_ZERO
    end
    local last = list[#list]
    if last ~= nil and last.type == type then
      last.length = last.length + len
    else
      list[#list + 1] = { offset = offset + pos, length = len, type = type }
    end
  end)
  if flags & nbdkit.FLAG_REQ_ONE ~= 0 then
    return { list[1] }
  end
  return list
end
