#!/usr/bin/env bash
# CI: the results history demo (tools/history-demo.sh) — five commits in a
# clone, one slowing the dot kernel, each benchmarked into a database; the
# change point found at it, compare's exit code, and `llmk-bench report`
# opened in headless Chromium. The report, its screenshot and the logs stay
# in OUT_DIR (default /tmp/llmk-history-report) as the stage's artifacts.
# Prints "history-report: N passed, M failed" last.
#
#   .ci/history_report.sh [OUT_DIR]
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=${1:-/tmp/llmk-history-report}
db_dir=$(mktemp -d /tmp/llmk-history-db.XXXXXX)
trap 'rm -rf "$db_dir"' EXIT
bash tools/history-demo.sh "$db_dir" "$out"
