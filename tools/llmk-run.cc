// llmk-run: generate text (or token ids) from a model file (--help for the options).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "cli/args.h"
#include "llmk/generate.h"
#include "llmk/gguf.h"
#include "llmk/model.h"
#include "llmk/tokenizer.h"

int main(int argc, char** argv) {
  using llmk::cli::kExitFailure;
  std::string model_path, prompt, tokenizer_path;
  int64_t n_tokens = 256, top_k = 0, threads = 1, ctx = 0;
  uint64_t seed = 0;
  double temperature = 1.0, top_p = 0.9;
  bool ids = false;
  llmk::LoadConfig load;
  llmk::KvType kv_type = llmk::TransformerOptions().kv_type;
  llmk::cli::ArgParser args("llmk-run", "--model FILE [options]",
                            "Generates text (or token ids) from a GGUF or llama2.c model file.");
  args.text("--model|-m", "FILE", &model_path, "the model (GGUF or llama2.c .bin)")
      .text("--prompt|-p", "TEXT", &prompt, "the prompt (needs a tokenizer)")
      .integer("--tokens|-n", "N", &n_tokens, 0, 1 << 24, "tokens to generate (default 256)")
      .real("--temperature|-t", "T", &temperature, 0, 100, "sampling temperature; 0 is greedy (default 1)")
      .real("--top-p", "P", &top_p, 0, 1, "nucleus sampling mass (default 0.9)")
      .integer("--top-k", "K", &top_k, 0, 1 << 24, "sample from the K most likely; 0 is off (default 0)")
      .unsigned_integer("--seed", "S", &seed, 0, UINT64_MAX, "sampling seed (default 0)")
      .integer("--threads", "N", &threads, 1, 1024, "threads of the forward pass (default 1)")
      .integer("--ctx", "N", &ctx, 0, 1 << 24, "context length; 0 is the model's (default 0)")
      .custom("--kv-type", "f32|f16",
              [&kv_type](const std::string& v) -> absl::Status {
                absl::StatusOr<llmk::KvType> type = llmk::parse_kv_type(v);
                if (!type.ok()) return type.status();
                kv_type = *type;
                return absl::OkStatus();
              },
              "element type of the KV cache; f16 halves its memory and the bytes attention "
              "reads per token (default f32)")
      .flag("--ids", &ids, "print token ids, not text")
      .text("--tokenizer", "FILE", &tokenizer_path, "llama2.c tokenizer.bin (default: the GGUF's own)")
      .custom("--weights", "map|copy",
              [&load](const std::string& v) -> absl::Status {
                if (v == "map") {
                  load.weights = llmk::LoadConfig::Weights::kMap;
                } else if (v == "copy") {
                  load.weights = llmk::LoadConfig::Weights::kCopy;
                } else {
                  return absl::InvalidArgumentError("expected map or copy");
                }
                return absl::OkStatus();
              },
              "GGUF weights used in place from the file's mapping, or copied into huge pages "
              "(default: copy when the file takes at most half of the available memory)")
      .epilog("Text streams to stdout; load time and speeds go to stderr at the end.\n"
              "exit codes: 0 ok, 3 usage error, 4 the model, tokenizer or generation failed.\n");
  if (std::optional<int> exit_code = llmk::cli::parse_command_line(args, argc, argv)) return *exit_code;
  if (model_path.empty()) {
    std::fprintf(stderr, "llmk-run: --model FILE is required\n%s", args.usage().c_str());
    return llmk::cli::kExitUsage;
  }

  const auto load_start = std::chrono::steady_clock::now();
  load.max_seq_len = static_cast<size_t>(ctx);
  auto model = llmk::load_model(model_path, load);
  if (!model.ok()) {
    std::fprintf(stderr, "llmk-run: %s\n", model.status().ToString().c_str());
    return kExitFailure;
  }
  // The tokenizer: --tokenizer, else the GGUF's own vocabulary.
  std::optional<llmk::Tokenizer> tokenizer;
  if (!tokenizer_path.empty()) {
    auto t = llmk::Tokenizer::load(tokenizer_path, static_cast<int64_t>(model->config.vocab_size));
    if (!t.ok()) {
      std::fprintf(stderr, "llmk-run: tokenizer: %s\n", t.status().ToString().c_str());
      return kExitFailure;
    }
    tokenizer.emplace(std::move(*t));
  } else if (model->gguf() != nullptr && model->gguf()->find("tokenizer.ggml.tokens")) {
    auto t = llmk::Tokenizer::from_gguf(*model->gguf());
    if (!t.ok()) {
      std::fprintf(stderr, "llmk-run: tokenizer: %s\n", t.status().ToString().c_str());
      return kExitFailure;
    }
    tokenizer.emplace(std::move(*t));
  }
  llmk::TransformerOptions topt;
  topt.n_threads = static_cast<size_t>(threads);
  topt.kv_type = kv_type;
  auto transformer = llmk::Transformer::create(*model, topt);
  if (!transformer.ok()) {
    std::fprintf(stderr, "llmk-run: %s\n", transformer.status().ToString().c_str());
    return kExitFailure;
  }
  const double load_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count();

  std::vector<int32_t> prompt_ids;
  const int32_t bos = model->config.bos_id;
  if (bos >= 0) prompt_ids.push_back(bos);
  if (!prompt.empty()) {
    if (!tokenizer) {
      std::fprintf(stderr, "llmk-run: --prompt needs a tokenizer (--tokenizer FILE)\n");
      return llmk::cli::kExitUsage;
    }
    auto enc = tokenizer->encode(prompt);
    if (!enc.ok()) {
      std::fprintf(stderr, "llmk-run: %s\n", enc.status().ToString().c_str());
      return kExitFailure;
    }
    prompt_ids.insert(prompt_ids.end(), enc->begin(), enc->end());
  }
  if (prompt_ids.empty()) prompt_ids.push_back(0);

  llmk::GenerateOptions gen;
  gen.max_new_tokens = static_cast<size_t>(n_tokens);
  gen.sampler.temperature = static_cast<float>(temperature);
  gen.sampler.top_p = static_cast<float>(top_p);
  gen.sampler.top_k = static_cast<size_t>(top_k);
  gen.sampler.seed = seed;
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
    return kExitFailure;
  }
  const llmk::GenerateStats& st = result->stats;
  std::fprintf(stderr,
               "load: %.3f s | prompt: %zu tokens, %.1f tok/s | generation: %zu tokens, "
               "%.1f tok/s\n",
               load_s, st.prompt_tokens, st.prompt_tokens_per_second(), st.generated_tokens,
               st.generation_tokens_per_second());
  return 0;
}
