-- minimal.lua: just the three required callbacks.  A read-only disk
-- whose byte at offset N is N % 251.

local size = 1024 * 1024

function open(readonly)
  return nil                   -- any value, including nil, is a handle
end

function get_size(h)
  return size / 2 * 2          -- a float with an integer value is fine
end

local pattern = {}
for i = 0, 250 do pattern[#pattern + 1] = string.char(i) end
pattern = table.concat(pattern)

function pread(h, count, offset)
  local s = pattern:sub(offset % 251 + 1) .. pattern:rep(count // 251 + 1)
  return s:sub(1, count)
end
