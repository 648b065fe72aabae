#!/usr/bin/env bash
# Node proxy vs nginx.
#
# Default mode: one run of the shared HTTP proxy harness
# (../shared/bench/http-proxy.sh, or $BENCH_DIR), which measures its upstream,
# nginx with 1 and auto workers and the SUT with wrk, round-robin, and prints
# the SUT/nginx ratios. The SUT is node/proxy/cmd/proxybench serving one app
# (Host bench.strata.test) with one upstream, the harness's on $UPSTREAM_PORT.
#
# --cpu mode: CPU time per request (user and system microseconds, from
# /proc/PID/stat) of nginx (1 worker) and the proxy, each loaded by wrk in
# turn for $ROUNDS rounds. On a shared 2-core box the throughput ratio swings
# with whatever else runs; CPU per request barely moves, so use it to judge an
# optimisation.
#
# Usage: scripts/bench-proxy.sh [--cpu] [harness args, e.g. -d 10s --workers "1 auto"]
# Env:   BENCH_DIR      harness folder (default: <repo>/../shared/bench)
#        SUT_PROCS      GOMAXPROCS of the proxy (default 1: compare with nginx-w1)
#        SUT_ARGS       extra proxybench flags (e.g. "-rules 20" or "-engine net/http")
#        ROUNDS         rounds (default 3)
#        UPSTREAM_PORT  upstream port (default 18080)
# Last line: RESULT ...
set -euo pipefail
# shellcheck source=lib/bench.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/bench.sh"
[ -x "$BENCH_DIR/http-proxy.sh" ] || { echo "bench-proxy: $BENCH_DIR/http-proxy.sh not found (set BENCH_DIR)" >&2; exit 1; }
BIN_DIR="$(mktemp -d /tmp/bench-proxy.XXXXXX)"
(cd "$ROOT/node" && go build -o "$BIN_DIR/proxybench" ./proxy/cmd/proxybench)
UP_PORT="${UPSTREAM_PORT:-18080}"
SUT_ADDR="127.0.0.1:18090"
SUT_CMD="env GOMAXPROCS=${SUT_PROCS:-1} $BIN_DIR/proxybench -listen $SUT_ADDR -upstream 127.0.0.1:$UP_PORT -host bench.strata.test ${SUT_ARGS:-}"

if [ "${1:-}" != "--cpu" ]; then
  trap 'rm -rf "$BIN_DIR"' EXIT
  "$BENCH_DIR/http-proxy.sh" --rounds "${ROUNDS:-3}" --sut "http://$SUT_ADDR" --sut-host bench.strata.test \
    --sut-cmd "$SUT_CMD" "$@"
  exit $?
fi
shift

# --- CPU per request -----------------------------------------------------------
BENCH_TMP="$BIN_DIR"
trap bench_cleanup EXIT
need_pkg wrk wrk
need_pkg nginx nginx-light
DUR="${DUR:-5s}"
port_in_use "$UP_PORT" && die "port $UP_PORT in use"
start_upstream "$UP_PORT"

NGX_PORT=$(free_port 18181)
d="$BIN_DIR/nginx"
nginx_conf "$d" 1 "upstream up { server 127.0.0.1:$UP_PORT; keepalive 256; keepalive_requests 100000; }
  server {
    listen 127.0.0.1:$NGX_PORT reuseport backlog=4096;
    location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection \"\"; proxy_buffering on; }
  }"
start_nginx "$d" "$NGX_PORT" nginx
start_group "$BIN_DIR/sut.log" "exec $SUT_CMD" >/dev/null
wait_tcp 127.0.0.1 18090 30 || die "proxybench did not start"
sut_pid=$(ss -Hltnp "sport = :18090" | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -1)
[ -n "$sut_pid" ] || die "cannot find the proxybench process"

ticks() { # ticks FIELD PID... : sum of utime (14) or stime (15) in clock ticks
  local f=$1 s=0 p; shift
  for p in "$@"; do s=$((s + $(awk -v f="$f" '{print $f}' "/proc/$p/stat"))); done
  echo "$s"
}
TCK=$(getconf CLK_TCK)
declare -A U S R
for r in $(seq 1 "${ROUNDS:-3}"); do
  for name in nginx-w1 sut; do
    if [ "$name" = sut ]; then port=18090; pids=$sut_pid; else port=$NGX_PORT; pids=$(nginx_pids "$d"); fi
    # shellcheck disable=SC2086
    { timeout 30 wrk -t2 -c64 -d2s -H "Host: bench.strata.test" "http://127.0.0.1:$port/" >/dev/null 2>&1
      u0=$(ticks 14 $pids); s0=$(ticks 15 $pids)
      out=$(timeout 120 wrk -t2 -c64 -d"$DUR" -H "Host: bench.strata.test" "http://127.0.0.1:$port/")
      u1=$(ticks 14 $pids); s1=$(ticks 15 $pids); }
    n=$(awk '/requests in/{print $1}' <<<"$out")
    rps=$(awk '/Requests\/sec/{printf "%.0f", $2}' <<<"$out")
    us=$(awk -v t=$((u1 - u0)) -v k="$TCK" -v n="$n" 'BEGIN{printf "%.2f", t/k*1e6/n}')
    ss=$(awk -v t=$((s1 - s0)) -v k="$TCK" -v n="$n" 'BEGIN{printf "%.2f", t/k*1e6/n}')
    U[$name]+="$us "; S[$name]+="$ss "; R[$name]+="$rps "
    log "round $r $name: user ${us}us/req sys ${ss}us/req rps $rps"
  done
done
line="RESULT proxy-cpu d=$DUR rounds=${ROUNDS:-3} procs=${SUT_PROCS:-1}"
for name in nginx-w1 sut; do
  # shellcheck disable=SC2086
  line+=" | $name user=$(median ${U[$name]})us sys=$(median ${S[$name]})us rps=$(median ${R[$name]})"
done
# shellcheck disable=SC2086
tn=$(awk -v a="$(median ${U[nginx-w1]})" -v b="$(median ${S[nginx-w1]})" 'BEGIN{print a+b}')
# shellcheck disable=SC2086
ts=$(awk -v a="$(median ${U[sut]})" -v b="$(median ${S[sut]})" 'BEGIN{print a+b}')
line+=" | nginx-w1/sut cpu-per-request=$(ratio "$tn" "$ts")"
echo "$line"
