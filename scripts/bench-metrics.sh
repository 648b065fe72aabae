#!/usr/bin/env bash
# Metrics benchmarks (docs/metrics.md, "Figures"), in one run:
#
# 1. Proxy throughput with the per-second aggregates of the metrics reports
#    on vs off: BenchmarkProxyFast/strata and /strata-metrics (node/proxy),
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
# Usage: scripts/bench-metrics.sh   Env: ROUNDS (default 5), BENCHTIME (default 2s)
# Last line: RESULT metrics-cost ...
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
ROUNDS="${ROUNDS:-5}"
BENCHTIME="${BENCHTIME:-2s}"
OUT="$(mktemp /tmp/bench-metrics.XXXXXX)"
trap 'rm -f "$OUT"' EXIT

echo "== proxy, per-second aggregates off vs on ($ROUNDS rounds, $BENCHTIME each)"
BIN="$(mktemp -d /tmp/bench-metrics-bin.XXXXXX)"
trap 'rm -f "$OUT"; rm -rf "$BIN"' EXIT
(cd node && go test -c -o "$BIN/proxy.test" ./proxy)
one() { "$BIN/proxy.test" -test.run '^$' -test.bench "BenchmarkProxyFast/^$1\$" -test.benchtime="$BENCHTIME" | grep '^Benchmark' | tee -a "$OUT"; }
for i in $(seq "$ROUNDS"); do
  if [ $((i % 2)) = 1 ]; then one strata; one strata-metrics; else one strata-metrics; one strata; fi
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
  $1 ~ /^BenchmarkProxyFast\/strata-metrics(-[0-9]+)?$/ { on[++n_on] = $3; next }
  $1 ~ /^BenchmarkProxyFast\/strata(-[0-9]+)?$/ { off[++n_off] = $3 }
  function median(a, n,   i, j, t) {
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  END {
    if (n_on == 0 || n_on != n_off) { print "RESULT metrics-cost missing: no BenchmarkProxyFast results"; exit 1 }
    for (i = 1; i <= n_on; i++) r[i] = on[i] / off[i]
    m_r = median(r, n_on); m_off = median(off, n_off); m_on = median(on, n_on)
    printf "RESULT metrics-cost off=%.0fns/op on=%.0fns/op median-round-ratio=%.3f cost=%+.1f%% rounds=%d (goal: under 3%%)\n", m_off, m_on, m_r, (m_r - 1) * 100, n_on
  }' "$OUT"
