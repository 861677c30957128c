-- meta.lua: a script that sets the plugin's metadata as globals (or,
-- with the environment variable META_FUNCTIONS set, as functions).

local strings = {
  name = "luameta",
  version = "7.8.9",
  longname = "Lua metadata test",
  description = "A script that describes itself.",
  config_help = "file=<FILE>  The file (also a bare parameter).",
  magic_config_key = "file",
}

for k, v in pairs(strings) do
  if os.getenv("META_FUNCTIONS") then
    _G[k] = function() return v end
  else
    _G[k] = v
  end
end

local files = {}

function config(key, value)
  if key ~= "file" then error("unknown parameter " .. key) end
  files[#files + 1] = value
end

function dump_plugin()
  print("meta_files=" .. table.concat(files, ","))
end

function open(readonly)
  return 1
end

function get_size(h)
  return 512
end

function pread(h, count, offset)
  return (table.concat(files, ",") .. string.rep("\0", count)):sub(1, count)
end
