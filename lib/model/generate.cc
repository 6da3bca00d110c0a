#include "llmk/generate.h"

#include <chrono>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "llmk/kv_cache.h"
#include "util/check.h"

namespace llmk {
namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

absl::StatusOr<GenerateResult> generate(Transformer& transformer,
                                        std::span<const int32_t> prompt,
                                        const GenerateOptions& options,
                                        const TokenCallback& on_token) {
  const ModelConfig& c = transformer.config();
  if (prompt.empty()) return absl::InvalidArgumentError("generate: the prompt is empty");
  const size_t ctx = transformer.max_seq_len();
  if (prompt.size() > ctx) {
    return absl::OutOfRangeError(absl::StrCat("generate: the prompt has ", prompt.size(),
                                              " tokens, the context holds ", ctx));
  }
  if (options.seq >= transformer.kv_cache().n_seqs()) {
    return absl::OutOfRangeError(absl::StrCat("generate: seq = ", options.seq, " but the cache holds ",
                                              transformer.kv_cache().n_seqs(), " sequences"));
  }
  LLMK_ASSIGN_OR_RETURN(auto sampler, Sampler::create(options.sampler, c.vocab_size));
  const int32_t eos = options.eos_id == -2 ? c.eos_id : options.eos_id;

  GenerateResult result;
  GenerateStats& st = result.stats;
  st.prompt_tokens = prompt.size();
  // Every token so far, for the repetition penalty; reserved once.
  std::vector<int32_t> history(prompt.begin(), prompt.end());
  history.reserve(prompt.size() + options.max_new_tokens);
  result.tokens.reserve(options.max_new_tokens);
  std::vector<float> scratch(c.vocab_size);

  transformer.kv_cache().clear(options.seq);
  auto start = std::chrono::steady_clock::now();
  LLMK_ASSIGN_OR_RETURN(auto logits, transformer.forward_batch(prompt, 0, options.seq));
  st.prompt_seconds = seconds_since(start);

  start = std::chrono::steady_clock::now();
  size_t pos = prompt.size();
  st.stop = StopReason::kMaxTokens;
  while (result.tokens.size() < options.max_new_tokens) {
    std::copy(logits.begin(), logits.end(), scratch.begin());
    LLMK_ASSIGN_OR_RETURN(auto token, sampler.sample(scratch, history));
    if (token == eos) {
      st.stop = StopReason::kEos;
      break;
    }
    result.tokens.push_back(token);
    history.push_back(token);
    if (on_token && !on_token(token)) {
      st.stop = StopReason::kCallback;
      break;
    }
    if (result.tokens.size() == options.max_new_tokens) break;
    if (pos >= ctx) {
      st.stop = StopReason::kContextEnd;
      break;
    }
    LLMK_ASSIGN_OR_RETURN(logits, transformer.forward(token, pos, options.seq));
    ++pos;
    ++st.generation_forwards;
  }
  st.generation_seconds = seconds_since(start);
  st.generated_tokens = result.tokens.size();
  return result;
}

}  // namespace llmk
