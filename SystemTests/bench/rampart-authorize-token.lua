-- wrk: Rampart, POST /v1/authorize (this replica's state) about a token's holder: the same token
-- on every request (after the first, the replica's verified-token cache answers), built once.
dofile(os.getenv("BENCH_DIR") .. "/report.lua")
wrk.method = "POST"
wrk.path = "/v1/authorize?consistency=stale"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("RAMPART_TOKEN")
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"token":"' .. os.getenv("RAMPART_ASKED_TOKEN") .. '","permission":"compute.instances.create","organization":"bench","project":"web"}'
