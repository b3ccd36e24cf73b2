#!/usr/bin/env bash
# Failover under load: waygate, nginx and HAProxy in front of three backends, one of which is
# killed (SIGKILL) and later started again while wrk runs: client errors before, during and after,
# how long each proxy keeps trying the dead backend, how long the restarted one takes to get its
# share back, req/s and p99. bench/e2e/README.md ("Failover") says what each figure means.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
ARGS=("$@")

DURATION=${DURATION:-20}              # seconds of load in all
KILL_AT=${KILL_AT:-5}                 # second of the load at which one backend is killed
RESTART_AT=${RESTART_AT:-12}          # ... and at which it is started again
CONNECTIONS=${CONNECTIONS:-64}        # wrk connections (one thread, keep-alive)
SAMPLE_MS=${SAMPLE_MS:-50}            # backend counters are read this often
ROUNDS=${ROUNDS:-1}                   # rounds over all proxies; medians reported, errors summed
PROXIES=${PROXIES:-nginx,haproxy,waygate}
WAYGATE_BIN=${WAYGATE_BIN:-$ROOT/build/src/waygate}
BASE_PORT=${BASE_PORT:-18280}         # backends on it and the next two; proxies on the three after
PROXY_CPU=${PROXY_CPU:-0}             # the one core every proxy runs on
LOAD_CPU=${LOAD_CPU:-1}               # wrk, the backends, the sampler and this script
QUIET_WAIT=${QUIET_WAIT:-30}          # seconds to wait for idle cores before each proxy
NETNS=${NETNS:-1}                     # 0: stay in the machine's network namespace
OUT=${OUT:-}
LOG_TAG=e2e-failover

usage() {
  cat <<EOF
usage: $0 [options]          (each option also reads the environment variable in brackets)
  -d, --duration SEC         seconds of load in all [DURATION, $DURATION]
  --kill-at SEC              second of the load at which a backend is killed (SIGKILL)
                             [KILL_AT, $KILL_AT]
  --restart-at SEC           second at which it is started again [RESTART_AT, $RESTART_AT]
  -c, --connections N        wrk connections [CONNECTIONS, $CONNECTIONS]
  --sample-ms MS             how often the backends' request counters are read, 20..200
                             [SAMPLE_MS, $SAMPLE_MS]
  -r, --rounds N             rounds over all proxies, medians reported [ROUNDS, $ROUNDS]
  -p, --proxies LIST         comma-separated subset of nginx,haproxy,waygate [PROXIES]
  -w, --waygate-bin PATH     waygate binary [WAYGATE_BIN, $WAYGATE_BIN]
  --base-port PORT           first backend port; backends use it and the next two, proxies the
                             three after [BASE_PORT, $BASE_PORT]
  --quiet-wait SEC           before each proxy, wait up to SEC for both cores to idle
                             [QUIET_WAIT, $QUIET_WAIT]
  --no-netns                 run in the machine's network namespace, not a private one (loopback
                             only); other processes' failed connects then count as the proxy's
                             [NETNS=0]
  -o, --out FILE             also write the table to FILE [OUT]
EOF
}

# The options all scripts take are harness.sh's (common_option): it comes first.
# shellcheck source-path=SCRIPTDIR source=harness.sh
source "$HERE/harness.sh"
while (($#)); do
  case $1 in
    --kill-at) KILL_AT=$2; shift 2 ;;
    --restart-at) RESTART_AT=$2; shift 2 ;;
    --sample-ms) SAMPLE_MS=$2; shift 2 ;;
    --no-netns) NETNS=0; shift ;;
    *) common_option "$@"; shift 2 ;;
  esac
done
# wrk takes whole seconds, and each window is one wrk run.
require_whole_numbers DURATION KILL_AT RESTART_AT CONNECTIONS SAMPLE_MS ROUNDS BASE_PORT PROXY_CPU \
  LOAD_CPU QUIET_WAIT
((0 < KILL_AT && KILL_AT < RESTART_AT && RESTART_AT < DURATION)) ||
  { echo "need 0 < kill-at < restart-at < duration (seconds)" >&2; exit 2; }
((CONNECTIONS > 0 && ROUNDS > 0)) || { echo "connections and rounds must be > 0" >&2; exit 2; }
# At most 200 ms: "settled" takes a health check (one a second) for at most one connect per interval.
((SAMPLE_MS >= 20 && SAMPLE_MS <= 200)) || { echo "sample-ms must be within 20..200" >&2; exit 2; }
[[ $NETNS == [01] ]] || { echo "NETNS must be 0 or 1" >&2; exit 2; }

# Everything runs in a network namespace of its own, with only loopback: the kernel's count of
# failed connects (how the proxy's attempts on the dead backend are seen) is then ours alone, not
# also that of whatever else polls a closed port on this machine. Same kernel, same loopback.
if ((NETNS)) && [[ -z ${FAILOVER_NETNS:-} ]]; then
  if command -v ip >/dev/null && unshare --net true 2>/dev/null; then
    # shellcheck disable=SC2016
    exec env FAILOVER_NETNS=1 unshare --net -- sh -c 'ip link set lo up && exec "$@"' sh "$0" "${ARGS[@]}"
  fi
  echo "warning: cannot make a network namespace (unshare --net, ip): other processes' failed" \
    "connects will count as the proxies' (--no-netns to silence this)" >&2
  NETNS=0
fi

harness_init

CONN_LIMIT=4096   # each proxy's and backend's connection limit: far above what wrk opens
ulimit -n "$(ulimit -Hn)"

# The kill comes this long after the second wrk run starts, so wrk's connections are up and busy:
# requests are in flight on the proxy's connections to the backend that dies.
KILL_LEAD=0.1
BACKENDS=(a b c)
VICTIM=2   # index in BACKENDS of the one that is killed and started again
declare -A BACKEND_PORT=([a]=$BASE_PORT [b]=$((BASE_PORT + 1)) [c]=$((BASE_PORT + 2)))
declare -A BACKEND_PID=()
declare -A PORT=([nginx]=$((BASE_PORT + 3)) [haproxy]=$((BASE_PORT + 4)) [waygate]=$((BASE_PORT + 5)))

# --- backends -------------------------------------------------------------------------------------
# Three nginx, one process each (no master: one SIGKILL takes a backend down with all its
# connections), answering their name on / and /healthz, with stub_status to count their requests.
write_backend_conf() {  # write_backend_conf NAME
  local name=$1 dir=$WORK/backend-$1
  mkdir -p "$dir"
  {
    nginx_common "$dir" off
    cat <<EOF
events { worker_connections $CONN_LIMIT; }
http {
$(nginx_temp_paths "$dir")
    access_log off;
    keepalive_timeout 300s;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:${BACKEND_PORT[$name]} backlog=4096;
        default_type text/plain;
        location = / { return 200 "$name\n"; }
        location = /healthz { return 200 "$name\n"; }
        location = /status { stub_status; }   # its request counter; each read is one request
    }
}
EOF
  } >"$dir/nginx.conf"
}

start_backend() {  # start_backend NAME: on LOAD_CPU; its pid in BACKEND_PID[NAME]
  local name=$1 dir=$WORK/backend-$1
  start "backend-$name" "$LOAD_CPU" nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log"
  BACKEND_PID[$name]=$STARTED_PID
}

# --- proxies --------------------------------------------------------------------------------------
# Each with active health checks (where it has them) and retries, as its users would configure
# failover; everything else as in run.sh.
write_nginx_conf() {  # open source nginx: no active checks, passive ones (max_fails) instead
  local dir=$WORK/nginx b servers=()
  for b in "${BACKENDS[@]}"; do
    servers+=(--upstream "server 127.0.0.1:${BACKEND_PORT[$b]} max_fails=1 fail_timeout=5s;")
  done
  mkdir -p "$dir"
  nginx_proxy_conf "$dir" --rlimit $((CONN_LIMIT * 2)) --conns "$CONN_LIMIT" "${servers[@]}" \
    --server "listen 127.0.0.1:${PORT[nginx]} backlog=4096;" \
    --location "proxy_next_upstream error timeout http_502 http_503;" \
    --location "proxy_next_upstream_tries 3;" --location "proxy_connect_timeout 500ms;" \
    >"$dir/nginx.conf"
}

write_haproxy_conf() {
  local dir=$WORK/haproxy b servers=()
  for b in "${BACKENDS[@]}"; do
    servers+=(--backend "server $b 127.0.0.1:${BACKEND_PORT[$b]} check")
  done
  mkdir -p "$dir"
  haproxy_proxy_conf --maxconn "$CONN_LIMIT" --defaults "retries 3" --defaults "option redispatch 1" \
    --connect-timeout 500ms --bind "127.0.0.1:${PORT[haproxy]}" --backend "balance roundrobin" \
    --backend "option httpchk GET /healthz" --backend "default-server inter 1s fall 2 rise 2" \
    "${servers[@]}" >"$dir/haproxy.cfg"
}

# waygate's failover keys (health_check, retry); everything else at its shipped defaults.
write_waygate_conf() {
  local dir=$WORK/waygate
  mkdir -p "$dir"
  waygate_proxy_conf --listener "$(waygate_listener web "${PORT[waygate]}")" \
    --path "retry: { attempts: 2, on: [connect-failure, reset, 502, 503] }" \
    --endpoints "127.0.0.1:${BACKEND_PORT[a]}, 127.0.0.1:${BACKEND_PORT[b]}, 127.0.0.1:${BACKEND_PORT[c]}" \
    --cluster "health_check: { http: { path: /healthz }, interval: 1s, timeout: 500ms, healthy_threshold: 2, unhealthy_threshold: 2 }" \
    >"$dir/waygate.yaml"
}

config_path() {  # config_path NAME
  case $1 in
    nginx) echo "$WORK/nginx/nginx.conf" ;;
    haproxy) echo "$WORK/haproxy/haproxy.cfg" ;;
    waygate) echo "$WORK/waygate/waygate.yaml" ;;
  esac
}

# start_proxy NAME: on PROXY_CPU; wait until it answers and has sent requests to all three
# backends. Its pid in STARTED_PID.
start_proxy() {
  local name=$1
  launch_proxy "$name" "$(config_path "$name")"
  wait_ready "$name" "$STARTED_PID" "${PORT[$name]}" && check_balance "$name" "${PORT[$name]}"
}

# check_balance NAME PORT: every answer is 200 with a backend's name, and each backend answers
# within 3 s (a proxy may hold a backend back until its first health check passes).
check_balance() {
  local name=$1 port=$2 body i seen=" "
  for ((i = 0; i < 60; i++)); do
    body=$(curl -fsS --max-time 2 "http://127.0.0.1:$port/") || { log "$name: GET / failed"; return 1; }
    [[ " ${BACKENDS[*]} " == *" $body "* ]] || { log "$name: GET / returned '$body'"; return 1; }
    [[ $seen == *" $body "* ]] || seen+="$body "
    if (($(wc -w <<<"$seen") == ${#BACKENDS[@]})); then return 0; fi
    sleep 0.05
  done
  log "$name: only backends${seen}answered within 3 s"
  return 1
}

# --- measurement --------------------------------------------------------------------------------
RESULTS=$WORK/results.tsv
: >"$RESULTS"

# wrk's done() hook prints its latency histogram, so the three runs' p99 can be merged exactly.
# latency(i) scans from the smallest value, so the whole histogram costs about the sum of
# (value - min) over the distinct values, in µs steps, about 1 ns each, while no load runs before
# the next window: past 3e8 (0.3 s; a long tail from other work on the machine) it gives up and
# says so, and the report falls back to the largest of the three runs' p99.
WRK_SCRIPT=$WORK/histogram.lua
cat >"$WRK_SCRIPT" <<'EOF'
done = function(summary, latency, requests)
  local lines, cost, min = {}, 0, latency.min
  for i = 1, #latency do
    local value, count = latency(i)
    cost = cost + value - min
    if cost > 3e8 then
      io.write("latency_us_skipped\n")
      return
    end
    lines[#lines + 1] = string.format("latency_us %d %d\n", value, count)
  end
  io.write(table.concat(lines))
end
EOF

wrk_args() {  # wrk_args NAME SECONDS: the load's command line, in WRK
  WRK=(wrk -t1 -c"$CONNECTIONS" -d"${2}s" --latency -s "$WRK_SCRIPT" "http://127.0.0.1:${PORT[$1]}/")
}

# measure NAME ROUND PID: the timeline. Three wrk runs back to back (before the kill,
# kill..restart, after the restart), so each window's errors are wrk's own exact counts; the
# sampler reads the backends' counters throughout. Returns non-zero if a step failed.
measure() {
  local name=$1 round=$2 pid=$3 dir=$WORK/$1 victim=${BACKENDS[$VICTIM]} before after
  local samples=$WORK/$1/samples-$2.txt ready=$WORK/$1/sampler.ready t_kill t_restart wrk_pid sampler rc=0
  local out=("$dir/wrk-before-$round.txt" "$dir/wrk-down-$round.txt" "$dir/wrk-after-$round.txt")
  rm -f "$ready"
  start sampler "$LOAD_CPU" "${MEASURE[@]}" failover-sample --interval-ms "$SAMPLE_MS" --out "$samples" \
    --ready "$ready" --ports "${BACKEND_PORT[a]},${BACKEND_PORT[b]},${BACKEND_PORT[c]}"
  sampler=$STARTED_PID
  while [[ ! -e $ready ]]; do
    is_running "$sampler" || { log "the sampler exited: $(tail -n 3 "$WORK/sampler.out")"; return 1; }
    sleep 0.01
  done

  wrk_args "$name" 1
  "${WRK[@]}" >/dev/null 2>&1 || rc=1   # warm-up: pools filled, health checks passed
  before=$("${MEASURE[@]}" sample --pid "$pid" --cpu "$PROXY_CPU" --load-cpu "$LOAD_CPU")
  wrk_args "$name" "$KILL_AT"
  "${WRK[@]}" >"${out[0]}" 2>&1 || rc=1
  wrk_args "$name" $((RESTART_AT - KILL_AT))
  "${WRK[@]}" >"${out[1]}" 2>&1 &
  wrk_pid=$!
  PIDS+=("$wrk_pid")
  sleep "$KILL_LEAD"
  t_kill=$EPOCHREALTIME
  kill -KILL "${BACKEND_PID[$victim]}"
  wait "${BACKEND_PID[$victim]}" 2>/dev/null || true   # reaped here, so bash reports no "Killed"
  wait "$wrk_pid" || rc=1
  t_restart=$EPOCHREALTIME
  start_backend "$victim"
  wrk_args "$name" $((DURATION - RESTART_AT))
  "${WRK[@]}" >"${out[2]}" 2>&1 || rc=1
  after=$("${MEASURE[@]}" sample --pid "$pid" --cpu "$PROXY_CPU" --load-cpu "$LOAD_CPU")
  stop_pid "$sampler"
  if ((rc != 0)); then
    log "$name: a wrk run failed; the ends of their outputs:"
    tail -n 3 "${out[@]}" >&2
    return 1
  fi
  is_running "$pid" || { log "$name exited during the run"; return 1; }

  "${MEASURE[@]}" failover --proxy "$name" --wrk "${out[@]}" --samples "$samples" \
    --names "$(IFS=,; echo "${BACKENDS[*]}")" --victim "$VICTIM" --kill "$t_kill" --restart "$t_restart" \
    --before "$before" --after "$after" >>"$RESULTS"
}

# measure_proxy NAME ROUND: start NAME fresh, run the timeline, stop it; a failure becomes a note
# and adds NAME to FAILED. Afterwards the restarted backend must answer again, or nothing after
# it can be measured.
measure_proxy() {
  local name=$1 round=$2 b pid
  if ! start_proxy "$name"; then
    stop_pid "$STARTED_PID"
    FAILED[$name]="failed to start"
    NOTES+=("$name failed to start or did not reach all three backends; see the log above")
    return
  fi
  pid=$STARTED_PID   # the timeline starts more (sampler, backend), each setting STARTED_PID
  if ! measure "$name" "$round" "$pid"; then
    FAILED[$name]="failed during the run"
    NOTES+=("$name: failed during round $((round + 1)); see the log above. Its figures are incomplete")
  fi
  stop_pid "$pid"
  for b in "${BACKENDS[@]}"; do
    wait_ready "backend-$b" "${BACKEND_PID[$b]}" "${BACKEND_PORT[$b]}" || die "backend $b is not answering"
  done
}

# measured NAME ROUND: once the cores are quiet, start NAME and run the timeline on it.
measured() {
  wait_quiet
  log "round $(($2 + 1))/$ROUNDS: $1"
  measure_proxy "$1" "$2"
}

# --- main ---------------------------------------------------------------------------------------
NOTES=()
declare -A FAILED=()
pick_proxies nginx,haproxy,waygate
((!WAYGATE_MISSING)) || NOTES+=("waygate was not measured: no binary at $WAYGATE_BIN")
copy_waygate_bin
require_free_ports "${BACKEND_PORT[@]}" "${PORT[@]}"

write_nginx_conf
write_haproxy_conf
write_waygate_conf
check_peer_configs "$(config_path nginx)" "$(config_path haproxy)" "the failover config"
if [[ " ${RUN[*]} " == *" waygate "* ]] &&
  ! "$WAYGATE_BIN" --check "$(config_path waygate)" >"$WORK/waygate.check" 2>&1; then
  # Expected until waygate has health checks: say so, and measure the others.
  log "waygate rejects the failover config (its health_check and retry keys); not measuring it:"
  sed 's/^/    /' "$WORK/waygate.check" >&2
  first=$(head -n 1 "$WORK/waygate.check" | sed "s|$WORK/||")
  count=$(wc -l <"$WORK/waygate.check")
  more=""
  ((count <= 1)) || more=" (and $((count - 1)) more lines)"
  NOTES+=("waygate was not measured: \`waygate --check\` rejects the failover config: $first$more")
  unrun waygate
fi
((${#RUN[@]})) || die "nothing to measure"

for b in "${BACKENDS[@]}"; do
  write_backend_conf "$b"
  start_backend "$b"
done
for b in "${BACKENDS[@]}"; do
  wait_ready "backend-$b" "${BACKEND_PID[$b]}" "${BACKEND_PORT[$b]}" || die "backend $b did not start"
done

log "proxies on core $PROXY_CPU; wrk, backends and this script on core $LOAD_CPU; ${DURATION}s of load," \
  "$CONNECTIONS connections; backend ${BACKENDS[$VICTIM]} killed at ${KILL_AT}s, restarted at" \
  "${RESTART_AT}s; $ROUNDS round(s)"
log "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

# Each proxy is started fresh for each round, alone on its core.
measure_rounds measured

title="waygate e2e failover: each proxy alone on core $PROXY_CPU (1 worker, keep-alive to 3 nginx backends),"
title+=$'\n'"wrk -t1 -c$CONNECTIONS and the backends on core $LOAD_CPU; ${DURATION}s of load, backend"
title+=" ${BACKENDS[$VICTIM]} SIGKILLed at ${KILL_AT}s and"$'\n'"started again at ${RESTART_AT}s; $ROUNDS round(s)"
note_args
echo
"${MEASURE[@]}" failover-report --results "$RESULTS" --proxies "$(IFS=,; echo "${WANTED[*]}")" \
  --names "$(IFS=,; echo "${BACKENDS[*]}")" --victim "$VICTIM" --title "$title" --rounds "$ROUNDS" \
  --interval-ms "$SAMPLE_MS" --kill-lead-ms "$(awk -v s="$KILL_LEAD" 'BEGIN { print s * 1000 }')" \
  --netns "$NETNS" --proxy-cpu "$PROXY_CPU" ${OUT:+--out "$OUT"} "${NOTE_ARGS[@]}"
