-- wrk script for the ingest benchmark (scripts/bench). One script for every phase:
--
--   wrk ... -s Benchmarks/ingest.lua URL -- PATH EVENTS_PER_REQUEST PACE RUN_TAG MAX_REQUESTS
--
--   PATH                /v1/track (one event per request) or /v1/batch (EVENTS_PER_REQUEST events)
--   EVENTS_PER_REQUEST  1 for /v1/track; N for /v1/batch
--   PACE                read only by ingest-paced.lua: the target rate, requests per second for the
--                       thread (the half-load phase); pass 0 here
--   RUN_TAG             integer mixed into every messageId so no two runs share an id
--   MAX_REQUESTS        per thread; the thread stops after this many requests (wrk's -d bounds time,
--                       this bounds the count)
--
-- Every event gets a unique messageId (RUN_TAG, thread number, per-thread counter): the gateway dedupes
-- by messageId, and a duplicate is acknowledged without being stored, which is not what we measure.
-- The same script (same per-request Lua work) drives the nginx ceiling, so wrk's own cost is the same
-- on both sides of the ratio.
--
-- done() prints one machine-readable line, "BENCH_RESULT {json}", which scripts/bench parses.

local thread_count = 0
local threads = {}

function setup(thread)
  thread_count = thread_count + 1
  thread:set("tid", thread_count)
  table.insert(threads, thread)
end

local path, per_request, pace, run_tag, max_requests
local counter = 0
local sent = 0
local stamp, sent_at
local headers = {
  ["Content-Type"] = "application/json",
  -- base64("bench-key:"): the write key as HTTP Basic user name, empty password.
  ["Authorization"] = "Basic YmVuY2gta2V5Og==",
}

function init(args)
  path = args[1] or "/v1/track"
  per_request = tonumber(args[2] or "1")
  pace = tonumber(args[3] or "0")
  run_tag = tonumber(args[4] or "0") % 0x100000000
  max_requests = tonumber(args[5] or "100000000")
  -- A current timestamp, so that retention or clock-skew rules never treat the events as old.
  stamp = os.date("!%Y-%m-%dT%H:%M:%S.000Z")
  sent_at = os.date("!%Y-%m-%dT%H:%M:%S.250Z")
end

body_bytes = 0  -- global: done() reads it from the thread with thread:get

-- A typical Segment track event (analytics-python style), about 640 bytes. 10,000 people, each keeping ONE
-- anonymous id for the whole run: every event carries the person's userId and that person's anonymousId, so
-- with identity on the first event of a person merges the two and every later one finds them known (the
-- steady state of a site whose visitors have signed in).
local function event(n)
  local person = n % 10000
  return '{"type":"track","event":"Order Completed","userId":"user-' .. string.format("%04d", person) ..
    '","anonymousId":"' .. string.format("a11ce000-0000-4000-8000-%012x", person) ..
    '","messageId":"' .. string.format("%08x-%04x-4000-8000-%012x", run_tag, tid % 0x10000, n) ..
    '","timestamp":"' .. stamp .. '","sentAt":"' .. sent_at ..
    '","properties":{"order_id":"50314b8e9bcf000000000000","total":27.5,"revenue":25.0,"currency":"USD",' ..
    '"products":[{"product_id":"507f1f77bcf86cd799439011","sku":"45790-32","name":"Monopoly: 3rd Edition",' ..
    '"price":19,"quantity":1}]},"context":{"library":{"name":"analytics-python","version":"2.3.2"},' ..
    '"ip":"203.0.113.7","userAgent":"Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125"}}'
end

-- The next request body: one event, or a batch of per_request events. Global: ingest-static.lua uses it.
function make_body()
  local body
  if per_request == 1 and path ~= "/v1/batch" then
    counter = counter + 1
    body = event(counter)
  else
    local parts = {}
    for i = 1, per_request do
      counter = counter + 1
      parts[i] = event(counter)
    end
    body = '{"batch":[' .. table.concat(parts, ",") .. '],"sentAt":"' .. sent_at .. '"}'
  end
  body_bytes = #body
  return body
end

function request_headers()
  return headers
end

function request()
  sent = sent + 1
  if sent > max_requests then
    wrk.thread:stop()
  end
  return wrk.format("POST", path, headers, make_body())
end

-- No delay() here: when a script defines one, wrk schedules every request through a timer, which costs
-- throughput even at 0 ms. ingest-paced.lua adds it for the half-load phase.
function pacing_rate()
  return pace
end

function done(summary, latency, requests)
  local e = summary.errors
  local bytes = threads[1] and threads[1]:get("body_bytes") or 0
  io.write(string.format(
    'BENCH_RESULT {"duration_us":%d,"requests":%d,"bytes":%d,"errors_connect":%d,"errors_read":%d,' ..
    '"errors_write":%d,"errors_status":%d,"errors_timeout":%d,"lat_p50_us":%d,"lat_p90_us":%d,' ..
    '"lat_p99_us":%d,"lat_p999_us":%d,"lat_max_us":%d,"lat_mean_us":%.1f,"threads":%d,"body_bytes":%d}\n',
    summary.duration, summary.requests, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.max, latency.mean, thread_count, bytes))
end
