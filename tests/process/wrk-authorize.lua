-- wrk script: POST /v1/authorize (stale: this replica's state) for one principal. Needs RAMPART_TOKEN.
local token = os.getenv("RAMPART_TOKEN")
local body = '{"principal":"bench/dev","permission":"compute.instances.create","organization":"bench","project":"web"}'

function request()
  return wrk.format("POST", "/v1/authorize?consistency=stale", { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }, body)
end
