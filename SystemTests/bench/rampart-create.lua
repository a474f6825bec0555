-- wrk: Rampart, create a unique principal (or, with RAMPART_CREATE=org, a unique organization).
-- Needs RAMPART_TOKEN; BENCH_RUN (any text) keeps names of separate runs apart.
dofile(os.getenv("BENCH_DIR") .. "/report.lua")
local counter = 0
local thread_id = 0
local token = os.getenv("RAMPART_TOKEN")
local run = os.getenv("BENCH_RUN") or "run"

function setup(thread)
  thread:set("id", thread_id)
  thread_id = thread_id + 1
end

local organizations = os.getenv("RAMPART_CREATE") == "org"
local headers = { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }

function request()
  counter = counter + 1
  if organizations then
    return wrk.format("POST", "/v1/orgs", headers, string.format('{"name":"w%s-%d-%d"}', run, id or 0, counter))
  end
  local body = string.format('{"name":"p%s-%d-%d","kind":"service_account"}', run, id or 0, counter)
  return wrk.format("POST", "/v1/orgs/bench/principals", headers, body)
end
