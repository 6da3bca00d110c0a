#!/usr/bin/env bash
# Cross-checks file formats and logits with llama.cpp, built from the source in
# ../shared/peers: one F32 model made by llmk-mkmodel is quantized to every
# file type by both llmk-quantize and llama-quantize; llama.cpp computes
# teacher-forced logits on both projects' files (tools/peer/llama_logits.cc);
# then tests/peer_formats_test compares types, bytes and logits. Prints
#   peer-formats: N passed, M failed
# Usage: .ci/peer_formats.sh BUILD_DIR [LLAMA_BUILD_DIR]
# LLAMA_BUILD_DIR holds (or receives) the llama.cpp build (default
# /tmp/llmk-llama-cpp); an existing build there is reused.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
build=${1:-build}
llama_root=${2:-/tmp/llmk-llama-cpp}
shared=${LLMK_SHARED:-$(cd .. && pwd)/shared}
work=$(mktemp -d /tmp/llmk-peer-formats.XXXXXX)
trap 'rm -rf "$work"' EXIT
passed=0 failed=0
check() {  # name, command...
  local name=$1; shift
  if "$@"; then passed=$((passed + 1)); echo "ok: $name"; else failed=$((failed + 1)); echo "FAIL: $name"; fi
}
finish() { echo "peer-formats: $passed passed, $failed failed"; [ "$failed" -eq 0 ]; exit; }

tarball=$(ls "$shared"/peers/llama.cpp-*.tar.gz 2>/dev/null | head -n 1)
if [ -z "$tarball" ]; then
  echo "no llama.cpp source in $shared/peers"; failed=1; finish
fi
bin=$llama_root/build/bin
if [ ! -x "$bin/llama-quantize" ] || [ ! -f "$bin/libllama.so" ]; then
  check "build llama.cpp's llama-quantize" \
    env LLAMA_TARGETS=llama-quantize bash tools/build-llama-bench.sh "$tarball" "$llama_root"
fi
src=$(find "$llama_root/src" -mindepth 1 -maxdepth 2 -name CMakeLists.txt -printf '%h\n' | head -n 1)
check "build llama-logits against libllama" \
  c++ -std=c++17 -O2 -I "$src/include" -I "$src/ggml/include" tools/peer/llama_logits.cc \
    -L "$bin" -lllama -Wl,-rpath,"$bin" -o "$work/llama-logits"
[ "$failed" -eq 0 ] || finish

# Rows of 256 values (every K-quant applies without llama.cpp's substitutes),
# 8 layers and 4-way GQA (every mix rule applies).
check "llmk-mkmodel tiny-llama-256 F32" \
  "$build/tools/llmk-mkmodel" --shape tiny-llama-256 --type f32 --seed 3 --out "$work/f32.gguf"
types="F32 BF16 Q8_0 Q4_0 Q2_K Q3_K_S Q3_K_M Q3_K_L Q4_K_S Q4_K_M Q5_K_S Q5_K_M Q6_K"
: >"$work/types.txt"
for t in $types; do
  if [ "$t" = F32 ]; then
    cp "$work/f32.gguf" "$work/llmk-F32.gguf"; cp "$work/f32.gguf" "$work/llama-F32.gguf"
  else
    check "llmk-quantize $t" "$build/tools/llmk-quantize" "$work/f32.gguf" "$work/llmk-$t.gguf" "$t" ||
      continue
    check "llama-quantize $t" "$bin/llama-quantize" "$work/f32.gguf" "$work/llama-$t.gguf" "$t" 2 \
      >"$work/llama-quantize-$t.log" 2>&1 || { tail -n 5 "$work/llama-quantize-$t.log"; continue; }
  fi
  check "llama.cpp loads llmk's $t file" \
    "$work/llama-logits" "$work/llmk-$t.gguf" 64 "$work/llama-on-llmk-$t.logits" &&
  check "llama.cpp runs its own $t file" \
    "$work/llama-logits" "$work/llama-$t.gguf" 64 "$work/llama-on-llama-$t.logits" &&
  echo "$t" >>"$work/types.txt"
done

log=$work/peer_formats_test.log
if LLMK_PEER_FORMATS_DIR=$work "$build/tests/peer_formats_test" --reporters=console >"$log" 2>&1; then
  check "tests/peer_formats_test" true
else
  check "tests/peer_formats_test" false
fi
grep -E "MESSAGE|largest difference|ERROR|FAILED|test cases" "$log" | head -n 60
finish
