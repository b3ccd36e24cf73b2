#!/usr/bin/env bash
# Runs one libFuzzer target of tests/fuzz for longer than CI does (default 10 minutes).
#   scripts/fuzz.sh TARGET [seconds] [extra libFuzzer flags, e.g. -jobs=2]
#   scripts/fuzz.sh list               the targets
# Builds it in build-fuzz/ first (clang). New inputs go to build-fuzz/tests/fuzz/corpus/TARGET,
# crashes to build-fuzz/tests/fuzz/artifacts/TARGET/; the checked-in corpus is only read. A crash
# becomes a regression test once its input is saved under tests/fuzz/regressions/TARGET/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

targets=()
for f in tests/fuzz/*_fuzz.cc; do
  name=${f##*/}
  targets+=("${name%_fuzz.cc}")
done
if (($# == 0)) || [[ $1 == list ]]; then
  (($# == 0)) && echo "usage: $0 TARGET [seconds] [libFuzzer flags...]" >&2
  printf '%s\n' "${targets[@]}"
  (($# == 0)) && exit 2
  exit 0
fi
target=$1
seconds=${2:-600}
shift $(($# > 1 ? 2 : 1))
if [[ " ${targets[*]} " != *" $target "* ]]; then
  echo "fuzz.sh: no target '$target' (scripts/fuzz.sh list)" >&2
  exit 2
fi

scripts/build.sh fuzz --target "fuzz_$target"
out=build-fuzz/tests/fuzz
mkdir -p "$out/corpus/$target" "$out/artifacts/$target"
inputs=("$out/corpus/$target" "tests/fuzz/corpus/$target")
[[ -d tests/fuzz/regressions/$target ]] && inputs+=("tests/fuzz/regressions/$target")
status=0
"$out/fuzz_$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 -artifact_prefix="$out/artifacts/$target/" "$@" "${inputs[@]}" || status=$?
if ((status != 0)); then
  echo "fuzz.sh: $target failed; the input is in $out/artifacts/$target/." >&2
  echo "fuzz.sh: replay it with $out/fuzz_$target FILE, fix the bug, then keep the input as" >&2
  echo "fuzz.sh: tests/fuzz/regressions/$target/<what-it-breaks> so ctest replays it." >&2
fi
exit "$status"
