#!/usr/bin/env bash
# TLS termination: the edge node's TLS stack (node/certs SNI table, keys
# unwrapped in memory, crypto/tls + net/http: node/certs/cmd/tlsbench) vs
# nginx with the same ECDSA P-256 certificate, in one run on this machine.
#
# Measures, per server: full TLS 1.3 handshakes/s (no resumption; tlsbench
# load, -c 16) and HTTPS requests/s over keep-alive connections (wrk -c 64,
# 1 KiB bodies). The node runs at GOMAXPROCS=1 against nginx with one worker
# (DESIGN §7: compare per core); the load generators share the machine, so
# compare only within one run.
#
# Usage: scripts/bench-tls.sh [-d SECONDS]
# Last line: RESULT tls ... | node/nginx handshakes=... requests=... (ratios).
set -euo pipefail
# shellcheck source=lib/bench.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/bench.sh"
trap bench_cleanup EXIT
D=10
[ "${1:-}" = "-d" ] && D="$2"

need_pkg nginx nginx
need_pkg wrk wrk
need_pkg openssl openssl
need_go

WORK="$(mktemp -d /tmp/bench-tls.XXXXXX)"
chmod 755 "$WORK"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj /CN=bench.example.com -addext subjectAltName=DNS:bench.example.com \
  -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
chmod 644 "$WORK/key.pem" "$WORK/cert.pem"
(cd "$ROOT/node" && go build -o "$WORK/tlsbench" ./certs/cmd/tlsbench)

NODE_PORT=$(free_port 15443)
NGINX_PORT=$(free_port $((NODE_PORT + 1)))
head -c 1024 /dev/zero | tr '\0' x >"$WORK/body"
cat >"$WORK/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $WORK/nginx.pid;
error_log $WORK/nginx.err warn;
events { worker_connections 4096; }
http {
  access_log off;
  server {
    listen 127.0.0.1:$NGINX_PORT ssl;
    ssl_certificate $WORK/cert.pem;
    ssl_certificate_key $WORK/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / { root $WORK; try_files /body =404; default_type text/plain; }
  }
}
CONF

start_bg "$WORK/node.log" env GOMAXPROCS=1 "$WORK/tlsbench" serve -cert "$WORK/cert.pem" -key "$WORK/key.pem" -addr "127.0.0.1:$NODE_PORT" >/dev/null
start_bg "$WORK/nginx.log" nginx -c "$WORK/nginx.conf" -p "$WORK" >/dev/null
wait_tcp 127.0.0.1 "$NODE_PORT" 30 || die "node did not start: $(cat "$WORK/node.log")"
wait_tcp 127.0.0.1 "$NGINX_PORT" 30 || die "nginx did not start: $(cat "$WORK/nginx.err")"

hs() { "$WORK/tlsbench" load -addr "127.0.0.1:$1" -sni bench.example.com -c 16 -d "${D}s" | awk '{print $2}'; }
rps() { wrk -t2 -c64 -d"${D}s" -H 'Host: bench.example.com' "https://127.0.0.1:$1/" | awk '/Requests\/sec/ {print $2}'; }

log "handshakes: node";  node_hs=$(hs "$NODE_PORT")
log "handshakes: nginx"; nginx_hs=$(hs "$NGINX_PORT")
log "requests: node";    node_rps=$(rps "$NODE_PORT")
log "requests: nginx";   nginx_rps=$(rps "$NGINX_PORT")

printf '%-8s %14s %14s\n' server handshakes/s requests/s
printf '%-8s %14s %14s\n' node "$node_hs" "$node_rps"
printf '%-8s %14s %14s\n' nginx "$nginx_hs" "$nginx_rps"
# The RESULT convention of the other scripts (scripts/benchtable reads it).
echo "RESULT tls d=$D | node/nginx handshakes=$(awk -v a="$node_hs" -v b="$nginx_hs" 'BEGIN{printf "%.2f", a/b}') requests=$(awk -v a="$node_rps" -v b="$nginx_rps" 'BEGIN{printf "%.2f", a/b}')"
rm -rf "$WORK"
