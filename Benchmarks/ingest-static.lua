-- ingest.lua without a request() function: wrk's fast path, one request built once and sent over and
-- over (every event has the same messageId). Only for nginx, as a second ceiling: what nginx does when
-- the load generator spends next to nothing per request. Same arguments as ingest.lua; MAX_REQUESTS is
-- enforced by counting responses (the only per-request Lua work here).
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "ingest.lua")

local base_init = init
local limit, answered = 0, 0
function init(args)
  base_init(args)
  limit = tonumber(args[5] or "100000000")
  wrk.method = "POST"
  wrk.path = args[1] or "/v1/track"
  wrk.body = make_body()
  for name, value in pairs(request_headers()) do
    wrk.headers[name] = value
  end
end

-- wrk checks for a global request() to decide between its static and its per-request path.
request = nil

function response(status, headers, body)
  answered = answered + 1
  if answered >= limit then
    wrk.thread:stop()
  end
end
