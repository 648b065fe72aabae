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
  $1 ~ /^BenchmarkProxyFast\/strata(-[0-9]+)?$/ { off[++n_off] = $3; next }
  $1 == "CPU" && $2 == "strata-metrics" { con[++n_con] = ($3 + $4) * 1e6 / iter; next }
  $1 == "CPU" && $2 == "strata" { coff[++n_coff] = ($3 + $4) * 1e6 / iter; next }
  function median(a, n,   i, j, t) {
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  END {
    if (n_on == 0 || n_on != n_off) { print "RESULT metrics-cost missing: no BenchmarkProxyFast results"; exit 1 }
    for (i = 1; i <= n_on; i++) { r[i] = on[i] / off[i]; rc[i] = con[i] / coff[i] }
    m_r = median(r, n_on); m_rc = median(rc, n_con); m_off = median(off, n_off); m_on = median(on, n_on)
    m_coff = median(coff, n_coff); m_con = median(con, n_con)
    printf "wall: off %.0f ns/op, on %.0f ns/op (medians), median per-round ratio %.3f\n", m_off, m_on, m_r
    printf "cpu:  off %.1f us/req, on %.1f us/req (process CPU incl. client and upstream), median per-round ratio %.3f\n", m_coff, m_con, m_rc
    printf "RESULT metrics-cost cpu=%+.1f%% wall=%+.1f%% rounds=%d (goal: under 3%%)\n", (m_rc - 1) * 100, (m_r - 1) * 100, n_on
  }' iter="$ITER" "$OUT"
