#!/usr/bin/env bash
# Runs libllmk's test suite, cross-built for aarch64, under qemu-user once
# per emulated CPU, so every ARM Highway target the library dispatches to is
# tested (each kernel against its scalar reference, as on x86). Prints, per
# CPU, the Highway targets that ran (the suites' llmk-targets line), the
# suites' results and the run's wall time, then one line
#   arm64-test: N passed, M failed, K skipped
# counted over the test cases of every run. Wall times of emulated runs say
# how long the test takes, nothing about the speed of any ARM core.
#
#   tools/arm64-test.sh [BUILD_DIR] [--cpus LIST] [--suites LIST]
#
# BUILD_DIR (default build-arm64) is configured and built first with
# tools/setup.sh --arm64. LIST is space-separated; --cpus defaults to every
# configuration below, --suites to the whole suite. Each run's meson log is
# kept as BUILD_DIR/arm64-logs/testlog-<cpu>.json (for .ci/summarize.py).
#
# QEMU CPU (QEMU_CPU)   what it has                         Highway target
#   cortex-a53          ARMv8.0 NEON, no dot product        NEON
#   cortex-a72          ARMv8.0 NEON, no dot product        NEON
#   neoverse-n1         ARMv8.2, NEON + dot product (SDOT)  NEON
#   max,sve=off         ARMv8.x NEON + dotprod + i8mm, no SVE  NEON
#   max,sve128=on       SVE2 at 128 bits                    SVE2_128
#   max,sve256=on       SVE at 256 bits                     SVE_256
#   a64fx               SVE at 512 bits (no SVE2)           SVE
#   max                 SVE2 at 512 bits                    SVE2
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=build-arm64
if [ $# -gt 0 ] && [[ $1 != --* ]]; then build_dir=$1; shift; fi
cpus=(cortex-a53 cortex-a72 neoverse-n1 "max,sve=off" "max,sve128=on" "max,sve256=on" a64fx max)
suites=()
while [ $# -gt 0 ]; do
  case $1 in
    --cpus) read -r -a cpus <<<"$2"; shift 2 ;;
    --suites) read -r -a suites <<<"$2"; shift 2 ;;
    *) echo "arm64-test: unknown argument '$1' (usage: tools/arm64-test.sh [BUILD_DIR] [--cpus LIST] [--suites LIST])" >&2; exit 3 ;;
  esac
done

cd "$root"
bash tools/setup.sh --arm64 "$build_dir" || { echo "arm64-test: the cross build failed" >&2; exit 1; }
export LLMK_SHARED=${LLMK_SHARED:-$(cd "$root/.." && pwd)/shared}
logs_dir=$build_dir/arm64-logs
mkdir -p "$logs_dir"
rm -f "$logs_dir"/testlog-*.json

status=0
logs=()
lines=()
for cpu in "${cpus[@]}"; do
  log=$logs_dir/testlog-${cpu//[^A-Za-z0-9_-]/_}.json
  start=$SECONDS
  echo "== QEMU_CPU=$cpu"
  # Twice meson's limits: the whole model suite with 512-bit SVE vectors runs
  # for minutes under emulation.
  QEMU_CPU=$cpu meson test -C "$build_dir" --print-errorlogs --num-processes 2 \
    --timeout-multiplier 2 "${suites[@]}" || status=1
  seconds=$((SECONDS - start))
  cp "$build_dir/meson-logs/testlog.json" "$log" && logs+=("$log")
  # The targets line every suite prints; all suites of one CPU print the same.
  targets=$(python3 - "$log" <<'EOF'
import json, sys
seen = set()
for raw in open(sys.argv[1], encoding="utf-8", errors="replace"):
    if raw.strip():
        for line in (json.loads(raw).get("stdout") or "").splitlines():
            if line.startswith("llmk-targets: "):
                seen.add(line[len("llmk-targets: "):])
print(" | ".join(sorted(seen)) or "none printed")
EOF
)
  result=$(python3 .ci/summarize.py "$log")
  lines+=("arm64-test: cpu $cpu: targets $targets; $result; ${seconds} s")
  echo "${lines[-1]}"
done

echo "== summary"
printf '%s\n' "${lines[@]}"
qemu_version=$(qemu-aarch64-static --version | sed -n '1s/.*version \([^ ]*\).*/\1/p')
echo "arm64-test: qemu $qemu_version, ${#cpus[@]} CPU configurations"
if [ ${#logs[@]} -eq 0 ]; then
  echo "arm64-test: 0 passed, 1 failed, 0 skipped"
  exit 1
fi
total=$(python3 .ci/summarize.py "${logs[@]}") || status=1
echo "arm64-test: $total"
exit $status
