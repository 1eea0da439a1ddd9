-- ingest.lua plus a wrk delay(): each connection waits DELAY_MS after every response, so that
-- CONNECTIONS connections offer about CONNECTIONS / DELAY_MS requests per millisecond. Used by
-- scripts/bench for the latency-at-half-load phase. Same arguments as ingest.lua; DELAY_MS may be
-- fractional.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "ingest.lua")

-- wrk takes whole milliseconds; round up or down at random so the mean delay is DELAY_MS exactly
-- (at 3.4 ms a fixed 3 ms would offer 13% more than asked).
local whole, fraction
function delay()
  if whole == nil then
    local wanted = pacing_delay_ms()
    whole = math.floor(wanted)
    fraction = wanted - whole
    math.randomseed(os.time() + (tid or 0))
  end
  if math.random() < fraction then
    return whole + 1
  end
  return whole
end
