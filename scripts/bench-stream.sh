#!/usr/bin/env bash
# TCP stream proxying and SOCKS5: node vs nginx stream vs HAProxy vs Dante,
# in one run.
#
# Upstreams: an iperf3 server (throughput) and a TCP echo server
# (streamload -mode echo). In front of them, each proxying TCP:
#   node      node/stream/cmd/streambench (a stream app, the node's own
#             node/stream runtime), GOMAXPROCS=1
#   nginx     nginx stream { proxy_pass }, worker_processes 1
#   haproxy   HAProxy mode tcp, nbthread 1
# and for SOCKS5 (username/password auth, CONNECT to the echo server):
#   node-socks  streambench's forward-proxy app (node/forward), GOMAXPROCS=1
#   dante       danted, username method against a system user it creates
# Measures, round-robin over targets (--rounds, medians):
#   gbps    iperf3 -c through the proxy, one 1 MiB-buffer stream for -d
#   cps     streamload -mode connect: connect, 1-byte echo, close, -c clients
#   socks   streamload -mode socks5: the same through a SOCKS5 handshake
# Last line: RESULT stream ... with node/nginx, node/haproxy and
# node-socks/dante ratios (higher is better).
#
# Usage: scripts/bench-stream.sh [-d 5] [-c 32] [--rounds 3]
# Env:   BENCH_DIR  shared harness folder (default <repo>/../shared/bench; lib.sh)
#        SUT_PROCS  GOMAXPROCS of the node (default 1)
#        KEEP_TMP=1 keep configs and logs
set -uo pipefail
# shellcheck source=lib/bench.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/bench.sh"

DUR=5; CONNS=32; ROUNDS=3
bench_args "$@"
DUR="${DUR%s}"

need_go
need_pkg nginx nginx-light
[ -f /usr/lib/nginx/modules/ngx_stream_module.so ] || need_pkg /usr/lib/nginx/modules/ngx_stream_module.so libnginx-mod-stream
need_pkg haproxy haproxy
need_pkg iperf3 iperf3
need_pkg danted dante-server
need_pkg ss iproute2
need_pkg jq jq

bench_tmp
log "building streambench and streamload"
(cd "$ROOT/node" && go build -o "$BENCH_TMP/streambench" ./stream/cmd/streambench \
  && go build -o "$BENCH_TMP/streamload" ./stream/cmd/streamload) || die "build failed"

next_port=18380

port IPERF_PORT; port ECHO_PORT
start_bg "$BENCH_TMP/iperf3.log" iperf3 -s -B 127.0.0.1 -p "$IPERF_PORT" >/dev/null
start_bg "$BENCH_TMP/echo.log" "$BENCH_TMP/streamload" -mode echo -listen "127.0.0.1:$ECHO_PORT" >/dev/null
wait_tcp 127.0.0.1 "$IPERF_PORT" 10 || die "iperf3 did not start"
wait_tcp 127.0.0.1 "$ECHO_PORT" 10 || die "echo did not start"

# Each TCP proxy target listens on two ports: one to iperf3, one to echo.
declare -A TPUT ECHO
USER_NAME=strata-bench; USER_PASS="bench-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"

# node: one stream app per upstream, plus a forward-proxy app for SOCKS5.
port tp; port ep; TPUT[node]=$tp; ECHO[node]=$ep; port SOCKS_NODE
start_bg "$BENCH_TMP/node.log" env GOMAXPROCS="${SUT_PROCS:-1}" "$BENCH_TMP/streambench" \
  -route "127.0.0.1:${TPUT[node]}=127.0.0.1:$IPERF_PORT" -route "127.0.0.1:${ECHO[node]}=127.0.0.1:$ECHO_PORT" \
  -socks "127.0.0.1:$SOCKS_NODE" -user "$USER_NAME" -pass "$USER_PASS" >/dev/null
wait_tcp 127.0.0.1 "${ECHO[node]}" 20 || { tail -5 "$BENCH_TMP/node.log" >&2; die "node did not start"; }
wait_tcp 127.0.0.1 "$SOCKS_NODE" 20 || { tail -5 "$BENCH_TMP/node.log" >&2; die "node socks did not start"; }

# nginx stream, one worker.
port tp; port ep; TPUT[nginx]=$tp; ECHO[nginx]=$ep
nd="$BENCH_TMP/nginx"; mkdir -p "$nd/logs"
cat >"$nd/nginx.conf" <<NGX
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
worker_processes 1;
pid $nd/nginx.pid;
error_log $nd/logs/error.log warn;
events { worker_connections 8192; multi_accept on; }
stream {
  server { listen 127.0.0.1:${TPUT[nginx]} reuseport; proxy_pass 127.0.0.1:$IPERF_PORT; }
  server { listen 127.0.0.1:${ECHO[nginx]} reuseport; proxy_pass 127.0.0.1:$ECHO_PORT; }
}
NGX
nginx -t -q -p "$nd" -e "$nd/logs/error.log" -c "$nd/nginx.conf" || die "nginx config test failed"
start_bg "$nd/stdout.log" nginx -p "$nd" -e "$nd/logs/error.log" -c "$nd/nginx.conf" -g 'daemon off;' >/dev/null
wait_tcp 127.0.0.1 "${ECHO[nginx]}" 10 || die "nginx did not start"

# HAProxy, one thread.
port tp; port ep; TPUT[haproxy]=$tp; ECHO[haproxy]=$ep
cat >"$BENCH_TMP/haproxy.cfg" <<HAP
global
  nbthread 1
  maxconn 9000
defaults
  mode tcp
  timeout connect 5s
  timeout client 600s
  timeout server 600s
listen tput
  bind 127.0.0.1:${TPUT[haproxy]}
  server s1 127.0.0.1:$IPERF_PORT
listen echo
  bind 127.0.0.1:${ECHO[haproxy]}
  server s1 127.0.0.1:$ECHO_PORT
HAP
start_bg "$BENCH_TMP/haproxy.log" haproxy -db -f "$BENCH_TMP/haproxy.cfg" >/dev/null
wait_tcp 127.0.0.1 "${ECHO[haproxy]}" 10 || { tail -5 "$BENCH_TMP/haproxy.log" >&2; die "haproxy did not start"; }

# Dante with the username method: a system user only this run knows the
# password of, removed at exit.
port SOCKS_DANTE
id "$USER_NAME" >/dev/null 2>&1 || useradd -M -s /usr/sbin/nologin "$USER_NAME" || die "useradd failed"
echo "$USER_NAME:$USER_PASS" | chpasswd -c SHA512 || die "chpasswd failed"
cleanup_all() { userdel "$USER_NAME" 2>/dev/null; bench_cleanup; }
trap cleanup_all EXIT
cat >"$BENCH_TMP/danted.conf" <<DNT
logoutput: $BENCH_TMP/danted.log
internal: 127.0.0.1 port = $SOCKS_DANTE
external: 127.0.0.1
socksmethod: username
user.privileged: root
user.unprivileged: nobody
client pass { from: 127.0.0.0/8 to: 0.0.0.0/0 }
socks pass { from: 127.0.0.0/8 to: 127.0.0.0/8 command: connect }
DNT
start_bg "$BENCH_TMP/danted.out" danted -f "$BENCH_TMP/danted.conf" -N 1 >/dev/null
wait_tcp 127.0.0.1 "$SOCKS_DANTE" 10 || { tail -5 "$BENCH_TMP/danted.out" "$BENCH_TMP/danted.log" >&2; die "danted did not start"; }

declare -A GBPS CPS SOCKS
TARGETS="node nginx haproxy"
for r in $(seq "$ROUNDS"); do
  for t in $TARGETS; do
    g=$(iperf3 -c 127.0.0.1 -p "${TPUT[$t]}" -t "$DUR" -l 1M -J 2>/dev/null | jq -r '.end.sum_received.bits_per_second / 1e9')
    [ -n "$g" ] && [ "$g" != null ] || die "iperf3 through $t failed"
    c=$("$BENCH_TMP/streamload" -mode connect -addr "127.0.0.1:${ECHO[$t]}" -d "${DUR}s" -c "$CONNS" \
      | sed -n 's/.*conns_per_s=\([0-9.]*\).*/\1/p')
    [ -n "$c" ] || die "connect load through $t failed"
    GBPS[$t]+="$g "; CPS[$t]+="$c "
    log "round $r $t: ${g} Gbit/s, $c conn/s"
  done
  for t in node-socks dante; do
    p=$SOCKS_NODE; [ "$t" = dante ] && p=$SOCKS_DANTE
    s=$("$BENCH_TMP/streamload" -mode socks5 -addr "127.0.0.1:$p" -target "127.0.0.1:$ECHO_PORT" \
      -user "$USER_NAME" -pass "$USER_PASS" -d "${DUR}s" -c "$CONNS" | sed -n 's/.*conns_per_s=\([0-9.]*\).*/\1/p')
    [ -n "$s" ] || die "socks5 load through $t failed"
    SOCKS[$t]+="$s "
    log "round $r $t: $s socks5 conn/s"
  done
done

line="RESULT stream d=${DUR}s c=$CONNS rounds=$ROUNDS procs=${SUT_PROCS:-1} cpus=$(nproc)"
declare -A MG MC MS
for t in $TARGETS; do
  # shellcheck disable=SC2086
  MG[$t]=$(median ${GBPS[$t]}); MC[$t]=$(median ${CPS[$t]})
  line+=" | $t gbps=${MG[$t]} cps=${MC[$t]}"
done
for t in node-socks dante; do
  # shellcheck disable=SC2086
  MS[$t]=$(median ${SOCKS[$t]}); line+=" | $t socks_cps=${MS[$t]}"
done
for ref in nginx haproxy; do
  line+=" | node/$ref gbps=$(ratio "${MG[node]}" "${MG[$ref]}") cps=$(ratio "${MC[node]}" "${MC[$ref]}")"
done
line+=" | node-socks/dante cps=$(ratio "${MS[node-socks]}" "${MS[dante]}")"
echo "$line"
