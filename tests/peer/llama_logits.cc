// llama_logits: teacher-forced logits from llama.cpp, for the model tests to
// compare with (model_variants_test reads LLMK_LLAMA_LOGITS for its path).
// Not part of the build, since it needs llama.cpp's headers and library:
//
//   L=path/to/llama.cpp  LIB=path/to/its/libllama.so's/folder
//   g++ -O2 -std=c++17 -I$L/include -I$L/ggml/include tests/peer/llama_logits.cc \
//       -L$LIB -lllama -lggml -lggml-base -Wl,-rpath,$LIB -o llama_logits
//
// Usage: llama_logits MODEL.gguf OUT.bin TOKEN... — decodes the tokens one
// llama_decode at a time (1 thread, f32 KV cache) and writes each token's
// logits, n_tokens × vocab f32, to OUT.bin. Exit status 1 when llama.cpp
// refuses the model, 2 on bad arguments.
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "llama.h"

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: llama_logits MODEL.gguf OUT.bin TOKEN...\n");
    return 2;
  }
  std::vector<llama_token> tokens;
  for (int i = 3; i < argc; ++i) tokens.push_back(static_cast<llama_token>(std::atoi(argv[i])));
  llama_backend_init();
  llama_model* model = llama_model_load_from_file(argv[1], llama_model_default_params());
  if (model == nullptr) return 1;
  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = static_cast<uint32_t>(tokens.size());
  cp.n_batch = cp.n_ubatch = static_cast<uint32_t>(tokens.size());
  cp.n_threads = cp.n_threads_batch = 1;
  cp.type_k = cp.type_v = GGML_TYPE_F32;
  llama_context* ctx = llama_init_from_model(model, cp);
  if (ctx == nullptr) return 1;
  const int vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));
  std::FILE* out = std::fopen(argv[2], "wb");
  if (out == nullptr) return 2;
  for (llama_token& t : tokens) {
    if (llama_decode(ctx, llama_batch_get_one(&t, 1)) != 0) return 1;
    const float* logits = llama_get_logits_ith(ctx, -1);
    if (std::fwrite(logits, sizeof(float), vocab, out) != static_cast<size_t>(vocab)) return 2;
  }
  std::fclose(out);
  llama_free(ctx);
  llama_model_free(model);
  llama_backend_free();
  return 0;
}
