-- wrk: Rampart, POST /v1/tokens on one replica: a token for the caller's key, decided from the
-- replica's state and signed there (no write), built once.
dofile(os.getenv("BENCH_DIR") .. "/report.lua")
wrk.method = "POST"
wrk.path = "/v1/tokens"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("RAMPART_TOKEN")
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"ttl_seconds":600}'
