#!/usr/bin/env bash
# Cross-checks file formats and logits with llama.cpp, built from the source in
# ../shared/peers: one F32 model made by llmk-mkmodel is quantized to every
# file type by both llmk-quantize and llama-quantize; llama.cpp computes
# teacher-forced logits on both projects' files (tools/peer/llama_logits.cc);
# then tests/peer_formats_test compares types, bytes and logits, and
# tests/ggml_kquant_test and tests/model_variants_test run against ggml's and
# llama.cpp's libraries. Prints
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
trap '[ -n "${LLMK_PEER_FORMATS_KEEP:-}" ] || rm -rf "$work"' EXIT
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

# Float types on a trained model (stories260K, converted by llama.cpp): its
# logits barely move when one activation rounds the other way, so F32, F16 and
# BF16 must agree with llama.cpp at every position. Quantized types on a
# random-weight model whose rows are 256 values (every K-quant applies without
# llama.cpp's substitutes), 8 layers and 4-way GQA (every mix rule applies).
check "llmk-mkmodel tiny-llama-256 F32" \
  "$build/tools/llmk-mkmodel" --shape tiny-llama-256 --type f32 --seed 3 --out "$work/random-f32.gguf"
cp "$shared/models/stories260K-f32.gguf" "$work/trained-f32.gguf"
: >"$work/types.txt"
for t in F32 F16 BF16 Q8_0 Q4_0 Q2_K Q3_K_S Q3_K_M Q3_K_L Q4_K_S Q4_K_M Q5_K_S Q5_K_M Q6_K; do
  case $t in F32|F16|BF16) src=$work/trained-f32.gguf ;; *) src=$work/random-f32.gguf ;; esac
  if [ "$t" = F32 ]; then
    cp "$src" "$work/llmk-$t.gguf"; cp "$src" "$work/llama-$t.gguf"
  else
    check "llmk-quantize $t" "$build/tools/llmk-quantize" "$src" "$work/llmk-$t.gguf" "$t" ||
      continue
    check "llama-quantize $t" "$bin/llama-quantize" "$src" "$work/llama-$t.gguf" "$t" 2 \
      >"$work/llama-quantize-$t.log" 2>&1 || { tail -n 5 "$work/llama-quantize-$t.log"; continue; }
  fi
  check "llama.cpp loads llmk's $t file" \
    "$work/llama-logits" "$work/llmk-$t.gguf" "$work/llama-on-llmk-$t.logits" --sequence 64 &&
  check "llama.cpp runs its own $t file" \
    "$work/llama-logits" "$work/llama-$t.gguf" "$work/llama-on-llama-$t.logits" --sequence 64 &&
  echo "$t" >>"$work/types.txt"
done

log=$work/peer_formats_test.log
if LLMK_PEER_FORMATS_DIR=$work "$build/tests/peer_formats_test" >"$log" 2>&1 &&
   ! grep -q "llmk-tests: .* [1-9][0-9]* skipped" "$log"; then
  check "tests/peer_formats_test" true
else
  check "tests/peer_formats_test" false
fi
grep -E "MESSAGE|ERROR|FAILED|test cases" "$log" | head -n 60
# ggml's own quantizers and dequantizers, through its library, against ours.
log=$work/ggml_kquant_test.log
if LLMK_LLAMA_CPP_LIB=$bin "$build/tests/ggml_kquant_test" >"$log" 2>&1 &&
   grep -qE "llmk-tests: [1-9][0-9]* passed, 0 failed, 0 skipped" "$log"; then
  check "ggml_kquant_test against libggml-base" true
else
  check "ggml_kquant_test against libggml-base" false; tail -n 30 "$log"
fi
# The llama-family variants (RoPE scaling, rope_freqs, biases) against llama.cpp.
log=$work/model_variants_test.log
if LLMK_LLAMA_LOGITS=$work/llama-logits "$build/tests/model_variants_test" \
     --test-case="*llama.cpp*" >"$log" 2>&1 && grep -qE "llmk-tests: [1-9][0-9]* passed, 0 failed, 0 skipped" "$log"; then
  check "model_variants_test against llama.cpp" true
else
  check "model_variants_test against llama.cpp" false; tail -n 30 "$log"
fi
finish
