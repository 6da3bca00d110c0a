// Fuzz target: llama2.c checkpoint validation (Llama2cCheckpoint::parse) on
// arbitrary bytes, and for a checkpoint it accepts, the model built from it by
// load_model() (through a memfd). Every weight span of an accepted checkpoint
// must lie inside the input: ASan checks that when we read both ends.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <vector>

#include "fuzz_util.h"
#include "llmk/llama2c.h"
#include "llmk/model.h"

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_llama2c: %s\n", what);
  std::abort();
}

float touch(std::span<const float> v) { return v.empty() ? 0.0f : v.front() + v.back(); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // libFuzzer's buffer is heap memory from operator new, so it is aligned
  // enough for the floats; copy anyway to be independent of that detail.
  std::vector<uint32_t> aligned((size + 3) / 4);
  if (size > 0) std::memcpy(aligned.data(), data, size);
  const std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(aligned.data()), size);

  absl::StatusOr<llmk::Llama2cConfig> header = llmk::parse_llama2c_header(bytes);
  absl::StatusOr<std::unique_ptr<llmk::Llama2cCheckpoint>> ckpt =
      llmk::Llama2cCheckpoint::parse(bytes);
  if (header.ok() != ckpt.ok()) fail("header check and checkpoint parse disagree");
  if (!ckpt.ok()) {
    llmk::fuzz::rejected("fuzz_llama2c", ckpt.status());
    return 0;
  }
  const llmk::Llama2cWeights& w = (*ckpt)->weights();
  volatile float sink = 0.0f;
  for (std::span<const float> v : {w.token_embedding, w.rms_att, w.wq, w.wk, w.wv, w.wo,
                                   w.rms_ffn, w.w1, w.w2, w.w3, w.rms_final, w.wcls}) {
    sink = sink + touch(v);
  }
  static llmk::fuzz::MemFile file;
  absl::StatusOr<llmk::Model> model = llmk::load_model(file.set(bytes));
  if (!model.ok()) {
    // Anything parse() accepts, the model loader may still refuse (e.g. a
    // classifier shape), but only with a message.
    llmk::fuzz::rejected("fuzz_llama2c", model.status());
    return 0;
  }
  llmk::fuzz::note("fuzz_llama2c", "model loaded");
  if (model->config.dim != (*ckpt)->config().dim ||
      model->config.n_layers != (*ckpt)->config().n_layers) {
    fail("the model's config differs from the checkpoint's header");
  }
  return 0;
}
