-- wrk hook: writes the run's summary as one JSON object to $WRK_JSON_OUT.
-- Only `done` is defined, so wrk keeps its fast path (no per-request Lua).
-- Latencies are in microseconds, as wrk records them.
done = function(summary, latency, requests)
  local path = os.getenv("WRK_JSON_OUT")
  if path == nil or path == "" then
    io.stderr:write("wrk-json.lua: WRK_JSON_OUT is not set\n")
    return
  end
  local e = summary.errors
  local f = assert(io.open(path, "w"))
  f:write(string.format(
    '{"requests":%.0f,"duration_us":%.0f,"bytes":%.0f,' ..
    '"errors":{"connect":%.0f,"read":%.0f,"write":%.0f,"status":%.0f,"timeout":%.0f},' ..
    '"latency_us":{"min":%.0f,"mean":%.3f,"stdev":%.3f,"max":%.0f,' ..
    '"p50":%.0f,"p90":%.0f,"p99":%.0f,"p999":%.0f}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency.stdev, latency.max,
    latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9)))
  f:close()
end
