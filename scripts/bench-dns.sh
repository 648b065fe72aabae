#!/usr/bin/env bash
# Node DNS server vs Knot DNS, measured in one run by the shared DNS harness
# (../shared/bench/dns.sh, or $BENCH_DIR). Builds node/dns/cmd/dnsbench, which
# serves the harness's example.test zone file through the node's DNS server
# (batched UDP fast path, one SO_REUSEPORT socket per GOMAXPROCS, + miekg/dns
# slow path) on 127.0.0.1:15400.
#
# Usage: scripts/bench-dns.sh [harness args, e.g. -d 10 --rounds 3]
# Env:   BENCH_DIR  harness folder (default: <repo>/../shared/bench)
#        SUT_PROCS  GOMAXPROCS of the server (default: all cores, like Knot)
#        SUT_ARGS   extra dnsbench flags (e.g. "-sockets 1", "-batch 64",
#                   "-workers 2", "-steer -pin", "-cpuprofile /tmp/dns.prof")
#        ROUNDS     rounds (default 3)
# Last line: the harness's RESULT line with sut/knot ratios.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH_DIR="${BENCH_DIR:-$ROOT/../shared/bench}"
[ -x "$BENCH_DIR/dns.sh" ] || { echo "bench-dns: $BENCH_DIR/dns.sh not found (set BENCH_DIR)" >&2; exit 1; }
BIN_DIR="$(mktemp -d /tmp/bench-dns-sut.XXXXXX)"
trap 'rm -rf "$BIN_DIR"' EXIT
(cd "$ROOT/node" && go build -o "$BIN_DIR/dnsbench" ./dns/cmd/dnsbench)
SUT_ADDR="127.0.0.1:15400"
procs=""
[ -n "${SUT_PROCS:-}" ] && procs="GOMAXPROCS=$SUT_PROCS "
"$BENCH_DIR/dns.sh" --rounds "${ROUNDS:-3}" --sut "$SUT_ADDR" \
  --sut-cmd "${procs}$BIN_DIR/dnsbench -zone {ZONE} -addr $SUT_ADDR ${SUT_ARGS:-}" "$@"
