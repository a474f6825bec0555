-- wrk script: POST /v1/orgs with a unique name per request (thread id and counter).
-- Needs RAMPART_TOKEN in the environment; RAMPART_RUN (any text) keeps names of separate runs apart.
local counter = 0
local run = os.getenv("RAMPART_RUN") or "run"
local thread_id = 0
local token = os.getenv("RAMPART_TOKEN")

function setup(thread)
  thread:set("id", thread_id)
  thread_id = thread_id + 1
end

function request()
  counter = counter + 1
  local body = string.format('{"name":"w%s-%d-%d"}', run, id or 0, counter)
  return wrk.format("POST", "/v1/orgs", { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }, body)
end
