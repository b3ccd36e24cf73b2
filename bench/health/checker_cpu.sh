#!/usr/bin/env bash
# The health checker's CPU cost at scale: starts an nginx (one worker, core 1) listening on PORTS
# loopback ports that answer GET / with 200, then runs checker_cpu (core 0) with ENDPOINTS
# endpoints checked every INTERVAL_MS for SECONDS_ after a warm-up, and prints its CPU share.
#   scripts/build.sh release --target checker_cpu && bench/health/checker_cpu.sh
#   ENDPOINTS=10000 PORTS=100 INTERVAL_MS=1000 SECONDS_=10 BASE_PORT=21000 bench/health/checker_cpu.sh
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BIN=${BIN:-$ROOT/build/bench/health/checker_cpu}
ENDPOINTS=${ENDPOINTS:-10000}
PORTS=${PORTS:-100}
INTERVAL_MS=${INTERVAL_MS:-1000}
SECONDS_=${SECONDS_:-10}
BASE_PORT=${BASE_PORT:-21000}
LAST_PORT=$((BASE_PORT + PORTS - 1))

[[ -x $BIN ]] || { echo "no $BIN: scripts/build.sh release --target checker_cpu" >&2; exit 1; }
command -v nginx >/dev/null || { echo "nginx not found (apt-get install nginx-light)" >&2; exit 1; }
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for ((port = BASE_PORT; port <= LAST_PORT; port++)); do
  port_free "$port" || { echo "port $port is taken; set BASE_PORT" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/waygate-health-bench.XXXXXX)
NGINX_PID=
cleanup() {
  if [[ -n $NGINX_PID ]]; then
    kill -TERM "$NGINX_PID" 2>/dev/null || true
    wait "$NGINX_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

{
  cat <<CONF
daemon off;
worker_processes 1;
user root root;
pid $WORK/nginx.pid;
error_log $WORK/error.log warn;
worker_rlimit_nofile 30000;
events { worker_connections 30000; }
http {
  client_body_temp_path $WORK/client_body;
  proxy_temp_path $WORK/proxy;
  fastcgi_temp_path $WORK/fastcgi;
  uwsgi_temp_path $WORK/uwsgi;
  scgi_temp_path $WORK/scgi;
  access_log off;
  keepalive_timeout 300s;
  keepalive_requests 1000000;
  server {
CONF
  for ((port = BASE_PORT; port <= LAST_PORT; port++)); do
    echo "    listen 127.0.0.1:$port backlog=4096;"
  done
  cat <<CONF
    location = / { default_type text/plain; return 200 "ok\n"; }
    location = /status { stub_status; }
  }
}
CONF
} >"$WORK/nginx.conf"

taskset -c 1 nginx -p "$WORK" -c "$WORK/nginx.conf" -e "$WORK/error.log" >"$WORK/nginx.out" 2>&1 &
NGINX_PID=$!
for ((i = 0; i < 100; i++)); do
  curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$LAST_PORT/" 2>/dev/null && break
  kill -0 "$NGINX_PID" 2>/dev/null || { cat "$WORK/nginx.out" "$WORK/error.log" >&2; exit 1; }
  sleep 0.05
done

accepts() { curl -fsS --max-time 5 "http://127.0.0.1:$BASE_PORT/status" | awk 'NR == 3 { print $1 }'; }
before=$(accepts)
status=0
taskset -c 0 "$BIN" --ports "$BASE_PORT-$LAST_PORT" --endpoints "$ENDPOINTS" \
  --interval-ms "$INTERVAL_MS" --seconds "$SECONDS_" || status=$?
after=$(accepts)
# Less one for the status request itself: keep-alive holds when this is close to ENDPOINTS.
echo "connections nginx accepted from the checker: $((after - before - 1))"
exit $status
