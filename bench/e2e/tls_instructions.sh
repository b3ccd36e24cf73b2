#!/usr/bin/env bash
# Instructions per full TLS handshake, counted by callgrind, for waygate, nginx and HAProxy
# terminating TLS 1.3 with one ECDSA P-256 certificate (as tls.sh configures them) in front of the
# same upstream. Unlike tls.sh's CPU time, the count does not move with whatever else the machine
# runs, so it compares configurations (cipher order, ticket handling) on a busy machine too. It
# counts user-space instructions only: the kernel's share of a handshake is not in it.
#   tls_instructions.sh [-n HANDSHAKES] [-p nginx,haproxy,waygate] [-w WAYGATE_BIN]
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

HANDSHAKES=${HANDSHAKES:-2000}
PROXIES=${PROXIES:-nginx,haproxy,waygate}
WAYGATE_BIN=${WAYGATE_BIN:-$ROOT/build/src/waygate}
BASE_PORT=${BASE_PORT:-18480}
PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
LOG_TAG=tls-instructions

while (($#)); do
  case $1 in
    -n | --handshakes) HANDSHAKES=$2; shift 2 ;;
    -p | --proxies) PROXIES=$2; shift 2 ;;
    -w | --waygate-bin) WAYGATE_BIN=$2; shift 2 ;;
    -h | --help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
done
if ! [[ $HANDSHAKES =~ ^[0-9]+$ ]] || ((HANDSHAKES == 0)); then
  echo "-n takes a count" >&2
  exit 2
fi

# shellcheck source-path=SCRIPTDIR source=harness.sh
source "$HERE/harness.sh"
EXTRA_TOOLS=(openssl:openssl hey:hey valgrind:valgrind)
harness_init

CERT=$WORK/cert.pem
KEY=$WORK/key.pem
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -keyout "$KEY" -out "$CERT" 2>/dev/null
cat "$CERT" "$KEY" >"$WORK/haproxy.pem"
declare -A PORT=([nginx]=$((BASE_PORT + 1)) [haproxy]=$((BASE_PORT + 2)) [waygate]=$((BASE_PORT + 3)))

# Each proxy as tls.sh runs it, but one process each (callgrind follows one).
config() {
  local name=$1 dir=$WORK/$1
  mkdir -p "$dir"
  case $name in
    nginx)
      {
        nginx_common "$dir" off
        cat <<EOF
events { worker_connections 4096; }
http {
$(nginx_temp_paths "$dir")
    access_log off;
    upstream up { server 127.0.0.1:$UP_PORT; keepalive 128; }
    server {
        listen 127.0.0.1:${PORT[nginx]} ssl;
        ssl_certificate $CERT;
        ssl_certificate_key $KEY;
        ssl_protocols TLSv1.2 TLSv1.3;
        location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; }
    }
}
EOF
      } >"$dir/conf"
      echo nginx -p "$dir" -c "$dir/conf" -e "$dir/error.log"
      ;;
    haproxy)
      cat >"$dir/conf" <<EOF
global
    nbthread 1
defaults
    mode http
    option http-keep-alive
    http-reuse always
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend fe
    bind 127.0.0.1:${PORT[haproxy]} ssl crt $WORK/haproxy.pem alpn http/1.1
    default_backend be
backend be
    server up 127.0.0.1:$UP_PORT
EOF
      echo haproxy -db -f "$dir/conf"
      ;;
    waygate)
      cat >"$dir/conf" <<EOF
workers: 1
access_log: off
listeners:
  - name: web
    address: 127.0.0.1:${PORT[waygate]}
    tls:
      certificates:
        - { cert: $CERT, key: $KEY }
routes:
  - hosts: ["*"]
    paths:
      - prefix: /
        cluster: up
clusters:
  - name: up
    endpoints: [127.0.0.1:$UP_PORT]
EOF
      echo "$WAYGATE_BIN" --config "$dir/conf"
      ;;
  esac
}

# count NAME: Ir per handshake over HANDSHAKES full handshakes (each with one request), after a
# warm-up, counted between callgrind's zeroing and its dump.
count() {
  local name=$1 port=${PORT[$1]} pid out total
  out=$WORK/$name/callgrind
  # shellcheck disable=SC2046
  start "$name" "$PROXY_CPU" valgrind --tool=callgrind --callgrind-out-file="$out.%p" \
    $(config "$name")
  pid=$STARTED_PID
  wait_ready "$name" "$pid" "$port" https --cacert "$CERT" || die "$name did not start"
  hey -n 200 -c 4 -disable-keepalive "https://127.0.0.1:$port/" >/dev/null
  callgrind_control -z "$pid" >/dev/null 2>&1
  hey -n "$HANDSHAKES" -c 4 -disable-keepalive "https://127.0.0.1:$port/" >"$WORK/$name/hey.txt"
  grep -q "\[200\].*$HANDSHAKES responses" "$WORK/$name/hey.txt" ||
    die "$name: not every request was answered 200: $(grep -A3 'Status code' "$WORK/$name/hey.txt")"
  callgrind_control -d "$pid" >/dev/null 2>&1
  total=$(for f in "$out.$pid".*; do callgrind_annotate "$f" 2>/dev/null; done |
    awk '/PROGRAM TOTALS/ { gsub(",", "", $1); sum += $1 } END { printf "%.0f", sum }')
  stop_pid "$pid"
  echo $((total / HANDSHAKES))
}

start_upstream
IFS=, read -ra WANTED <<<"$PROXIES"
declare -A IR=()
for name in "${WANTED[@]}"; do
  [[ -n ${PORT[$name]:-} ]] || die "unknown proxy '$name'"
  log "$name: $HANDSHAKES full handshakes under callgrind"
  IR[$name]=$(count "$name")
done
best=0
for name in "${!IR[@]}"; do
  [[ $name == waygate ]] && continue
  ((best == 0 || IR[$name] < best)) && best=${IR[$name]}
done
printf '%-8s %18s\n' proxy "instructions/hs"
for name in "${WANTED[@]}"; do printf '%-8s %18d\n' "$name" "${IR[$name]}"; done
if [[ -n ${IR[waygate]:-} ]] && ((best > 0)); then
  awk -v w="${IR[waygate]}" -v b="$best" 'BEGIN { printf "waygate/best %.3fx (lower is better)\n", w / b }'
fi
