#!/usr/bin/env bash
# clang-format for every C++ file under src/, tests/ and bench/ (style in .clang-format).
#   scripts/format.sh          rewrite the files in place
#   scripts/format.sh --check  change nothing; list the files that are off and exit 1 if any
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

mapfile -d '' files < <(find src tests bench -type f \( -name '*.cc' -o -name '*.h' \) -print0 2>/dev/null | sort -z)
if ((${#files[@]} == 0)); then
  echo "format: no C++ files under src tests bench"
  exit 0
fi

if [[ ${1:-} != --check ]]; then
  clang-format -i "${files[@]}"
  echo "format: formatted ${#files[@]} files"
  exit 0
fi

# One file at a time so the report names every file that is off, each with its first few diffs.
off=()
for f in "${files[@]}"; do
  clang-format --dry-run -Werror --ferror-limit=3 "$f" || off+=("$f")
done
if ((${#off[@]} > 0)); then
  echo "format: ${#off[@]} of ${#files[@]} files are not clang-formatted:" >&2
  printf '  %s\n' "${off[@]}" >&2
  echo "format: run scripts/format.sh to fix them" >&2
  exit 1
fi
echo "format: all ${#files[@]} files clang-formatted"
