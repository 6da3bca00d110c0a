// Fuzz target: decoding arbitrary token ids. Input: one selector byte (bit 0:
// the GPT-2 vocabulary, else Llama; bit 1: render_special; bit 2:
// remove_prefix_space), then int32 ids. Any id outside the vocabulary must
// give an error that appends nothing; otherwise decode must succeed.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "tokenizer_fuzz_util.h"

namespace {

const llmk::Tokenizer* g_llama = nullptr;
const llmk::Tokenizer* g_gpt2 = nullptr;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_decode: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  g_llama = llmk::fuzz::load_shared_tokenizer(
      {"vocab/ggml-vocab-llama-spm.gguf", "models/tokenizer.bin"});
  g_gpt2 = llmk::fuzz::load_shared_tokenizer({"vocab/ggml-vocab-gpt-2.gguf"});
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t selector = data[0];
  const llmk::Tokenizer& tok = (selector & 1) ? *g_gpt2 : *g_llama;
  const llmk::DecodeOptions options{.render_special = (selector & 2) != 0,
                                    .remove_prefix_space = (selector & 4) != 0};
  std::vector<llmk::TokenId> ids((size - 1) / sizeof(llmk::TokenId));
  if (!ids.empty()) std::memcpy(ids.data(), data + 1, ids.size() * sizeof(llmk::TokenId));
  bool in_range = true;
  for (llmk::TokenId id : ids) {
    in_range = in_range && id >= 0 && static_cast<size_t>(id) < tok.vocab_size();
    // The per-token accessors must take any id.
    (void)tok.token_text(id);
    (void)tok.token_type(id);
    (void)tok.token_score(id);
  }
  std::string out = "prefix";
  const absl::Status st = tok.decode(ids, options, &out);
  if (st.ok() != in_range) fail(in_range ? "decode rejected valid ids" : "decode accepted a bad id");
  if (!st.ok() && out != "prefix") fail("a failed decode appended text");
  if (st.ok() && out.compare(0, 6, "prefix") != 0) fail("decode changed the existing text");
  return 0;
}
