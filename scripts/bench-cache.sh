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
# shellcheck source=lib/bench.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/bench.sh"

DUR=5s; CONNS=64; THREADS=2; ROUNDS=3; SIZES="1k 100k"
TARGETS="node-mem node-disk nginx-w1 nginx-wauto varnish"
BENCH_OPTS="--sizes SIZES" bench_args "$@"
WARMUP="${WARMUP:-1s}"
HOST=bench.strata.test

need_go
need_pkg wrk wrk
need_pkg nginx nginx-light
need_pkg varnishd varnish
need_pkg ss iproute2
need_pkg curl curl

bench_tmp
build_proxybench
next_port=18280

# --- origin -------------------------------------------------------------------
port ORIGIN_PORT
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
  port p
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


declare -A RPS P99
for r in $(seq 1 "$ROUNDS"); do
  for s in $SIZES; do
    for t in $TARGETS; do
      url="${URL[$t]}/$s"
      wrk_warm -H "Host: $HOST" "$url"
      wrk_measure --timeout 5s -H "Host: $HOST" "$url"
      rps=$WRK_RPS p99=$WRK_P99 errs=$WRK_ERRS
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
