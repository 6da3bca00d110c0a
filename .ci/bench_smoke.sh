#!/usr/bin/env bash
# CI: runs llmk-bench on its built-in data and checks what it wrote.
#   1. `--quick` over every entry: exit 0 (an entry whose body fails exits 4),
#      JSON in google/benchmark's shape plus our fields, CSV, every entry ran
#      (multi-threaded entries may be skipped only for want of CPUs);
#   2. a baseline round trip: saved with 5 repetitions, its dot product
#      compared with 5 more (ok or inconclusive; a regression there is a
#      false alarm), then
#      compared with a baseline holding an entry this build no longer has
#      (exit 5, "missing").
# Prints "bench: N passed, M failed" and each stage's time; exits non-zero
# on a failure.
#
#   .ci/bench_smoke.sh [BUILD_DIR]
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
build=${1:-build}
bench=$build/bench/llmk-bench
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
passed=0 failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "bench: FAIL: $*"; }

# The measuring thread on the last CPU; threaded entries use the others.
cpu=$(( $(nproc) - 1 ))

start=$SECONDS
"$bench" --quick --cpu "$cpu" --json "$out/quick.json" --csv "$out/quick.csv" \
  > "$out/quick.txt" 2>&1
rc=$?
quick_s=$((SECONDS - start))
if [ $rc -eq 0 ]; then ok; else bad "llmk-bench --quick exited $rc"; cat "$out/quick.txt"; fi
if python3 .ci/check_bench_output.py "$out/quick.json" "$out/quick.csv" \
     --allow-skip '^needs [0-9]+ CPUs' > "$out/check.txt"; then
  ok
else
  bad "--quick output"; cat "$out/check.txt"
fi
tail -n 1 "$out/check.txt"

start=$SECONDS
pair='^ops/dot/384$|^memory/arena/'
"$bench" --cpu "$cpu" --filter "$pair" --repetitions 5 --max-time 0.05 \
  --save-baseline "$out/base.json" > "$out/save.txt" 2>&1
rc=$?
if [ $rc -eq 0 ]; then ok; else bad "--save-baseline exited $rc"; cat "$out/save.txt"; fi
# The A/A comparison reads the dot product alone: the arena entry's
# repetition medians range from 1.4 to 2.4 ns within one process of one
# build (each repetition sets the arena up anew), so two runs of it can
# differ for real and the comparison is right to say so.
"$bench" --cpu "$cpu" --filter '^ops/dot/384$' --repetitions 5 --max-time 0.05 \
  --baseline "$out/base.json" > "$out/compare.txt" 2>&1
rc=$?
if [ $rc -eq 0 ] || [ $rc -eq 2 ]; then ok; else bad "--baseline A/A exited $rc"; cat "$out/compare.txt"; fi
# The same filter against a baseline whose arena entry was renamed: that
# name matches the filter but no entry of this build, so it is missing.
python3 - "$out/base.json" "$out/renamed.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
for b in doc["benchmarks"]:
    for key in ("name", "run_name"):
        if key in b:
            b[key] = b[key].replace("memory/arena/alloc_1KiB_reset", "memory/arena/retired_entry")
json.dump(doc, open(sys.argv[2], "w"))
PY
"$bench" --cpu "$cpu" --filter "$pair" --repetitions 5 --max-time 0.05 \
  --baseline "$out/renamed.json" > "$out/missing.txt" 2>&1
rc=$?
if [ $rc -eq 5 ] && grep -qi 'retired_entry.*missing' "$out/missing.txt"; then
  ok
else
  bad "a baseline entry missing from the run: exit $rc (expected 5)"; cat "$out/missing.txt"
fi
baseline_s=$((SECONDS - start))

echo "bench: --quick ${quick_s} s, baseline round trip ${baseline_s} s"
echo "bench: $passed passed, $failed failed"
[ $failed -eq 0 ]
