# Plumbing shared by the e2e scripts, sourced before their options are parsed: the options they
# share, tools, cores, the temp dir and the processes started in it (stopped on exit, also on
# Ctrl-C), the nginx upstream, the proxies' configs and their start, which proxies run in which
# order.
# Every script sources it (failover.sh starts backends of its own, not the upstream).
# Reads PROXY_CPU, LOAD_CPU, BASE_PORT, LOG_TAG, QUIET_WAIT, UP_CONN_LIMIT (optional),
# EXTRA_TOOLS (optional: more TOOL:PACKAGE pairs to install when missing), PROXIES and WAYGATE_BIN;
# sets WORK, PIDS, UP_PORT and MEASURE, and the functions below say what else they set.
# shellcheck shell=bash

HARNESS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MEASURE=(python3 "$HARNESS_DIR/measure.py")

log() { printf '[%s %s] %s\n' "${LOG_TAG:-e2e}" "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# common_option OPTION VALUE: an option every benchmark script takes (its usage lists them), into its
# variable; the caller shifts both away. -h prints the script's usage; anything else is unknown.
# shellcheck disable=SC2034  # the scripts read the variables
common_option() {
  case $1 in
    -d | --duration) DURATION=$2 ;;
    -c | --connections) CONNECTIONS=$2 ;;
    -r | --rounds) ROUNDS=$2 ;;
    -p | --proxies) PROXIES=$2 ;;
    -w | --waygate-bin) WAYGATE_BIN=$2 ;;
    --base-port) BASE_PORT=$2 ;;
    --quiet-wait) QUIET_WAIT=$2 ;;
    -o | --out) OUT=$2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
  esac
}

require_whole_numbers() {  # require_whole_numbers VAR...: each variable's value, or exit 2
  local v
  for v; do
    [[ ${!v} =~ ^[0-9]+$ ]] || { echo "$v must be a whole number, not '${!v}'" >&2; exit 2; }
  done
}

# harness_init: install missing tools (the common ones and EXTRA_TOOLS), pin this shell to LOAD_CPU,
# create WORK, set the traps.
harness_init() {
  local missing=() tool ncpu
  UP_PORT=$BASE_PORT
  [[ -v EXTRA_TOOLS ]] || EXTRA_TOOLS=()
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

# --- the proxies' configs -------------------------------------------------------------------------
# What every script's nginx, HAProxy and waygate configs have in common: one worker, access log off
# unless told, keep-alive to the upstream, each proxy tuned as anyone benchmarking it tunes it and
# waygate with its shipped defaults. The options say what a script changes.

# nginx_proxy_conf DIR [OPTION VALUE]...: the config on stdout. Options (those marked + repeat):
#   --conns N          worker_connections [4096]
#   --rlimit N         worker_rlimit_nofile [none]
#   --access-log TEXT  the access log directive(s) ["access_log off;"]
#   --upstream LINE +  a line of the upstream block, instead of the harness's upstream
#   --server LINE +    a line of the server block: the listen line(s), the certificate
#   --location LINE +  one more line of `location /`
nginx_proxy_conf() {
  local dir=$1 conns=4096 main="" access_log="access_log off;" upstream="" server="" location=""
  shift
  while (($#)); do
    case $1 in
      --conns) conns=$2 ;;
      --rlimit) main="worker_rlimit_nofile $2;"$'\n' ;;
      --access-log) access_log=$2 ;;
      --upstream) upstream+="        $2"$'\n' ;;
      --server) server+="        $2"$'\n' ;;
      --location) location+="            $2"$'\n' ;;
      *) die "nginx_proxy_conf: unknown option $1" ;;
    esac
    shift 2
  done
  [[ -n $upstream ]] || upstream="        server 127.0.0.1:$UP_PORT;"$'\n'
  nginx_common "$dir"
  # keepalive_requests: nginx's default, 1000, would close the load's connections mid-run (h2load's
  # streams count against it too).
  cat <<EOF
${main}events { worker_connections $conns; }
http {
$(nginx_temp_paths "$dir")
    $access_log
    keepalive_timeout 300s;
    keepalive_requests 1000000;
    upstream up {
${upstream}        keepalive 128;
        keepalive_requests 1000000;
        keepalive_timeout 300s;
    }
    server {
${server}        location / {
            proxy_pass http://up;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
${location}        }
    }
}
EOF
}

# haproxy_proxy_conf [OPTION VALUE]...: the config on stdout. Options (those marked + repeat):
#   --maxconn N          the global and the per-frontend connection limit [4096]
#   --global LINE +      one more line of the global section
#   --defaults LINE +    one more line of the defaults section
#   --connect-timeout T  timeout connect [5s]
#   --bind ARGS +        a bind line of the frontend: the address and its options
#   --frontend LINE +    one more line of the frontend
#   --backend LINE +     a line of the backend, instead of the harness's upstream as its one server
haproxy_proxy_conf() {
  local maxconn=4096 global="" defaults="" connect_timeout=5s bind="" frontend="" backend=""
  while (($#)); do
    case $1 in
      --maxconn) maxconn=$2 ;;
      --global) global+="    $2"$'\n' ;;
      --defaults) defaults+="    $2"$'\n' ;;
      --connect-timeout) connect_timeout=$2 ;;
      --bind) bind+="    bind $2"$'\n' ;;
      --frontend) frontend+="    $2"$'\n' ;;
      --backend) backend+="    $2"$'\n' ;;
      *) die "haproxy_proxy_conf: unknown option $1" ;;
    esac
    shift 2
  done
  [[ -n $backend ]] || backend="    server up 127.0.0.1:$UP_PORT"$'\n'
  cat <<EOF
global
    nbthread 1
    maxconn $maxconn
${global}
defaults
    mode http
${defaults}    option http-keep-alive
    http-reuse always
    maxconn $maxconn
    timeout connect $connect_timeout
    timeout client 300s
    timeout server 30s
    timeout http-request 10s
    timeout http-keep-alive 300s

frontend fe
${bind}${frontend}    default_backend be

backend be
EOF
  printf '%s' "$backend"
}

# waygate_listener NAME PORT [tls] [http2]: one listener for waygate_proxy_conf. tls: with the
# certificate of make_certificate (ALPN h2 and http/1.1 are on by default); http2: h2c on a plain
# listener (off by default).
waygate_listener() {
  local name=$1 port=$2 with
  shift 2
  printf '  - name: %s\n    address: 127.0.0.1:%s\n' "$name" "$port"
  for with; do
    case $with in
      tls) printf '    tls:\n      certificates:\n        - { cert: %s, key: %s }\n' "$CERT" "$KEY" ;;
      http2) printf '    http2: true\n' ;;
      *) die "waygate_listener: unknown option $with" ;;
    esac
  done
}

# waygate_proxy_conf [OPTION VALUE]...: waygate's shipped defaults, so only what every user must
# write: one worker (as the others), the listeners, one route (`*` -> /), one cluster. Options
# (those marked + repeat):
#   --access-log VALUE  [off]
#   --listener YAML +   from waygate_listener
#   --path LINE +       one more key of the route's path (retry, response_headers)
#   --endpoints LIST    the cluster's endpoints [the harness's upstream]
#   --cluster LINE +    one more key of the cluster (health_check)
#   --top LINE +        one more top-level key (limits)
waygate_proxy_conf() {
  local access_log=off listeners="" path="" endpoints="127.0.0.1:$UP_PORT" cluster="" top=""
  while (($#)); do
    case $1 in
      --access-log) access_log=$2 ;;
      --listener) listeners+=$2$'\n' ;;
      --path) path+="        $2"$'\n' ;;
      --endpoints) endpoints=$2 ;;
      --cluster) cluster+="    $2"$'\n' ;;
      --top) top+=$2$'\n' ;;
      *) die "waygate_proxy_conf: unknown option $1" ;;
    esac
    shift 2
  done
  cat <<EOF
workers: 1
access_log: $access_log
listeners:
${listeners}routes:
  - hosts: ["*"]
    paths:
      - prefix: /
        cluster: up
${path}clusters:
  - name: up
    endpoints: [$endpoints]
EOF
  printf '%s' "$cluster$top"
}

# check_peer_configs NGINX_CFG HAPROXY_CFG WHAT: nginx and HAProxy must accept their configs before
# anything is measured; WHAT names the configs in the error ("the benchmark config").
check_peer_configs() {
  nginx -t -q -p "$WORK/nginx" -c "$1" -e "$WORK/nginx/error.log" || die "nginx rejects $3"
  haproxy -c -q -f "$2" || die "haproxy rejects $3"
}

# launch_proxy NAME CFG [HAPROXY_OPTION...]: start the proxy NAME (nginx, haproxy, waygate or a
# waygate-* row) with config CFG on PROXY_CPU; its pid in STARTED_PID. HAProxy runs in the
# foreground (-db), with the options given (-W: master-worker).
launch_proxy() {
  local name=$1 cfg=$2
  shift 2
  case $name in
    nginx) start nginx "$PROXY_CPU" nginx -p "$WORK/nginx" -c "$cfg" -e "$WORK/nginx/error.log" ;;
    haproxy) start haproxy "$PROXY_CPU" haproxy "$@" -db -f "$cfg" ;;
    waygate*) start "$name" "$PROXY_CPU" "$WAYGATE_BIN" --config "$cfg" ;;
    *) die "launch_proxy: unknown proxy $name" ;;
  esac
}

# --- which proxies, in which order --------------------------------------------------------------

# pick_proxies KNOWN: the proxies PROXIES names (comma-separated, each one of KNOWN) in WANTED, and
# those to measure in RUN: waygate only if WAYGATE_BIN is there, else WAYGATE_MISSING=1 and the
# others are measured. Dies if there is nothing to measure.
pick_proxies() {
  local known=$1 name
  IFS=, read -ra WANTED <<<"$PROXIES"
  RUN=()
  WAYGATE_MISSING=0
  for name in "${WANTED[@]}"; do
    [[ ,$known, == *,"$name",* ]] || die "unknown proxy '$name' (${known//,/, })"
    if [[ $name == waygate && ! -x $WAYGATE_BIN ]]; then
      log "waygate binary not found at $WAYGATE_BIN: measuring the others only"
      # shellcheck disable=SC2034  # each script says so in its own way
      WAYGATE_MISSING=1
    else
      RUN+=("$name")
    fi
  done
  ((${#RUN[@]})) || die "nothing to measure"
}

# copy_waygate_bin: when waygate is measured, it runs from a copy, so a rebuild during the run
# cannot change the binary between proxies or rounds.
copy_waygate_bin() {
  [[ " ${RUN[*]} " == *" waygate "* ]] || return 0
  cp "$WAYGATE_BIN" "$WORK/waygate-bin"
  log "waygate: $WAYGATE_BIN ($("$WORK/waygate-bin" --version)," \
    "built $(date -r "$WAYGATE_BIN" '+%F %T'))"
  WAYGATE_BIN=$WORK/waygate-bin
}

unrun() {  # unrun NAME: NAME is not measured after all (it refused its config)
  local kept=() name
  for name in "${RUN[@]}"; do [[ $name == "$1" ]] || kept+=("$name"); done
  RUN=("${kept[@]}")
}

require_free_ports() {  # require_free_ports PORT...: every port the run listens on must be free
  local port
  for port; do port_free "$port" || die "port $port is in use (use --base-port)"; done
}

# rotation ROUND: RUN's names, one a line, from the ROUNDth on: the order rotates between rounds,
# so no proxy always goes first (e.g. into a colder upstream).
rotation() {
  local k
  for ((k = 0; k < ${#RUN[@]}; k++)); do echo "${RUN[(k + $1) % ${#RUN[@]}]}"; done
}

note_args() {  # note_args: NOTES as the report's --note options, in NOTE_ARGS
  local n
  NOTE_ARGS=()
  for n in "${NOTES[@]}"; do NOTE_ARGS+=(--note "$n"); done
}

# measure_rounds MEASURE: ROUNDS rounds over RUN in rotation: MEASURE NAME ROUND for each proxy
# that has not failed yet (FAILED, an associative array: NAME -> why). MEASURE runs with errexit,
# not beside a condition, so a failing step inside it stops the script instead of passing unseen.
measure_rounds() {
  local round name
  for ((round = 0; round < ROUNDS; round++)); do
    for name in $(rotation "$round"); do
      if [[ -z ${FAILED[$name]:-} ]]; then "$1" "$name" "$round"; fi
    done
  done
}
