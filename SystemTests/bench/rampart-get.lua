-- wrk: Rampart, GET $RAMPART_PATH with the API key. The request never changes, so wrk builds it
-- once (no request() function).
dofile(os.getenv("BENCH_DIR") .. "/report.lua")
wrk.method = "GET"
wrk.path = os.getenv("RAMPART_PATH")
wrk.headers["Authorization"] = "Bearer " .. os.getenv("RAMPART_TOKEN")
