-- wrk hook for scripts/lib/bench.sh (wrk_stats): the latency percentiles wrk's
-- --latency output leaves out (p99.9), in microseconds, and the error count.
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("LATENCY p50=%d p99=%d p999=%d errors=%d\n",
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9),
    e.connect + e.read + e.write + e.status + e.timeout))
end
