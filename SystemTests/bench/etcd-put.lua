-- wrk: etcd v3 gateway kv/put of a unique key with a 100-byte value. Keys are built from
-- base64 characters only (padded to a multiple of 4), so they are valid base64 as they are.
dofile(os.getenv("BENCH_DIR") .. "/report.lua")
local counter = 0
local thread_id = 0
local run = os.getenv("BENCH_RUN") or "run"
local value = "dnZ2dnZ2dnZ2dnZ2dnZ2dnZ2dnZ2dnZ2dnZ2dnZ2dnZ2dnZ2dnZ2dnZ2dnZ2dnZ2dnZ2dnZ2dnZ2dnZ2dnZ2dnZ2dnZ2dnZ2dnZ2dnZ2dnZ2dnZ2dnZ2dnZ2dnZ2dnZ2dnZ2dg==" -- base64 of 100 bytes

function setup(thread)
  thread:set("id", thread_id)
  thread_id = thread_id + 1
end

function request()
  counter = counter + 1
  local key = "K" .. run .. "T" .. (id or 0) .. "N" .. counter
  key = key .. string.rep("A", (4 - #key % 4) % 4)
  return wrk.format("POST", "/v3/kv/put", { ["Content-Type"] = "application/json" },
    '{"key":"' .. key .. '","value":"' .. value .. '"}')
end
