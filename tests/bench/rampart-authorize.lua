-- wrk: Rampart, POST /v1/authorize (this replica's state) for one principal.
dofile(os.getenv("BENCH_DIR") .. "/report.lua")
local token = os.getenv("RAMPART_TOKEN")
local body = '{"principal":"bench/dev","permission":"compute.instances.create","organization":"bench","project":"web"}'
function request()
  return wrk.format("POST", "/v1/authorize?consistency=stale", { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }, body)
end
