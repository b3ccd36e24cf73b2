#!/usr/bin/env bash
# The chaos soak: waygate for N minutes under mixed load while backends are killed and restarted,
# the config is reloaded and etcd restarts; prints a table of outcomes, RSS, crashes and leaks, and
# exits non-zero on a crash, an avoidable client error, RSS growth or a sanitizer report. Not part
# of scripts/test.sh (it runs for minutes).
#   bench/soak/chaos_soak.sh [--minutes N] [--asan]
# --minutes N  how long the load runs (default 10)
# --asan       soak the ASan+UBSan build (build-asan/, leaks checked at exit) instead of the
#              release build (build/); build it first with scripts/build.sh asan --target waygate
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

minutes=10
asan=()
waygate=build/src/waygate
while (($# > 0)); do
  case $1 in
    --minutes)
      minutes=$2
      shift 2
      ;;
    --asan)
      asan=(--asan)
      waygate=build-asan/src/waygate
      shift
      ;;
    *)
      echo "usage: $0 [--minutes N] [--asan]" >&2
      exit 2
      ;;
  esac
done

if [[ ! -x $waygate ]]; then
  echo "chaos_soak: no $waygate; build it first (scripts/build.sh, see above)" >&2
  exit 2
fi
if ((${#asan[@]} > 0)); then
  # As in scripts/test.sh: GCC 12's sanitizer runtime needs mmap randomisation of at most 28 bits.
  if [[ -r /proc/sys/vm/mmap_rnd_bits ]] && (($(cat /proc/sys/vm/mmap_rnd_bits) > 28)); then
    sysctl -qw vm.mmap_rnd_bits=28 || echo "chaos_soak: cannot lower vm.mmap_rnd_bits" >&2
  fi
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1
fi

exec python3 bench/soak/chaos_soak.py --minutes "$minutes" --waygate "$waygate" "${asan[@]}"
