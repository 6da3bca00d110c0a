// Fuzz target: GPT-2 byte-level BPE encoding of arbitrary bytes with the
// GPT-2 vocabulary (../shared/vocab/ggml-vocab-gpt-2.gguf). tokenizer.h
// promises decode(encode(bytes)) == bytes for any input; we check that, ids
// inside the vocabulary, and repeatability (the per-thread piece cache).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "tokenizer_fuzz_util.h"

namespace {

const llmk::Tokenizer* g_tok = nullptr;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_bpe_encode: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  g_tok = llmk::fuzz::load_shared_tokenizer({"vocab/ggml-vocab-gpt-2.gguf"});
  if (g_tok->kind() != llmk::VocabKind::kGpt2) fail("the GPT-2 vocabulary is not kGpt2");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<std::vector<llmk::TokenId>> ids = g_tok->encode(text);
  if (!ids.ok()) {
    std::fprintf(stderr, "%s\n", ids.status().ToString().c_str());
    fail("encode failed on plain input");
  }
  for (llmk::TokenId id : *ids) {
    if (id < 0 || static_cast<size_t>(id) >= g_tok->vocab_size()) fail("id out of range");
  }
  absl::StatusOr<std::vector<llmk::TokenId>> again = g_tok->encode(text);
  if (!again.ok() || *again != *ids) fail("encoding the same text twice differs");
  absl::StatusOr<std::string> back = g_tok->decode(*ids);
  if (!back.ok()) fail("decode of encode's ids failed");
  if (*back != text) fail("decode(encode(bytes)) != bytes");

  // With special-token parsing, "<|endoftext|>" in the text becomes its id;
  // rendering special tokens must then give the text back as well.
  absl::StatusOr<std::vector<llmk::TokenId>> special =
      g_tok->encode(text, {.parse_special = true});
  if (!special.ok()) fail("encode with parse_special failed");
  absl::StatusOr<std::string> rendered = g_tok->decode(*special, {.render_special = true});
  if (!rendered.ok() || *rendered != text) fail("round trip with special tokens differs");
  return 0;
}
