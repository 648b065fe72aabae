#!/usr/bin/env bash
# Node proxy vs nginx, measured in one run by the shared HTTP proxy harness
# (../shared/bench/http-proxy.sh, or $BENCH_DIR). Builds node/proxy/cmd/proxybench,
# which serves one app (Host bench.strata.test) with one upstream: the
# harness's upstream on $UPSTREAM_PORT (18080). The SUT listens on 18090.
#
# Usage: scripts/bench-proxy.sh [harness args, e.g. -d 10s --rounds 3]
# Env:   BENCH_DIR      harness folder (default: <repo>/../shared/bench)
#        SUT_PROCS      GOMAXPROCS of the proxy (default 1: compare with nginx-w1)
#        SUT_ARGS       extra proxybench flags (e.g. "-rules 20" or "-engine net/http")
#        ROUNDS         rounds (default 3)
#        UPSTREAM_PORT  harness upstream port (default 18080)
# Last line: the harness's RESULT line with sut/nginx ratios.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH_DIR="${BENCH_DIR:-$ROOT/../shared/bench}"
[ -x "$BENCH_DIR/http-proxy.sh" ] || { echo "bench-proxy: $BENCH_DIR/http-proxy.sh not found (set BENCH_DIR)" >&2; exit 1; }
BIN_DIR="$(mktemp -d /tmp/bench-proxy.XXXXXX)"
trap 'rm -rf "$BIN_DIR"' EXIT
(cd "$ROOT/node" && go build -o "$BIN_DIR/proxybench" ./proxy/cmd/proxybench)
UP_PORT="${UPSTREAM_PORT:-18080}"
SUT_ADDR="127.0.0.1:18090"
exec_cmd="GOMAXPROCS=${SUT_PROCS:-1} $BIN_DIR/proxybench -listen $SUT_ADDR -upstream 127.0.0.1:$UP_PORT -host bench.strata.test ${SUT_ARGS:-}"
"$BENCH_DIR/http-proxy.sh" --rounds "${ROUNDS:-3}" --sut "http://$SUT_ADDR" --sut-host bench.strata.test \
  --sut-cmd "$exec_cmd" "$@"
