#!/usr/bin/env bash
# Builds waygate and runs it on config/waygate.yaml together with the demo upstreams that config
# routes to, so the README's curl examples answer at once. Ctrl-C stops waygate and the upstreams.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/install-deps.sh
scripts/build.sh release --target waygate  # the demo needs only the binary; test.sh builds the rest

config=config/waygate.yaml
listen_port=8080
# One upstream per endpoint in config/waygate.yaml: cluster api -> 9101, cluster web -> 9001, 9002.
upstreams=("api-1 9101" "web-1 9001" "web-2 9002")

listening() { [[ -n $(ss -Hltn "sport = :$1") ]]; }

# A leftover demo (or anything else) on one of our ports would answer instead of ours: refuse early.
for port in "$listen_port" 9101 9001 9002; do
  if listening "$port"; then
    echo "demo: port $port is already in use:" >&2
    ss -Hltnp "sport = :$port" >&2
    exit 1
  fi
done

pids=()
cleanup() {
  ((${#pids[@]} > 0)) || return 0
  kill -TERM "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
}
trap cleanup EXIT

# Waits until PORT is listening, failing fast if PID (the process meant to listen) has exited.
wait_for_port() {
  local port=$1 pid=$2 name=$3
  for _ in $(seq 300); do
    listening "$port" && return 0
    kill -0 "$pid" 2>/dev/null || { echo "demo: $name exited before listening on $port" >&2; return 1; }
    sleep 0.1
  done
  echo "demo: $name is not listening on $port after 30s" >&2
  return 1
}

for upstream in "${upstreams[@]}"; do
  read -r name port <<<"$upstream"
  python3 scripts/demo_upstream.py --port "$port" --name "$name" >/dev/null &
  pids+=($!)
done
for i in "${!upstreams[@]}"; do
  read -r name port <<<"${upstreams[$i]}"
  wait_for_port "$port" "${pids[$i]}" "upstream $name"
done
echo "demo: upstreams api-1 (:9101), web-1 (:9001), web-2 (:9002) are ready"

cat <<'EXAMPLES'

demo: starting waygate on 127.0.0.1:8080 with config/waygate.yaml. In another terminal:
  curl -i -H 'Host: api.example.com' localhost:8080/v1/users   # hello from api-1: GET /v1/users
  curl -H 'Host: www.example.com' localhost:8080/               # web-1 and web-2 take turns
  curl -H 'Host: example.com' localhost:8080/about              # web cluster as well
  curl -i -H 'Host: unknown.test' localhost:8080/               # 404: no route for this host
  curl -i -H 'Host: api.example.com' localhost:8080/v2/         # 404: no path of that host matches
Ctrl-C stops waygate (it drains in-flight requests) and the upstreams.

EXAMPLES

# waygate runs as a child (not exec) so the EXIT trap can stop the upstreams after it. setsid keeps
# the terminal's Ctrl-C away from it, so it gets exactly one signal: the SIGTERM we forward.
setsid build/src/waygate --config "$config" &
waygate=$!
trap 'kill -TERM "$waygate" 2>/dev/null || true' INT TERM
wait_for_port "$listen_port" "$waygate" waygate && echo "demo: waygate is ready" || true

# wait returns early when a trapped signal arrives; keep waiting until waygate has really exited.
status=0
while :; do
  wait "$waygate" && status=0 || status=$?
  kill -0 "$waygate" 2>/dev/null || break
done
echo "demo: waygate exited with status $status"
exit "$status"
