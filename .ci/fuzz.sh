#!/usr/bin/env bash
# CI: builds the libFuzzer targets (clang, ASan + UBSan), replays every
# regression input once, then fuzzes each target for LLMK_FUZZ_SECONDS
# (default 60) from the seed corpus, one target per CPU at a time (or
# LLMK_FUZZ_JOBS). Prints one line per target and a total; exits non-zero
# on a build failure, a failing regression input or a crash (the crash
# file's path and the stack are printed).
#
#   .ci/fuzz.sh     env: LLMK_FUZZ_SECONDS, LLMK_FUZZ_JOBS, LLMK_SHARED, LLMK_FUZZ_BUILD
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
export LLMK_SHARED=${LLMK_SHARED:-$(cd .. && pwd)/shared}
seconds=${LLMK_FUZZ_SECONDS:-60}
build=${LLMK_FUZZ_BUILD:-build-fuzz}
logs=$build/fuzz-logs

# --- clang and the libFuzzer runtime (installed when missing) ---------------
probe_libfuzzer() {
  command -v clang++ >/dev/null 2>&1 || return 1
  local dir
  dir=$(mktemp -d) || return 1
  printf 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }\n' \
    > "$dir/probe.cc"
  clang++ -fsanitize=fuzzer,address "$dir/probe.cc" -o "$dir/probe" >/dev/null 2>&1
  local status=$?
  rm -rf "$dir"
  return $status
}
if ! probe_libfuzzer; then
  sudo_cmd=()
  [ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get -y -qq update >/dev/null 2>&1
  "${sudo_cmd[@]}" apt-get -y -qq install clang >/dev/null 2>&1
  major=$(clang++ --version 2>/dev/null | sed -n 's/.*clang version \([0-9]*\).*/\1/p' | head -1)
  "${sudo_cmd[@]}" apt-get -y -qq install "libclang-rt-${major:-14}-dev" >/dev/null 2>&1
  if ! probe_libfuzzer; then
    echo "fuzz: cannot build with clang -fsanitize=fuzzer (install clang and libclang-rt-N-dev)"
    exit 1
  fi
fi

# --- build ------------------------------------------------------------------
mkdir -p "$build"
build_log=$root/$build/fuzz-build.log
if [ ! -f "$build/build.ninja" ]; then
  # Tests, bench and tools are not needed here; the fuzzers link their own
  # instrumented copy of the library (tests/fuzz/meson.build).
  CXX=clang++ meson setup "$build" -Dfuzzers=true -Dsanitize_ub_address=true -Dtests=false \
    -Dbench=false -Dtools=false -Dbuildtype=debugoptimized >"$build_log" 2>&1 || {
    tail -n 40 "$build_log"; echo "fuzz: meson setup failed (log: $build_log)"; exit 1; }
fi
# Only the fuzz targets (not the shared library the other targets use).
mapfile -t targets < <(meson introspect "$build" --targets 2>/dev/null | python3 -c '
import json, os, sys
for t in json.load(sys.stdin):
    if t["name"].startswith("fuzz_") and t["type"] == "executable":
        print(os.path.relpath(t["filename"][0], sys.argv[1]))' "$build")
if [ ${#targets[@]} -eq 0 ]; then
  echo "fuzz: no fuzz targets configured in $build"
  exit 1
fi
if ! ninja -C "$build" "${targets[@]}" >>"$build_log" 2>&1; then
  grep -E "error|FAILED" "$build_log" | head -n 40
  echo "fuzz: build failed (log: $build_log)"
  exit 1
fi
bash tests/fuzz/make_corpus.sh "$build/corpus" 2>/dev/null || {
  echo "fuzz: make_corpus.sh failed"; exit 1; }

# --- regressions, then fuzzing ------------------------------------------------
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
rm -rf "$logs"
mkdir -p "$logs"
# One target: its regression inputs, then fuzzing. Writes its report line
# to $logs/SHORT.report and its outcome (ok EXECS | skipped | regression |
# crash) to $logs/SHORT.outcome.
fuzz_one() {  # target
  local exe=$build/$1 name short regress_log rc work artifacts log execs crash
  name=$(basename "$exe")
  short=${name#fuzz_}
  regress_log=$logs/$short.regressions.log
  bash tests/fuzz/run_regressions.sh "$exe" "tests/fuzz/regressions/$short" >"$regress_log" 2>&1
  rc=$?
  if [ $rc -eq 77 ]; then
    echo "$name: skipped ($(grep -m1 -o 'skipped: .*' "$regress_log" || echo 'no shared data'))" \
      >"$logs/$short.report"
    echo skipped >"$logs/$short.outcome"
    return
  elif [ $rc -ne 0 ]; then
    { echo "$name: REGRESSION input fails (exit $rc); log: $regress_log"
      grep -E "^(Running|==[0-9]+==|    #[0-9]+ |SUMMARY|.*runtime error)" "$regress_log" | head -n 40
    } >"$logs/$short.report"
    echo regression >"$logs/$short.outcome"
    return
  fi

  work=$build/fuzz-work/$short        # inputs found now (kept between local runs)
  artifacts=$build/fuzz-artifacts/$short/
  mkdir -p "$work" "$artifacts"
  log=$logs/$short.log
  timeout $((seconds * 2 + 300)) "$exe" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
    -print_final_stats=1 -artifact_prefix="$artifacts" "$work" "$build/corpus/$short" >"$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)
  execs=${execs:-0}
  if [ $rc -eq 77 ]; then
    echo "$name: skipped ($(grep -m1 -o 'skipped: .*' "$log" || echo 'no shared data'))" \
      >"$logs/$short.report"
    echo skipped >"$logs/$short.outcome"
  elif [ $rc -eq 0 ]; then
    echo "$name: $execs executions in ${seconds} s, no crash" >"$logs/$short.report"
    echo "ok $execs" >"$logs/$short.outcome"
  else
    crash=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
    { echo "$name: CRASH (exit $rc) after $execs executions; input: ${crash:-none written}; log: $log"
      grep -E "^(==[0-9]+==|    #[0-9]+ |SUMMARY|.*runtime error|fuzz_)" "$log" | head -n 40
    } >"$logs/$short.report"
    echo crash >"$logs/$short.outcome"
  fi
}

# As many targets at a time as there are CPUs (LLMK_FUZZ_JOBS overrides):
# each fuzzer is one process, so on 2 cores the stage takes half as long.
jobs=${LLMK_FUZZ_JOBS:-$(nproc)}
for target in "${targets[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n; done
  fuzz_one "$target" &
done
wait

failed=0 crashed=0 skipped=0 total_execs=0
for target in "${targets[@]}"; do
  short=$(basename "$target"); short=${short#fuzz_}
  cat "$logs/$short.report" 2>/dev/null || echo "fuzz_$short: no report"
  read -r outcome execs <"$logs/$short.outcome" 2>/dev/null || outcome=crash
  case $outcome in
    ok) total_execs=$((total_execs + execs)) ;;
    skipped) skipped=$((skipped + 1)) ;;
    regression) failed=$((failed + 1)) ;;
    *) crashed=$((crashed + 1)) ;;
  esac
done
echo "fuzz: ${#targets[@]} targets, $total_execs executions, $crashed crashed, $failed failed regressions, $skipped skipped"
[ $crashed -eq 0 ] && [ $failed -eq 0 ]
