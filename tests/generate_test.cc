// The generation loop: greedy decoding against run.c, stop conditions,
// reproducible sampling, streaming and statistics.
#include <cstring>
#include <string>
#include <vector>

#include "doctest/doctest.h"
#include "llmk/generate.h"
#include "llmk/model.h"
#include "llmk/model_tools.h"
#include "test_util.h"

namespace llmk {
namespace {

std::unique_ptr<Transformer> transformer_for(const Model& m, size_t threads = 1) {
  TransformerOptions opt;
  opt.n_threads = threads;
  auto t = Transformer::create(m, opt);
  REQUIRE_MESSAGE(t.ok(), t.status().ToString());
  return std::move(*t);
}

Model tiny(TensorType type = TensorType::kQ8_0, uint64_t seed = 21) {
  auto m = make_synthetic_model("tiny-llama", type, seed);
  REQUIRE_MESSAGE(m.ok(), m.status().ToString());
  return std::move(*m);
}

GenerateResult run(Transformer& t, const std::vector<int32_t>& prompt, GenerateOptions opt,
                   const TokenCallback& cb = {}) {
  auto r = generate(t, prompt, opt, cb);
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  return std::move(*r);
}

TEST_CASE("generate: greedy from BOS reproduces run.c on stories260K") {
  auto ref_path = test::shared_file_or_skip("ref/stories260K.greedy.bin");
  auto model_path = test::shared_file_or_skip("models/stories260K.bin");
  if (!ref_path || !model_path) return;
  auto bytes = test::read_file(*ref_path);
  REQUIRE(bytes.has_value());
  int32_t n;
  std::memcpy(&n, bytes->data(), 4);
  std::vector<int32_t> ref(static_cast<size_t>(n));
  std::memcpy(ref.data(), bytes->data() + 8, 4 * ref.size());
  auto m = load_model(model_path->string());
  REQUIRE(m.ok());
  auto t = transformer_for(*m);
  GenerateOptions opt;
  opt.sampler.temperature = 0;
  opt.max_new_tokens = ref.size() - 1;
  opt.eos_id = -1;  // run.c's reference ran through EOS-free greedy decoding
  std::vector<int32_t> streamed;
  auto r = run(*t, {ref[0]}, opt, [&](int32_t tok) {
    streamed.push_back(tok);
    return true;
  });
  CHECK(r.tokens == std::vector<int32_t>(ref.begin() + 1, ref.end()));
  CHECK(streamed == r.tokens);
  CHECK(r.stats.stop == StopReason::kMaxTokens);
  CHECK(r.stats.prompt_tokens == 1);
  CHECK(r.stats.generated_tokens == ref.size() - 1);
  CHECK(r.stats.generation_forwards == ref.size() - 2);
  CHECK(r.stats.generation_tokens_per_second() > 0);
}

TEST_CASE("generate: stops at the end of the context") {
  Model m = tiny();
  auto t = transformer_for(m);
  GenerateOptions opt;
  opt.sampler.temperature = 0;
  opt.max_new_tokens = 1000;
  opt.eos_id = -1;
  std::vector<int32_t> prompt(10, 7);
  auto r = run(*t, prompt, opt);
  CHECK(r.stats.stop == StopReason::kContextEnd);
  // Positions 0…63: the prompt fills 10, each generated token but the last is fed back.
  CHECK(r.tokens.size() == 64 - 10 + 1);
  std::vector<int32_t> too_long(65, 7);
  CHECK(generate(*t, too_long, opt).status().code() == absl::StatusCode::kOutOfRange);
  CHECK(generate(*t, {}, opt).status().code() == absl::StatusCode::kInvalidArgument);
  const std::vector<int32_t> bad = {1, 9999};
  CHECK(generate(*t, bad, opt).status().code() == absl::StatusCode::kOutOfRange);
}

TEST_CASE("generate: EOS stops without being returned; the callback can stop") {
  Model m = tiny();
  auto t = transformer_for(m);
  GenerateOptions opt;
  opt.sampler.temperature = 0;
  opt.max_new_tokens = 12;
  opt.eos_id = -1;
  const std::vector<int32_t> prompt = {1, 40, 41};
  auto free_run = run(*t, prompt, opt);
  REQUIRE(free_run.tokens.size() == 12);
  // The first position where a token appears that did not appear before.
  size_t k = 1;
  while (k < free_run.tokens.size() &&
         std::find(free_run.tokens.begin(), free_run.tokens.begin() + k, free_run.tokens[k]) !=
             free_run.tokens.begin() + k) {
    ++k;
  }
  REQUIRE(k < free_run.tokens.size());
  opt.eos_id = free_run.tokens[k];
  auto stopped = run(*t, prompt, opt);
  CHECK(stopped.stats.stop == StopReason::kEos);
  CHECK(stopped.tokens == std::vector<int32_t>(free_run.tokens.begin(), free_run.tokens.begin() + k));

  opt.eos_id = -1;
  size_t calls = 0;
  auto cb = run(*t, prompt, opt, [&](int32_t) { return ++calls < 3; });
  CHECK(cb.stats.stop == StopReason::kCallback);
  CHECK(cb.tokens.size() == 3);
  CHECK(cb.tokens == std::vector<int32_t>(free_run.tokens.begin(), free_run.tokens.begin() + 3));
}

TEST_CASE("generate: a seed makes sampling reproducible; threads do not change it") {
  Model m = tiny(TensorType::kQ4_0);
  GenerateOptions opt;
  opt.sampler.temperature = 1.0f;
  opt.sampler.top_p = 0.95f;
  opt.sampler.seed = 1234;
  opt.max_new_tokens = 30;
  opt.eos_id = -1;
  const std::vector<int32_t> prompt = {1, 5};
  auto t1 = transformer_for(m, 1);
  auto t2 = transformer_for(m, 2);
  auto a = run(*t1, prompt, opt);
  auto b = run(*t2, prompt, opt);
  CHECK(a.tokens == b.tokens);
  opt.sampler.seed = 99;
  auto c = run(*t1, prompt, opt);
  CHECK(c.tokens != a.tokens);
  opt.sampler.temperature = -1;
  CHECK(generate(*t1, prompt, opt).status().code() == absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace llmk
