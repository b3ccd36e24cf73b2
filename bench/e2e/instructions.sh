#!/usr/bin/env bash
# Instructions per full TLS handshake, or per keep-alive request, counted by callgrind, for
# waygate, nginx and HAProxy in front of the same upstream (configured as tls.sh and run.sh do,
# one process each). Unlike the CPU times of tls.sh and run.sh, the count does not move with
# whatever else the machine runs, so it compares configurations on a busy machine too. It counts
# user-space instructions only: the kernel's share and cache effects are not in it.
#   instructions.sh [--load handshakes|requests|h2] [--access-log off|json] [-n COUNT]
#                   [-p nginx,haproxy,nghttpx,waygate] [-w WAYGATE_BIN]
# handshakes: TLS 1.3 with one ECDSA P-256 certificate, a new connection (and one request) each.
# requests: plain HTTP/1.1 on 4 keep-alive connections. h2: HTTP/2 by prior knowledge (h2c), h2load
# on 4 connections with 100 streams each (nghttpx, the HTTP/2 proxy of nghttp2, measured too). --access-log json: each proxy writes a
# JSON line per request to a file (waygate `format: json`, nginx the same fields escape=json,
# HAProxy a log-format of them).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

LOAD=${LOAD:-handshakes}
ACCESS_LOG=${ACCESS_LOG:-off}
COUNT=${COUNT:-}
PROXIES=${PROXIES:-}   # default: nginx,haproxy,waygate, and nghttpx for h2
WAYGATE_BIN=${WAYGATE_BIN:-$ROOT/build/src/waygate}
BASE_PORT=${BASE_PORT:-18480}
PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
LOG_TAG=instructions

while (($#)); do
  case $1 in
    --load) LOAD=$2; shift 2 ;;
    --access-log) ACCESS_LOG=$2; shift 2 ;;
    -n | --count) COUNT=$2; shift 2 ;;
    -p | --proxies) PROXIES=$2; shift 2 ;;
    -w | --waygate-bin) WAYGATE_BIN=$2; shift 2 ;;
    -h | --help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
done
[[ $LOAD == handshakes || $LOAD == requests || $LOAD == h2 ]] ||
  { echo "--load: handshakes, requests or h2" >&2; exit 2; }
[[ $ACCESS_LOG == off || $ACCESS_LOG == json ]] || { echo "--access-log: off or json" >&2; exit 2; }
[[ -n $PROXIES ]] || if [[ $LOAD == h2 ]]; then PROXIES=nginx,haproxy,nghttpx,waygate; else
  PROXIES=nginx,haproxy,waygate; fi
[[ -n $COUNT ]] || if [[ $LOAD == handshakes ]]; then COUNT=2000; else COUNT=20000; fi
if ! [[ $COUNT =~ ^[0-9]+$ ]] || ((COUNT == 0)); then
  echo "-n takes a count" >&2
  exit 2
fi

# shellcheck source-path=SCRIPTDIR source=harness.sh
source "$HERE/harness.sh"
EXTRA_TOOLS=(openssl:openssl hey:hey valgrind:valgrind h2load:nghttp2-client nghttpx:nghttp2-proxy)
harness_init

make_certificate "$WORK"
declare -A PORT=([nginx]=$((BASE_PORT + 1)) [haproxy]=$((BASE_PORT + 2)) [waygate]=$((BASE_PORT + 3))
  [nghttpx]=$((BASE_PORT + 4)))
SCHEME=http
[[ $LOAD != handshakes ]] || SCHEME=https
H2=""   # the listen/bind option that makes a plain listener speak h2c
[[ $LOAD != h2 ]] || H2=1

# config NAME: writes NAME's config for LOAD and ACCESS_LOG; prints the command that runs it.
config() {
  local name=$1 dir=$WORK/$1 log=$WORK/$1/access.log
  mkdir -p "$dir"
  case $name in
    nginx)
      local tls="" log_line="access_log off;"
      [[ $SCHEME == http ]] || tls=" ssl;
        ssl_certificate $CERT;
        ssl_certificate_key $KEY;
        ssl_protocols TLSv1.2 TLSv1.3"
      [[ $ACCESS_LOG == off ]] || log_line="$(nginx_json_format)
    access_log $log json;"
      {
        nginx_common "$dir" off
        cat <<EOF
events { worker_connections 4096; }
http {
$(nginx_temp_paths "$dir")
    $log_line
    keepalive_requests 1000000;
    upstream up { server 127.0.0.1:$UP_PORT; keepalive 128; }
    server {
        listen 127.0.0.1:${PORT[nginx]}$tls;
        location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; }
    }
}
EOF
      } >"$dir/conf"
      [[ -z $H2 ]] || sed -i "s/listen 127.0.0.1:${PORT[nginx]}/& http2/" "$dir/conf"
      echo nginx -p "$dir" -c "$dir/conf" -e "$dir/error.log"
      ;;
    haproxy)
      local bind="" global_log="" defaults_log=""
      [[ $SCHEME == http ]] || bind=" ssl crt $WORK/haproxy.pem alpn http/1.1"
      [[ -z $H2 ]] || bind=" proto h2"
      if [[ $ACCESS_LOG == json ]]; then
        global_log="    log stdout format raw local0"
        # shellcheck disable=SC2016
        defaults_log=$'    log global\n    log-format \'{"time":"%tr","client":"%ci:%cp",'
        defaults_log+='"method":"%HM","target":"%HU","protocol":"%HV","status":%ST,"bytes_sent":%B,'
        defaults_log+=$'"duration_ms":%Ta,"upstream_response_ms":%Tr,"endpoint":"%si:%sp"}\''
      fi
      cat >"$dir/conf" <<EOF
global
    nbthread 1
$global_log
defaults
    mode http
$defaults_log
    option http-keep-alive
    http-reuse always
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend fe
    bind 127.0.0.1:${PORT[haproxy]}$bind
    default_backend be
backend be
    server up 127.0.0.1:$UP_PORT
EOF
      echo haproxy -db -f "$dir/conf"
      ;;
    waygate)
      local with=() access_log=off
      [[ $SCHEME == http ]] || with=(tls)
      [[ -z $H2 ]] || with=(http2)
      [[ $ACCESS_LOG == off ]] || access_log="{ path: $log, format: json }"
      waygate_proxy_conf --access-log "$access_log" \
        --listener "$(waygate_listener web "${PORT[waygate]}" "${with[@]}")" >"$dir/conf"
      echo "$WAYGATE_BIN" --config "$dir/conf"
      ;;
    nghttpx)
      [[ -n $H2 ]] || die "nghttpx is measured with --load h2 only"
      [[ $ACCESS_LOG == off ]] || die "nghttpx is measured with --access-log off only"
      echo nghttpx "--frontend=127.0.0.1,${PORT[nghttpx]};no-tls" "--backend=127.0.0.1,$UP_PORT" \
        --workers=1 --single-process "--errorlog-file=$dir/error.log"
      ;;
  esac
}

# count NAME: instructions per handshake or request over COUNT of them, after a warm-up, counted
# between callgrind's zeroing and its dump.
count() {
  local name=$1 port=${PORT[$1]} pid out total hey_args=(-c 4) ready_args=(--cacert "$CERT")
  [[ $LOAD != handshakes ]] || hey_args+=(-disable-keepalive)
  [[ -z $H2 ]] || ready_args=(--http2-prior-knowledge)
  out=$WORK/$name/callgrind
  # HAProxy writes its log lines to stdout, which start() sends to a file.
  # shellcheck disable=SC2046
  start "$name" "$PROXY_CPU" valgrind --tool=callgrind --callgrind-out-file="$out.%p" \
    $(config "$name")
  pid=$STARTED_PID
  wait_ready "$name" "$pid" "$port" "$SCHEME" "${ready_args[@]}" || die "$name did not start"
  if [[ -n $H2 ]]; then
    h2load -n 400 -c 4 -m 100 "http://127.0.0.1:$port/" >/dev/null
    callgrind_control -z "$pid" >/dev/null 2>&1
    h2load -n "$COUNT" -c 4 -m 100 "http://127.0.0.1:$port/" >"$WORK/$name/h2load.txt"
    grep -q "^status codes: $COUNT 2xx" "$WORK/$name/h2load.txt" ||
      die "$name: not every request was answered 2xx: $(grep -E '^(requests|status)' "$WORK/$name/h2load.txt")"
  else
    hey -n 200 "${hey_args[@]}" "$SCHEME://127.0.0.1:$port/" >/dev/null
    callgrind_control -z "$pid" >/dev/null 2>&1
    hey -n "$COUNT" "${hey_args[@]}" "$SCHEME://127.0.0.1:$port/" >"$WORK/$name/hey.txt"
    grep -q "\[200\].*$COUNT responses" "$WORK/$name/hey.txt" ||
      die "$name: not every request was answered 200: $(grep -A3 'Status code' "$WORK/$name/hey.txt")"
  fi
  callgrind_control -d "$pid" >/dev/null 2>&1
  total=$(for f in "$out.$pid".*; do callgrind_annotate "$f" 2>/dev/null; done |
    awk '/PROGRAM TOTALS/ { gsub(",", "", $1); sum += $1 } END { printf "%.0f", sum }')
  stop_pid "$pid"
  echo $((total / COUNT))
}

start_upstream
IFS=, read -ra WANTED <<<"$PROXIES"
declare -A IR=()
for name in "${WANTED[@]}"; do
  [[ -n ${PORT[$name]:-} ]] || die "unknown proxy '$name'"
  log "$name: $COUNT $LOAD, access log $ACCESS_LOG, under callgrind"
  IR[$name]=$(count "$name")
done
best=0
for name in "${!IR[@]}"; do
  [[ $name == waygate ]] && continue
  ((best == 0 || IR[$name] < best)) && best=${IR[$name]}
done
unit=${LOAD%s}
[[ $LOAD != h2 ]] || unit="h2 request"
printf '%-8s %22s\n' proxy "instructions/$unit"
for name in "${WANTED[@]}"; do printf '%-8s %22d\n' "$name" "${IR[$name]}"; done
if [[ -n ${IR[waygate]:-} ]] && ((best > 0)); then
  awk -v w="${IR[waygate]}" -v b="$best" 'BEGIN { printf "waygate/best %.3fx (lower is better)\n", w / b }'
fi
