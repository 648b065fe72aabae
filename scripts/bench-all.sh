#!/usr/bin/env bash
# Every side-by-side benchmark script in one run, then one table in
# docs/benchmarks.md ("Side by side"): date, commit, machine and each
# script's ratios, read from the RESULT line each script prints last
# (scripts/benchtable parses it).
#
# Scripts: bench-proxy (node vs nginx and HAProxy, a matrix), bench-cache (vs nginx proxy_cache,
# Varnish), bench-stream (vs nginx stream, HAProxy, Dante), bench-waf (vs
# nginx + ModSecurity), bench-metrics (metrics on vs off), bench-dns (vs
# Knot), bench-tls (vs nginx). bench-xdp is left out: it needs root and
# measures against nftables in the kernel, not a server run side by side.
#
# Usage: scripts/bench-all.sh [--quick] [--only "proxy cache ..."]
#   --quick  each script once with short durations and one round: shows the
#            table is produced; figures to quote come from a full run
# Env:   BENCH_DIR  shared harness folder (as the scripts)
#        LOG_DIR    where each script's output goes (default: a temp dir, kept)
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
QUICK="" ONLY=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --only) ONLY="$2"; shift ;;
    *) echo "bench-all: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
LOG_DIR="${LOG_DIR:-$(mktemp -d /tmp/bench-all.XXXXXX)}"
mkdir -p "$LOG_DIR"

# name | full arguments | quick arguments (and env for the quick run)
SCRIPTS=(
  "proxy||--quick"
  "cache||-d 2s --rounds 1"
  "stream||-d 2 --rounds 1"
  "waf||-d 2s --rounds 1"
  "metrics||ROUNDS=2 ITER=5000 BENCHTIME=200ms"
  "dns||-d 2 ROUNDS=1"
  "tls||-d 3"
)
cd "$ROOT" || exit 1
logs=()
for entry in "${SCRIPTS[@]}"; do
  IFS='|' read -r name full quick <<<"$entry"
  if [ -n "$ONLY" ] && [[ " $ONLY " != *" $name "* ]]; then continue; fi
  args=$full
  [ -n "$QUICK" ] && args=$quick
  envs=() flags=()
  for a in $args; do
    if [[ "$a" == *=* && "$a" != -* ]]; then envs+=("$a"); else flags+=("$a"); fi
  done
  log="$LOG_DIR/$name.log"
  echo "== bench-$name ${args:-(full)} -> $log" >&2
  start=$(date +%s)
  env "${envs[@]}" timeout 3600 bash "scripts/bench-$name.sh" "${flags[@]}" >"$log" 2>&1
  echo "== bench-$name: exit $? after $(($(date +%s) - start))s; $(grep '^RESULT ' "$log" | tail -1 | cut -c1-160)" >&2
  logs+=("$log")
done
mode=full
[ -n "$QUICK" ] && mode=quick
go run ./scripts/benchtable -doc docs/benchmarks.md -mode "$mode" "${logs[@]}"
