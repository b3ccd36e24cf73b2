#!/usr/bin/env bash
# Builds the release tree and runs every Google Benchmark micro-benchmark under build/bench/micro/.
# Extra arguments go to each benchmark, e.g. --benchmark_filter=Parse --benchmark_min_time=0.5
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/build.sh release

mapfile -t benches < <(find build/bench/micro -maxdepth 1 -type f -executable 2>/dev/null | sort)
if ((${#benches[@]} == 0)); then
  echo "bench-micro: no micro-benchmark binaries in build/bench/micro/" >&2
  exit 1
fi
for bench in "${benches[@]}"; do
  echo "== $bench"
  "$bench" "$@"
done
