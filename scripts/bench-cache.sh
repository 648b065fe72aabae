#!/usr/bin/env bash
# Cache hits: node vs nginx proxy_cache vs Varnish, in one run.
#
# An nginx origin serves fixed bodies (1 KiB at /1k, 100 KiB at /100k) with
# Cache-Control: public, max-age=3600. In front of it, each caching:
#   node-mem    node/proxy/cmd/proxybench -cache memory (a cache page rule), GOMAXPROCS=1
#   node-disk   the same with the disk store (-cache disk), GOMAXPROCS=1
#   nginx-w1    nginx proxy_cache, worker_processes 1
#   nginx-wauto nginx proxy_cache, worker_processes auto
#   varnish     varnishd -s malloc, one thread pool (min 100 / max 500 threads)
# Each target is warmed and must answer X-Cache-Status: HIT before it is
# measured; then wrk runs round-robin over targets and sizes (--rounds),
# medians reported. Last line: RESULT cache-hit ... with rps and p99 per
# target and size, and node-mem/nginx-w1, node-mem/nginx-wauto and
# node-mem/varnish ratios (rps: higher is better; p99: lower is better).
#
# Usage: scripts/bench-cache.sh [-d 5s] [-c 64] [-t 2] [--rounds 3]
#                               [--sizes "1k 100k"] [--targets "node-mem ..."]
# Env:   BENCH_DIR  shared harness folder (default <repo>/../shared/bench; lib.sh)
#        SUT_PROCS  GOMAXPROCS of the node (default 1: compare with nginx-w1)
#        WARMUP     wrk warm-up per measurement (default 1s)
#        PPROF      serve pprof of node-mem on this address (e.g. 127.0.0.1:16060)
#        KEEP_TMP=1 keep configs and logs
# Missing tools (wrk, nginx-light, varnish) are installed with apt-get. Every
# server listens on 127.0.0.1 high ports and is stopped at exit by its PID.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH_DIR="${BENCH_DIR:-$ROOT/../shared/bench}"
[ -f "$BENCH_DIR/lib.sh" ] || { echo "bench-cache: $BENCH_DIR/lib.sh not found (set BENCH_DIR)" >&2; exit 1; }
# shellcheck source=/dev/null
source "$BENCH_DIR/lib.sh" # log, die, need_pkg, need_go, free_port, wait_tcp, start_bg, bench_cleanup, median, ratio

DUR=5s; CONNS=64; THREADS=2; ROUNDS=3; SIZES="1k 100k"
TARGETS="node-mem node-disk nginx-w1 nginx-wauto varnish"
while [ $# -gt 0 ]; do
  case "$1" in
    -d) DUR="$2"; shift 2;;
    -c) CONNS="$2"; shift 2;;
    -t) THREADS="$2"; shift 2;;
    --rounds) ROUNDS="$2"; shift 2;;
    --sizes) SIZES="$2"; shift 2;;
    --targets) TARGETS="$2"; shift 2;;
    -h|--help) awk 'NR>1 && /^#/{sub(/^# ?/,""); print; next} NR>1{exit}' "$0"; exit 0;;
    *) die "unknown arg $1";;
  esac
done
WARMUP="${WARMUP:-1s}"
HOST=bench.strata.test

need_go
need_pkg wrk wrk
need_pkg nginx nginx-light
need_pkg varnishd varnish
need_pkg ss iproute2
need_pkg curl curl

BENCH_TMP="$(mktemp -d /tmp/bench-cache.XXXXXX)"
chmod 755 "$BENCH_TMP" # nginx workers (another user when run as root) read and write below it
trap bench_cleanup EXIT
trap 'exit 130' INT TERM
log "building proxybench"
(cd "$ROOT/node" && go build -o "$BENCH_TMP/proxybench" ./proxy/cmd/proxybench) || die "proxybench build failed"

next_port=18280
port() { local p; p=$(free_port "$next_port"); next_port=$((p + 1)); echo "$p"; }

# nginx_conf DIR WORKERS SERVER-BLOCK : a self-contained nginx config in DIR
nginx_conf() {
  mkdir -p "$1/logs"
  cat >"$1/nginx.conf" <<NGX
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
start_nginx() { # start_nginx DIR PORT NAME
  start_bg "$1/stdout.log" nginx -p "$1" -e "$1/logs/error.log" -c "$1/nginx.conf" -g 'daemon off;' >/dev/null
  wait_tcp 127.0.0.1 "$2" 10 || die "$3 did not start"
}

# --- origin -------------------------------------------------------------------
ORIGIN_PORT=$(port)
od="$BENCH_TMP/origin"; mkdir -p -m 755 "$od" "$od/www"
for s in $SIZES; do
  n=${s%k}; [ "$n" = "$s" ] && die "--sizes: $s is not N k"
  head -c $((n * 1024)) /dev/zero | tr '\0' x >"$od/www/$s"; chmod 644 "$od/www/$s"
done
nginx_conf "$od" 1 "server {
    listen 127.0.0.1:$ORIGIN_PORT reuseport;
    root $od/www;
    location / { add_header Cache-Control \"public, max-age=3600\"; }
  }"
start_nginx "$od" "$ORIGIN_PORT" origin

# --- targets ------------------------------------------------------------------
declare -A URL
for t in $TARGETS; do
  p=$(port)
  case "$t" in
    node-mem|node-disk)
      args=(-cache memory)
      [ "$t" = node-disk ] && args=(-cache disk -cache-dir "$BENCH_TMP/$t-cache")
      [ "$t" = node-mem ] && [ -n "${PPROF:-}" ] && args+=(-pprof "$PPROF")
      start_bg "$BENCH_TMP/$t.log" env GOMAXPROCS="${SUT_PROCS:-1}" "$BENCH_TMP/proxybench" \
        -listen "127.0.0.1:$p" -upstream "127.0.0.1:$ORIGIN_PORT" -host "$HOST" "${args[@]}" >/dev/null
      wait_tcp 127.0.0.1 "$p" 20 || { tail -5 "$BENCH_TMP/$t.log" >&2; die "$t did not start"; }
      ;;
    nginx-w*)
      d="$BENCH_TMP/$t"
      nginx_conf "$d" "${t#nginx-w}" "proxy_cache_path $d/cache levels=1:2 keys_zone=hot:10m max_size=1g inactive=60m use_temp_path=off;
  upstream origin { server 127.0.0.1:$ORIGIN_PORT; keepalive 64; }
  server {
    listen 127.0.0.1:$p reuseport backlog=4096;
    location / {
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection \"\";
      proxy_cache hot;
      add_header X-Cache-Status \$upstream_cache_status always;
    }
  }"
      start_nginx "$d" "$p" "$t"
      ;;
    varnish)
      d="$BENCH_TMP/varnish"; mkdir -p "$d"
      cat >"$d/default.vcl" <<VCL
vcl 4.1;
backend origin { .host = "127.0.0.1"; .port = "$ORIGIN_PORT"; }
sub vcl_deliver {
  if (obj.hits > 0) { set resp.http.X-Cache-Status = "HIT"; } else { set resp.http.X-Cache-Status = "MISS"; }
}
VCL
      # -j none: no privilege separation, everything stays in the temp dir.
      start_bg "$d/varnishd.log" varnishd -F -j none -n "$d/work" -a "127.0.0.1:$p" -f "$d/default.vcl" \
        -s malloc,1g -p thread_pools=1 -p thread_pool_min=100 -p thread_pool_max=500 >/dev/null
      wait_tcp 127.0.0.1 "$p" 30 || { tail -5 "$d/varnishd.log" >&2; die "varnish did not start"; }
      ;;
    *) die "unknown target $t";;
  esac
  URL[$t]="http://127.0.0.1:$p"
done

# --- warm and check: each target answers HIT with the full body ----------------
for t in $TARGETS; do
  for s in $SIZES; do
    want=$(( ${s%k} * 1024 ))
    st=""
    for _ in 1 2 3 4 5; do
      out=$(curl -s -D - -o /dev/null -w 'SIZE %{http_code}:%{size_download}\n' -H "Host: $HOST" "${URL[$t]}/$s")
      st=$(awk -F': *' 'tolower($1)=="x-cache-status"{gsub(/\r/,"",$2); print $2}' <<<"$out")
      got=$(awk '$1=="SIZE"{print $2}' <<<"$out")
      [ "$got" = "200:$want" ] || die "$t /$s answered $got, want 200:$want"
      [ "$st" = HIT ] && break
    done
    [ "$st" = HIT ] || die "$t /$s: X-Cache-Status $st after 5 requests, want HIT"
  done
  log "$t: HIT on $(printf '/%s ' $SIZES)"
done

to_ms() { # wrk latency token (850.00us, 1.23ms, 1.02s) -> ms
  awk -v v="$1" 'BEGIN{ if (v ~ /us$/) {sub(/us$/,"",v); print v/1000} else if (v ~ /ms$/) {sub(/ms$/,"",v); print v+0} else {sub(/s$/,"",v); print v*1000} }'
}

declare -A RPS P99
for r in $(seq 1 "$ROUNDS"); do
  for s in $SIZES; do
    for t in $TARGETS; do
      url="${URL[$t]}/$s"
      timeout 30 wrk -t"$THREADS" -c"$CONNS" -d"$WARMUP" -H "Host: $HOST" "$url" >/dev/null 2>&1
      out=$(timeout 120 wrk -t"$THREADS" -c"$CONNS" -d"$DUR" --timeout 5s --latency -H "Host: $HOST" "$url" 2>&1)
      rps=$(awk '/^Requests\/sec:/{print $2}' <<<"$out")
      p99=$(to_ms "$(awk '$1=="99%"{print $2}' <<<"$out")")
      errs=$(awk '/Non-2xx|Socket errors/{printf "%s ", $0}' <<<"$out")
      RPS[$s/$t]+="${rps:-0} "; P99[$s/$t]+="${p99:-0} "
      log "round $r /$s $t: rps=$rps p99=${p99}ms $errs"
    done
  done
done

line="RESULT cache-hit d=$DUR c=$CONNS t=$THREADS rounds=$ROUNDS procs=${SUT_PROCS:-1} cpus=$(nproc)"
declare -A MR MP
for s in $SIZES; do
  for t in $TARGETS; do
    # shellcheck disable=SC2086
    MR[$s/$t]=$(median ${RPS[$s/$t]}); MP[$s/$t]=$(median ${P99[$s/$t]})
    line+=" | $s $t rps=$(printf %.0f "${MR[$s/$t]}") p99=${MP[$s/$t]}ms"
  done
done
for s in $SIZES; do
  for n in node-mem node-disk; do
    [ -n "${MR[$s/$n]:-}" ] || continue
    for ref in nginx-w1 nginx-wauto varnish; do
      [ -n "${MR[$s/$ref]:-}" ] || continue
      line+=" | $s $n/$ref rps=$(ratio "${MR[$s/$n]}" "${MR[$s/$ref]}") p99=$(ratio "${MP[$s/$n]}" "${MP[$s/$ref]}")"
    done
  done
done
echo "$line"
