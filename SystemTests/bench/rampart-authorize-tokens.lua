-- wrk: Rampart, POST /v1/authorize about a different token on every request: the tokens of the
-- file $RAMPART_TOKENS_FILE (one per line, more than the replica's cache holds), in turn, so
-- every decision verifies a token's signatures (cache misses).
dofile(os.getenv("BENCH_DIR") .. "/report.lua")
local bodies = {}
for line in io.lines(os.getenv("RAMPART_TOKENS_FILE")) do
  bodies[#bodies + 1] = '{"token":"' .. line .. '","permission":"compute.instances.create","organization":"bench","project":"web"}'
end
local next_body = math.random(#bodies)
local headers = {["Authorization"] = "Bearer " .. os.getenv("RAMPART_TOKEN"), ["Content-Type"] = "application/json"}
function request()
  next_body = next_body % #bodies + 1
  return wrk.format("POST", "/v1/authorize?consistency=stale", headers, bodies[next_body])
end
