-- wrk hook: each request takes a random path from the file $WRK_URLS (one a
-- line), so a run measures varied URLs rather than one the read cache keeps.
-- The summary is written as wrk-json.lua does.
local paths = {}
for line in io.lines(os.getenv("WRK_URLS")) do
  if line ~= "" then paths[#paths + 1] = line end
end
assert(#paths > 0, "wrk-urls.lua: no paths in $WRK_URLS")

function init(args)
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16) % 100000)
end

function request()
  return wrk.format("GET", paths[math.random(#paths)])
end

dofile(os.getenv("WRK_JSON_LUA"))
