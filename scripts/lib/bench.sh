# shellcheck shell=bash
# What Strata's bench scripts share: the paths, the harness's lib.sh
# (../shared/bench: log, die, need_pkg, need_go, free_port, wait_tcp,
# start_bg, bench_cleanup, median, ratio), the common options, the temp dir,
# free ports, nginx configs, the harness's Go upstream, wrk runs, CPU time
# and syscall counts of processes, and a CPU hog.
# Source it first:  source "$(dirname "${BASH_SOURCE[0]}")/lib/bench.sh"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BENCH_DIR="${BENCH_DIR:-$ROOT/../shared/bench}"
BENCH_NAME="$(basename "$0" .sh)"
[ -f "$BENCH_DIR/lib.sh" ] || { echo "$BENCH_NAME: $BENCH_DIR/lib.sh not found (set BENCH_DIR)" >&2; exit 1; }
# shellcheck source=/dev/null
source "$BENCH_DIR/lib.sh"

# bench_args ARGS... : the common options into DUR (-d), CONNS (-c),
# THREADS (-t), ROUNDS (--rounds), TARGETS (--targets); -h prints the
# script's header. A script's own options, each with a value, are pairs
# "--flag VAR" in BENCH_OPTS.
bench_args() {
  local -a opts
  read -r -a opts <<<"${BENCH_OPTS:-}"
  while [ $# -gt 0 ]; do
    case "$1" in -h|--help) awk 'NR>1 && /^#/{sub(/^# ?/,""); print; next} NR>1{exit}' "$0"; exit 0;; esac
    [ $# -ge 2 ] || die "$1 needs a value"
    case "$1" in
      -d) DUR="$2";;
      -c) CONNS="$2";;
      -t) THREADS="$2";;
      --rounds) ROUNDS="$2";;
      --targets) TARGETS="$2";;
      *)
        local i found=
        for ((i = 0; i + 1 < ${#opts[@]}; i += 2)); do
          [ "$1" = "${opts[i]}" ] && { printf -v "${opts[i + 1]}" '%s' "$2"; found=1; break; }
        done
        [ -n "$found" ] || die "unknown arg $1";;
    esac
    shift 2
  done
}

# bench_tmp : BENCH_TMP, a temp dir the servers (nginx workers run as
# another user under root) can read; the cleanup stops what start_bg
# started.
bench_tmp() {
  BENCH_TMP="$(mktemp -d "/tmp/$BENCH_NAME.XXXXXX")"
  chmod 755 "$BENCH_TMP"
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
}

# port NAME : sets NAME to the first free port from next_port on (no
# subshell, so that the next call gets another).
next_port=18280
port() { # the local's name must not be one a caller passes
  local _bench_port
  _bench_port=$(free_port "$next_port")
  next_port=$((_bench_port + 1))
  printf -v "$1" '%s' "$_bench_port"
}

# build_proxybench : node/proxy/cmd/proxybench into $BENCH_TMP.
build_proxybench() {
  log "building proxybench"
  (cd "$ROOT/node" && go build -o "$BENCH_TMP/proxybench" ./proxy/cmd/proxybench) || die "proxybench build failed"
}

# start_upstream PORT [SIZE] : the harness's Go upstream (SIZE-byte answers,
# default 1024) on PORT; its PID in UPSTREAM_PID (built once per run).
start_upstream() {
  [ -x "$BENCH_TMP/upstream" ] || (cd "$BENCH_DIR/upstream" && go build -o "$BENCH_TMP/upstream" .) || die "upstream build failed"
  start_bg "$BENCH_TMP/upstream.log" "$BENCH_TMP/upstream" -addr "127.0.0.1:$1" -size "${2:-1024}" >/dev/null
  UPSTREAM_PID=${BENCH_PIDS[-1]} # not $(start_bg): a subshell would not record it for the cleanup
  wait_tcp 127.0.0.1 "$1" 20 || die "upstream did not start"
}

# nginx_conf DIR WORKERS HTTP [MAIN] : a self-contained nginx config in DIR
# (HTTP inside the http block, MAIN before it), checked.
nginx_conf() {
  mkdir -p "$1/logs"
  cat >"$1/nginx.conf" <<NGX
${4:-}
worker_processes $2;
pid $1/nginx.pid;
error_log $1/logs/error.log warn;
events { worker_connections 4096; multi_accept on; }
http {
  access_log off;
  client_body_temp_path $1/cb; proxy_temp_path $1/px; fastcgi_temp_path $1/fc;
  uwsgi_temp_path $1/uw; scgi_temp_path $1/sc;
  keepalive_requests 100000;
  $3
}
NGX
  nginx -t -q -p "$1" -e "$1/logs/error.log" -c "$1/nginx.conf" || die "nginx config test failed ($1)"
}

# start_nginx DIR PORT NAME : nginx of DIR's config, up on PORT.
start_nginx() {
  start_bg "$1/stdout.log" nginx -p "$1" -e "$1/logs/error.log" -c "$1/nginx.conf" -g 'daemon off;' >/dev/null
  wait_tcp 127.0.0.1 "$2" 30 || { tail -5 "$1/logs/error.log" >&2; die "$3 did not start"; }
}

# nginx_pids DIR : the master and workers of DIR's nginx.
nginx_pids() { echo "$(cat "$1/nginx.pid") $(pgrep -P "$(cat "$1/nginx.pid")" | tr '\n' ' ')"; }

to_ms() { # to_ms TOKEN : a wrk latency (850.00us, 1.23ms, 1.02s) in ms
  awk -v v="$1" 'BEGIN{ if (v ~ /us$/) {sub(/us$/,"",v); print v/1000} else if (v ~ /ms$/) {sub(/ms$/,"",v); print v+0} else {sub(/s$/,"",v); print v*1000} }'
}

# wrk_warm WRK-ARGS... : a WARMUP-long run, not measured.
wrk_warm() { timeout 30 wrk -t"$THREADS" -c"$CONNS" -d"$WARMUP" "$@" >/dev/null 2>&1; }

# wrk_measure WRK-ARGS... : one DUR-long run; sets WRK_RPS, WRK_P99 (ms),
# WRK_N (requests) and WRK_ERRS (wrk's error lines).
wrk_measure() { wrk_stats "$DUR" "$@"; }

# wrk_stats DURATION WRK-ARGS... : wrk_measure for another duration. With
# -s scripts/lib/wrk-latency.lua among the arguments it also sets WRK_P50,
# WRK_P999 (ms) and WRK_ERRN (errors of every kind, a count).
wrk_stats() {
  local out d=$1
  shift
  out=$(timeout 120 wrk -t"$THREADS" -c"$CONNS" -d"$d" --latency "$@" 2>&1)
  WRK_RPS=$(awk '/^Requests\/sec:/{print $2}' <<<"$out")
  WRK_N=$(awk '/requests in/{print $1}' <<<"$out")
  WRK_P99=$(to_ms "$(awk '$1=="99%"{print $2}' <<<"$out")")
  WRK_ERRS=$(awk '/Non-2xx|Socket errors/{printf "%s ", $0}' <<<"$out")
  local lat
  lat=$(grep '^LATENCY ' <<<"$out")
  WRK_P50=$(lat_field p50 "$lat") WRK_P999=$(lat_field p999 "$lat")
  [ -n "$lat" ] && WRK_P99=$(lat_field p99 "$lat") # same histogram as p50 and p999
  WRK_ERRN=$(sed -n 's/.* errors=\([0-9]*\).*/\1/p' <<<"$lat")
}

lat_field() { # lat_field NAME LINE : NAME=<us> of a LATENCY line, in ms
  sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<"$2" | awk '{printf "%.3f\n", $1 / 1000}'
}

# cpu_ticks FIELD PID... : the processes' utime (FIELD 14) or stime (15)
# in clock ticks (getconf CLK_TCK a second), every thread included.
cpu_ticks() {
  local f=$1 s=0 p
  shift
  for p in "$@"; do s=$((s + $(awk -v f="$f" '{print $f}' "/proc/$p/stat" 2>/dev/null || echo 0))); done
  echo "$s"
}

# syscalls_start PID... / syscalls_stop : count the syscalls of the
# processes (all their threads) with perf tracepoints in between;
# syscalls_stop sets SC_ALL and SC_EAGAIN (syscalls that returned EAGAIN),
# both empty when perf cannot count here. Bounded: perf ends after 300 s.
syscalls_start() {
  SC_FILE="$BENCH_TMP/perf-syscalls.txt"
  rm -f "$SC_FILE"
  timeout -s INT 300 perf stat -x, -o "$SC_FILE" -e raw_syscalls:sys_enter \
    -e raw_syscalls:sys_exit --filter 'ret == -11' -p "$(IFS=,; echo "$*")" 2>/dev/null &
  SC_PID=$!
  BENCH_PIDS+=("$SC_PID")
  # perf writes its header just before it attaches; a fixed sleep alone
  # was too short at load 10 (no count at all)
  local end=$((SECONDS + 10))
  until grep -q '^# started on' "$SC_FILE" 2>/dev/null || [ $SECONDS -ge $end ]; do sleep 0.05; done
  sleep 0.2
}
syscalls_stop() {
  kill -INT "$SC_PID" 2>/dev/null
  wait "$SC_PID" 2>/dev/null
  SC_ALL=$(awk -F, '$3=="raw_syscalls:sys_enter" && $1~/^[0-9]+$/{print $1}' "$SC_FILE" 2>/dev/null)
  SC_EAGAIN=$(awk -F, '$3=="raw_syscalls:sys_exit" && $1~/^[0-9]+$/{print $1}' "$SC_FILE" 2>/dev/null)
}

# per_req TOTAL N [SCALE] : TOTAL*SCALE/N with 2 decimals ("nan" without N).
per_req() { awk -v t="$1" -v n="$2" -v k="${3:-1}" 'BEGIN{ if (n+0==0 || t=="") print "nan"; else printf "%.2f\n", t*k/n }'; }

# hog_start CPU SECONDS / hog_stop : a busy loop pinned to CPU (taskset),
# ended by hog_stop or after SECONDS.
hog_start() {
  start_bg /dev/null taskset -c "$1" timeout "$2" bash -c 'while :; do :; done' >/dev/null
  HOG_PID=${BENCH_PIDS[-1]}
}
hog_stop() { kill "$HOG_PID" 2>/dev/null; wait "$HOG_PID" 2>/dev/null; HOG_PID=""; }
