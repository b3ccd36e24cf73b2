#!/usr/bin/env bash
# End-to-end comparison of waygate (shipped defaults) with nginx and HAProxy as HTTP/1.1 reverse
# proxies on loopback: req/s, p99 and CPU per request at several connection counts, with and without
# an access log file; RSS per idle connection and after a burst; 1 MiB throughput.
# bench/e2e/README.md says what each figure means; `run.sh --help` lists the options.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

DURATION=${DURATION:-10}              # seconds per timed wrk run
CONNECTIONS=${CONNECTIONS:-64,256}    # wrk connections, small responses: one timed run for each
ACCESS_LOG=${ACCESS_LOG:-off,file}    # access log modes (off, file, json): each proxy is measured in each
BIG_CONNECTIONS=${BIG_CONNECTIONS:-4} # wrk connections, 1 MiB responses
IDLE_CONNS=${IDLE_CONNS:-5000}        # keep-alive connections opened one by one, then idle
BURST_CONNS=${BURST_CONNS:-5000}      # connections that send one request each at once, then idle
ROUNDS=${ROUNDS:-1}                   # rounds over all proxies; the table shows medians
PROXIES=${PROXIES:-nginx,haproxy,waygate}
WAYGATE_TUNED=${WAYGATE_TUNED:-0}     # 1: also measure waygate with a tuned config, as its own row
WAYGATE_BIN=${WAYGATE_BIN:-$ROOT/build/src/waygate}
BASE_PORT=${BASE_PORT:-18080}         # upstream; proxies on the next four ports
PROXY_CPU=${PROXY_CPU:-0}             # the one core every proxy runs on
LOAD_CPU=${LOAD_CPU:-1}               # wrk, the upstream, and this script
QUIET_WAIT=${QUIET_WAIT:-30}          # seconds to wait for idle cores before each proxy start
OUT=${OUT:-}

usage() {
  cat <<EOF
usage: $0 [options]          (each option also reads the environment variable in brackets)
  -d, --duration SEC         timed wrk run length [DURATION, $DURATION]
  -c, --connections LIST     wrk connections for small responses, comma-separated: one timed run
                             for each [CONNECTIONS, $CONNECTIONS]
  --access-log LIST          access log modes, comma-separated subset of off,file,json: each
                             proxy is measured in each; json writes one JSON object per request
                             with the same fields in all three [ACCESS_LOG, $ACCESS_LOG]
  --big-connections N        wrk connections for 1 MiB responses [BIG_CONNECTIONS, $BIG_CONNECTIONS]
  -i, --idle N               keep-alive connections opened one by one for the idle RSS figure;
                             0 skips it [IDLE_CONNS, $IDLE_CONNS]
  -b, --burst N              connections that each send one request at once, for the burst RSS
                             figures; 0 skips them [BURST_CONNS, $BURST_CONNS]
  -r, --rounds N             rounds over all proxies, median reported [ROUNDS, $ROUNDS]
  -p, --proxies LIST         comma-separated subset of nginx,haproxy,waygate [PROXIES]
  --waygate-tuned            also measure waygate with a tuned config (row waygate-tuned), beside
                             its shipped defaults [WAYGATE_TUNED=1]
  -w, --waygate-bin PATH     waygate binary [WAYGATE_BIN, $WAYGATE_BIN]
  --base-port PORT           upstream port; proxies use the next four [BASE_PORT, $BASE_PORT]
  --quiet-wait SEC           before each proxy start, wait up to SEC for both cores to idle
                             [QUIET_WAIT, $QUIET_WAIT]
  -o, --out FILE             also write the tables to FILE [OUT]
EOF
}

# The options all scripts take are harness.sh's (common_option): it comes first.
# shellcheck source-path=SCRIPTDIR source=harness.sh
source "$HERE/harness.sh"
while (($#)); do
  case $1 in
    --access-log) ACCESS_LOG=$2; shift 2 ;;
    --big-connections) BIG_CONNECTIONS=$2; shift 2 ;;
    -i | --idle) IDLE_CONNS=$2; shift 2 ;;
    -b | --burst) BURST_CONNS=$2; shift 2 ;;
    --waygate-tuned) WAYGATE_TUNED=1; shift ;;
    *) common_option "$@"; shift 2 ;;
  esac
done
require_whole_numbers DURATION BIG_CONNECTIONS IDLE_CONNS BURST_CONNS ROUNDS BASE_PORT PROXY_CPU \
  LOAD_CPU QUIET_WAIT
((DURATION > 0 && ROUNDS > 0 && BIG_CONNECTIONS > 0)) ||
  { echo "duration, rounds and big connections must be > 0" >&2; exit 2; }
[[ $CONNECTIONS =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] ||
  { echo "connections must be a comma-separated list of counts, not '$CONNECTIONS'" >&2; exit 2; }
[[ $ACCESS_LOG =~ ^(off|file|json)(,(off|file|json)){0,2}$ ]] ||
  { echo "access log must be a comma-separated list of off, file, json, not '$ACCESS_LOG'" >&2; exit 2; }
[[ $WAYGATE_TUNED == [01] ]] || { echo "WAYGATE_TUNED must be 0 or 1" >&2; exit 2; }
IFS=, read -ra CONN_COUNTS <<<"$CONNECTIONS"
IFS=, read -ra MODES <<<"$ACCESS_LOG"

# The idle and burst probes hold up to that many sockets and so does the proxy, plus, during the
# burst, one upstream connection per request in flight. Each proxy's connection limit leaves room
# for that; nginx counts upstream connections in worker_connections, HAProxy wants two descriptors
# per connection of its maxconn, so that sets the open-file limit we need. waygate keeps its
# shipped limit (10000 per worker).
CONN_LIMIT=$(((IDLE_CONNS > BURST_CONNS ? IDLE_CONNS : BURST_CONNS) + 1024))
UP_CONN_LIMIT=$((CONN_LIMIT * 2))
hard=$(ulimit -Hn)
if [[ $hard != unlimited ]] && ((hard < 2 * CONN_LIMIT + 64)); then
  echo "open-file hard limit $hard is too low for $((CONN_LIMIT - 1024)) idle or burst connections" \
    "(at most $(((hard - 64) / 2 - 1024)) here; use --idle and --burst)" >&2
  exit 2
fi
ulimit -n "$hard"

harness_init

# --- configs ------------------------------------------------------------------------------------
# Each proxy has one config per access log mode, ${name}-${mode}.conf in its directory; its access
# log, when on, goes to access.log there.
declare -A PORT=([nginx]=$((BASE_PORT + 1)) [haproxy]=$((BASE_PORT + 2)) [waygate]=$((BASE_PORT + 3))
  [waygate-tuned]=$((BASE_PORT + 4)))

config_path() { echo "$WORK/$1/$1-$2.conf"; }  # config_path NAME MODE
access_log_path() { echo "$WORK/$1/access.log"; }

write_nginx_conf() {  # write_nginx_conf MODE
  local mode=$1 dir=$WORK/nginx log_line="access_log off;"
  # nginx's defaults: the combined format, and a write per request (no buffer=).
  case $mode in
    file) log_line="access_log $(access_log_path nginx);" ;;
    json) log_line="$(nginx_json_format)"$'\n'"    access_log $(access_log_path nginx) json;" ;;
  esac
  mkdir -p "$dir"
  # proxy_max_temp_file_size 0: stream what does not fit the buffers instead of spooling it to a
  # temp file: the other two never touch the disk, and nor should the 1 MiB figure here.
  nginx_proxy_conf "$dir" --rlimit $((CONN_LIMIT * 2 + 64)) --conns $((CONN_LIMIT * 2)) \
    --access-log "$log_line" --server "listen 127.0.0.1:${PORT[nginx]} backlog=4096;" \
    --location "proxy_max_temp_file_size 0;" >"$(config_path nginx "$mode")"
}

write_haproxy_conf() {  # write_haproxy_conf MODE
  local mode=$1 format
  local opts=(--maxconn "$CONN_LIMIT" --bind "127.0.0.1:${PORT[haproxy]}")
  # Access log off: no "log" line anywhere, so HAProxy logs nothing. File: one raw httplog line per
  # request written to stdout, which start_proxy points at the file: a write per request, as nginx.
  # JSON: the same, with a log-format holding waygate's JSON fields. HAProxy 2.6 cannot escape for
  # JSON (its named, encoded fields came in 2.7), so its values go in unescaped.
  case $mode in
    file) opts+=(--global "log stdout format raw local0" --defaults "log global" --defaults "option httplog") ;;
    json)
      # shellcheck disable=SC2016
      format=$'\'{"time":"%tr","request_id":"%ID","client":"%ci:%cp","method":"%HM",'
      format+='"target":"%HU","protocol":"%HV","status":%ST,"bytes_sent":%B,"bytes_received":%U,'
      format+='"duration_ms":%Ta,"upstream_connect_ms":%Tc,"upstream_response_ms":%Tr,'
      format+='"host":"%[capture.req.hdr(0)]","listener":"%f","route":"/","cluster":"%b",'
      format+=$'"endpoint":"%si:%sp","error":null}\''
      opts+=(--global "log stdout format raw local0" --defaults "log global"
        --defaults "unique-id-format %{+X}o%ci%cp%fi%fp%Ts%rt%pid" --defaults "log-format $format"
        --frontend "http-request capture req.hdr(host) len 100")
      ;;
  esac
  mkdir -p "$WORK/haproxy"
  haproxy_proxy_conf "${opts[@]}" >"$(config_path haproxy "$mode")"
}

# write_waygate_conf NAME MODE: shipped defaults (waygate_proxy_conf) with the access log of the
# mode. The waygate-tuned row adds its tuning, and nothing else.
write_waygate_conf() {
  local name=$1 mode=$2 access_log=off tuning=()
  case $mode in
    file) access_log=$(access_log_path "$name") ;;
    json) access_log="{ path: $(access_log_path "$name"), format: json }" ;;
  esac
  [[ $name != waygate-tuned ]] ||
    tuning=(--top "limits: { max_idle_upstream_per_endpoint: 128 }   # as nginx's keepalive 128")
  mkdir -p "$WORK/$name"
  waygate_proxy_conf --access-log "$access_log" \
    --listener "$(waygate_listener web "${PORT[$name]}")" "${tuning[@]}" \
    >"$(config_path "$name" "$mode")"
}

# start_proxy NAME MODE: start it on PROXY_CPU with an empty access log and wait until it relays
# correctly; pid in STARTED_PID.
start_proxy() {
  local name=$1 mode=$2 cfg log
  cfg=$(config_path "$1" "$2")
  log=$(access_log_path "$name")
  rm -f "$log"
  if [[ $name == haproxy ]]; then
    # HAProxy's stdout is its access log in file mode; `exec` keeps the pid HAProxy's own.
    # shellcheck disable=SC2016
    start haproxy "$PROXY_CPU" sh -c 'log=$1; shift; exec "$@" >"$log"' sh "$log" haproxy -db -f "$cfg"
  else
    launch_proxy "$name" "$cfg"
  fi
  wait_ready "$name" "$STARTED_PID" "${PORT[$name]}" && check_responses "$name" "${PORT[$name]}"
}

# --- measurement --------------------------------------------------------------------------------
RESULTS=$WORK/results.tsv
: >"$RESULTS"

result() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$RESULTS"; }  # result PROXY METRIC VALUE
sample() { "${MEASURE[@]}" sample --pid "$1" --cpu "$PROXY_CPU" --load-cpu "$LOAD_CPU"; }
log_lines() { if [[ -f $1 ]]; then wc -l <"$1"; else echo 0; fi; }

# small_run NAME MODE CONNS ROUND PID: small responses at CONNS connections. The warm-up fills the
# upstream keep-alive pools and the proxy's own caches, so the timed run sees steady state; what it
# still opens upstream is churn.
small_run() {
  local name=$1 mode=$2 conns=$3 round=$4 pid=$5 key=$2.c$3 url=http://127.0.0.1:${PORT[$1]}/
  local out=$WORK/$1/wrk-$2-c$3-$4.txt log before after up_before lines_before
  log=$(access_log_path "$name")
  run_wrk "$conns" 1 "$url"
  up_before=$(upstream_accepts)
  lines_before=$(log_lines "$log")
  before=$(sample "$pid")
  run_wrk "$conns" "$DURATION" "$url" "$out"
  after=$(sample "$pid")
  [[ $mode == off ]] || result "$name" "$key.log_lines" $(($(log_lines "$log") - lines_before))
  # The second status request is itself one accepted connection.
  result "$name" "$key.upstream_conns" $(($(upstream_accepts) - up_before - 1))
  "${MEASURE[@]}" small --proxy "$name" --key "$key" --wrk "$out" --before "$before" --after "$after" >>"$RESULTS"
}

big_run() {  # big_run NAME ROUND PID: 1 MiB responses
  local name=$1 round=$2 pid=$3 url=http://127.0.0.1:${PORT[$1]}/1m before after up_before
  run_wrk "$BIG_CONNECTIONS" 1 "$url"
  up_before=$(upstream_accepts)
  before=$(sample "$pid")
  run_wrk "$BIG_CONNECTIONS" "$DURATION" "$url" "$WORK/$name/wrk-big-$round.txt"
  after=$(sample "$pid")
  result "$name" big_upstream_conns $(($(upstream_accepts) - up_before - 1))
  "${MEASURE[@]}" big --proxy "$name" --wrk "$WORK/$name/wrk-big-$round.txt" \
    --before "$before" --after "$after" >>"$RESULTS"
}

burst_run() {  # burst_run NAME PID: BURST_CONNS requests at once on as many connections, then idle
  local name=$1 pid=$2 up_before
  up_before=$(upstream_accepts)
  "${MEASURE[@]}" burst --proxy "$name" --pid "$pid" --port "${PORT[$name]}" --upstream-port "$UP_PORT" \
    --count "$BURST_CONNS" >>"$RESULTS"
  result "$name" burst_upstream_conns $(($(upstream_accepts) - up_before - 1))
}

# measure_load NAME MODE ROUND PID: the small runs; in the first mode also the 1 MiB run and, last,
# the burst, so it meets an allocator already warm from the load runs.
measure_load() {
  local name=$1 mode=$2 round=$3 pid=$4 conns
  for conns in "${CONN_COUNTS[@]}"; do small_run "$name" "$mode" "$conns" "$round" "$pid"; done
  [[ $mode == "${MODES[0]}" ]] || return 0
  big_run "$name" "$round" "$pid"
  ((BURST_CONNS == 0)) || burst_run "$name" "$pid"
}

# measure_idle NAME MODE ROUND PID: a fresh process, warmed up with one second of the largest load,
# then IDLE_CONNS keep-alive connections opened one by one, one request each, kept open. Not on the
# process that had the burst: memory it kept from there would be reused and make this read low.
measure_idle() {
  local name=$1 max=0 conns
  for conns in "${CONN_COUNTS[@]}"; do ((conns <= max)) || max=$conns; done
  run_wrk "$max" 1 "http://127.0.0.1:${PORT[$name]}/"
  "${MEASURE[@]}" idle --proxy "$name" --pid "$4" --port "${PORT[$name]}" --count "$IDLE_CONNS" >>"$RESULTS"
}

# measured NAME ROUND WHAT MODE: start NAME fresh in access log MODE and run measure_WHAT on it;
# a failure adds NAME to FAILED and a note. Not to be called from an "if" or beside "||": bash
# would then ignore errexit inside the subshell too.
measured() {
  local name=$1 round=$2 what=$3 mode=$4 rc
  wait_quiet
  log "round $((round + 1))/$ROUNDS: $name, $what, access log $mode"
  if ! start_proxy "$name" "$mode"; then
    stop_pid "$STARTED_PID"
    FAILED[$name]="failed to start"
    NOTES+=("$name failed to start or relayed wrongly (access log $mode); see the log above")
    return
  fi
  # A subshell with its own errexit: a proxy that breaks mid-run costs its row, not the table.
  set +e
  (set -e; "measure_$what" "$name" "$mode" "$round" "$STARTED_PID")
  rc=$?
  set -e
  if ((rc != 0)) || ! is_running "$STARTED_PID"; then
    FAILED[$name]="failed during the run"
    NOTES+=("$name failed during round $((round + 1)), $what, access log $mode (exit $rc); its figures are incomplete")
  fi
  stop_pid "$STARTED_PID"
  rm -f "$(access_log_path "$name")"   # up to a few hundred MB; its line counts are kept
}

# measured_modes NAME ROUND: NAME in each access log mode, then for the idle figure, each on a fresh
# process, until it fails.
measured_modes() {
  local name=$1 round=$2 mode
  for mode in "${MODES[@]}"; do
    if [[ -z ${FAILED[$name]:-} ]]; then measured "$name" "$round" load "$mode"; fi
  done
  if ((IDLE_CONNS > 0)) && [[ -z ${FAILED[$name]:-} ]]; then
    measured "$name" "$round" idle "${MODES[0]}"
  fi
}

# with_tuned NAME...: the names, with waygate-tuned after waygate when it is measured too: a row
# beside waygate's, never instead of it.
with_tuned() {
  local name
  for name; do
    echo "$name"
    if [[ $name == waygate ]] && ((WAYGATE_TUNED)); then echo waygate-tuned; fi
  done
}

# --- main ---------------------------------------------------------------------------------------
NOTES=()
declare -A FAILED=()
pick_proxies nginx,haproxy,waygate
((!WAYGATE_MISSING)) || NOTES+=("waygate was not measured: no binary at $WAYGATE_BIN")
mapfile -t ROWS < <(with_tuned "${WANTED[@]}")
mapfile -t RUN < <(with_tuned "${RUN[@]}")
copy_waygate_bin
require_free_ports "$UP_PORT" "${PORT[@]}"

for mode in "${MODES[@]}"; do
  write_nginx_conf "$mode"
  write_haproxy_conf "$mode"
  check_peer_configs "$(config_path nginx "$mode")" "$(config_path haproxy "$mode")" \
    "the benchmark config (access log $mode)"
  for name in waygate waygate-tuned; do
    [[ " ${RUN[*]} " == *" $name "* ]] || continue
    write_waygate_conf "$name" "$mode"
    if ! "$WAYGATE_BIN" --check "$(config_path "$name" "$mode")" >"$WORK/waygate.check" 2>&1; then
      cat "$WORK/waygate.check" >&2
      die "waygate rejects the $name config (access log $mode); fix write_waygate_conf or waygate"
    fi
  done
done

start_upstream

log "proxies on core $PROXY_CPU; wrk, upstream and this script on core $LOAD_CPU; ${DURATION}s runs," \
  "$CONNECTIONS/$BIG_CONNECTIONS connections, access log $ACCESS_LOG, $IDLE_CONNS idle," \
  "$BURST_CONNS burst, $ROUNDS round(s)"
log "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

# Each proxy is started fresh for each access log mode and for the idle figure, alone on its core.
measure_rounds measured_modes

is_running "$UP_PID" || die "the upstream died during the run"

title="waygate e2e: each proxy alone on core $PROXY_CPU (1 worker, upstream keep-alive; waygate with its"
title+=$'\n'"shipped defaults), wrk and the nginx upstream on core $LOAD_CPU; ${DURATION}s runs; small responses at"
title+=" $CONNECTIONS conns,"$'\n'"1 MiB at $BIG_CONNECTIONS conns; idle: $( ((IDLE_CONNS)) && echo "$IDLE_CONNS conns" || echo skipped);"
title+=" burst: $( ((BURST_CONNS)) && echo "$BURST_CONNS conns" || echo skipped); median of $ROUNDS round(s)"
note_args
echo
"${MEASURE[@]}" report --results "$RESULTS" --proxies "$(IFS=,; echo "${ROWS[*]}")" \
  --modes "$ACCESS_LOG" --conns "$CONNECTIONS" --title "$title" --proxy-cpu "$PROXY_CPU" \
  --load-cpu "$LOAD_CPU" --duration "$DURATION" ${OUT:+--out "$OUT"} "${NOTE_ARGS[@]}"
