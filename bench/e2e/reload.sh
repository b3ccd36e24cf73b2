#!/usr/bin/env bash
# Config reloads under load: waygate, nginx and HAProxy as HTTP/1.1 reverse proxies on loopback,
# each measured in steady state and while it is reloaded N times with a changed config: p99,
# socket errors, non-2xx. bench/e2e/README.md ("Reloads under load") says what each figure means.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

DURATION=${DURATION:-10}              # seconds per phase (steady, then under reload)
CONNECTIONS=${CONNECTIONS:-50}        # wrk connections
RELOADS=${RELOADS:-20}                # reloads spread evenly over the second phase
ROUNDS=${ROUNDS:-1}                   # rounds over all proxies; p99 is the median of them
PROXIES=${PROXIES:-nginx,haproxy,waygate}
WAYGATE_BIN=${WAYGATE_BIN:-$ROOT/build/src/waygate}
BASE_PORT=${BASE_PORT:-18180}         # upstream; proxies on the next three ports
PROXY_CPU=${PROXY_CPU:-0}             # the one core every proxy runs on
LOAD_CPU=${LOAD_CPU:-1}               # wrk, the upstream, and this script
QUIET_WAIT=${QUIET_WAIT:-120}         # seconds to wait for idle cores before each proxy
RETRIES=${RETRIES:-3}                 # measurements of a proxy disturbed by other work, redone
OUT=${OUT:-}
LOG_TAG=e2e-reload

usage() {
  cat <<EOF
usage: $0 [options]          (each option also reads the environment variable in brackets)
  -d, --duration SEC         length of each phase, steady and under reload [DURATION, $DURATION]
  -c, --connections N        wrk connections [CONNECTIONS, $CONNECTIONS]
  -n, --reloads N            reloads during the second phase [RELOADS, $RELOADS]
  -r, --rounds N             rounds over all proxies, median p99 reported [ROUNDS, $ROUNDS]
  -p, --proxies LIST         comma-separated subset of nginx,haproxy,waygate [PROXIES]
  -w, --waygate-bin PATH     waygate binary [WAYGATE_BIN, $WAYGATE_BIN]
  --base-port PORT           upstream port; proxies use the next three [BASE_PORT, $BASE_PORT]
  --quiet-wait SEC           before each proxy, wait up to SEC for both cores to idle [QUIET_WAIT, $QUIET_WAIT]
  --retries N                redo a proxy's measurement up to N times when something else used its
                             core [RETRIES, $RETRIES]
  -o, --out FILE             also write the table to FILE [OUT]
EOF
}

# The options all scripts take are harness.sh's (common_option): it comes first.
# shellcheck source-path=SCRIPTDIR source=harness.sh
source "$HERE/harness.sh"
while (($#)); do
  case $1 in
    -n | --reloads) RELOADS=$2; shift 2 ;;
    --retries) RETRIES=$2; shift 2 ;;
    *) common_option "$@"; shift 2 ;;
  esac
done
require_whole_numbers DURATION CONNECTIONS RELOADS ROUNDS BASE_PORT PROXY_CPU LOAD_CPU QUIET_WAIT \
  RETRIES
((DURATION > 0 && RELOADS > 0 && ROUNDS > 0)) || { echo "duration, reloads and rounds must be > 0" >&2; exit 2; }

harness_init

CONN_LIMIT=4096   # each proxy's connection limit: far above what wrk and the probes open
ulimit -n "$(ulimit -Hn)"

# --- configs ------------------------------------------------------------------------------------
# Each proxy gets two variants of its config, "a" and "b", that differ in one response header
# (X-Bench-Config: a or b), so every reload is a real change and its effect can be seen from
# outside. The live config starts as "a"; a reload renames the other variant over it.
declare -A PORT=([nginx]=$((BASE_PORT + 1)) [haproxy]=$((BASE_PORT + 2)) [waygate]=$((BASE_PORT + 3)))
declare -A LIVE=([nginx]=nginx.conf [haproxy]=haproxy.cfg [waygate]=waygate.yaml)
# How each is reloaded, as its documentation and Debian's service units do: nginx re-reads its
# config on SIGHUP to the master (what "nginx -s reload" sends), the HAProxy master (-W) re-executes
# itself on SIGUSR2 and hands the listeners to the new worker, waygate re-reads the file on SIGHUP.
declare -A RELOAD_SIGNAL=([nginx]=HUP [haproxy]=USR2 [waygate]=HUP)
HEADER=X-Bench-Config

write_nginx_conf() {  # write_nginx_conf VARIANT: the proxy of run.sh, plus the header
  local variant=$1 dir=$WORK/nginx
  mkdir -p "$dir"
  nginx_proxy_conf "$dir" --rlimit $((CONN_LIMIT * 2)) --conns "$CONN_LIMIT" \
    --server "listen 127.0.0.1:${PORT[nginx]} backlog=4096;" \
    --location "proxy_max_temp_file_size 0;" --location "add_header $HEADER $variant;" \
    >"$dir/nginx-$variant.conf"
}

write_haproxy_conf() {  # write_haproxy_conf VARIANT
  local variant=$1 dir=$WORK/haproxy
  mkdir -p "$dir"
  # Master-worker mode needs no "stats socket ... expose-fd listeners" since 2.x: the master passes
  # the listeners to the new worker over its own socketpair (management guide, "-x").
  # hard-stop-after bounds how long an old worker may linger with connections that never go idle;
  # under this load old workers are gone well before it.
  haproxy_proxy_conf --maxconn "$CONN_LIMIT" --global "hard-stop-after 30s" \
    --bind "127.0.0.1:${PORT[haproxy]}" \
    --backend "http-response set-header $HEADER $variant" --backend "server up 127.0.0.1:$UP_PORT" \
    >"$dir/haproxy-$variant.cfg"
}

write_waygate_conf() {  # write_waygate_conf VARIANT: shipped defaults, as in run.sh, plus the header
  local variant=$1 dir=$WORK/waygate
  mkdir -p "$dir"
  waygate_proxy_conf --listener "$(waygate_listener web "${PORT[waygate]}")" \
    --path "response_headers: { add: { $HEADER: $variant } }" >"$dir/waygate-$variant.yaml"
}

# config_path NAME VARIANT
config_path() {
  local name=$1 base=${LIVE[$1]}
  echo "$WORK/$name/${base%.*}-$2.${base##*.}"
}

# start_proxy NAME: live config = variant a; start on PROXY_CPU; wait until it relays correctly
# and serves the header. Its pid (nginx's and HAProxy's master) in STARTED_PID.
start_proxy() {
  local name=$1 live=$WORK/$1/${LIVE[$1]} value
  cp "$(config_path "$name" a)" "$live"
  launch_proxy "$name" "$live" -W   # -W: HAProxy as master and worker, so it can reload
  wait_ready "$name" "$STARTED_PID" "${PORT[$name]}" && check_responses "$name" "${PORT[$name]}" || return 1
  value=$(curl -fsS --max-time 5 -o /dev/null -D - "http://127.0.0.1:${PORT[$name]}/" |
    tr -d '\r' | awk -F': ' -v h="${HEADER,,}" 'tolower($1) == h { print $2 }')
  [[ $value == a ]] || { log "$name: $HEADER is '$value', not 'a'"; return 1; }
}

# --- measurement --------------------------------------------------------------------------------
RESULTS=$WORK/results.tsv   # accepted measurements
TRY=$WORK/try.tsv           # the one in progress
: >"$RESULTS"

sample() { "${MEASURE[@]}" sample --with-reaped --pid "$1" --cpu "$PROXY_CPU" --load-cpu "$LOAD_CPU"; }

# upstream_conns NAME PHASE BEFORE AFTER: upstream connections the proxy opened during a run
# (the second status request is itself one accepted connection).
upstream_conns() {
  echo -e "$1\t$2_upstream_conns\t$(($4 - $3 - 1))" >>"$TRY"
}

# load_run NAME PID COUNT OUT: wrk for DURATION s (output in OUT) with COUNT reloads of PID spread
# over it, both started by the reload driver on this core: so the steady and the reload run carry
# the same harness overhead, and the driver's start-up falls before the load, not in it.
load_run() {
  local name=$1 pid=$2 count=$3 out=$4 url=http://127.0.0.1:${PORT[$1]}/
  "${MEASURE[@]}" reloads --proxy "$name" --pid "$pid" --signal "${RELOAD_SIGNAL[$name]}" \
    --live "$WORK/$name/${LIVE[$name]}" --variants "$(config_path "$name" b)" "$(config_path "$name" a)" \
    --values b a --header "$HEADER" --port "${PORT[$name]}" --count "$count" --duration "$DURATION" \
    --load-out "$out" \
    -- wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "$url" >>"$TRY"
}

measure() {
  local name=$1 round=$2 pid=$3 phase count out before after up_before

  run_wrk "$CONNECTIONS" 1 "http://127.0.0.1:${PORT[$name]}/"   # warm-up: pools filled, caches warm

  # Steady state, then the same load while the proxy is reloaded RELOADS times.
  for phase in steady reload; do
    count=$([[ $phase == steady ]] && echo 0 || echo "$RELOADS")
    out=$WORK/$name/wrk-$phase-$round.txt
    up_before=$(upstream_accepts)
    before=$(sample "$pid")
    load_run "$name" "$pid" "$count" "$out"
    after=$(sample "$pid")
    upstream_conns "$name" "$phase" "$up_before" "$(upstream_accepts)"
    "${MEASURE[@]}" phase --proxy "$name" --phase "$phase" --wrk "$out" \
      --before "$before" --after "$after" >>"$TRY"
  done
  # Old nginx workers and HAProxy workers still draining show as extra processes.
  echo -e "$name\tprocs_after\t$(wc -w <<<"$("${MEASURE[@]}" tree --pid "$pid")")" >>"$TRY"
  check_responses "$name" "${PORT[$name]}"
}

# measure_proxy NAME ROUND: start NAME fresh and measure it into TRY; MEASURED=0 if it failed
# (noted). It reports through MEASURED, not its status, and must not be called from an "if" or
# beside "||": there bash ignores errexit even inside the subshell that sets it again.
measure_proxy() {
  local name=$1 round=$2 rc
  MEASURED=0
  : >"$TRY"
  if ! start_proxy "$name"; then
    stop_pid "$STARTED_PID"
    NOTES+=("$name failed to start or relayed wrongly; see the log above")
    return
  fi
  # A subshell with its own errexit: a proxy that breaks mid-run costs its row, not the table.
  set +e
  (set -e; measure "$name" "$round" "$STARTED_PID")
  rc=$?
  set -e
  if ((rc != 0)) || ! is_running "$STARTED_PID"; then
    stop_pid "$STARTED_PID"
    NOTES+=("$name failed during round $((round + 1)) (exit $rc); its figures are incomplete")
    return
  fi
  stop_pid "$STARTED_PID"
  MEASURED=1
}

# measured NAME ROUND: measure NAME, again on a fresh process (up to RETRIES times) when other work
# used more than 5% of its core; the last measurement counts. One that failed marks NAME failed.
measured() {
  local name=$1 round=$2 attempt other
  for ((attempt = 0; ; attempt++)); do
    wait_quiet
    log "round $((round + 1))/$ROUNDS: $name$( ((attempt == 0)) || echo " (attempt $((attempt + 1)))")"
    measure_proxy "$name" "$round"
    if ((!MEASURED)); then
      FAILED[$name]="failed"
      cat "$TRY" >>"$RESULTS"
      return
    fi
    # The busiest the proxy's core was with other work in either run, in percent.
    other=$(awk -F'\t' '$2 ~ /_core_other_pct$/ && $3 > m { m = $3 } END { printf "%.0f", m }' "$TRY")
    if ((other <= 5 || attempt >= RETRIES)); then
      cat "$TRY" >>"$RESULTS"
      ((attempt == 0)) ||
        NOTES+=("$name round $((round + 1)): measured $((attempt + 1)) times; other work used its core before")
      return
    fi
    log "$name: something else used ${other}% of core $PROXY_CPU; measuring again"
  done
}

# --- main ---------------------------------------------------------------------------------------
NOTES=()
declare -A FAILED=()
pick_proxies nginx,haproxy,waygate
((!WAYGATE_MISSING)) || NOTES+=("waygate was not measured: no binary at $WAYGATE_BIN")
copy_waygate_bin
require_free_ports "$UP_PORT" "${PORT[@]}"

for variant in a b; do
  write_nginx_conf "$variant"
  write_haproxy_conf "$variant"
  write_waygate_conf "$variant"
  check_peer_configs "$(config_path nginx "$variant")" "$(config_path haproxy "$variant")" \
    "the benchmark config (variant $variant)"
  if [[ " ${RUN[*]} " == *" waygate "* ]] &&
    ! "$WAYGATE_BIN" --check "$(config_path waygate "$variant")" >"$WORK/waygate.check" 2>&1; then
    cat "$WORK/waygate.check" >&2
    die "waygate rejects the benchmark config (variant $variant); fix write_waygate_conf or waygate"
  fi
done

start_upstream

log "proxies on core $PROXY_CPU; wrk, upstream and this script on core $LOAD_CPU; ${DURATION}s per phase," \
  "$CONNECTIONS connections, $RELOADS reloads, $ROUNDS round(s)"
log "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

# Each proxy is started fresh for each round, alone on its core.
measure_rounds measured

is_running "$UP_PID" || die "the upstream died during the run"

title="waygate e2e reload: each proxy alone on core $PROXY_CPU (1 worker, access log off, upstream keep-alive),"
title+=$'\n'"wrk and the nginx upstream on core $LOAD_CPU; $CONNECTIONS keep-alive conns; ${DURATION}s steady, then"
title+=" ${DURATION}s with $RELOADS reloads; $ROUNDS round(s)"
note_args
echo
"${MEASURE[@]}" reload-report --results "$RESULTS" --proxies "$(IFS=,; echo "${WANTED[*]}")" \
  --title "$title" --rounds "$ROUNDS" --proxy-cpu "$PROXY_CPU" \
  ${OUT:+--out "$OUT"} "${NOTE_ARGS[@]}"
