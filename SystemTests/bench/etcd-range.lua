-- wrk: etcd v3 gateway linearizable kv/range of one key ("bench", base64 YmVuY2g=). The request
-- never changes, so wrk builds it once (no request() function), as for Rampart's reads.
dofile(os.getenv("BENCH_DIR") .. "/report.lua")
wrk.method = "POST"
wrk.path = "/v3/kv/range"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"key":"YmVuY2g="}'
