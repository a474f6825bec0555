-- wrk: Rampart, create a unique principal. Needs RAMPART_TOKEN.
dofile(os.getenv("BENCH_DIR") .. "/report.lua")
local counter = 0
local thread_id = 0
local token = os.getenv("RAMPART_TOKEN")
local run = os.getenv("BENCH_RUN") or "run"

function setup(thread)
  thread:set("id", thread_id)
  thread_id = thread_id + 1
end

function request()
  counter = counter + 1
  local body = string.format('{"name":"p%s-%d-%d","kind":"service_account"}', run, id or 0, counter)
  return wrk.format("POST", "/v1/orgs/bench/principals", { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }, body)
end
