#!/usr/bin/env bash
# clang-tidy on waygate's sources (checks in .clang-tidy, every one an error), with the release
# build's compile_commands.json, two files at a time. Exits non-zero on any finding.
#   scripts/tidy.sh            every .cc under src/ (run scripts/build.sh release first)
#   scripts/tidy.sh REGEX      only the files whose path matches REGEX, e.g. src/proxy/worker
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

db=build/compile_commands.json
if [[ ! -f $db ]]; then
  echo "tidy: no $db; run scripts/build.sh release first" >&2
  exit 2
fi
# Files of src/ only: not the generated dashboard_files.cc under build/, nor llhttp's C sources.
files="$PWD/src/.*\\.cc\$"
if (($# > 0)); then
  files="$PWD/.*$1.*\\.cc\$"
fi

# run-clang-tidy colours its output whatever it writes to; the colour codes are dropped so that
# CI logs stay readable.
run-clang-tidy -p build -j2 -quiet "$files" 2>&1 | sed 's/\x1b\[[0-9;]*m//g'
