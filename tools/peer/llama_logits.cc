// llama-logits: teacher-forced logits from llama.cpp, one token per
// llama_decode call, f32 KV cache, 1 thread, for the tests that compare our
// forward pass with llama.cpp's (tests/peer_formats_test.cc,
// tests/model_variants_test.cc). The tokens are given, or with --sequence N
// the sequence the reference files in ../shared/ref/logits use: 1, then
// (i·7919 + 13) mod vocab. Output: int32 n, int32 vocab, n int32 tokens,
// n × vocab f32 logits. Exit status 1 when llama.cpp refuses the model.
//
// Built against a llama.cpp build, not with this project (it links libllama):
//   g++ -std=c++17 -O2 -I SRC/include -I SRC/ggml/include llama_logits.cc
//       -L BUILD/bin -lllama -Wl,-rpath,BUILD/bin -o llama-logits   (one line)
//   llama-logits MODEL.gguf OUT.bin --sequence N
//   llama-logits MODEL.gguf OUT.bin TOKEN...
// .ci/peer_formats.sh does this.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "llama.h"

namespace {

void quiet_log(ggml_log_level level, const char* text, void*) {
  if (level == GGML_LOG_LEVEL_ERROR) std::fputs(text, stderr);
}

}  // namespace

int main(int argc, char** argv) {
  const bool sequence = argc == 5 && std::string(argv[3]) == "--sequence";
  if (argc < 4 || (argc == 5 && std::string(argv[3]).rfind("--", 0) == 0 && !sequence)) {
    std::fprintf(stderr, "usage: %s MODEL.gguf OUT.bin (--sequence N | TOKEN...)\n", argv[0]);
    return 2;
  }
  const int n = sequence ? std::atoi(argv[4]) : argc - 3;
  if (n <= 0) {
    std::fprintf(stderr, "llama-logits: N must be positive\n");
    return 2;
  }
  llama_log_set(quiet_log, nullptr);
  llama_backend_init();
  llama_model_params mp = llama_model_default_params();
  llama_model* model = llama_model_load_from_file(argv[1], mp);
  if (model == nullptr) {
    std::fprintf(stderr, "llama-logits: llama.cpp could not load %s\n", argv[1]);
    return 1;
  }
  const int vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));
  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = static_cast<uint32_t>(n);
  cp.n_batch = cp.n_ubatch = 1;
  cp.n_threads = cp.n_threads_batch = 1;
  cp.type_k = cp.type_v = GGML_TYPE_F32;
  llama_context* ctx = llama_init_from_model(model, cp);
  if (ctx == nullptr) {
    std::fprintf(stderr, "llama-logits: no context for %s\n", argv[1]);
    return 1;
  }
  std::vector<int32_t> tokens(n);
  for (int i = 0; i < n; ++i) {
    tokens[i] = sequence ? (i == 0 ? 1 : static_cast<int32_t>((int64_t{i} * 7919 + 13) % vocab))
                         : static_cast<int32_t>(std::atol(argv[3 + i]));
    if (tokens[i] < 0 || tokens[i] >= vocab) {
      std::fprintf(stderr, "llama-logits: token %d is outside the vocabulary\n", tokens[i]);
      return 2;
    }
  }
  std::vector<float> logits(static_cast<size_t>(n) * vocab);
  for (int i = 0; i < n; ++i) {
    llama_token t = tokens[i];
    if (llama_decode(ctx, llama_batch_get_one(&t, 1)) != 0) {
      std::fprintf(stderr, "llama-logits: llama_decode failed at position %d\n", i);
      return 1;
    }
    const float* row = llama_get_logits_ith(ctx, -1);
    std::copy(row, row + vocab, logits.begin() + static_cast<size_t>(i) * vocab);
  }
  FILE* out = std::fopen(argv[2], "wb");
  const int32_t header[2] = {n, vocab};
  bool ok = out != nullptr && std::fwrite(header, sizeof header, 1, out) == 1 &&
            std::fwrite(tokens.data(), sizeof(int32_t), tokens.size(), out) == tokens.size() &&
            std::fwrite(logits.data(), sizeof(float), logits.size(), out) == logits.size();
  if (out != nullptr) ok = std::fclose(out) == 0 && ok;
  if (!ok) {
    std::fprintf(stderr, "llama-logits: could not write %s\n", argv[2]);
    return 1;
  }
  llama_free(ctx);
  llama_model_free(model);
  llama_backend_free();
  return 0;
}
