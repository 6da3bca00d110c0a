// Fuzz target: SentencePiece (Llama) encoding of arbitrary bytes with the
// Llama vocabulary (../shared/vocab/ggml-vocab-llama-spm.gguf, else
// ../shared/models/tokenizer.bin). Encoding must succeed for any bytes, give
// ids inside the vocabulary, give the same ids when repeated (the per-thread
// piece cache must not change results), and decode back without error.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "tokenizer_fuzz_util.h"

namespace {

const llmk::Tokenizer* g_tok = nullptr;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_spm_encode: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  g_tok = llmk::fuzz::load_shared_tokenizer(
      {"vocab/ggml-vocab-llama-spm.gguf", "models/tokenizer.bin"});
  if (g_tok->kind() != llmk::VocabKind::kLlama) fail("the Llama vocabulary is not kLlama");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (bool special : {false, true}) {
    const llmk::EncodeOptions options{.add_bos = true, .parse_special = special};
    absl::StatusOr<std::vector<llmk::TokenId>> ids = g_tok->encode(text, options);
    if (!ids.ok()) {
      std::fprintf(stderr, "%s\n", ids.status().ToString().c_str());
      fail("encode failed on plain input");
    }
    for (llmk::TokenId id : *ids) {
      if (id < 0 || static_cast<size_t>(id) >= g_tok->vocab_size()) fail("id out of range");
    }
    absl::StatusOr<std::vector<llmk::TokenId>> again = g_tok->encode(text, options);
    if (!again.ok() || *again != *ids) fail("encoding the same text twice differs");
    if (!g_tok->decode(*ids).ok()) fail("decode of encode's ids failed");
  }
  return 0;
}
