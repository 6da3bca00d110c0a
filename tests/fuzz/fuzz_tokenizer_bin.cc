// Fuzz target: llama2.c tokenizer.bin parsing (vocabulary_from_llama2c) on
// arbitrary bytes, then Tokenizer::create on what it accepts, and an encode /
// decode through the resulting tokenizer.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>

#include "fuzz_util.h"
#include "llmk/tokenizer.h"

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_tokenizer_bin: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> bytes(data, size);
  absl::StatusOr<llmk::Vocabulary> vocab = llmk::vocabulary_from_llama2c(bytes);
  if (!vocab.ok()) {
    llmk::fuzz::rejected("fuzz_tokenizer_bin", vocab.status());
    return 0;
  }
  // The same file read with its own token count must give the same tokens;
  // one more token than the file holds must be an error.
  const auto n = static_cast<int64_t>(vocab->tokens.size());
  absl::StatusOr<llmk::Vocabulary> exact = llmk::vocabulary_from_llama2c(bytes, n);
  if (!exact.ok() || exact->tokens != vocab->tokens) {
    fail("reading with the token count differs from reading to the end");
  }
  if (llmk::vocabulary_from_llama2c(bytes, n + 1).ok()) {
    fail("accepted a token count larger than the file holds");
  }

  absl::StatusOr<llmk::Tokenizer> tok = llmk::Tokenizer::create(*std::move(vocab));
  if (!tok.ok()) {
    llmk::fuzz::rejected("fuzz_tokenizer_bin", tok.status());
    return 0;
  }
  absl::StatusOr<std::vector<llmk::TokenId>> ids =
      tok->encode("Hello world, caf\xc3\xa9 \xff\x00 <s>", {.parse_special = true});
  if (ids.ok()) {
    for (llmk::TokenId id : *ids) {
      if (id < 0 || static_cast<size_t>(id) >= tok->vocab_size()) fail("encode gave a bad id");
    }
    (void)tok->decode(*ids);
  }
  // Decode every token once (bounded, to keep executions fast).
  std::vector<llmk::TokenId> all;
  for (size_t i = 0; i < tok->vocab_size() && i < 1024; ++i) {
    all.push_back(static_cast<llmk::TokenId>(i));
  }
  if (!tok->decode(all, {.render_special = true}).ok()) fail("decode of valid ids failed");
  return 0;
}
