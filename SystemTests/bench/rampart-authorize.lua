-- wrk: Rampart, POST /v1/authorize (this replica's state) for one principal. The request never
-- changes, so wrk builds it once (no request() function): the load generator's own CPU stays
-- out of the server's way on a small machine.
dofile(os.getenv("BENCH_DIR") .. "/report.lua")
wrk.method = "POST"
wrk.path = "/v1/authorize?consistency=stale"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("RAMPART_TOKEN")
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"principal":"bench/dev","permission":"compute.instances.create","organization":"bench","project":"web"}'
