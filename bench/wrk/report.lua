-- wrk script shared by every saturating row of bench/run.sh.
--
-- * GH_BEARER (env): sent as "Authorization: Bearer <value>". Read from the
--   environment so a key never appears in the process list. The request is
--   still built once (no request() function), so the script costs wrk nothing
--   per request.
-- * done() prints one machine-readable GH_RESULT line (latencies in µs, exact
--   from wrk's histogram) that run.sh parses with awk; the human --latency
--   report is printed too and kept in bench/out/raw/.

local bearer = os.getenv("GH_BEARER")
if bearer ~= nil and bearer ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. bearer
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "GH_RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d status_errors=%d connect=%d read=%d write=%d timeout=%d\n",
    summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99),
    e.status, e.connect, e.read, e.write, e.timeout))
end
