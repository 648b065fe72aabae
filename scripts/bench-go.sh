#!/usr/bin/env bash
# Hot-path Go benchmarks (request routing and rules, host lookup, upstream
# pick, cache key and hit, DNS fast path, rate limit check) compared with
# the results stored in bench/baseline.txt, by benchstat: a regression shows
# as a + on time/op here and, when the baseline is refreshed with the change
# that moved it, as a diff of that file in review.
#
# Usage: scripts/bench-go.sh [--baseline]
#   --baseline  write the run to bench/baseline.txt instead of comparing
# Env:   COUNT      runs of each benchmark (default 6: benchstat's minimum
#                   for a confidence interval)
#        BENCHTIME  per run (default 100ms)
#        OUT        where the run is written (default bench/latest.txt, not committed)
# Speed is reported, never asserted: the script fails only when a
# benchmark does.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
COUNT="${COUNT:-6}"
BENCHTIME="${BENCHTIME:-100ms}"
OUT="${OUT:-bench/latest.txt}"
[ "${1:-}" = "--baseline" ] && OUT=bench/baseline.txt

# package | benchmarks (a -bench pattern)
SUITES=(
  "./pkg/rules|^BenchmarkMatch$|^BenchmarkSet$/^rules=(1|1000)$/req=benign/eval=set"
  "./pkg/domainname|^BenchmarkLookup$"
  "./node/proxy/route|^BenchmarkEvaluate$|^BenchmarkEvaluateRules$|^BenchmarkIndex$"
  "./node/proxy/upstream|^BenchmarkPick$"
  "./node/cache|^BenchmarkHit$|^BenchmarkHitOnly$|^BenchmarkKeyBuild$"
  "./node/dns|^BenchmarkFastReply$|^BenchmarkFastReplyMix$"
  "./node/ratelimit|^BenchmarkCheck$/one_key"
)
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
for s in "${SUITES[@]}"; do
  pkg=${s%%|*}
  pat=${s#*|}
  echo "== $pkg ($pat)" >&2
  go test -run '^$' -bench "$pat" -benchtime "$BENCHTIME" -count "$COUNT" -benchmem "$pkg" | grep -v '^PASS$' >>"$tmp"
done
mkdir -p "$(dirname "$OUT")"
mv "$tmp" "$OUT"
trap - EXIT
echo "== wrote $OUT ($(grep -c '^Benchmark' "$OUT") results)" >&2
if [ "$OUT" != bench/baseline.txt ]; then
  go tool benchstat bench/baseline.txt "$OUT"
fi
