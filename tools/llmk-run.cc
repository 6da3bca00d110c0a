// llmk-run: generate text (or token ids) from a model file.
//   llmk-run --model M [--prompt TEXT] [-n N] [--temperature T] [--top-p P]
//            [--top-k K] [--seed S] [--threads N] [--ids] [--tokenizer FILE]
// Text streams to stdout; load time and speeds go to stderr at the end.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "llmk/generate.h"
#include "llmk/gguf.h"
#include "llmk/model.h"
#include "llmk/tokenizer.h"

namespace {

void usage() {
  std::fprintf(stderr,
               "usage: llmk-run --model FILE [--prompt TEXT] [-n TOKENS] [--temperature T]\n"
               "                [--top-p P] [--top-k K] [--seed S] [--threads N] [--ids]\n"
               "                [--tokenizer tokenizer.bin] [--ctx N]\n");
}

bool parse_number(const char* s, double* out) {
  char* end = nullptr;
  *out = std::strtod(s, &end);
  return end != s && *end == '\0';
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_path, prompt, tokenizer_path;
  double n_tokens = 256, temperature = 1.0, top_p = 0.9, top_k = 0, seed = 0, threads = 1,
         ctx = 0;
  bool ids = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](double* out) {
      if (i + 1 >= argc || !parse_number(argv[i + 1], out)) {
        std::fprintf(stderr, "llmk-run: %s needs a number\n", a.c_str());
        std::exit(2);
      }
      ++i;
    };
    auto text = [&](std::string* out) {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "llmk-run: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      *out = argv[++i];
    };
    if (a == "--model" || a == "-m") text(&model_path);
    else if (a == "--prompt" || a == "-p") text(&prompt);
    else if (a == "--tokenizer") text(&tokenizer_path);
    else if (a == "-n" || a == "--tokens") value(&n_tokens);
    else if (a == "--temperature" || a == "-t") value(&temperature);
    else if (a == "--top-p") value(&top_p);
    else if (a == "--top-k") value(&top_k);
    else if (a == "--seed") value(&seed);
    else if (a == "--threads") value(&threads);
    else if (a == "--ctx") value(&ctx);
    else if (a == "--ids") ids = true;
    else if (a == "--help" || a == "-h") { usage(); return 0; }
    else {
      std::fprintf(stderr, "llmk-run: unknown argument '%s'\n", a.c_str());
      usage();
      return 2;
    }
  }
  if (model_path.empty()) {
    usage();
    return 2;
  }
  if (n_tokens < 0 || threads < 1 || threads > 1024 || top_k < 0 || ctx < 0 || seed < 0) {
    std::fprintf(stderr, "llmk-run: a numeric argument is out of range\n");
    return 2;
  }

  const auto load_start = std::chrono::steady_clock::now();
  llmk::LoadConfig load;
  load.max_seq_len = static_cast<size_t>(ctx);
  auto model = llmk::load_model(model_path, load);
  if (!model.ok()) {
    std::fprintf(stderr, "llmk-run: %s\n", model.status().ToString().c_str());
    return 1;
  }
  // The tokenizer: --tokenizer, else the GGUF's own vocabulary.
  std::optional<llmk::Tokenizer> tokenizer;
  if (!tokenizer_path.empty()) {
    auto t = llmk::Tokenizer::load(tokenizer_path, static_cast<int64_t>(model->config.vocab_size));
    if (!t.ok()) {
      std::fprintf(stderr, "llmk-run: tokenizer: %s\n", t.status().ToString().c_str());
      return 1;
    }
    tokenizer.emplace(std::move(*t));
  } else if (model->gguf() != nullptr && model->gguf()->find("tokenizer.ggml.tokens")) {
    auto t = llmk::Tokenizer::from_gguf(*model->gguf());
    if (!t.ok()) {
      std::fprintf(stderr, "llmk-run: tokenizer: %s\n", t.status().ToString().c_str());
      return 1;
    }
    tokenizer.emplace(std::move(*t));
  }
  llmk::TransformerOptions topt;
  topt.n_threads = static_cast<size_t>(threads);
  auto transformer = llmk::Transformer::create(*model, topt);
  if (!transformer.ok()) {
    std::fprintf(stderr, "llmk-run: %s\n", transformer.status().ToString().c_str());
    return 1;
  }
  const double load_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count();

  std::vector<int32_t> prompt_ids;
  const int32_t bos = model->config.bos_id;
  if (bos >= 0) prompt_ids.push_back(bos);
  if (!prompt.empty()) {
    if (!tokenizer) {
      std::fprintf(stderr, "llmk-run: --prompt needs a tokenizer (--tokenizer FILE)\n");
      return 2;
    }
    auto enc = tokenizer->encode(prompt);
    if (!enc.ok()) {
      std::fprintf(stderr, "llmk-run: %s\n", enc.status().ToString().c_str());
      return 1;
    }
    prompt_ids.insert(prompt_ids.end(), enc->begin(), enc->end());
  }
  if (prompt_ids.empty()) prompt_ids.push_back(0);

  llmk::GenerateOptions gen;
  gen.max_new_tokens = static_cast<size_t>(n_tokens);
  gen.sampler.temperature = static_cast<float>(temperature);
  gen.sampler.top_p = static_cast<float>(top_p);
  gen.sampler.top_k = static_cast<size_t>(top_k);
  gen.sampler.seed = static_cast<uint64_t>(seed);
  bool first = true;
  std::string piece;
  auto result = llmk::generate(**transformer, prompt_ids, gen, [&](int32_t tok) {
    if (ids || !tokenizer) {
      std::printf("%s%d", first ? "" : " ", tok);
    } else {
      llmk::DecodeOptions dopt;
      dopt.remove_prefix_space = first && prompt.empty();
      piece.clear();
      if (tokenizer->decode({&tok, 1}, dopt, &piece).ok()) {
        std::fwrite(piece.data(), 1, piece.size(), stdout);
      }
    }
    first = false;
    std::fflush(stdout);
    return true;
  });
  std::printf("\n");
  if (!result.ok()) {
    std::fprintf(stderr, "llmk-run: %s\n", result.status().ToString().c_str());
    return 1;
  }
  const llmk::GenerateStats& st = result->stats;
  std::fprintf(stderr,
               "load: %.3f s | prompt: %zu tokens, %.1f tok/s | generation: %zu tokens, "
               "%.1f tok/s\n",
               load_s, st.prompt_tokens, st.prompt_tokens_per_second(), st.generated_tokens,
               st.generation_tokens_per_second());
  return 0;
}
