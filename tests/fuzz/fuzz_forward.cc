// Fuzz target: single-token forward passes of a tiny Q4_0 model
// (../shared/models/t1m-q4_0.gguf) with fuzzed token ids, positions and
// sequence indices. Input: one mode byte, then records of
//   int32 token, uint32 position, uint8 sequence
// run in order on a fresh Transformer (a 16-position, 2-sequence cache), so
// every input replays the same way. Out-of-range ids, positions past the
// cache, or positions that skip ahead must be errors; accepted calls must
// return vocab-sized, finite logits.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <span>

#include "fuzz_util.h"
#include "llmk/model.h"

namespace {

constexpr size_t kCacheLength = 16;
constexpr size_t kMaxRecords = 24;

const llmk::Model* g_model = nullptr;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_forward: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const std::string path = llmk::fuzz::shared_file_or_exit("models/t1m-q4_0.gguf");
  absl::StatusOr<llmk::Model> model = llmk::load_model(path);
  if (!model.ok()) {
    std::fprintf(stderr, "fuzz_forward: cannot load %s: %s\n", path.c_str(),
                 model.status().ToString().c_str());
    std::exit(1);
  }
  g_model = new llmk::Model(std::move(*model));  // lives for the whole run
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  llmk::fuzz::ByteReader in(std::span<const uint8_t>(data, size));
  const uint8_t mode = in.read<uint8_t>();
  llmk::TransformerOptions options;
  options.n_threads = 1;  // deterministic replay; threads are TSan's job
  options.n_seqs = 2;
  options.max_seq_len = kCacheLength;
  options.max_batch = 4;
  options.activation_mode =
      (mode & 1) ? llmk::ActivationMode::kFloat : llmk::ActivationMode::kQuantizeQ8_0;
  absl::StatusOr<std::unique_ptr<llmk::Transformer>> t =
      llmk::Transformer::create(*g_model, options);
  if (!t.ok()) fail("cannot create the transformer");

  const size_t vocab = g_model->config.vocab_size;
  for (size_t i = 0; i < kMaxRecords && !in.empty(); ++i) {
    const int32_t token = in.read<int32_t>();
    const uint32_t pos = in.read<uint32_t>();
    const uint8_t seq = in.read<uint8_t>();
    absl::StatusOr<std::span<const float>> logits = (*t)->forward(token, pos, seq);
    const bool in_range = token >= 0 && static_cast<size_t>(token) < vocab &&
                          pos < kCacheLength && seq < options.n_seqs;
    if (!logits.ok()) {
      llmk::fuzz::rejected("fuzz_forward", logits.status());
      continue;
    }
    llmk::fuzz::note("fuzz_forward", "forward ok");
    if (!in_range) fail("forward() accepted an out-of-range token, position or sequence");
    if (logits->size() != vocab) fail("logits are not vocab-sized");
    for (float v : *logits) {
      if (!std::isfinite(v)) fail("non-finite logit");
    }
  }
  return 0;
}
