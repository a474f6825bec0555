-- wrk: etcd v3 gateway linearizable kv/range of one key ("bench", base64 YmVuY2g=).
dofile(os.getenv("BENCH_DIR") .. "/report.lua")
function request()
  return wrk.format("POST", "/v3/kv/range", { ["Content-Type"] = "application/json" }, '{"key":"YmVuY2g="}')
end
