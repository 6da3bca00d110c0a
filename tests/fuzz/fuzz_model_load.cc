// Fuzz target: load_model() on arbitrary bytes (GGUF or llama2.c, told apart
// by the magic, as for a file on disk). The bytes go through a memfd so the
// real path-based loader, mapping included, is what runs. A model that loads
// must have every weight view inside its storage; ASan checks that when we
// read each view's first and last element.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>

#include "fuzz_util.h"
#include "llmk/model.h"

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_model_load: %s\n", what);
  std::abort();
}

uint64_t touch(const llmk::WeightView& w) {
  // A view covers rows × row_bytes(); reading both ends is enough for ASan to
  // catch one that runs past its buffer.
  if (w.data == nullptr || w.rows == 0) return 0;
  const auto* bytes = static_cast<const uint8_t*>(w.data);
  const size_t n = w.rows * w.row_bytes();
  return uint64_t{bytes[0]} + bytes[n - 1];
}

uint64_t touch(std::span<const float> v) {
  if (v.empty()) return 0;
  return static_cast<uint64_t>(std::isfinite(v.front())) + std::isfinite(v.back());
}

uint64_t touch_model(const llmk::Model& m) {
  const llmk::ModelConfig& c = m.config;
  if (c.dim == 0 || c.n_heads == 0 || c.n_kv_heads == 0 || c.vocab_size == 0 ||
      c.n_layers != m.weights.layers.size() || c.dim % c.n_heads != 0 ||
      c.n_heads % c.n_kv_heads != 0) {
    fail("a loaded model has an inconsistent config");
  }
  uint64_t sum = touch(m.weights.token_embedding) + touch(m.weights.position_embedding) +
                 touch(m.weights.output) + touch(m.weights.output_norm) +
                 touch(m.weights.output_norm_bias);
  for (const llmk::LayerWeights& l : m.weights.layers) {
    for (const llmk::WeightView* w : l.matrices()) sum += touch(*w);
    for (std::span<const float> v : {l.attn_norm, l.attn_norm_bias, l.attn_qkv_bias,
                                     l.attn_output_bias, l.ffn_norm, l.ffn_norm_bias,
                                     l.ffn_up_bias, l.ffn_down_bias}) {
      sum += touch(v);
    }
  }
  return sum;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static llmk::fuzz::MemFile file;
  const std::string& path = file.set(std::span<const uint8_t>(data, size));
  absl::StatusOr<llmk::Model> model = llmk::load_model(path);
  if (!model.ok()) {
    llmk::fuzz::rejected("fuzz_model_load", model.status());
    return 0;
  }
  llmk::fuzz::note("fuzz_model_load", "loaded");
  volatile uint64_t sink = touch_model(*model);
  // The conversions (dequantize to f32, quantize to Q8_0) read every weight.
  llmk::LoadConfig f32;
  f32.allow_quantized = false;
  if (absl::StatusOr<llmk::Model> m = llmk::load_model(path, f32); m.ok()) {
    sink = touch_model(*m);
  } else {
    llmk::fuzz::rejected("fuzz_model_load (f32)", m.status());
  }
  (void)sink;
  return 0;
}
