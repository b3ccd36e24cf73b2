#!/usr/bin/env bash
# End-to-end TLS comparison of waygate (shipped defaults) with nginx and HAProxy terminating TLS 1.3
# on loopback with one ECDSA P-256 certificate and proxying HTTP/1.1 to a plain upstream: full
# handshakes per second, and keep-alive HTTPS requests per second with CPU per request.
# bench/e2e/README.md ("TLS termination") says what each figure means; `tls.sh --help` lists the
# options.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

DURATION=${DURATION:-5}               # seconds per timed run (handshakes, keep-alive)
HS_CLIENT=${HS_CLIENT:-hey}           # full-handshake client: hey (Go, no keep-alive) or s_time
CLIENTS=${CLIENTS:-}                  # its concurrency: hey connections (16), s_time processes (4)
CONNECTIONS=${CONNECTIONS:-64}        # wrk connections, keep-alive HTTPS
THREADS=${THREADS:-1}                 # wrk threads
ROUNDS=${ROUNDS:-1}                   # rounds over all proxies; the table shows medians
PROXIES=${PROXIES:-nginx,haproxy,waygate}
WAYGATE_BIN=${WAYGATE_BIN:-$ROOT/build/src/waygate}
BASE_PORT=${BASE_PORT:-18380}         # upstream; proxies on the next three ports
PROXY_CPU=${PROXY_CPU:-0}             # the one core every proxy runs on
LOAD_CPU=${LOAD_CPU:-1}               # the clients, the upstream, and this script
QUIET_WAIT=${QUIET_WAIT:-30}          # seconds to wait for idle cores before each proxy start
RETRIES=${RETRIES:-2}                 # measure a proxy again when other work used its core
OUT=${OUT:-}
LOG_TAG=tls

usage() {
  cat <<EOF
usage: $0 [options]          (each option also reads the environment variable in brackets)
  -d, --duration SEC         length of each timed run, handshakes and keep-alive
                             [DURATION, $DURATION]
  --hs-client NAME           full-handshake client: hey (hey -disable-keepalive) or s_time
                             (parallel \`openssl s_time -new\`) [HS_CLIENT, $HS_CLIENT]
  -n, --clients N            its concurrency: hey's connections at once (default 16) or s_time
                             processes (default 4) [CLIENTS]
  -c, --connections N        wrk connections for keep-alive HTTPS [CONNECTIONS, $CONNECTIONS]
  -t, --threads N            wrk threads [THREADS, $THREADS]
  -r, --rounds N             rounds over all proxies, median reported [ROUNDS, $ROUNDS]
  -p, --proxies LIST         comma-separated subset of nginx,haproxy,waygate [PROXIES, $PROXIES]
  -w, --waygate-bin PATH     waygate binary [WAYGATE_BIN, $WAYGATE_BIN]
  --base-port PORT           upstream port; proxies on the next three [BASE_PORT, $BASE_PORT]
  --quiet-wait SEC           wait up to this long for idle cores before each proxy
                             [QUIET_WAIT, $QUIET_WAIT]
  --retries N                measure a proxy again, on a fresh process, up to N times when other
                             work used more than 5% of its core during a run [RETRIES, $RETRIES]
  -o, --out FILE             also write the table to FILE [OUT]
Cores: proxies on PROXY_CPU ($PROXY_CPU); clients, upstream and this script on LOAD_CPU ($LOAD_CPU).
EOF
}

# The options all scripts take are harness.sh's (common_option): it comes first.
# shellcheck source-path=SCRIPTDIR source=harness.sh
source "$HERE/harness.sh"
while (($#)); do
  case $1 in
    --hs-client) HS_CLIENT=$2; shift 2 ;;
    -n | --clients) CLIENTS=$2; shift 2 ;;
    -t | --threads) THREADS=$2; shift 2 ;;
    --retries) RETRIES=$2; shift 2 ;;
    *) common_option "$@"; shift 2 ;;
  esac
done
[[ $HS_CLIENT == hey || $HS_CLIENT == s_time ]] ||
  { echo "the full-handshake client is hey or s_time, not '$HS_CLIENT'" >&2; exit 2; }
if [[ -z $CLIENTS ]]; then
  if [[ $HS_CLIENT == hey ]]; then CLIENTS=16; else CLIENTS=4; fi
fi
require_whole_numbers DURATION CLIENTS CONNECTIONS THREADS ROUNDS BASE_PORT PROXY_CPU LOAD_CPU \
  QUIET_WAIT RETRIES
((DURATION > 0 && CLIENTS > 0 && CONNECTIONS > 0 && THREADS > 0 && ROUNDS > 0)) ||
  { echo "duration, clients, connections, threads and rounds must be > 0" >&2; exit 2; }
((CONNECTIONS >= THREADS)) || { echo "wrk needs at least one connection per thread" >&2; exit 2; }

TLS_MEASURE=(python3 "$HERE/tls_measure.py")

EXTRA_TOOLS=(openssl:openssl hey:hey)
harness_init
# Whole outputs first: grep -q stopping early would fail the pipe (pipefail, SIGPIPE).
[[ $(nginx -V 2>&1) == *--with-http_ssl_module* ]] || die "this nginx has no http_ssl_module"
[[ $(haproxy -vv 2>&1) == *"Built with OpenSSL"* ]] || die "this HAProxy is built without OpenSSL"

# --- the certificate ----------------------------------------------------------------------------
# One self-signed ECDSA P-256 certificate for all three, for 127.0.0.1 and localhost. The checks
# verify it; the load clients skip the chain check but, as every TLS 1.3 client, verify the
# server's signature over the handshake with its key.
TLS_DIR=$WORK/tls
make_certificate "$TLS_DIR"
CURL_TLS=(--cacert "$CERT" --tlsv1.3 --http1.1)

# --- configs ------------------------------------------------------------------------------------
# As run.sh's (access log off), with TLS on the listener: each proxy's TLS defaults (session tickets
# on, its own cipher order), so each as usually deployed, except that nginx 1.22 must be told to
# speak TLS 1.3 at all.
declare -A PORT=([nginx]=$((BASE_PORT + 1)) [haproxy]=$((BASE_PORT + 2))
  [waygate]=$((BASE_PORT + 3)))
config_path() { echo "$WORK/$1/$1.conf"; }

write_nginx_conf() {  # nginx offers ALPN http/1.1 by itself on an ssl listener without http2
  mkdir -p "$WORK/nginx"
  # ssl_protocols: 1.22's default stops at TLSv1.2; the others' start there.
  nginx_proxy_conf "$WORK/nginx" --server "listen 127.0.0.1:${PORT[nginx]} ssl backlog=4096;" \
    --server "ssl_certificate $CERT;" --server "ssl_certificate_key $KEY;" \
    --server "ssl_protocols TLSv1.2 TLSv1.3;" >"$(config_path nginx)"
}

write_haproxy_conf() {
  mkdir -p "$WORK/haproxy"
  haproxy_proxy_conf --bind "127.0.0.1:${PORT[haproxy]} ssl crt $TLS_DIR/haproxy.pem alpn http/1.1" \
    >"$(config_path haproxy)"
}

# Shipped defaults: what every user must write, one worker (as the others) and the listener's
# certificate as the TLS user contract (issue 15) has it; waygate offers ALPN http/1.1 by itself.
write_waygate_conf() {
  mkdir -p "$WORK/waygate"
  waygate_proxy_conf --listener "$(waygate_listener web "${PORT[waygate]}" tls)" \
    >"$(config_path waygate)"
}

# start_proxy NAME: start it on PROXY_CPU and wait until it relays correctly over TLS, with our
# certificate, TLS 1.3 and ALPN http/1.1; pid in STARTED_PID, what was negotiated in NEGOTIATED.
start_proxy() {
  local name=$1 cfg
  cfg=$(config_path "$name")
  launch_proxy "$name" "$cfg"
  if ! wait_ready "$name" "$STARTED_PID" "${PORT[$name]}" https "${CURL_TLS[@]}"; then
    # Running but not answering over TLS: say what curl sees (a handshake alert, a refused
    # certificate).
    ! is_running "$STARTED_PID" || log "$name: $(curl -sS -o /dev/null --max-time 2 \
      "${CURL_TLS[@]}" "https://127.0.0.1:${PORT[$name]}/" 2>&1 | tail -n 1)"
    return 1
  fi
  check_responses "$name" "${PORT[$name]}" https "${CURL_TLS[@]}" &&
    NEGOTIATED=$("${TLS_MEASURE[@]}" check --port "${PORT[$name]}" --ca "$CERT" \
      --client "$HS_CLIENT") &&
    log "$name: $NEGOTIATED"
}

# --- measurement --------------------------------------------------------------------------------
RESULTS=$WORK/results.tsv
: >"$RESULTS"

# measure_proxy NAME ROUND PID: the full handshakes, then keep-alive HTTPS, each after a 1 s warm-up
# of the same load; their figures on stdout.
measure_proxy() {
  local name=$1 round=$2 pid=$3
  local common=(--proxy "$name" --port "${PORT[$name]}" --pid "$pid" --cpu "$PROXY_CPU"
    --load-cpu "$LOAD_CPU" --seconds "$DURATION")
  "${TLS_MEASURE[@]}" handshakes "${common[@]}" --client "$HS_CLIENT" --clients "$CLIENTS"
  "${TLS_MEASURE[@]}" keepalive "${common[@]}" --threads "$THREADS" --conns "$CONNECTIONS" \
    --out "$WORK/$name/wrk-$round.txt"
}

# measured NAME ROUND: start NAME fresh and measure it, again (up to RETRIES times) when other work
# used more than 5% of its core in a run; a failure marks NAME failed with a note. Not to be called
# from an "if" or beside "||": bash would then ignore errexit in the subshell.
measured() {
  local name=$1 round=$2 rc attempt other again out=$WORK/$1/round-$2.tsv
  for ((attempt = 0; ; attempt++)); do
    wait_quiet
    again=""
    ((attempt == 0)) || again=", again ($attempt)"
    log "round $((round + 1))/$ROUNDS: $name$again"
    if ! start_proxy "$name"; then
      stop_pid "$STARTED_PID"
      FAILED[$name]="failed to start"
      NOTES+=("$name failed to start or relayed wrongly over TLS; see the log above")
      return
    fi
    [[ -n ${SEEN_NEGOTIATED[$name]:-} ]] || SEEN_NEGOTIATED[$name]=$NEGOTIATED
    set +e
    (set -e; measure_proxy "$name" "$round" "$STARTED_PID" >"$out")
    rc=$?
    set -e
    if ((rc != 0)) || ! is_running "$STARTED_PID"; then
      stop_pid "$STARTED_PID"
      FAILED[$name]="failed during the run"
      NOTES+=("$name failed during round $((round + 1)) (exit $rc); see the log above")
      return
    fi
    stop_pid "$STARTED_PID"
    other=$(awk -F'\t' '$2 ~ /core_other_pct$/ && $3 > m { m = $3 } END { printf "%d", m }' "$out")
    if ((other <= 5 || attempt >= RETRIES)); then break; fi
    log "$name: other work used ${other}% of core $PROXY_CPU during a run; measuring again"
  done
  ((attempt == 0)) || NOTES+=("$name, round $((round + 1)): measured $((attempt + 1)) times, other \
work having used core $PROXY_CPU; the last measurement counts")
  cat "$out" >>"$RESULTS"
}

# --- main ---------------------------------------------------------------------------------------
NOTES=()
declare -A FAILED=() SEEN_NEGOTIATED=()
pick_proxies nginx,haproxy,waygate
if ((WAYGATE_MISSING)); then
  FAILED[waygate]="not measured (no binary)"
  NOTES+=("waygate was not measured: no binary at $WAYGATE_BIN")
fi
require_free_ports "$UP_PORT" "${PORT[@]}"

write_nginx_conf
write_haproxy_conf
check_peer_configs "$(config_path nginx)" "$(config_path haproxy)" "the benchmark config"
if [[ " ${RUN[*]} " == *" waygate "* ]]; then
  copy_waygate_bin
  write_waygate_conf
  # Expected until waygate terminates TLS: it refuses the listener's tls key. Say so, measure the
  # others. The timeout keeps a --check that hangs from holding up the run.
  if ! timeout 10 "$WAYGATE_BIN" --check "$(config_path waygate)" >"$WORK/waygate.check" 2>&1; then
    log "waygate --check refuses the TLS config; not measuring it:"
    sed 's/^/    /' "$WORK/waygate.check" >&2
    FAILED[waygate]="failed to start"
    NOTES+=("waygate failed to start: \`waygate --check\` refuses the TLS config: $(head -n 1 \
      "$WORK/waygate.check" | sed "s|$WORK/||")")
    unrun waygate
  fi
fi
((${#RUN[@]})) || die "nothing left to measure"

start_upstream

log "proxies on core $PROXY_CPU; clients, upstream and this script on core $LOAD_CPU;" \
  "${DURATION}s runs, handshakes: $HS_CLIENT -c$CLIENTS, keep-alive: wrk -t$THREADS" \
  "-c$CONNECTIONS, $ROUNDS round(s)"
log "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

measure_rounds measured
is_running "$UP_PID" || die "the upstream died during the run"
log "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

for name in "${WANTED[@]}"; do
  [[ -z ${SEEN_NEGOTIATED[$name]:-} ]] ||
    NOTES+=("$name: ${SEEN_NEGOTIATED[$name]}")
done
NOTES+=("the check offers ALPN http/1.1; wrk, hey and s_time offer no ALPN (none has the option)")

title="waygate e2e TLS: each proxy alone on core $PROXY_CPU (1 worker, TLS 1.3, ECDSA P-256,"
title+=" upstream keep-alive;"$'\n'"waygate with its shipped defaults), clients and the nginx"
title+=" upstream on core $LOAD_CPU;"
title+=" ${DURATION}s runs; median of $ROUNDS round(s)"
note_args
for name in "${!FAILED[@]}"; do NOTE_ARGS+=(--failed "$name=${FAILED[$name]}"); done
echo
"${TLS_MEASURE[@]}" report --results "$RESULTS" --proxies "$PROXIES" --title "$title" \
  --hs-client "$HS_CLIENT" --clients "$CLIENTS" --threads "$THREADS" --conns "$CONNECTIONS" \
  --proxy-cpu "$PROXY_CPU" --load-cpu "$LOAD_CPU" ${OUT:+--out "$OUT"} "${NOTE_ARGS[@]}"
