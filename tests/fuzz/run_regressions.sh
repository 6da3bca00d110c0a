#!/usr/bin/env bash
# Replays every input in a regression folder through a fuzz target once.
#   run_regressions.sh FUZZER DIR
# Exit 0 when all pass (or DIR has none), 77 (meson: skipped) when the target
# skips for lack of ../shared data, the target's status otherwise.
set -uo pipefail
fuzzer=$1
dir=$2
mapfile -t inputs < <(find "$dir" -type f ! -name '*.md' 2>/dev/null | sort)
if [ ${#inputs[@]} -eq 0 ]; then
  echo "no regression inputs in $dir"
  exit 0
fi
"$fuzzer" -rss_limit_mb=2048 -timeout=10 "${inputs[@]}"
status=$?
[ $status -eq 0 ] && echo "${#inputs[@]} regression inputs passed"
exit $status
