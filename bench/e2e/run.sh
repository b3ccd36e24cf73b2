#!/usr/bin/env bash
# End-to-end comparison of waygate with nginx and HAProxy as HTTP/1.1 reverse proxies on loopback:
# req/s, p99, CPU per request, RSS per idle keep-alive connection, 1 MiB throughput.
# bench/e2e/README.md says what each figure means; `run.sh --help` lists the options.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

DURATION=${DURATION:-10}              # seconds per timed wrk run
CONNECTIONS=${CONNECTIONS:-50}        # wrk connections, small responses
BIG_CONNECTIONS=${BIG_CONNECTIONS:-4} # wrk connections, 1 MiB responses
IDLE_CONNS=${IDLE_CONNS:-5000}        # idle keep-alive connections for the RSS figure
ROUNDS=${ROUNDS:-1}                   # rounds over all proxies; the table shows medians
PROXIES=${PROXIES:-nginx,haproxy,waygate}
WAYGATE_BIN=${WAYGATE_BIN:-$ROOT/build/src/waygate}
BASE_PORT=${BASE_PORT:-18080}         # upstream; proxies on the next three ports
PROXY_CPU=${PROXY_CPU:-0}             # the one core every proxy runs on
LOAD_CPU=${LOAD_CPU:-1}               # wrk, the upstream, and this script
OUT=${OUT:-}

usage() {
  cat <<EOF
usage: $0 [options]          (each option also reads the environment variable in brackets)
  -d, --duration SEC         timed wrk run length [DURATION, $DURATION]
  -c, --connections N        wrk connections for small responses [CONNECTIONS, $CONNECTIONS]
  --big-connections N        wrk connections for 1 MiB responses [BIG_CONNECTIONS, $BIG_CONNECTIONS]
  -i, --idle N               idle keep-alive connections for the RSS figure [IDLE_CONNS, $IDLE_CONNS]
  -r, --rounds N             rounds over all proxies, median reported [ROUNDS, $ROUNDS]
  -p, --proxies LIST         comma-separated subset of nginx,haproxy,waygate [PROXIES]
  -w, --waygate-bin PATH     waygate binary [WAYGATE_BIN, $WAYGATE_BIN]
  --base-port PORT           upstream port; proxies use the next three [BASE_PORT, $BASE_PORT]
  -o, --out FILE             also write the table to FILE [OUT]
EOF
}

while (($#)); do
  case $1 in
    -d | --duration) DURATION=$2; shift 2 ;;
    -c | --connections) CONNECTIONS=$2; shift 2 ;;
    --big-connections) BIG_CONNECTIONS=$2; shift 2 ;;
    -i | --idle) IDLE_CONNS=$2; shift 2 ;;
    -r | --rounds) ROUNDS=$2; shift 2 ;;
    -p | --proxies) PROXIES=$2; shift 2 ;;
    -w | --waygate-bin) WAYGATE_BIN=$2; shift 2 ;;
    --base-port) BASE_PORT=$2; shift 2 ;;
    -o | --out) OUT=$2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
  esac
done
for v in DURATION CONNECTIONS BIG_CONNECTIONS IDLE_CONNS ROUNDS BASE_PORT PROXY_CPU LOAD_CPU; do
  [[ ${!v} =~ ^[0-9]+$ ]] || { echo "$v must be a whole number, not '${!v}'" >&2; exit 2; }
done

# shellcheck source-path=SCRIPTDIR source=harness.sh
source "$HERE/harness.sh"
harness_init

# The idle-connection probe holds IDLE_CONNS sockets and so does the proxy (plus a few upstream).
# Each proxy's connection limit leaves room for the probe; HAProxy wants two descriptors per
# connection of its maxconn, so that sets the open-file limit we need.
CONN_LIMIT=$((IDLE_CONNS + 1024))
hard=$(ulimit -Hn)
if [[ $hard != unlimited ]] && ((hard < 2 * CONN_LIMIT + 64)); then
  die "open-file hard limit $hard is too low for $IDLE_CONNS idle connections" \
    "(at most $(((hard - 64) / 2 - 1024)) here; use --idle)"
fi
ulimit -n "$hard"

# --- configs ------------------------------------------------------------------------------------
declare -A PORT=([nginx]=$((BASE_PORT + 1)) [haproxy]=$((BASE_PORT + 2)) [waygate]=$((BASE_PORT + 3)))

write_nginx_conf() {
  local dir=$WORK/nginx
  mkdir -p "$dir"
  {
    nginx_common "$dir"
    cat <<EOF
worker_rlimit_nofile $((CONN_LIMIT * 2));
events { worker_connections $CONN_LIMIT; }
http {
$(nginx_temp_paths "$dir")
    access_log off;
    keepalive_timeout 300s;
    keepalive_requests 1000000;   # default 1000 would close wrk's connections mid-run
    upstream up {
        server 127.0.0.1:$UP_PORT;
        keepalive 64;
        keepalive_requests 1000000;
        keepalive_timeout 300s;
    }
    server {
        listen 127.0.0.1:${PORT[nginx]} backlog=4096;
        location / {
            proxy_pass http://up;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            # Stream what does not fit the buffers instead of spooling it to a temp file: the
            # other two never touch the disk, and nor should the 1 MiB figure here.
            proxy_max_temp_file_size 0;
        }
    }
}
EOF
  } >"$dir/nginx.conf"
}

write_haproxy_conf() {
  local dir=$WORK/haproxy
  mkdir -p "$dir"
  # No "log" line anywhere: HAProxy logs nothing, as the others with access logs off.
  cat >"$dir/haproxy.cfg" <<EOF
global
    nbthread 1
    maxconn $CONN_LIMIT

defaults
    mode http
    option http-keep-alive
    http-reuse always
    maxconn $CONN_LIMIT
    timeout connect 5s
    timeout client 300s
    timeout server 30s
    timeout http-request 10s
    timeout http-keep-alive 300s

frontend fe
    bind 127.0.0.1:${PORT[haproxy]}
    default_backend be

backend be
    server up 127.0.0.1:$UP_PORT
EOF
}

write_waygate_conf() {
  local dir=$WORK/waygate
  mkdir -p "$dir"
  cat >"$dir/waygate.yaml" <<EOF
workers: 1
access_log: off
timeouts:
  downstream_idle: 5m
  upstream_idle: 5m
  drain: 1s
limits:
  max_connections_per_worker: $CONN_LIMIT
  max_idle_upstream_per_endpoint: 64   # as nginx's "keepalive 64"
listeners:
  - name: web
    address: 127.0.0.1:${PORT[waygate]}
routes:
  - hosts: ["*"]
    paths:
      - prefix: /
        cluster: up
clusters:
  - name: up
    endpoints: [127.0.0.1:$UP_PORT]
EOF
}

# start_proxy NAME: start it on PROXY_CPU and wait until it relays correctly; pid in STARTED_PID.
start_proxy() {
  local name=$1
  case $name in
    nginx) start nginx "$PROXY_CPU" nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -e "$WORK/nginx/error.log" ;;
    haproxy) start haproxy "$PROXY_CPU" haproxy -db -f "$WORK/haproxy/haproxy.cfg" ;;
    waygate) start waygate "$PROXY_CPU" "$WAYGATE_BIN" --config "$WORK/waygate/waygate.yaml" ;;
  esac
  wait_ready "$name" "$STARTED_PID" "${PORT[$name]}" && check_responses "$name" "${PORT[$name]}"
}

# --- measurement --------------------------------------------------------------------------------
RESULTS=$WORK/results.tsv
: >"$RESULTS"

measure() {
  local name=$1 round=$2 pid=$3 port=${PORT[$1]} dir=$WORK/$1 before after up_before up_after
  local base=http://127.0.0.1:$port

  # Small responses. The warm-up fills the upstream keep-alive pools and the proxy's own caches,
  # so the timed run sees steady state.
  run_wrk "$CONNECTIONS" 1 "$base/"
  up_before=$(upstream_accepts)
  before=$("${MEASURE[@]}" sample --pid "$pid" --cpu "$PROXY_CPU" --load-cpu "$LOAD_CPU")
  run_wrk "$CONNECTIONS" "$DURATION" "$base/" "$dir/wrk-small-$round.txt"
  after=$("${MEASURE[@]}" sample --pid "$pid" --cpu "$PROXY_CPU" --load-cpu "$LOAD_CPU")
  up_after=$(upstream_accepts)
  # The second status request is itself one accepted connection.
  echo -e "$name\tupstream_conns\t$((up_after - up_before - 1))" >>"$RESULTS"
  "${MEASURE[@]}" small --proxy "$name" --wrk "$dir/wrk-small-$round.txt" \
    --before "$before" --after "$after" >>"$RESULTS"

  # 1 MiB responses.
  run_wrk "$BIG_CONNECTIONS" 1 "$base/1m"
  before=$("${MEASURE[@]}" sample --pid "$pid" --cpu "$PROXY_CPU" --load-cpu "$LOAD_CPU")
  run_wrk "$BIG_CONNECTIONS" "$DURATION" "$base/1m" "$dir/wrk-big-$round.txt"
  after=$("${MEASURE[@]}" sample --pid "$pid" --cpu "$PROXY_CPU" --load-cpu "$LOAD_CPU")
  "${MEASURE[@]}" big --proxy "$name" --wrk "$dir/wrk-big-$round.txt" \
    --before "$before" --after "$after" >>"$RESULTS"

  # Idle keep-alive connections, last: RSS is measured with the allocator already warm.
  "${MEASURE[@]}" idle --proxy "$name" --pid "$pid" --port "$port" --count "$IDLE_CONNS" >>"$RESULTS"
}

# --- main ---------------------------------------------------------------------------------------
IFS=, read -ra WANTED <<<"$PROXIES"
NOTES=()
RUN=()
for name in "${WANTED[@]}"; do
  case $name in
    nginx | haproxy) RUN+=("$name") ;;
    waygate)
      if [[ -x $WAYGATE_BIN ]]; then
        RUN+=(waygate)
      else
        log "waygate binary not found at $WAYGATE_BIN: measuring the others only"
        NOTES+=("waygate was not measured: no binary at $WAYGATE_BIN")
      fi
      ;;
    *) die "unknown proxy '$name' (nginx, haproxy, waygate)" ;;
  esac
done
((${#RUN[@]})) || die "nothing to measure"

for port in "$UP_PORT" "${PORT[@]}"; do
  port_free "$port" || die "port $port is in use (use --base-port)"
done

write_nginx_conf
write_haproxy_conf
write_waygate_conf
if [[ " ${RUN[*]} " == *" waygate "* ]] && ! "$WAYGATE_BIN" --check "$WORK/waygate/waygate.yaml" >"$WORK/waygate.check" 2>&1; then
  log "waygate rejects the benchmark config:"
  cat "$WORK/waygate.check" >&2
  die "fix the config in write_waygate_conf or waygate"
fi

start_upstream

log "proxies on core $PROXY_CPU; wrk, upstream and this script on core $LOAD_CPU; ${DURATION}s runs," \
  "$CONNECTIONS/$BIG_CONNECTIONS connections, $IDLE_CONNS idle, $ROUNDS round(s)"
log "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

# Each proxy is started fresh for each measurement, alone on its core, and the order rotates
# between rounds so no proxy always goes first (e.g. into a colder upstream).
failed=()
for ((round = 0; round < ROUNDS; round++)); do
  for ((k = 0; k < ${#RUN[@]}; k++)); do
    name=${RUN[(k + round) % ${#RUN[@]}]}
    [[ " ${failed[*]} " == *" $name "* ]] && continue
    log "round $((round + 1))/$ROUNDS: $name"
    if start_proxy "$name"; then
      # A subshell with its own errexit: a proxy that breaks mid-run costs its row, not the table.
      # (errexit would be ignored inside a function called from an "if".)
      set +e
      (set -e; measure "$name" "$round" "$STARTED_PID")
      rc=$?
      set -e
      if ((rc != 0)) || ! is_running "$STARTED_PID"; then
        failed+=("$name")
        NOTES+=("$name failed during round $((round + 1)) (exit $rc); its figures are incomplete")
      fi
    else
      failed+=("$name")
      NOTES+=("$name failed to start or relayed wrongly; see the log above")
    fi
    stop_pid "$STARTED_PID"
  done
done

is_running "$UP_PID" || die "the upstream died during the run"

title="waygate e2e: each proxy alone on core $PROXY_CPU (1 worker, access log off, upstream keep-alive),"
title+=$'\n'"wrk and the nginx upstream on core $LOAD_CPU; ${DURATION}s runs; small: $CONNECTIONS conns,"
title+=" 1 MiB: $BIG_CONNECTIONS conns, idle: $IDLE_CONNS conns; median of $ROUNDS round(s)"
note_args=()
for n in "${NOTES[@]}"; do note_args+=(--note "$n"); done
echo
"${MEASURE[@]}" report --results "$RESULTS" --proxies "$(IFS=,; echo "${WANTED[*]}")" \
  --title "$title" --proxy-cpu "$PROXY_CPU" --load-cpu "$LOAD_CPU" --duration "$DURATION" ${OUT:+--out "$OUT"} "${note_args[@]}"
