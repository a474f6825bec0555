-- wrk: Rampart, GET $RAMPART_PATH with the API key.
dofile(os.getenv("BENCH_DIR") .. "/report.lua")
local token = os.getenv("RAMPART_TOKEN")
local path = os.getenv("RAMPART_PATH")
function request()
  return wrk.format("GET", path, { ["Authorization"] = "Bearer " .. token })
end
