#!/usr/bin/env bash
# Node proxy vs nginx and HAProxy: a matrix of cells, every target measured
# in the same run (issue 19, part 1).
#
# Cells: body (1k, 100k from the shared harness's Go upstream; the upstream
# and every target are started afresh per size) x client connections (64,
# 1000) x connection mode (ka: keep-alive, close: "Connection: close" on
# every request) x load (idle; hog: a busy loop pinned by taskset to the last
# CPU for the cell's whole measurement, ratios to nginx read in the same run).
# Targets, each with upstream keep-alive:
#   sut            node/proxy/cmd/proxybench, GOMAXPROCS=$SUT_PROCS (1), SUT_ARGS passed on
#   nginx-w1       nginx, worker_processes 1 (keepalive 1024 to the upstream; 8 x 32k
#                  proxy buffers keep a 100 KiB answer in memory: the default 8 x 4k
#                  spill it to a temp file)
#   nginx-wauto    nginx, worker_processes auto
#   haproxy-t1     HAProxy (Debian), mode http, http-reuse always, nbthread 1
#   haproxy-tauto  the same, threads left to HAProxy (one per CPU)
# A run is one wrk warm-up (WARMUP; the target's syscalls counted by perf
# over it) then one measured wrk run (-d; rps, p50/p99/p999 from wrk's Lua
# done() hook, CPU time of the target's processes from /proc/PID/stat).
# Per round every cell is measured --runs times, targets interleaved; the
# figures are medians over rounds x runs, ratios are of those medians (rps,
# p99 and cpu: sut/ref; above 1 is more rps, or worse p99/cpu).
#
# Usage: scripts/bench-proxy.sh [--quick] [-d 5s] [-t 2] [--rounds 3] [--runs 3]
#          [--bodies "1k 100k"] [-c "64 1000"] [--modes "ka close"] [--loads "idle hog"]
#          [--targets "sut nginx-w1 nginx-wauto haproxy-t1 haproxy-tauto"]
#   --quick  one round, one run, -d 2s, WARMUP=1s (bench-all --quick)
# Full defaults take about 90 minutes (16 cells x 5 targets x 9 runs x 7 s).
# Env:   BENCH_DIR      shared harness folder (default <repo>/../shared/bench)
#        SUT_PROCS      GOMAXPROCS of the proxy (default 1: compare with the 1-worker refs)
#        SUT_ARGS       extra proxybench flags (e.g. "-engine evloop", "-rules 20")
#        WARMUP         warm-up run per measurement (default 2s)
#        UPSTREAM_PORT  upstream port (default 18080)
#        KEEP_TMP=1     keep configs and logs
# Prints a markdown table of every cell and target, then the last line:
# RESULT proxy-matrix ... | <cell> <target> figures | <cell> sut/<ref> ratios
set -uo pipefail
# shellcheck source=lib/bench.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/bench.sh"

DUR=5s; THREADS=2; ROUNDS=3; RUNS=3; WARMUP="${WARMUP:-2s}"
CONNS="64 1000"; BODIES="1k 100k"; MODES="ka close"; LOADS="idle hog"
TARGETS="sut nginx-w1 nginx-wauto haproxy-t1 haproxy-tauto"
if [ "${1:-}" = --quick ]; then
  shift; ROUNDS=1 RUNS=1 DUR=2s WARMUP=1s
fi
BENCH_OPTS="--runs RUNS --bodies BODIES --modes MODES --loads LOADS" bench_args "$@"
CONN_LIST=$CONNS
HOST=bench.strata.test
LUA="$ROOT/scripts/lib/wrk-latency.lua"
UP_PORT="${UPSTREAM_PORT:-18080}"
HOG_CPU=$(($(nproc) - 1))
secs() { echo "${1%s}"; } # 5s -> 5

need_go
need_pkg wrk wrk
need_pkg nginx nginx-light
need_pkg haproxy haproxy
need_pkg ss iproute2
need_pkg curl curl
need_pkg taskset util-linux
command -v perf >/dev/null || log "perf not found: syscalls per request reported as nan"

bench_tmp
build_proxybench
port_in_use "$UP_PORT" && die "port $UP_PORT in use (set UPSTREAM_PORT)"

body_bytes() { # 1k -> 1024
  local n=${1%k}
  [ "$n" != "$1" ] && [ "$n" -gt 0 ] 2>/dev/null || die "--bodies: $1 is not N k (e.g. 1k)"
  echo $((n * 1024))
}

start_haproxy() { # start_haproxy NAME PORT NBTHREAD-LINE
  local d="$BENCH_TMP/$1"
  mkdir -p "$d"
  cat >"$d/haproxy.cfg" <<HAP
global
  $3
  maxconn 8000
defaults
  mode http
  option http-keep-alive
  http-reuse always
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  timeout http-keep-alive 30s
frontend f
  bind 127.0.0.1:$2
  default_backend up
backend up
  server s1 127.0.0.1:$UP_PORT
HAP
  start_bg "$d/haproxy.log" haproxy -db -f "$d/haproxy.cfg" >/dev/null
  PIDS[$1]=${BENCH_PIDS[-1]}
  wait_tcp 127.0.0.1 "$2" 10 || { tail -5 "$d/haproxy.log" >&2; die "$1 did not start"; }
}

# --- targets (started afresh for each body size, with its upstream) -----------
declare -A URL PIDS MAIN
start_targets() {
  local t p d
  for t in $TARGETS; do
    port p
    case "$t" in
      sut)
        # shellcheck disable=SC2086 # SUT_ARGS is a list of flags
        start_bg "$BENCH_TMP/sut.log" env GOMAXPROCS="${SUT_PROCS:-1}" "$BENCH_TMP/proxybench" \
          -listen "127.0.0.1:$p" -upstream "127.0.0.1:$UP_PORT" -host "$HOST" ${SUT_ARGS:-} >/dev/null
        PIDS[$t]=${BENCH_PIDS[-1]} # env execs proxybench: same PID
        wait_tcp 127.0.0.1 "$p" 30 || { tail -5 "$BENCH_TMP/sut.log" >&2; die "sut did not start"; }
        ;;
      nginx-w*)
        d="$BENCH_TMP/$t"
        nginx_conf "$d" "${t#nginx-w}" "upstream up { server 127.0.0.1:$UP_PORT; keepalive 1024; keepalive_requests 100000; }
  server {
    listen 127.0.0.1:$p reuseport backlog=4096;
    location / {
      proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection \"\"; proxy_buffering on;
      proxy_buffer_size 32k; proxy_buffers 8 32k; proxy_busy_buffers_size 64k;
    }
  }"
        start_nginx "$d" "$p" "$t"
        sleep 0.3 # workers forked
        PIDS[$t]=$(nginx_pids "$d")
        ;;
      haproxy-t1) start_haproxy "$t" "$p" "nbthread 1" ;;
      haproxy-tauto) start_haproxy "$t" "$p" "" ;;
      *) die "unknown target $t" ;;
    esac
    URL[$t]="http://127.0.0.1:$p/"
    MAIN[$t]=${BENCH_PIDS[-1]}
  done
}

# stop_targets : the upstream and the targets, so that the next size starts
# without pooled connections to a gone upstream (and a server marked down).
stop_targets() {
  local p
  for p in "$UPSTREAM_PID" "${MAIN[@]}"; do kill "$p" 2>/dev/null; done
  for p in "$UPSTREAM_PID" "${MAIN[@]}"; do wait "$p" 2>/dev/null; done
}

# check BYTES : every target answers 200 with the upstream's whole body.
check() {
  local t got
  for t in $TARGETS; do
    got=$(curl -s -o /dev/null -w '%{http_code}:%{size_download}' -H "Host: $HOST" "${URL[$t]}")
    [ "$got" = "200:$1" ] || die "$t answered $got, want 200:$1"
  done
}

# measure CELL TARGET [close] : one run; appends to the figures of CELL/TARGET.
declare -A RPS P50 P99 P999 USR SYS SC EAG ERR
measure() {
  local k="$1/$2" url=${URL[$2]} pids=${PIDS[$2]} u0 s0 hdr=()
  [ "${3:-}" = close ] && hdr=(-H "Connection: close")
  # shellcheck disable=SC2086
  syscalls_start $pids
  wrk_stats "$WARMUP" --timeout 5s -s "$LUA" -H "Host: $HOST" "${hdr[@]}" "$url"
  syscalls_stop
  SC[$k]+="$(per_req "$SC_ALL" "$WRK_N") " EAG[$k]+="$(per_req "$SC_EAGAIN" "$WRK_N") "
  # shellcheck disable=SC2086
  u0=$(cpu_ticks 14 $pids) s0=$(cpu_ticks 15 $pids)
  wrk_measure --timeout 5s -s "$LUA" -H "Host: $HOST" "${hdr[@]}" "$url"
  # shellcheck disable=SC2086
  USR[$k]+="$(per_req $(($(cpu_ticks 14 $pids) - u0)) "$WRK_N" "$US_PER_TICK") "
  # shellcheck disable=SC2086
  SYS[$k]+="$(per_req $(($(cpu_ticks 15 $pids) - s0)) "$WRK_N" "$US_PER_TICK") "
  RPS[$k]+="${WRK_RPS:-0} " P50[$k]+="${WRK_P50:-nan} " P99[$k]+="${WRK_P99:-nan} " P999[$k]+="${WRK_P999:-nan} "
  ERR[$k]=$((${ERR[$k]:-0} + ${WRK_ERRN:-0}))
  log "$1 $2: rps=$WRK_RPS p50=${WRK_P50}ms p99=${WRK_P99}ms p999=${WRK_P999}ms $WRK_ERRS"
}
US_PER_TICK=$((1000000 / $(getconf CLK_TCK)))

# --- the matrix -----------------------------------------------------------------
CELLS=() # in order
per_run=$(($(secs "$WARMUP") + $(secs "$DUR") + 2))
for b in $BODIES; do
  start_upstream "$UP_PORT" "$(body_bytes "$b")"
  start_targets
  check "$(body_bytes "$b")"
  log "body $b: every target answers 200 with $(body_bytes "$b") bytes"
  for r in $(seq 1 "$ROUNDS"); do
    for l in $LOADS; do
      for c in $CONN_LIST; do
        for m in $MODES; do
          cell="$b c$c $m $l"
          [ "$r" = 1 ] && CELLS+=("$cell")
          CONNS=$c
          [ "$l" = hog ] && hog_start "$HOG_CPU" $((RUNS * $(wc -w <<<"$TARGETS") * per_run + 30))
          for _ in $(seq 1 "$RUNS"); do
            for t in $TARGETS; do measure "$cell" "$t" "$m"; done
          done
          [ "$l" = hog ] && hog_stop
        done
      done
    done
  done
  stop_targets
done

# --- report ---------------------------------------------------------------------
med() { # med ARRAY KEY : the median of the runs' figures, runs without one (nan) left out
  local -n a=$1
  # shellcheck disable=SC2046
  median $(tr ' ' '\n' <<<"${a[$2]}" | grep -v '^nan$')
}
sum() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f\n", a+b}'; }
load=$(cut -d' ' -f1-3 /proc/loadavg)
declare -A CPU MR MP MS
echo "| cell | target | rps | p50 ms | p99 ms | p999 ms | CPU us/req (user+sys) | syscalls/req (EAGAIN) | errors |"
echo "|---|---|---|---|---|---|---|---|---|"
line="RESULT proxy-matrix d=$DUR warmup=$WARMUP rounds=$ROUNDS runs=$RUNS t=$THREADS procs=${SUT_PROCS:-1} sut_args='${SUT_ARGS:-}' cpus=$(nproc) load='$load'"
for cell in "${CELLS[@]}"; do
  for t in $TARGETS; do
    k="$cell/$t"
    cpu=$(sum "$(med USR "$k")" "$(med SYS "$k")")
    CPU[$k]=$cpu MR[$k]=$(med RPS "$k") MP[$k]=$(med P99 "$k") MS[$k]=$(med SC "$k")
    printf '| %s | %s | %.0f | %s | %s | %s | %s (%s+%s) | %s (%s) | %s |\n' "$cell" "$t" "${MR[$k]}" "$(med P50 "$k")" \
      "${MP[$k]}" "$(med P999 "$k")" "$cpu" "$(med USR "$k")" "$(med SYS "$k")" "${MS[$k]}" "$(med EAG "$k")" "${ERR[$k]}"
    line+=" | $cell $t rps=$(printf %.0f "${MR[$k]}") p50=$(med P50 "$k")ms p99=${MP[$k]}ms p999=$(med P999 "$k")ms cpu=${cpu}us sc=${MS[$k]} eagain=$(med EAG "$k") errors=${ERR[$k]}"
  done
  [[ " $TARGETS " == *" sut "* ]] || continue
  for t in $TARGETS; do
    [ "$t" = sut ] && continue
    line+=" | $cell sut/$t rps=$(ratio "${MR[$cell/sut]}" "${MR[$cell/$t]}") p99=$(ratio "${MP[$cell/sut]}" "${MP[$cell/$t]}") cpu=$(ratio "${CPU[$cell/sut]}" "${CPU[$cell/$t]}") sc=$(ratio "${MS[$cell/sut]}" "${MS[$cell/$t]}")"
  done
done
echo "$line"
