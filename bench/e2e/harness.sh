# Plumbing shared by the e2e scripts, sourced after their options are parsed: tools, cores, the
# temp dir and the processes started in it (stopped on exit, also on Ctrl-C), the nginx upstream.
# run.sh, reload.sh, failover.sh and tls.sh source it (failover.sh starts backends of its own, not
# the upstream).
# Reads PROXY_CPU, LOAD_CPU, BASE_PORT, LOG_TAG, QUIET_WAIT, UP_CONN_LIMIT (optional) and
# EXTRA_TOOLS (optional: more TOOL:PACKAGE pairs to install when missing); sets WORK, PIDS, UP_PORT
# and MEASURE.
# shellcheck shell=bash

HARNESS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MEASURE=(python3 "$HARNESS_DIR/measure.py")
UP_PORT=$BASE_PORT
[[ -v EXTRA_TOOLS ]] || EXTRA_TOOLS=()

log() { printf '[%s %s] %s\n' "${LOG_TAG:-e2e}" "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# harness_init: install missing tools (the common ones and EXTRA_TOOLS), pin this shell to LOAD_CPU,
# create WORK, set the traps.
harness_init() {
  local missing=() tool ncpu
  for tool in wrk:wrk nginx:nginx-light haproxy:haproxy taskset:util-linux curl:curl python3:python3 \
    "${EXTRA_TOOLS[@]}"; do
    command -v "${tool%%:*}" >/dev/null || missing+=("${tool#*:}")
  done
  if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi

  ncpu=$(nproc)
  ((PROXY_CPU < ncpu && LOAD_CPU < ncpu)) || die "need cores $PROXY_CPU and $LOAD_CPU, have $ncpu"
  [[ $PROXY_CPU != "$LOAD_CPU" ]] || log "warning: proxy and load share core $PROXY_CPU; figures mean little"

  # Everything this script starts inherits core LOAD_CPU; only the proxies are moved to PROXY_CPU,
  # so nothing of ours competes with the proxy for its core.
  taskset -cp "$LOAD_CPU" $$ >/dev/null

  WORK=$(mktemp -d "/tmp/waygate-${LOG_TAG:-e2e}.XXXXXX")
  chmod 755 "$WORK"
  PIDS=()
  trap cleanup EXIT
  trap 'exit 130' INT TERM
}

is_running() {  # a zombie is not running, though kill -0 succeeds on it
  local state
  state=$(sed 's/.*) \(.\).*/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ $state != Z ]]
}

stop_pid() {  # SIGTERM, up to 5 s, then SIGKILL the whole tree (nginx workers would outlive a master)
  local pid=$1 tree i
  # "return 0", not "return": in the EXIT trap after "exit 1" (die) a bare return returns 1, and
  # errexit would end the cleanup there, leaving the processes after this one running.
  is_running "$pid" || { wait "$pid" 2>/dev/null || true; return 0; }
  tree=$("${MEASURE[@]}" tree --pid "$pid" 2>/dev/null || echo "$pid")
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    is_running "$pid" || break
    sleep 0.05
  done
  if is_running "$pid"; then
    log "pid $pid ignored SIGTERM for 5 s: killing it and its children"
    # shellcheck disable=SC2086
    kill -KILL $tree 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
  rm -rf "$WORK"
}

# start NAME CPU CMD...: run CMD in the background on core CPU; its pid is left in STARTED_PID.
start() {
  local name=$1 cpu=$2
  shift 2
  taskset -c "$cpu" "$@" >"$WORK/$name.out" 2>&1 &
  STARTED_PID=$!
  PIDS+=("$STARTED_PID")
}

# wait_ready NAME PID PORT [SCHEME [CURL_ARG...]]: poll with curl until the port answers 200, or
# fail if PID died. SCHEME is http (default) or https, with the CURL_ARGs (e.g. --cacert FILE).
wait_ready() {
  local name=$1 pid=$2 port=$3 scheme=${4:-http} i
  shift $(($# < 4 ? $# : 4))
  for ((i = 0; i < 200; i++)); do
    if curl -fsS -o /dev/null --max-time 1 "$@" "$scheme://127.0.0.1:$port/" 2>/dev/null; then
      return 0
    fi
    if ! is_running "$pid"; then
      log "$name exited; its output:"
      tail -n 20 "$WORK/$name.out" >&2
      return 1
    fi
    sleep 0.05
  done
  log "$name did not answer on port $port within 10 s"
  return 1
}

# check_responses NAME PORT [SCHEME [CURL_ARG...]]: the proxy must relay both bodies intact, else
# its figures are void. SCHEME and CURL_ARGs as for wait_ready.
check_responses() {
  local name=$1 port=$2 scheme=${3:-http} body size
  shift $(($# < 3 ? $# : 3))
  body=$(curl -fsS --max-time 5 "$@" "$scheme://127.0.0.1:$port/") ||
    { log "$name: GET / failed"; return 1; }
  [[ $body == hello ]] || { log "$name: GET / returned '$body'"; return 1; }
  size=$(curl -fsS --max-time 5 -o /dev/null -w '%{size_download}' "$@" \
    "$scheme://127.0.0.1:$port/1m") ||
    { log "$name: GET /1m failed"; return 1; }
  [[ $size == 1048576 ]] || { log "$name: GET /1m returned $size bytes"; return 1; }
}

# make_certificate DIR: one self-signed ECDSA P-256 certificate for 127.0.0.1 and localhost in DIR,
# its paths in CERT and KEY; DIR/haproxy.pem holds both, as HAProxy's crt wants them.
make_certificate() {
  local dir=$1
  mkdir -p "$dir"
  CERT=$dir/cert.pem
  KEY=$dir/key.pem
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -keyout "$KEY" -out "$CERT" \
    2>"$dir/req.err" ||
    { cat "$dir/req.err" >&2; die "openssl could not make the certificate"; }
  cat "$CERT" "$KEY" >"$dir/haproxy.pem"
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Paths nginx would otherwise take from its compiled-in defaults under /var. nginx_common DIR
# [MASTER]: MASTER off runs one process with no master, so one SIGKILL takes it all down.
nginx_common() {
  local dir=$1 master=${2:-on}
  cat <<EOF
daemon off;
master_process $master;
worker_processes 1;
user root root;   # workers read and write our temp dir, which is root's
pid $dir/nginx.pid;
error_log $dir/error.log warn;
EOF
}
nginx_temp_paths() {
  local dir=$1
  cat <<EOF
    client_body_temp_path $dir/client_body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
EOF
}

# The upstream: nginx, one worker: GET / returns "hello\n", GET /1m a 1 MiB file. UP_CONN_LIMIT
# (default 4096) must cover every connection a proxy may hold to it at once: in a burst of
# requests, one per request.
# The json mode's log_format in nginx: the fields of waygate's JSON line, escaped as JSON.
# shellcheck disable=SC2016  # the $names are nginx's variables
nginx_json_format() {
  local f='log_format json escape=json '"'"'{"time":"$time_iso8601","request_id":"$request_id",'
  f+='"client":"$remote_addr:$remote_port","method":"$request_method","target":"$request_uri",'
  f+='"protocol":"$server_protocol","status":$status,"bytes_sent":$body_bytes_sent,'
  f+='"bytes_received":$request_length,"duration_ms":$request_time,'
  f+='"upstream_connect_ms":"$upstream_connect_time","upstream_response_ms":"$upstream_header_time",'
  f+='"host":"$host","listener":"$server_port","route":"/","cluster":"up",'
  f+='"endpoint":"$upstream_addr","error":null}'"'"';'
  printf '%s' "$f"
}

write_upstream_conf() {
  local dir=$WORK/upstream
  mkdir -p "$dir/www"
  head -c 1048576 /dev/urandom >"$dir/www/1m"
  {
    nginx_common "$dir"
    cat <<EOF
events { worker_connections ${UP_CONN_LIMIT:-4096}; }
http {
$(nginx_temp_paths "$dir")
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 300s;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$UP_PORT backlog=4096;
        root $dir/www;
        location = / { default_type text/plain; return 200 "hello\n"; }
        location = /1m { default_type application/octet-stream; }
        location = /status { stub_status; }   # its accept counter shows upstream keep-alive at work
    }
}
EOF
  } >"$dir/nginx.conf"
}

# start_upstream: write its config, start it on LOAD_CPU, wait for it; its pid in UP_PID.
start_upstream() {
  write_upstream_conf
  start upstream "$LOAD_CPU" nginx -p "$WORK/upstream" -c "$WORK/upstream/nginx.conf" -e "$WORK/upstream/error.log"
  UP_PID=$STARTED_PID
  wait_ready upstream "$UP_PID" "$UP_PORT" || die "the upstream did not start"
}

# Connections the upstream has accepted so far (nginx stub_status, third line, first number).
upstream_accepts() {
  curl -fsS --max-time 5 "http://127.0.0.1:$UP_PORT/status" | awk 'NR == 3 { print $1 }'
}

# wait_quiet: up to QUIET_WAIT s until both cores are nearly idle: builds or tests running beside
# us ruin p99 far more than they ruin req/s.
wait_quiet() {
  local busy start=$SECONDS waited=0
  while busy=$("${MEASURE[@]}" busy --cpus "$PROXY_CPU,$LOAD_CPU" --seconds 2) && ((busy >= 5)); do
    if ((SECONDS - start >= QUIET_WAIT)); then
      log "cores still ${busy}% busy after ${QUIET_WAIT}s of waiting; measuring anyway"
      return
    fi
    ((waited)) || log "cores ${busy}% busy with other work; waiting up to ${QUIET_WAIT}s"
    waited=1
    sleep 3
  done
  ((!waited)) || log "cores idle after $((SECONDS - start))s"
}

run_wrk() {  # run_wrk CONNS DURATION URL [OUT]: wrk on this script's core (LOAD_CPU)
  local conns=$1 dur=$2 url=$3 out=${4:-/dev/null}
  wrk -t1 -c"$conns" -d"${dur}s" --latency "$url" >"$out" 2>&1
}
