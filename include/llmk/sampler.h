// Picks the next token from a vector of logits: greedy (argmax), or a random
// draw from the softmax after repetition penalty, temperature, top-k and
// top-p (nucleus) filtering, in that order (the order of llama2.c and of
// Hugging Face's logits processors).
//
// The random stream is the library's own (xoshiro256** seeded through
// splitmix64), so a fixed seed gives the same tokens on every platform and
// standard library. A Sampler is not thread-safe; use one per sequence.
#pragma once

#include "llmk/export.h"

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace llmk LLMK_API {

struct SamplerConfig {
  float temperature = 1.0f;          // ≥ 0; 0 => greedy (argmax)
  size_t top_k = 0;                  // keep the k most likely tokens; 0 = off
  float top_p = 1.0f;                // in (0, 1]; 1 = off
  // > 0. Logits of recently seen tokens are divided by it when positive and
  // multiplied by it when negative (CTRL, llama.cpp); each token once, however
  // often it occurs. 1 = off.
  float repetition_penalty = 1.0f;
  size_t repetition_window = 64;     // how many of the last tokens count
  uint64_t seed = 0;
};

class Sampler {
 public:
  // InvalidArgumentError for temperature < 0 or not finite, top_p outside
  // (0, 1], repetition_penalty ≤ 0 or not finite, vocab_size 0 or > INT32_MAX.
  static absl::StatusOr<Sampler> create(SamplerConfig config, size_t vocab_size);

  // One token id in [0, vocab_size). `logits` (vocab_size entries) is used as
  // scratch and overwritten (penalized, then probabilities where sampling).
  // `recent_tokens` are the previous tokens, oldest first; only the last
  // repetition_window count. InvalidArgumentError for a wrong logits size, a
  // NaN or +inf logit, all logits −inf, or a recent token outside the
  // vocabulary. −inf logits are allowed (masked tokens). Allocates nothing.
  absl::StatusOr<int32_t> sample(std::span<float> logits,
                                 std::span<const int32_t> recent_tokens = {});

  // Restarts the random stream as if created with `seed`.
  void reseed(uint64_t seed);

  const SamplerConfig& config() const { return config_; }
  size_t vocab_size() const { return vocab_size_; }

 private:
  Sampler(SamplerConfig config, size_t vocab_size);

  uint64_t next_u64();
  double next_unit();  // uniform in [0, 1)
  int32_t draw(std::span<float> logits);
  int32_t draw_from_all(std::span<const float> prob);

  static constexpr size_t kDrawBlock = 256;  // tokens per block sum in draw_from_all

  SamplerConfig config_;
  size_t vocab_size_ = 0;
  uint64_t state_[4] = {};
  std::vector<int32_t> order_;  // candidate token ids (vocab_size)
  std::vector<uint8_t> seen_;   // repetition-penalty marks (vocab_size, kept all-zero)
  std::vector<double> block_mass_;  // ⌈vocab_size / kDrawBlock⌉
};

}  // namespace llmk
