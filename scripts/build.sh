#!/usr/bin/env bash
# Configures and builds waygate with Ninja.
#   scripts/build.sh [release|asan|tsan|fuzz] [extra `cmake --build` args, e.g. --target waygate]
# release -> build/       (Release)
# asan    -> build-asan/  (RelWithDebInfo + ASan/UBSan); a separate tree so both stay incremental.
# tsan    -> build-tsan/  (RelWithDebInfo + ThreadSanitizer, no micro-benchmarks); scripts/test.sh
#            builds only the targets of the tests labelled `threads`.
# fuzz    -> build-fuzz/  (clang, libFuzzer + ASan/UBSan): only the targets of tests/fuzz.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

mode=${1:-release}
(($# > 0)) && shift
case $mode in
  release) dir=build args=(-DCMAKE_BUILD_TYPE=Release) ;;
  asan) dir=build-asan args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DWAYGATE_SANITIZE=ON) ;;
  tsan) dir=build-tsan args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DWAYGATE_TSAN=ON -DWAYGATE_BENCH=OFF) ;;
  fuzz)
    dir=build-fuzz
    args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DWAYGATE_FUZZ=ON -DCMAKE_C_COMPILER=clang
      -DCMAKE_CXX_COMPILER=clang++)
    ;;
  *)
    echo "usage: $0 [release|asan|tsan|fuzz] [cmake --build args...]" >&2
    exit 2
    ;;
esac

# A tree configured earlier with another generator cannot be reused as is; --fresh drops its cache.
fresh=()
if [[ -f $dir/CMakeCache.txt ]] && ! grep -qx 'CMAKE_GENERATOR:INTERNAL=Ninja' "$dir/CMakeCache.txt"; then
  fresh=(--fresh)
fi

cmake -S . -B "$dir" -G Ninja "${fresh[@]}" "${args[@]}"
cmake --build "$dir" "$@"
