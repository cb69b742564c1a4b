-- wrk script shared by every row of bench/run.sh.
--
-- * GH_BEARER (env): sent as "Authorization: Bearer <value>". Read from the
--   environment so a key never appears in the process list.
-- * GH_DELAY_MS (env, may be fractional): per-connection pause after each
--   response, for the paced (half-rate) rows. The fractional part is honoured
--   on average by rounding up with that probability, since wrk's delay() has
--   millisecond resolution.
-- * done() prints one machine-readable GH_RESULT line (latencies in µs, exact
--   from wrk's histogram) that run.sh parses with awk; the human --latency
--   report is printed too and kept in bench/out/raw/.

local bearer = os.getenv("GH_BEARER")
if bearer ~= nil and bearer ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. bearer
end

local delay_ms = tonumber(os.getenv("GH_DELAY_MS") or "")
if delay_ms ~= nil and delay_ms > 0 then
  local whole = math.floor(delay_ms)
  local frac = delay_ms - whole
  function delay()
    if math.random() < frac then
      return whole + 1
    end
    return whole
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "GH_RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d status_errors=%d connect=%d read=%d write=%d timeout=%d\n",
    summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99),
    e.status, e.connect, e.read, e.write, e.timeout))
end
