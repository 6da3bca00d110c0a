// End-to-end generation, named like llama-bench's tests:
//   generate/<model>/pp<N>   prompt processing: one batched forward of N tokens
//   generate/<model>/tg<N>   text generation: N single-token forwards, greedy
//   generate/<model>/batch<S>/tg<N>  S independent sequences decoded together
// items are tokens, so items/s is tokens/s (items_per_second in the JSON), and
// bytes_per_op counts the weight bytes streamed, so GB/s shows how close
// generation runs to the memory-bandwidth roof.
//
// Models: --model FILE, or synthetic ones built in memory (random weights of
// the stories15M shape, separate output matrix, as F32, Q8_0 and Q4_0).
// --scaling adds tg entries for the stories15M, stories42M, stories110M and
// tinyllama-1.1B shapes (Q4_0), the seed's throughput-scaling table.
//
// With --llama-bench PATH each pp and tg entry gets a peer entry,
// <entry>/llama.cpp, that runs llama.cpp's llama-bench on the same model
// (written as GGUF, or the --model file itself), with the same prompt
// length, generated tokens, threads and CPU mask, one llama-bench run per
// call timed by llama-bench itself (manual_time). Being an entry of its own,
// the runner's shuffled order interleaves it with ours repetition by
// repetition, and ours gets a same-run ratio target against it: generation
// at least 1.2x llama.cpp, prompt processing at least 1.0x.
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "llmk/bench.h"
#include "llmk/kv_cache.h"
#include "llmk/model.h"
#include "llmk/ops.h"
#include "harness/affinity.h"
#include "suites/peer_llama_bench.h"
#include "suites/suite_util.h"

namespace llmk::bench {
namespace {

constexpr size_t kPromptTokens = 128;
constexpr size_t kGenTokens = 64;
constexpr size_t kBatchSeqs = 4;
constexpr size_t kBatchGenTokens = 32;
constexpr uint64_t kSeed = 1234;

// Models are large (60 MB for stories15M in F32, 600 MB for tinyllama in
// Q4_0): build each once, on first use, and share it between entries.
absl::StatusOr<std::shared_ptr<const Model>> cached_model(const std::string& key,
                                                          const std::function<absl::StatusOr<Model>()>& make) {
  static std::mutex mutex;
  static std::map<std::string, std::shared_ptr<const Model>> cache;
  std::lock_guard<std::mutex> lock(mutex);
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  auto model = make();
  if (!model.ok()) return model.status();
  auto shared = std::make_shared<const Model>(*std::move(model));
  cache[key] = shared;
  return shared;
}

struct ModelSource {
  std::string label;  // the <model> part of the name
  std::function<absl::StatusOr<Model>()> make;
  std::string gguf_path;  // the model's own GGUF file, when it came from one
};

uint64_t parameter_count(const ModelConfig& c) {
  const uint64_t per_layer = 2ull * c.dim * c.dim + 2ull * c.dim * c.kv_dim() +
                             3ull * c.dim * c.hidden_dim + 2ull * c.dim;
  return c.n_layers * per_layer + 2ull * c.vocab_size * c.dim + c.dim;
}

absl::StatusOr<std::unique_ptr<Transformer>> make_transformer(const Model& model, size_t threads,
                                                              size_t n_seqs, size_t ctx) {
  TransformerOptions options;
  options.n_threads = threads;
  options.n_seqs = n_seqs;
  options.max_seq_len = std::min(ctx, model.config.max_seq_len);
  options.max_batch = kPromptTokens;
  options.spin_wait = threads > 1;
  return Transformer::create(model, options);
}

int32_t first_token(const ModelConfig& c) {
  return c.bos_id >= 0 && static_cast<size_t>(c.bos_id) < c.vocab_size ? c.bos_id : 0;
}

BenchmarkSpec prompt_spec(const ModelSource& src, size_t threads) {
  BenchmarkSpec s;
  s.name = absl::StrCat("generate/", src.label, "/pp", kPromptTokens,
                        threads > 1 ? absl::StrCat("/threads:", threads) : "");
  s.item_name = "token";
  s.items_per_op = kPromptTokens;
  s.threads = threads;
  s.setup = [src, threads](const BenchmarkConfig&) -> absl::StatusOr<BatchFn> {
    auto model = cached_model(src.label, src.make);
    if (!model.ok()) return in_context(model.status(), absl::StrCat("model ", src.label));
    const ModelConfig& c = (*model)->config;
    if (c.max_seq_len < kPromptTokens) {
      return absl::FailedPreconditionError(absl::StrCat("context ", c.max_seq_len, " < ", kPromptTokens));
    }
    auto t = make_transformer(**model, threads, 1, kPromptTokens);
    if (!t.ok()) return t.status();
    auto tokens = std::make_shared<std::vector<int32_t>>(kPromptTokens);
    for (size_t i = 0; i < kPromptTokens; ++i) {
      (*tokens)[i] = static_cast<int32_t>((i * 7919 + 13) % c.vocab_size);
    }
    std::shared_ptr<Transformer> tr(std::move(*t));
    return BatchFn([tr, tokens, model = *model](uint64_t count) -> absl::Status {
      for (uint64_t i = 0; i < count; ++i) {
        const auto logits = tr->forward_batch(*tokens, 0);
        if (!logits.ok()) [[unlikely]] {
          return in_context(logits.status(),
                            absl::StrCat(tokens->size(), " tokens"));
        }
        do_not_optimize(logits->data());
      }
      return absl::OkStatus();
    });
  };
  return s;
}

BenchmarkSpec generation_spec(const ModelSource& src, size_t threads, const std::string& suffix = "") {
  BenchmarkSpec s;
  s.name = absl::StrCat("generate/", src.label, "/tg", kGenTokens,
                        threads > 1 ? absl::StrCat("/threads:", threads) : "", suffix);
  s.item_name = "token";
  s.items_per_op = kGenTokens;
  s.threads = threads;
  s.setup = [src, threads](const BenchmarkConfig&) -> absl::StatusOr<BatchFn> {
    auto model = cached_model(src.label, src.make);
    if (!model.ok()) return in_context(model.status(), absl::StrCat("model ", src.label));
    auto t = make_transformer(**model, threads, 1, kGenTokens);
    if (!t.ok()) return t.status();
    std::shared_ptr<Transformer> tr(std::move(*t));
    const int32_t start = first_token((*model)->config);
    return BatchFn([tr, start, model = *model](uint64_t count) -> absl::Status {
      for (uint64_t i = 0; i < count; ++i) {
        int32_t token = start;
        for (size_t pos = 0; pos < kGenTokens; ++pos) {
          const auto logits = tr->forward(token, pos);
          if (!logits.ok()) [[unlikely]] {
            return in_context(logits.status(), absl::StrCat("token ", token, " at pos ", pos));
          }
          const absl::StatusOr<size_t> next = llmk::argmax(*logits);
          if (!next.ok()) [[unlikely]] {
            return in_context(next.status(), absl::StrCat("logits at pos ", pos));
          }
          token = static_cast<int32_t>(*next);
        }
        do_not_optimize(token);
      }
      return absl::OkStatus();
    });
  };
  return s;
}

BenchmarkSpec batched_generation_spec(const ModelSource& src, size_t threads) {
  BenchmarkSpec s;
  s.name = absl::StrCat("generate/", src.label, "/batch", kBatchSeqs, "/tg", kBatchGenTokens,
                        threads > 1 ? absl::StrCat("/threads:", threads) : "");
  s.item_name = "token";
  s.items_per_op = kBatchSeqs * kBatchGenTokens;
  s.threads = threads;
  s.setup = [src, threads](const BenchmarkConfig&) -> absl::StatusOr<BatchFn> {
    auto model = cached_model(src.label, src.make);
    if (!model.ok()) return in_context(model.status(), absl::StrCat("model ", src.label));
    auto t = make_transformer(**model, threads, kBatchSeqs, kBatchGenTokens);
    if (!t.ok()) return t.status();
    std::shared_ptr<Transformer> tr(std::move(*t));
    const size_t vocab = (*model)->config.vocab_size;
    return BatchFn([tr, vocab, model = *model](uint64_t count) -> absl::Status {
      std::vector<int32_t> tokens(kBatchSeqs);
      std::vector<size_t> positions(kBatchSeqs), seqs(kBatchSeqs);
      for (uint64_t i = 0; i < count; ++i) {
        for (size_t q = 0; q < kBatchSeqs; ++q) {
          tokens[q] = static_cast<int32_t>((q * 101 + 7) % vocab);  // a different prompt each
          seqs[q] = q;
        }
        for (size_t pos = 0; pos < kBatchGenTokens; ++pos) {
          std::fill(positions.begin(), positions.end(), pos);
          const auto logits = tr->forward_seqs(tokens, positions, seqs);
          if (!logits.ok()) [[unlikely]] {
            return in_context(logits.status(),
                              absl::StrCat(kBatchSeqs, " sequences at pos ", pos));
          }
          if (logits->size() < kBatchSeqs * vocab) [[unlikely]] {
            return absl::InternalError(absl::StrCat("forward_seqs returned ", logits->size(),
                                                    " logits, expected ", kBatchSeqs * vocab));
          }
          for (size_t q = 0; q < kBatchSeqs; ++q) {
            const absl::StatusOr<size_t> next = llmk::argmax(logits->subspan(q * vocab, vocab));
            if (!next.ok()) [[unlikely]] {
              return in_context(next.status(),
                                absl::StrCat("sequence ", q, " at pos ", pos));
            }
            tokens[q] = static_cast<int32_t>(*next);
          }
        }
        do_not_optimize(tokens.data());
      }
      return absl::OkStatus();
    });
  };
  return s;
}

// The GGUF file llama.cpp loads for `src`: its own file, or the model
// written once into the peers' scratch directory.
absl::StatusOr<std::string> peer_model_file(const ModelSource& src) {
  if (!src.gguf_path.empty()) return src.gguf_path;
  static std::mutex mutex;
  static std::map<std::string, std::string> written;
  std::lock_guard<std::mutex> lock(mutex);
  if (auto it = written.find(src.label); it != written.end()) return it->second;
  absl::StatusOr<std::string> dir = peer_scratch_dir();
  if (!dir.ok()) return dir.status();
  auto model = cached_model(src.label, src.make);
  if (!model.ok()) return in_context(model.status(), absl::StrCat("model ", src.label));
  const std::string path = absl::StrCat(*dir, "/", src.label, ".gguf");
  if (absl::Status st = write_model_gguf(**model, path, absl::StrCat("llmk-", src.label)); !st.ok()) {
    return in_context(st, absl::StrCat("writing ", path));
  }
  written[src.label] = path;
  return path;
}

// The llama-bench run matching one of our entries, as an entry of its own.
BenchmarkSpec llama_cpp_peer_spec(const BenchmarkSpec& ours, const ModelSource& src,
                                  size_t n_prompt, size_t n_gen, const std::string& binary) {
  BenchmarkSpec s;
  s.name = absl::StrCat(ours.name, "/llama.cpp");
  s.item_name = ours.item_name;
  s.items_per_op = ours.items_per_op;
  s.bytes_per_op = ours.bytes_per_op;
  s.flops_per_op = ours.flops_per_op;
  s.threads = ours.threads;
  s.per_target = false;  // llama.cpp picks its own kernels
  s.manual_time = true;  // llama-bench's figure, without its start-up and model loading
  const size_t threads = ours.threads;
  s.setup = [src, n_prompt, n_gen, binary, threads](const BenchmarkConfig&)
      -> absl::StatusOr<BatchFn> {
    absl::StatusOr<std::string> file = peer_model_file(src);
    if (!file.ok()) return file.status();
    absl::StatusOr<std::string> dir = peer_scratch_dir();
    if (!dir.ok()) return dir.status();
    LlamaBenchTest test{*file, n_prompt, n_gen, threads};
    // The runner calls setup with the mask our entry's threads run under
    // (the measuring CPU alone, or every allowed CPU for a threaded entry):
    // llama-bench gets the same one.
    const std::vector<int> cpus = allowed_cpus();
    const std::string stderr_path = absl::StrCat(*dir, "/llama-bench.stderr");
    return BatchFn([binary, test, cpus, stderr_path](uint64_t count) -> absl::Status {
      double total_ns = 0;
      for (uint64_t i = 0; i < count; ++i) {
        absl::StatusOr<LlamaBenchResult> r = run_llama_bench(binary, test, cpus, stderr_path);
        if (!r.ok()) return r.status();
        total_ns += r->samples_ns[0];
        set_run_context("llama_cpp_version", r->version());
      }
      report_batch_time_ns(total_ns);
      return absl::OkStatus();
    });
  };
  return s;
}

// Ours against llama.cpp: a peer entry and a ratio target when llama-bench
// is given, else a note saying how to get the comparison.
void compare_with_llama_cpp(const BenchmarkConfig& config, BenchmarkSpec ours,
                            const ModelSource& src, bool prompt, std::vector<BenchmarkSpec>& out) {
  if (config.suite_option("llama-bench").empty()) {
    ours.targets.push_back({"vs llama.cpp: not run (--llama-bench PATH)", 0, 0});
    out.push_back(std::move(ours));
    return;
  }
  BenchmarkSpec peer = llama_cpp_peer_spec(ours, src, prompt ? kPromptTokens : 0,
                                           prompt ? 0 : kGenTokens, config.suite_option("llama-bench"));
  ours.ratio_targets = {RatioTarget{peer.name, prompt ? 1.0 : 1.2}};
  out.push_back(std::move(ours));
  out.push_back(std::move(peer));
}

void note_batch_not_compared(BenchmarkSpec& batch) {
  batch.targets.push_back(
      {"vs llama.cpp: not compared (llama-bench has no batch of independent sequences)", 0, 0});
}

// Fills in bytes_per_op (weights streamed per token) once the model exists;
// the shape's numbers are known without building it. An unknown shape is a
// bug here: the entry then fails with it rather than run without GB/s.
void set_weight_traffic(BenchmarkSpec& s, const std::string& shape, TensorType type) {
  auto config = synthetic_model_config(shape);
  if (!config.ok()) {
    s.setup = [error = absl::InternalError(absl::StrCat("synthetic_model_config('", shape, "'): ",
                                                        config.status().message()))](
                  const BenchmarkConfig&) -> absl::StatusOr<BatchFn> { return error; };
    return;
  }
  const ModelConfig& c = *config;
  const double bytes_per_weight = type == TensorType::kF32   ? 4.0
                                  : type == TensorType::kQ8_0 ? 34.0 / 32
                                  : type == TensorType::kQ4_0 ? 18.0 / 32
                                                              : 2.0;
  const double matrix_weights = static_cast<double>(parameter_count(c)) -
                                static_cast<double>(c.vocab_size) * c.dim;  // minus embedding
  s.bytes_per_op = s.items_per_op * matrix_weights * bytes_per_weight;
  s.flops_per_op = s.items_per_op * 2.0 * matrix_weights;
}

ModelSource synthetic(const std::string& shape, TensorType type) {
  const std::string label = absl::StrCat(shape, "-", type == TensorType::kQ4_0   ? "q4_0"
                                                     : type == TensorType::kQ8_0 ? "q8_0"
                                                                                 : "f32");
  return {label, [shape, type]() { return make_synthetic_model(shape, type, kSeed); }, ""};
}

void add_generate(const BenchmarkConfig& config, std::vector<BenchmarkSpec>& out) {
  const size_t threads = std::max<size_t>(config.threads, 1);
  std::vector<size_t> thread_counts = {1};
  if (threads > 1) thread_counts.push_back(threads);

  if (!config.suite_option("model").empty()) {
    const std::string path = config.suite_option("model");
    ModelSource src{std::filesystem::path(path).stem().string(),
                    [path]() { return load_model(path); }, is_gguf_file(path) ? path : ""};
    for (size_t t : thread_counts) {
      compare_with_llama_cpp(config, prompt_spec(src, t), src, true, out);
      compare_with_llama_cpp(config, generation_spec(src, t), src, false, out);
    }
    BenchmarkSpec batch = batched_generation_spec(src, threads);
    note_batch_not_compared(batch);
    out.push_back(std::move(batch));
    return;
  }

  // The default: stories15M in the three weight types, at 1 and N threads.
  for (TensorType type : {TensorType::kQ4_0, TensorType::kQ8_0, TensorType::kF32}) {
    const ModelSource src = synthetic("stories15M", type);
    for (size_t t : thread_counts) {
      BenchmarkSpec tg = generation_spec(src, t);
      set_weight_traffic(tg, "stories15M", type);
      compare_with_llama_cpp(config, std::move(tg), src, false, out);
      if (type == TensorType::kQ4_0) {
        BenchmarkSpec pp = prompt_spec(src, t);
        set_weight_traffic(pp, "stories15M", type);
        pp.bytes_per_op /= kPromptTokens;  // one pass over the weights per batch
        compare_with_llama_cpp(config, std::move(pp), src, true, out);
      }
    }
  }
  BenchmarkSpec batch = batched_generation_spec(synthetic("stories15M", TensorType::kQ4_0), threads);
  set_weight_traffic(batch, "stories15M", TensorType::kQ4_0);
  batch.bytes_per_op /= kBatchSeqs;  // the batch shares each pass over the weights
  note_batch_not_compared(batch);
  out.push_back(std::move(batch));

  if (!config.suite_option("scaling").empty()) {
    for (const char* shape : {"stories42M", "stories110M", "tinyllama-1.1B"}) {
      const ModelSource src = synthetic(shape, TensorType::kQ4_0);
      for (size_t t : thread_counts) {
        BenchmarkSpec tg = generation_spec(src, t, "/scaling");
        set_weight_traffic(tg, shape, TensorType::kQ4_0);
        if (std::string(shape) != "tinyllama-1.1B") {
          compare_with_llama_cpp(config, std::move(tg), src, false, out);
        } else {
          // Issue 6: its weights must stream at ≥ 80% of the bandwidth the
          // read probe measures with as many threads.
          tg.ratio_targets = {RatioTarget{
              absl::StrCat("memory/bandwidth/read/256MiB", t > 1 ? absl::StrCat("/threads:", t) : ""),
              0.8, /*by_bytes=*/true}};
          // Its one ratio slot holds that target: the peer's figures stand
          // beside it unjudged.
          if (!config.suite_option("llama-bench").empty()) {
            BenchmarkSpec peer = llama_cpp_peer_spec(tg, src, 0, kGenTokens, config.suite_option("llama-bench"));
            tg.targets.push_back({absl::StrCat("vs llama.cpp: see ", peer.name), 0, 0});
            out.push_back(std::move(tg));
            out.push_back(std::move(peer));
          } else {
            tg.targets.push_back({"vs llama.cpp: not run (--llama-bench PATH)", 0, 0});
            out.push_back(std::move(tg));
          }
        }
      }
    }
  }
}

absl::Status check_executable(const std::string& path) {
  if (access(path.c_str(), X_OK) != 0) return absl::InvalidArgumentError("not an executable file");
  return absl::OkStatus();
}

const bool registered = register_suite("generate", add_generate);
const bool model_option = register_suite_option(
    {"model", "FILE", "model (GGUF or llama2.c) for the end-to-end entries", "", {}});
const bool scaling_option = register_suite_option(
    {"scaling", "", "model-size scaling table (end-to-end suite)", "", {}});
const bool llama_bench_option = register_suite_option(
    {"llama-bench", "PATH", "llama.cpp's llama-bench: the same-run peer of generate/",
     "LLMK_LLAMA_BENCH", check_executable});

}  // namespace
}  // namespace llmk::bench
