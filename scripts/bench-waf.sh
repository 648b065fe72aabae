#!/usr/bin/env bash
# WAF cost: node with CRS v4 at PL1 vs nginx + ModSecurity v3 with the SAME CRS, in one run.
#
# Targets, all one core (GOMAXPROCS=1 / worker_processes 1), all proxying to one Go
# upstream (../shared/bench/upstream, 1 KiB answer):
#   node-off     node/proxy/cmd/proxybench, no WAF
#   node-waf     the same with a blocking WAF policy at PL1, request bodies inspected
#                (-waf 1: pkg/wafengine, Coraza + Strata's operators)
#   nginx-off    nginx reverse proxy
#   nginx-modsec nginx + libnginx-mod-http-modsecurity (libmodsecurity3) loading the
#                directives the node generates for that policy (`proxybench -print-waf`),
#                the CRS .conf/.data files and @crs-setup.conf.example of the
#                coraza-coreruleset module in the Go module cache (copied to the temp
#                dir: ModSecurity cannot Include a path with "@"); Coraza-only
#                directives (SecRxPreFilter, SecArgumentsLimit, JSON depth) and the one
#                ModSecurity v3 refuses (SecRequestBodyInMemoryLimit) dropped.
# Loads: a benign GET with browser headers, and a POST of a benign 4 KiB JSON body.
# Every target must answer 200 to both, and the WAF targets 403 to an XSS probe.
# wrk runs round-robin over targets and loads (--rounds), medians reported; CPU per
# request (user+sys from /proc) is measured in the same windows, since on a shared
# 2-core machine throughput swings with the load and CPU time barely moves.
#
# Usage: scripts/bench-waf.sh [-d 10s] [-c 4] [-t 2] [--rounds 2] [--targets "..."] [--loads "get json4k"]
# Env:   BENCH_DIR  shared harness folder (default <repo>/../shared/bench; lib.sh, upstream/)
#        PPROF      serve pprof of node-waf on this address (e.g. 127.0.0.1:16061); the script
#                   then takes a CPU profile of node-waf under each load and prints its top
#                   functions (profiles kept in PROFILE_DIR, default /tmp/bench-waf-profiles)
#        KEEP_TMP=1 keep configs and logs
# Last line: RESULT waf ... rps, p99 and cpu/req per target and load, node-waf/nginx-modsec
# ratios and the WAF-on/WAF-off ratios of each.
set -uo pipefail
# shellcheck source=lib/bench.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/bench.sh"

DUR=10s; CONNS=4; THREADS=2; ROUNDS=2
TARGETS="node-off node-waf nginx-off nginx-modsec"; LOADS="get json4k"
BENCH_OPTS="--loads LOADS" bench_args "$@"
WARMUP="${WARMUP:-1s}"
HOST=bench.strata.test

need_go
need_pkg wrk wrk
need_pkg nginx nginx-light
need_pkg ss iproute2
need_pkg curl curl
MODSEC_SO=/usr/lib/nginx/modules/ngx_http_modsecurity_module.so
[ -f "$MODSEC_SO" ] || { BENCH_APT_UPDATED=; need_pkg /nonexistent-modsec libnginx-mod-http-modsecurity; }
[ -f "$MODSEC_SO" ] || die "$MODSEC_SO missing after installing libnginx-mod-http-modsecurity"

bench_tmp

CRS="$(cd "$ROOT/pkg" && go list -m -f '{{.Dir}}' github.com/corazawaf/coraza-coreruleset/v4)/rules"
[ -f "$CRS/@crs-setup.conf.example" ] || die "CRS rules not found in the module cache ($CRS); run: cd pkg && go mod download"
build_proxybench
next_port=18380
port UP_PORT
start_upstream "$UP_PORT"

# --- the ModSecurity rules: the node's directives with the module's CRS paths ----------
# ModSecurity's Include stops at the "@" of the module cache path: the same files,
# copied unchanged into the temp dir.
md="$BENCH_TMP/modsec"; mkdir -p "$md/tmp" "$md/data" "$md/crs"
cp -r "$CRS/@owasp_crs" "$md/crs/owasp_crs" && cp "$CRS/@crs-setup.conf.example" "$md/crs/crs-setup.conf" || die "copying the CRS files failed"
chmod -R u+w "$md/crs"
# Debian's libmodsecurity 3.0.9 wants an action list on every chained rule; CRS v4.25
# leaves some out (949111's `SecRule TX:EARLY_BLOCKING "@eq 1"`): give them the neutral
# "t:none".
sed -i -E 's/^([[:space:]]+SecRule [^ ]+ "[^"]*")$/\1 "t:none"/' "$md/crs/owasp_crs/"*.conf
{
  echo "SecTmpDir $md/tmp"
  echo "SecDataDir $md/data"
  echo "SecDebugLogLevel 0"
  "$BENCH_TMP/proxybench" -waf 1 -print-waf \
    | grep -vE '^(SecRxPreFilter|SecRequestBodyJsonDepthLimit|SecArgumentsLimit|SecRequestBodyInMemoryLimit)|ARGUMENTS_LIMIT_REACHED' \
    | sed -e "s|^Include @crs-setup.conf.example|Include $md/crs/crs-setup.conf|" -e "s|^Include @owasp_crs/|Include $md/crs/owasp_crs/|"
} >"$md/main.conf"
grep -q "REQUEST-942" "$md/main.conf" || die "no CRS includes in the generated directives"

proxy_conf() { # proxy_conf DIR PORT EXTRA-LOCATION : nginx proxying to the upstream, one worker
  nginx_conf "$1" 1 "client_body_buffer_size 128k;
  upstream up { server 127.0.0.1:$UP_PORT; keepalive 64; keepalive_requests 100000; }
  server {
    listen 127.0.0.1:$2 reuseport backlog=4096;
    location / {
      $3
      proxy_pass http://up;
      proxy_http_version 1.1;
      proxy_set_header Connection \"\";
    }
  }" "load_module $MODSEC_SO;"
}

declare -A URL PIDS
for t in $TARGETS; do
  port p
  case "$t" in
    node-off|node-waf)
      args=(); [ "$t" = node-waf ] && args=(-waf 1)
      [ "$t" = node-waf ] && [ -n "${PPROF:-}" ] && args+=(-pprof "$PPROF")
      # not in $(...): start_bg must record the PID in this shell for the cleanup
      start_bg "$BENCH_TMP/$t.log" env GOMAXPROCS=1 "$BENCH_TMP/proxybench" \
        -listen "127.0.0.1:$p" -upstream "127.0.0.1:$UP_PORT" -host "$HOST" "${args[@]}" >/dev/null
      PIDS[$t]=${BENCH_PIDS[-1]}
      wait_tcp 127.0.0.1 "$p" 60 || { tail -5 "$BENCH_TMP/$t.log" >&2; die "$t did not start"; }
      ;;
    nginx-off|nginx-modsec)
      d="$BENCH_TMP/$t"
      if [ "$t" = nginx-modsec ]; then
        proxy_conf "$d" "$p" "modsecurity on; modsecurity_rules_file $md/main.conf;"
      else
        proxy_conf "$d" "$p" ""
      fi
      start_nginx "$d" "$p" "$t"
      PIDS[$t]=$(nginx_pids "$d")
      ;;
    *) die "unknown target $t";;
  esac
  URL[$t]="http://127.0.0.1:$p"
done

# --- loads -------------------------------------------------------------------------
GET_PATH="/api/v1/products?category=shirts&size=M&sort=price_asc&page=2"
json=$(awk 'BEGIN{printf "{\"order\":{\"id\":\"ord_8f2c1a\",\"customer\":{\"name\":\"Ada Lovelace\",\"email\":\"ada@example.com\"},\"items\":["; n=0; len=90
  while (len < 4096-60) { s=sprintf("%s{\"sku\":\"SKU-%05d\",\"title\":\"Blue cotton shirt, size M\",\"qty\":%d,\"price\":\"19.99\"}", (n?",":""), n, n%5+1); printf "%s", s; len+=length(s); n++ }
  printf "],\"note\":\"Leave at the back door, please.\"}}" }')
printf '%s' "$json" >"$BENCH_TMP/body.json"
cat >"$BENCH_TMP/common.lua" <<'LUA'
wrk.headers["Host"] = "bench.strata.test"
wrk.headers["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
wrk.headers["Accept"] = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
wrk.headers["Accept-Language"] = "en-GB,en;q=0.5"
wrk.headers["Cookie"] = "session=3f9a0c2e8b7d4e1f; theme=dark"
LUA
{ cat "$BENCH_TMP/common.lua"; echo "wrk.path = \"$GET_PATH\""; } >"$BENCH_TMP/get.lua"
{ cat "$BENCH_TMP/common.lua"; cat <<LUA
wrk.method = "POST"
wrk.path = "/api/v1/orders"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("$BENCH_TMP/body.json", "rb"); wrk.body = f:read("*a"); f:close()
LUA
} >"$BENCH_TMP/json4k.lua"

hdr=(-H "Host: $HOST" -H "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0" -H "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8" -H "Accept-Language: en-GB,en;q=0.5")
for t in $TARGETS; do
  u=${URL[$t]}
  st=$(curl -s -o /dev/null -w '%{http_code}' "${hdr[@]}" "$u$GET_PATH")
  [ "$st" = 200 ] || die "$t: benign GET answered $st"
  st=$(curl -s -o /dev/null -w '%{http_code}' "${hdr[@]}" -H 'Content-Type: application/json' --data-binary "@$BENCH_TMP/body.json" "$u/api/v1/orders")
  [ "$st" = 200 ] || die "$t: benign 4 KiB JSON POST answered $st"
  st=$(curl -s -o /dev/null -w '%{http_code}' "${hdr[@]}" "$u/search?q=%3Cscript%3Ealert(document.cookie)%3C%2Fscript%3E")
  case "$t" in
    *-off) [ "$st" = 200 ] || die "$t: XSS probe answered $st without a WAF";;
    *) [ "$st" = 403 ] || die "$t: XSS probe answered $st, want 403 (is the WAF on?)";;
  esac
  st=$(curl -s -o /dev/null -w '%{http_code}' "${hdr[@]}" -H 'Content-Type: application/json' --data-binary '{"q":"1 UNION SELECT password FROM users--"}' "$u/api/v1/orders")
  case "$t" in *-off) ;; *) [ "$st" = 403 ] || die "$t: SQLi in a JSON body answered $st, want 403";; esac
done
log "all targets: benign GET and JSON 200, WAF targets block XSS and JSON SQLi"

ticks() { # ticks PID... : utime+stime of the processes in clock ticks
  local s=0 p
  for p in "$@"; do s=$((s + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0))); done
  echo "$s"
}
TCK=$(getconf CLK_TCK)

declare -A RPS P99 CPU
for r in $(seq 1 "$ROUNDS"); do
  for l in $LOADS; do
    for t in $TARGETS; do
      url="${URL[$t]}/"
      wrk_warm -s "$BENCH_TMP/$l.lua" "$url"
      # shellcheck disable=SC2086
      c0=$(ticks ${PIDS[$t]})
      prof=""
      if [ "$t" = node-waf ] && [ -n "${PPROF:-}" ] && [ "$r" = 1 ]; then
        mkdir -p "${PROFILE_DIR:=/tmp/bench-waf-profiles}"; prof="$PROFILE_DIR/node-waf-$l.pprof"
        secs=${DUR%s}; secs=$((secs > 2 ? secs - 1 : 1))
        curl -s -o "$prof" "http://$PPROF/debug/pprof/profile?seconds=$secs" &
        prof_pid=$!
      fi
      wrk_measure --timeout 10s -s "$BENCH_TMP/$l.lua" "$url"
      [ -n "$prof" ] && wait "$prof_pid"
      # shellcheck disable=SC2086
      c1=$(ticks ${PIDS[$t]})
      rps=$WRK_RPS p99=$WRK_P99 errs=$WRK_ERRS
      cpu=$(awk -v t=$((c1 - c0)) -v k="$TCK" -v n="${WRK_N:-0}" 'BEGIN{ if (n+0==0) print 0; else printf "%.1f", t/k*1e6/n }')
      RPS[$l/$t]+="${rps:-0} "; P99[$l/$t]+="${p99:-0} "; CPU[$l/$t]+="$cpu "
      log "round $r $l $t: rps=$rps p99=${p99}ms cpu=${cpu}us/req $errs"
    done
  done
done

if [ -n "${PPROF:-}" ]; then
  for f in "${PROFILE_DIR:-/tmp/bench-waf-profiles}"/node-waf-*.pprof; do
    [ -s "$f" ] || continue
    log "profile $f (top by cumulative time):"
    (cd "$ROOT/node" && go tool pprof -top -cum -nodecount=25 "$BENCH_TMP/proxybench" "$f" 2>/dev/null | sed -n '5,31p') >&2
  done
fi

ratio4() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b+0==0) print "nan"; else printf "%.4f\n", a/b }'; }
line="RESULT waf d=$DUR c=$CONNS t=$THREADS rounds=$ROUNDS pl=1 cpus=$(nproc)"
declare -A MR MP MC
for l in $LOADS; do
  for t in $TARGETS; do
    # shellcheck disable=SC2086
    MR[$l/$t]=$(median ${RPS[$l/$t]}); MP[$l/$t]=$(median ${P99[$l/$t]}); MC[$l/$t]=$(median ${CPU[$l/$t]})
    line+=" | $l $t rps=$(printf %.0f "${MR[$l/$t]}") p99=${MP[$l/$t]}ms cpu=${MC[$l/$t]}us"
  done
done
has() { [ -n "${MR[$1]:-}" ]; }
for l in $LOADS; do
  if has "$l/node-waf" && has "$l/nginx-modsec"; then
    line+=" | $l node-waf/nginx-modsec rps=$(ratio "${MR[$l/node-waf]}" "${MR[$l/nginx-modsec]}") p99=$(ratio "${MP[$l/node-waf]}" "${MP[$l/nginx-modsec]}") cpu=$(ratio "${MC[$l/nginx-modsec]}" "${MC[$l/node-waf]}")"
  fi
  if has "$l/node-waf" && has "$l/node-off"; then
    line+=" | $l node on/off rps=$(ratio4 "${MR[$l/node-waf]}" "${MR[$l/node-off]}")"
  fi
  if has "$l/nginx-modsec" && has "$l/nginx-off"; then
    line+=" | $l nginx on/off rps=$(ratio4 "${MR[$l/nginx-modsec]}" "${MR[$l/nginx-off]}")"
  fi
done
echo "$line"
