#!/usr/bin/env bash
# End-to-end HTTP/2 comparison of waygate (shipped defaults) with nginx, HAProxy and nghttpx as
# HTTP/2 front ends proxying HTTP/1.1 to a plain upstream: h2load with many streams per connection,
# by prior knowledge (h2c) and over TLS 1.3 with ALPN h2; requests per second and CPU per request.
# bench/e2e/README.md ("HTTP/2") says what each figure means; `h2.sh --help` lists the options.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

DURATION=${DURATION:-5}               # seconds per timed h2load run
CONNECTIONS=${CONNECTIONS:-8}         # h2load connections
STREAMS=${STREAMS:-100}               # concurrent streams per connection
MODES=${MODES:-h2c,tls}               # h2c prior knowledge, TLS with ALPN h2
ROUNDS=${ROUNDS:-1}                   # rounds over all proxies; the table shows medians
PROXIES=${PROXIES:-nginx,haproxy,nghttpx,waygate}
WAYGATE_BIN=${WAYGATE_BIN:-$ROOT/build/src/waygate}
BASE_PORT=${BASE_PORT:-18580}         # upstream; proxies on the next eight ports
PROXY_CPU=${PROXY_CPU:-0}             # the one core every proxy runs on
LOAD_CPU=${LOAD_CPU:-1}               # h2load, the upstream, and this script
QUIET_WAIT=${QUIET_WAIT:-30}          # seconds to wait for idle cores before each proxy start
OUT=${OUT:-}
LOG_TAG=h2

usage() {
  cat <<EOF
usage: $0 [options]          (each option also reads the environment variable in brackets)
  -d, --duration SEC         length of each timed h2load run [DURATION, $DURATION]
  -c, --connections N        h2load connections [CONNECTIONS, $CONNECTIONS]
  -m, --streams N            concurrent streams per connection [STREAMS, $STREAMS]
  --modes LIST               comma-separated subset of h2c,tls [MODES, $MODES]
  -r, --rounds N             rounds over all proxies, median reported [ROUNDS, $ROUNDS]
  -p, --proxies LIST         comma-separated subset of nginx,haproxy,nghttpx,waygate [PROXIES]
  -w, --waygate-bin PATH     waygate binary [WAYGATE_BIN, $WAYGATE_BIN]
  --base-port PORT           upstream port; proxies on the next eight [BASE_PORT, $BASE_PORT]
  --quiet-wait SEC           wait up to this long for idle cores before each proxy
                             [QUIET_WAIT, $QUIET_WAIT]
  -o, --out FILE             also write the table to FILE [OUT]
Cores: proxies on PROXY_CPU ($PROXY_CPU); h2load, upstream and this script on LOAD_CPU ($LOAD_CPU).
EOF
}

# The options all scripts take are harness.sh's (common_option): it comes first.
# shellcheck source-path=SCRIPTDIR source=harness.sh
source "$HERE/harness.sh"
while (($#)); do
  case $1 in
    -m | --streams) STREAMS=$2; shift 2 ;;
    --modes) MODES=$2; shift 2 ;;
    *) common_option "$@"; shift 2 ;;
  esac
done
require_whole_numbers DURATION CONNECTIONS STREAMS ROUNDS BASE_PORT PROXY_CPU LOAD_CPU QUIET_WAIT
((DURATION > 0 && CONNECTIONS > 0 && STREAMS > 0 && ROUNDS > 0)) ||
  { echo "duration, connections, streams and rounds must be > 0" >&2; exit 2; }
IFS=, read -ra WANTED_MODES <<<"$MODES"
for mode in "${WANTED_MODES[@]}"; do
  [[ $mode == h2c || $mode == tls ]] || { echo "a mode is h2c or tls, not '$mode'" >&2; exit 2; }
done

H2_MEASURE=(python3 "$HERE/h2_measure.py")

EXTRA_TOOLS=(openssl:openssl h2load:nghttp2-client nghttpx:nghttp2-proxy)
harness_init
[[ $(nginx -V 2>&1) == *--with-http_v2_module* ]] || die "this nginx has no http_v2_module"

# --- the certificate ----------------------------------------------------------------------------
TLS_DIR=$WORK/tls
make_certificate "$TLS_DIR"

# --- configs ------------------------------------------------------------------------------------
# Each proxy listens twice: h2c by prior knowledge on PORT[name], TLS with ALPN h2 on TLS_PORT[name].
# Access logs off, upstream keep-alive on, one worker; otherwise each proxy's defaults.
declare -A PORT=([nginx]=$((BASE_PORT + 1)) [haproxy]=$((BASE_PORT + 2))
  [nghttpx]=$((BASE_PORT + 3)) [waygate]=$((BASE_PORT + 4)))
declare -A TLS_PORT=([nginx]=$((BASE_PORT + 5)) [haproxy]=$((BASE_PORT + 6))
  [nghttpx]=$((BASE_PORT + 7)) [waygate]=$((BASE_PORT + 8)))
config_path() { echo "$WORK/$1/$1.conf"; }

write_nginx_conf() {
  mkdir -p "$WORK/nginx"
  nginx_proxy_conf "$WORK/nginx" \
    --server "listen 127.0.0.1:${PORT[nginx]} http2 backlog=4096;" \
    --server "listen 127.0.0.1:${TLS_PORT[nginx]} ssl http2 backlog=4096;" \
    --server "ssl_certificate $CERT;" --server "ssl_certificate_key $KEY;" \
    --server "ssl_protocols TLSv1.2 TLSv1.3;" >"$(config_path nginx)"
}

write_haproxy_conf() {
  mkdir -p "$WORK/haproxy"
  haproxy_proxy_conf --bind "127.0.0.1:${PORT[haproxy]} proto h2" \
    --bind "127.0.0.1:${TLS_PORT[haproxy]} ssl crt $TLS_DIR/haproxy.pem alpn h2,http/1.1" \
    >"$(config_path haproxy)"
}

# nghttpx takes its whole config on the command line (nghttpx_args); this file is for the record.
nghttpx_args() {
  echo "--frontend=127.0.0.1,${PORT[nghttpx]};no-tls" \
    "--frontend=127.0.0.1,${TLS_PORT[nghttpx]}" \
    "--backend=127.0.0.1,$UP_PORT" --workers=1 --single-process \
    "--errorlog-file=$WORK/nghttpx/error.log" "$KEY" "$CERT"
}

# Shipped defaults: what every user must write. h2c needs `http2: true` on a plain listener; TLS
# listeners offer ALPN h2 by default.
write_waygate_conf() {
  mkdir -p "$WORK/waygate"
  waygate_proxy_conf --listener "$(waygate_listener h2c "${PORT[waygate]}" http2)" \
    --listener "$(waygate_listener tls "${TLS_PORT[waygate]}" tls)" >"$(config_path waygate)"
}

# start_proxy NAME: start it on PROXY_CPU and wait until it relays over both listeners; its pid in
# STARTED_PID.
start_proxy() {
  local name=$1 cfg
  cfg=$(config_path "$name")
  if [[ $name == nghttpx ]]; then
    mkdir -p "$WORK/nghttpx"
    # shellcheck disable=SC2046  # nghttpx_args' words are meant to split
    start nghttpx "$PROXY_CPU" nghttpx $(nghttpx_args)
  else
    launch_proxy "$name" "$cfg"
  fi
  wait_ready "$name" "$STARTED_PID" "${PORT[$name]}" http --http2-prior-knowledge || return 1
  if ! check_responses "$name" "${PORT[$name]}" http --http2-prior-knowledge ||
    ! check_responses "$name" "${TLS_PORT[$name]}" https --cacert "$CERT" --http2 ||
    [[ $(curl -fsS -o /dev/null -w '%{http_version}' --cacert "$CERT" --http2 \
      "https://127.0.0.1:${TLS_PORT[$name]}/") != 2 ]]; then
    log "$name: does not answer HTTP/2 over TLS"
    return 1
  fi
}

# --- measurement --------------------------------------------------------------------------------
RESULTS=$WORK/results.tsv
: >"$RESULTS"

# measured NAME ROUND: start NAME fresh, one h2load run per mode; a failure marks NAME failed.
measured() {
  local name=$1 round=$2 mode port rc out=$WORK/$1/round-$2.tsv
  wait_quiet
  log "round $((round + 1))/$ROUNDS: $name"
  if ! start_proxy "$name"; then
    stop_pid "$STARTED_PID"
    FAILED[$name]="failed to start"
    NOTES+=("$name failed to start or relayed wrongly; see the log above")
    return
  fi
  : >"$out"
  for mode in "${WANTED_MODES[@]}"; do
    port=${PORT[$name]}
    [[ $mode == h2c ]] || port=${TLS_PORT[$name]}
    set +e
    "${H2_MEASURE[@]}" run --proxy "$name" --mode "$mode" --port "$port" --pid "$STARTED_PID" \
      --cpu "$PROXY_CPU" --load-cpu "$LOAD_CPU" --seconds "$DURATION" --conns "$CONNECTIONS" \
      --streams "$STREAMS" --out "$WORK/$name/h2load-$mode-$round.txt" >>"$out"
    rc=$?
    set -e
    if ((rc != 0)) || ! is_running "$STARTED_PID"; then
      stop_pid "$STARTED_PID"
      FAILED[$name]="failed during the run"
      NOTES+=("$name failed during round $((round + 1)), $mode (exit $rc); see the log above")
      return
    fi
  done
  stop_pid "$STARTED_PID"
  cat "$out" >>"$RESULTS"
}

# --- main ---------------------------------------------------------------------------------------
NOTES=()
declare -A FAILED=()
pick_proxies nginx,haproxy,nghttpx,waygate
((!WAYGATE_MISSING)) || FAILED[waygate]="not measured (no binary)"
require_free_ports "$UP_PORT" "${PORT[@]}" "${TLS_PORT[@]}"

write_nginx_conf
write_haproxy_conf
check_peer_configs "$(config_path nginx)" "$(config_path haproxy)" "the benchmark config"
if [[ " ${RUN[*]} " == *" waygate "* ]]; then
  copy_waygate_bin
  write_waygate_conf
  timeout 10 "$WAYGATE_BIN" --check "$(config_path waygate)" >/dev/null ||
    die "waygate --check refuses the benchmark config"
fi

start_upstream
log "proxies on core $PROXY_CPU; h2load, upstream and this script on core $LOAD_CPU;" \
  "${DURATION}s runs of h2load -t1 -c$CONNECTIONS -m$STREAMS, $ROUNDS round(s)"
log "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
measure_rounds measured
is_running "$UP_PID" || die "the upstream died during the run"
log "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

title="waygate e2e HTTP/2: each proxy alone on core $PROXY_CPU (1 worker, HTTP/1.1 upstream with"
title+=" keep-alive; waygate with its shipped defaults),"$'\n'"h2load and the nginx upstream on"
title+=" core $LOAD_CPU; ${DURATION}s runs; median of $ROUNDS round(s)"
note_args
for name in "${!FAILED[@]}"; do NOTE_ARGS+=(--failed "$name=${FAILED[$name]}"); done
echo
"${H2_MEASURE[@]}" report --results "$RESULTS" --proxies "$PROXIES" --title "$title" \
  --conns "$CONNECTIONS" --streams "$STREAMS" --proxy-cpu "$PROXY_CPU" --load-cpu "$LOAD_CPU" \
  ${OUT:+--out "$OUT"} "${NOTE_ARGS[@]}"
