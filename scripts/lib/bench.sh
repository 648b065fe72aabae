# shellcheck shell=bash
# What Strata's bench scripts share: the paths, the harness's lib.sh
# (../shared/bench: log, die, need_pkg, need_go, free_port, wait_tcp,
# start_bg, bench_cleanup, median, ratio), the common options, the temp dir,
# free ports, nginx configs, the harness's Go upstream and wrk runs.
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

# start_upstream PORT : the harness's Go upstream (1 KiB answers) on PORT.
start_upstream() {
  (cd "$BENCH_DIR/upstream" && go build -o "$BENCH_TMP/upstream" .) || die "upstream build failed"
  start_bg "$BENCH_TMP/upstream.log" "$BENCH_TMP/upstream" -addr "127.0.0.1:$1" -size 1024 >/dev/null
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
wrk_measure() {
  local out
  out=$(timeout 120 wrk -t"$THREADS" -c"$CONNS" -d"$DUR" --latency "$@" 2>&1)
  WRK_RPS=$(awk '/^Requests\/sec:/{print $2}' <<<"$out")
  WRK_N=$(awk '/requests in/{print $1}' <<<"$out")
  WRK_P99=$(to_ms "$(awk '$1=="99%"{print $2}' <<<"$out")")
  WRK_ERRS=$(awk '/Non-2xx|Socket errors/{printf "%s ", $0}' <<<"$out")
}
