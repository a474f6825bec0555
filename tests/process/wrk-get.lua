-- wrk script: GET a path with the API key. Needs RAMPART_TOKEN and RAMPART_PATH.
local token = os.getenv("RAMPART_TOKEN")
local path = os.getenv("RAMPART_PATH")

function request()
  return wrk.format("GET", path, { ["Authorization"] = "Bearer " .. token })
end
