-- ingest.lua plus a wrk delay() that paces the thread to a fixed rate: the latency-at-half-load phase of
-- scripts/bench. Same arguments as ingest.lua, except that the third one (PACE) is the target rate in
-- requests per second for the thread.
--
-- Pacing is on a schedule, as wrk2 does it: the k-th request after start is due at start + k/PACE, and
-- delay() (called after every response, before that connection's next request) waits until the next free
-- slot. So the offered rate is PACE whatever the latency, as long as the connections are not all busy
-- (then requests go out late and the report shows the achieved rate below the offered one). A plain
-- "each connection sleeps CONNECTIONS/PACE" offers less than PACE by the latency it adds, and the schedule
-- does not drift with wrk's whole-millisecond delays. wrk measures latency from the moment a request is
-- written, so the waiting is not counted in it.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "ingest.lua")

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]
local ts = ffi.new("bench_timespec")
local CLOCK_MONOTONIC = 1

local function now_ms()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local interval_ms, next_slot

function delay()
  local now = now_ms()
  if interval_ms == nil then
    local pace = pacing_rate()  -- the third argument: requests per second for this thread
    interval_ms = 1000 / math.max(pace, 1)
    next_slot = now
  end
  -- More than 100 ms behind schedule (a stall): restart the schedule instead of sending a burst.
  if next_slot < now - 100 then
    next_slot = now
  end
  next_slot = next_slot + interval_ms
  local wait = next_slot - now
  if wait <= 0 then
    return 0
  end
  return math.floor(wait + 0.5)
end
