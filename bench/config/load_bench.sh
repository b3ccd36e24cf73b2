#!/usr/bin/env bash
# How long waygate takes to load a config with many hosts, and the memory it keeps: `--check`,
# start until /ready answers, and reloads of a changed file (POST /reload answers when the new
# table is published), for 100,000 hosts x 3 paths and 1,000,000 hosts x 1 path.
#   bench/config/load_bench.sh [WAYGATE_BIN]      (RELOADS=20 SIZES="100000x3 1000000x1")
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
WAYGATE=${1:-$ROOT/build/src/waygate}
RELOADS=${RELOADS:-20}
SIZES=${SIZES:-100000x3 1000000x1}
PORT=${PORT:-18600}
ADMIN_PORT=${ADMIN_PORT:-18601}
WORK=$(mktemp -d)
PID=
cleanup() {
  [[ -n $PID ]] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
hwm_kb() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }
now() { date +%s.%N; }

for size in $SIZES; do
  hosts=${size%x*} paths=${size#*x}
  config=$WORK/config-$size.yaml
  python3 "$HERE/gen_config.py" --hosts "$hosts" --paths "$paths" --port "$PORT" \
    --admin-port "$ADMIN_PORT" >"$config"
  echo "== $hosts hosts x $paths paths ($(du -h "$config" | cut -f1) of YAML)"

  printf -- '--check:          '
  /usr/bin/time -f "%e s, peak %M KB" "$WAYGATE" --check "$config" 2>&1 >/dev/null | tail -1

  start=$(now)
  "$WAYGATE" --config "$config" >"$WORK/out.log" 2>&1 &
  PID=$!
  until curl -fs "http://127.0.0.1:$ADMIN_PORT/ready" >/dev/null 2>&1; do
    kill -0 "$PID" 2>/dev/null || { echo "waygate exited:"; tail -5 "$WORK/out.log"; exit 1; }
    sleep 0.02
  done
  ready=$(now)
  printf 'start until ready: %.2f s, resident %s KB, peak %s KB\n' \
    "$(echo "$ready - $start" | bc)" "$(rss_kb "$PID")" "$(hwm_kb "$PID")"

  first_rss=
  for i in $(seq 1 "$RELOADS"); do
    echo "# reload $i" >>"$config"  # a changed text: an unchanged one is skipped
    start=$(now)
    curl -fs -X POST "http://127.0.0.1:$ADMIN_PORT/reload" >/dev/null
    took=$(echo "$(now) - $start" | bc)
    rss=$(rss_kb "$PID")
    [[ -n $first_rss ]] || first_rss=$rss
    printf 'reload %2d:         %.2f s, resident after %s KB\n' "$i" "$took" "$rss"
  done
  printf 'after %d reloads:  resident %s KB (%+d KB since the first), peak %s KB, last took %.2f s\n' \
    "$RELOADS" "$(rss_kb "$PID")" "$(($(rss_kb "$PID") - first_rss))" "$(hwm_kb "$PID")" "$took"
  sleep 3  # the control thread frees the last table replaced within a second (sweep timer)
  printf 'settled:           resident %s KB\n' "$(rss_kb "$PID")"
  kill "$PID"
  wait "$PID" 2>/dev/null || true
  PID=
done
