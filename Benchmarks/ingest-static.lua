-- ingest.lua without a request() function: wrk's fast path, one request built once and sent over and
-- over (every event has the same messageId). Only for nginx, as a second ceiling: what nginx does when
-- the load generator spends nothing per request. Same arguments as ingest.lua (MAX_REQUESTS is not
-- enforced here; the run is bounded by wrk -d and the `timeout` around it).
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "ingest.lua")

local base_init = init
function init(args)
  base_init(args)
  wrk.method = "POST"
  wrk.path = args[1] or "/v1/track"
  wrk.body = make_body()
  for name, value in pairs(request_headers()) do
    wrk.headers[name] = value
  end
end

-- wrk checks for a global request() to decide between its static and its per-request path.
request = nil
