// The generation loop: a prompt's token ids in, new token ids out, streamed
// through a callback, with timing. Text is the caller's business (see
// tokenizer.h); this loop works on ids so it serves every vocabulary.
#pragma once

#include "llmk/export.h"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "llmk/model.h"
#include "llmk/sampler.h"

namespace llmk LLMK_API {

struct GenerateOptions {
  size_t max_new_tokens = 128;
  SamplerConfig sampler;  // temperature 0 = greedy
  // Stop when this token is sampled (it is neither returned nor streamed);
  // −2 = the model's eos_id, −1 = never stop on a token.
  int32_t eos_id = -2;
  size_t seq = 0;  // the KV-cache sequence to use (cleared first)
};

enum class StopReason { kEos, kMaxTokens, kContextEnd, kCallback };

struct GenerateStats {
  size_t prompt_tokens = 0;
  size_t generated_tokens = 0;  // tokens returned
  size_t generation_forwards = 0;  // forward passes after the prompt
  double prompt_seconds = 0;       // the prompt's forward pass (batched)
  double generation_seconds = 0;   // every later forward pass and sampling
  StopReason stop = StopReason::kMaxTokens;
  double prompt_tokens_per_second() const {
    return prompt_seconds > 0 ? static_cast<double>(prompt_tokens) / prompt_seconds : 0;
  }
  double generation_tokens_per_second() const {
    return generation_seconds > 0 ? static_cast<double>(generation_forwards) / generation_seconds
                                  : 0;
  }
};

struct GenerateResult {
  std::vector<int32_t> tokens;  // the new tokens, EOS excluded
  GenerateStats stats;
};

// Called with each new token as soon as it is sampled; return false to stop.
using TokenCallback = std::function<bool(int32_t token)>;

// Runs the prompt (non-empty; batched) from position 0 of options.seq, then
// samples until EOS, max_new_tokens, the end of the context, or the callback
// says stop. Errors: an empty prompt or one that does not fit the context, a
// bad sampler configuration, token ids outside the vocabulary.
absl::StatusOr<GenerateResult> generate(Transformer& transformer,
                                        std::span<const int32_t> prompt,
                                        const GenerateOptions& options,
                                        const TokenCallback& on_token = {});

}  // namespace llmk
