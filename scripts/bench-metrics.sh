#!/usr/bin/env bash
# Metrics benchmarks (docs/metrics.md, "Figures"), in one run:
#
# 1. Proxy throughput with the per-second aggregates of the metrics reports
#    on vs off: BenchmarkProxyFast/strata and /strata-metrics (node/proxy),
#    and /strata-metrics-sql (plus one Metric SQL definition),
#    one proxied GET end to end over loopback. One test binary, ROUNDS
#    rounds, each round one process for off and one for on, their order
#    alternating (go test -count would run all rounds of one before the
#    other, and a second sub-benchmark in one process inherits the first's
#    leftovers). Prints the median ns/op of each, the median of the per-round
#    ratios, and the cost in %.
# 2. The hot-path and memory benchmarks of the parts: node/proxy/stats
#    (Done per request), node/stats (reports, memory per 10,000 groups),
#    pkg/metricsql (a request through a compiled Metric SQL aggregator).
# 3. The store: ingest (aggregates/s) and query (24 h series at 10 s steps,
#    100 apps) on SQLite, and on PostgreSQL when STRATA_TEST_POSTGRES is set.
#
# A package that is not in the tree yet is skipped with a note.
# Usage: scripts/bench-metrics.sh   Env: ROUNDS (default 6), ITER (requests per
#        proxy run, default 50000), BENCHTIME (other benchmarks, default 2s)
# Last line: RESULT metrics-cost ...
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
ROUNDS="${ROUNDS:-6}"
ITER="${ITER:-50000}"         # requests per proxy run
BENCHTIME="${BENCHTIME:-2s}"  # of the other benchmarks
OUT="$(mktemp /tmp/bench-metrics.XXXXXX)"
trap 'rm -f "$OUT"' EXIT

echo "== proxy, per-second aggregates off vs on ($ROUNDS rounds of $ITER requests each)"
BIN="$(mktemp -d /tmp/bench-metrics-bin.XXXXXX)"
trap 'rm -f "$OUT"; rm -rf "$BIN"' EXIT
(cd node && go test -c -o "$BIN/proxy.test" ./proxy)
# one NAME: a run of exactly ITER requests, and the CPU the process spent
# (user + system, from /usr/bin/time): wall ns/op swings with whatever else
# runs on the box, CPU per request much less. Client and upstream run in
# the same process in both variants, so the difference is the aggregates.
one() {
  /usr/bin/time -f "CPU $1 %U %S" -a -o "$OUT" \
    "$BIN/proxy.test" -test.run '^$' -test.bench "BenchmarkProxyFast/^$1\$" -test.benchtime="${ITER}x" | grep '^Benchmark' | tee -a "$OUT"
}
# strata-metrics-sql adds one Metric SQL definition (path, status, count, p99).
for i in $(seq "$ROUNDS"); do
  case $((i % 3)) in
    1) one strata; one strata-metrics; one strata-metrics-sql ;;
    2) one strata-metrics; one strata-metrics-sql; one strata ;;
    0) one strata-metrics-sql; one strata; one strata-metrics ;;
  esac
done

for pkg in ./node/proxy/stats ./node/stats ./pkg/metricsql; do
  if [ -d "$pkg" ] && ls "$pkg"/*_test.go >/dev/null 2>&1 && grep -qs '^func Benchmark' "$pkg"/*_test.go; then
    echo "== $pkg"
    go test -run '^$' -bench . -benchtime="$BENCHTIME" -count=1 "$pkg"
  else
    echo "== $pkg: no benchmarks in this tree (skipped)"
  fi
done

if [ -d ./services/metrics/store ]; then
  echo "== services/metrics/store (ingest, query)${STRATA_TEST_POSTGRES:+; PostgreSQL too}"
  go test -run "^$" -bench . -benchtime=20x -count=1 -timeout 20m ./services/metrics/store/
else
  echo "== services/metrics/store: not in this tree (skipped)"
fi

# Median ns/op of each proxy variant, and the cost of the aggregates.
awk '
  $1 == "CPU" { cpu[$2, ++n[$2]] = ($3 + $4) * 1e6 / iter; next }
  $1 ~ /^BenchmarkProxyFast\// {
    name = $1; sub(/^BenchmarkProxyFast\//, "", name); sub(/-[0-9]+$/, "", name); wall[name, ++w[name]] = $3
    # The benchmark reports its own CPU per request (the loop only, without
    # the process start): preferred to /usr/bin/time when present.
    if ($6 == "cpu-ns/op") { bcpu[name, w[name]] = $5 / 1000; hasb = 1 }
  }
  function median(a, k,   i, j, t) {
    for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return (k % 2) ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
  }
  # ratio v: the median over rounds of v / strata, on CPU (c=1) or wall (c=0).
  function ratio(v, c,   i, r, k) {
    k = n["strata"]
    for (i = 1; i <= k; i++) r[i] = c ? cpu[v, i] / cpu["strata", i] : wall[v, i] / wall["strata", i]
    return median(r, k)
  }
  function med(v, c,   i, r) { for (i = 1; i <= n[v]; i++) r[i] = c ? cpu[v, i] : wall[v, i]; return median(r, n[v]) }
  END {
    if (hasb) { for (k in bcpu) cpu[k] = bcpu[k]; for (v in w) n[v] = w[v] }
    if (n["strata"] == 0 || n["strata"] != n["strata-metrics"]) { print "RESULT metrics-cost missing: no BenchmarkProxyFast results"; exit 1 }
    for (v in n) printf "%-20s cpu %.1f us/req, wall %.0f ns/op (medians of %d runs)\n", v, med(v, 1), med(v, 0), n[v]
    sql = (n["strata-metrics-sql"] == n["strata"]) ? sprintf(" metric-sql-cpu=%+.1f%%", (ratio("strata-metrics-sql", 1) - 1) * 100) : ""
    # The last segment is the same ratio for scripts/benchtable (on/off: lower is better).
    printf "RESULT metrics-cost cpu=%+.1f%% wall=%+.1f%%%s rounds=%d (median per-round ratios to strata; goal: under 3%%) | metrics on/off cpu=%.3f wall=%.3f\n", (ratio("strata-metrics", 1) - 1) * 100, (ratio("strata-metrics", 0) - 1) * 100, sql, n["strata"], ratio("strata-metrics", 1), ratio("strata-metrics", 0)
  }' iter="$ITER" "$OUT"
