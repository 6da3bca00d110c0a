// End-to-end generation, named like llama-bench's tests:
//   generate/<model>/pp<N>   prompt processing: one batched forward of N tokens
//   generate/<model>/tg<N>   text generation: N single-token forwards, greedy
//   generate/<model>/batch<S>/tg<N>  S independent sequences decoded together
// items are tokens, so items/s is tokens/s (items_per_second in the JSON), and
// bytes_per_op counts the weight bytes streamed, so GB/s shows how close
// generation runs to the memory-bandwidth roof.
//
//   generate/<model>/ttft<N>  time to first token: prefill of an N-token
//                             prompt and the greedy pick of the first
//                             generated token from its logits
//   generate/<model>/pp<P>+tg<N>  prompt then generation, llama-bench's
//                             -pg P,N (P = 512 and 1024, N = 128): items are
//                             P + N tokens, as it counts
//                             them; its "prefill" and "decode" phases are
//                             timed apart (report_phase_time_ns), so the
//                             latency section prints each one's tokens/s
//   generate/<model>/tg<N>/depth:<D>  generation with D tokens already in the KV
//                             cache (filled once in setup; every operation
//                             restarts at position D)
// Every generating body times each token (one clock read per token) and
// reports those latencies (report_item_latencies_ns): the report's
// "latency per item" section gives their p50/p90/p99/max, and the spec's
// "< 200 ms per token" is judged on the p99 of them, not on the median.
//
// Models: --model FILE, or synthetic ones built in memory (random weights of
// the stories15M shape, separate output matrix, as F32, Q8_0 and Q4_0). A
// llama model's context, a file's too, is lengthened to 2048 — RoPE has no
// learned positions — so the pg and depth entries fit.
// --scaling adds tg entries for the stories42M, stories110M and
// tinyllama-1.1B shapes and for the spec-tiny/-small/-medium/-large shapes
// of the spec's throughput-scaling table (3/6/12/24 layers, 16M/61M/241M/
// 1.04B parameters against its 15M/60M/240M/1B), all Q4_0, and prints a
// "scaling" table of those beside the spec's ARM figures.
//
// With --llama-bench PATH each pp and tg entry gets a peer entry,
// <entry>/llama.cpp, that runs llama.cpp's llama-bench on the same model
// (written as GGUF, or the --model file itself), with the same prompt
// length, generated tokens, threads and CPU mask, one llama-bench run per
// call timed by llama-bench itself (manual_time). Being an entry of its own,
// the runner's shuffled order interleaves it with ours repetition by
// repetition, and ours gets a same-run ratio target against it: generation
// at least 1.2x llama.cpp, prompt processing at least 1.5x, pg (-pg 512,128
// and -pg 1024,128) at least 1.2x. llama-bench c392e509 has no depth option
// (-d) and no time-to-first-token test: those entries carry a note instead.
//
// --kv-type f32|f16 sets our KV cache's element type (default: the
// library's, TransformerOptions::kv_type, F32) and passes llama-bench the
// same -ctk/-ctv, so both sides read the same cache bytes per token. Without
// it llama-bench keeps its own default, F16. llama-bench c392e509 refuses
// -ctk f32, so with --kv-type f32 the peer entries are skipped, saying why.
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "llmk/bench.h"
#include "llmk/gguf.h"
#include "llmk/kv_cache.h"
#include "llmk/model.h"
#include "llmk/model_tools.h"
#include "llmk/ops.h"
#include "harness/affinity.h"
#include "harness/timer.h"
#include "suites/peer_llama_bench.h"
#include "suites/suite_util.h"

namespace llmk::bench {
namespace {

constexpr size_t kPromptTokens = 128;
constexpr size_t kPromptSizes[] = {kPromptTokens, 512};  // a --model file's pp entries
constexpr size_t kGenTokens = 64;
constexpr size_t kBatchSeqs = 4;
constexpr size_t kBatchGenTokens = 32;
constexpr size_t kPgPromptTokens[] = {512, 1024};  // llama-bench's -pg 512,128 and 1024,128
constexpr size_t kPgGenTokens = 128;
constexpr size_t kDepths[] = {512, 1024};
// ≥ the deepest depth + kGenTokens (1088), and the longest pg's 1152.
constexpr size_t kSyntheticContext = 2048;
constexpr uint64_t kSeed = 1234;
// The spec's "< 200 ms per token", judged on the p99 of per-token latency.
constexpr double kSpecTokenLatencyNs = 200e6;

// The spec's throughput-scaling table ("on 1 GHz ARM Cortex-A with NEON"):
// printed beside ours for reference, never judged on this machine.
struct SpecScalingRow {
  const char* shape;  // our synthetic shape of that size
  const char* size;   // the spec's name for it
  size_t layers;
  const char* parameters;
  double tokens_per_s;
  double ms_per_token;
};
constexpr SpecScalingRow kSpecScaling[] = {
    {"spec-tiny", "Tiny", 3, "15M", 100, 10},
    {"spec-small", "Small", 6, "60M", 40, 25},
    {"spec-medium", "Medium", 12, "240M", 10, 100},
    {"spec-large", "Large", 24, "1B", 2, 500},
};

SpeedTarget spec_token_latency_target() {
  return {"spec:", kSpecTokenLatencyNs, 0, TargetOn::kP99ItemLatency};
}

std::string threads_suffix(size_t threads) {
  return threads > 1 ? absl::StrCat("/threads:", threads) : "";
}

// Greedy generation of `n` tokens from `token` at positions start_pos…,
// each token's latency (forward + argmax, ns) appended to `latencies_ns`;
// `token` ends as the last one generated.
absl::Status decode_tokens(Transformer& tr, int32_t& token, size_t start_pos, size_t n,
                           std::vector<double>& latencies_ns) {
  const Timer& timer = Timer::instance();
  uint64_t previous = timer.now();
  for (size_t i = 0; i < n; ++i) {
    const size_t pos = start_pos + i;
    const auto logits = tr.forward(token, pos);
    if (!logits.ok()) [[unlikely]] {
      return in_context(logits.status(), absl::StrCat("token ", token, " at pos ", pos));
    }
    const absl::StatusOr<size_t> next = llmk::argmax(*logits);
    if (!next.ok()) [[unlikely]] {
      return in_context(next.status(), absl::StrCat("logits at pos ", pos));
    }
    token = static_cast<int32_t>(*next);
    const uint64_t now = timer.now();
    latencies_ns.push_back(timer.ticks_to_ns(now - previous));
    previous = now;
  }
  return absl::OkStatus();
}

// A fixed prompt of `n` tokens spread over the vocabulary.
std::vector<int32_t> prompt_tokens(size_t n, size_t vocab) {
  std::vector<int32_t> tokens(n);
  for (size_t i = 0; i < n; ++i) tokens[i] = static_cast<int32_t>((i * 7919 + 13) % vocab);
  return tokens;
}

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

// --kv-type's cache type, or the library's default.
absl::StatusOr<KvType> kv_type_option(const BenchmarkConfig& config) {
  const std::string& name = config.suite_option("kv-type");
  return name.empty() ? TransformerOptions().kv_type : parse_kv_type(name);
}

absl::StatusOr<std::unique_ptr<Transformer>> make_transformer(const BenchmarkConfig& config,
                                                              const Model& model, size_t threads,
                                                              size_t n_seqs, size_t ctx,
                                                              size_t max_batch = kPromptTokens) {
  absl::StatusOr<KvType> kv_type = kv_type_option(config);
  if (!kv_type.ok()) return kv_type.status();
  TransformerOptions options;
  options.kv_type = *kv_type;
  options.n_threads = threads;
  options.n_seqs = n_seqs;
  options.max_seq_len = std::min(ctx, model.config.max_seq_len);
  options.max_batch = max_batch;
  options.spin_wait = threads > 1;
  return Transformer::create(model, options);
}

int32_t first_token(const ModelConfig& c) {
  return c.bos_id >= 0 && static_cast<size_t>(c.bos_id) < c.vocab_size ? c.bos_id : 0;
}

// n_prompt tokens in one batch (llama-bench's -p N: its default micro-batch,
// 512, holds the prompts of both sizes in one too).
BenchmarkSpec prompt_spec(const ModelSource& src, size_t threads, size_t n_prompt = kPromptTokens) {
  BenchmarkSpec s;
  s.name = absl::StrCat("generate/", src.label, "/pp", n_prompt,
                        threads > 1 ? absl::StrCat("/threads:", threads) : "");
  s.item_name = "token";
  s.items_per_op = n_prompt;
  s.threads = threads;
  s.setup = [src, threads, n_prompt](const BenchmarkConfig& config) -> absl::StatusOr<BatchFn> {
    auto model = cached_model(src.label, src.make);
    if (!model.ok()) return in_context(model.status(), absl::StrCat("model ", src.label));
    const ModelConfig& c = (*model)->config;
    if (c.max_seq_len < n_prompt) {
      return absl::FailedPreconditionError(absl::StrCat("context ", c.max_seq_len, " < ", n_prompt));
    }
    auto t = make_transformer(config, **model, threads, 1, n_prompt, n_prompt);
    if (!t.ok()) return t.status();
    auto tokens = std::make_shared<std::vector<int32_t>>(n_prompt);
    for (size_t i = 0; i < n_prompt; ++i) {
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
  s.targets.push_back(spec_token_latency_target());
  s.setup = [src, threads](const BenchmarkConfig& config) -> absl::StatusOr<BatchFn> {
    auto model = cached_model(src.label, src.make);
    if (!model.ok()) return in_context(model.status(), absl::StrCat("model ", src.label));
    auto t = make_transformer(config, **model, threads, 1, kGenTokens);
    if (!t.ok()) return t.status();
    std::shared_ptr<Transformer> tr(std::move(*t));
    const int32_t start = first_token((*model)->config);
    auto latencies = std::make_shared<std::vector<double>>();
    latencies->reserve(kGenTokens);
    return BatchFn([tr, start, latencies, model = *model](uint64_t count) -> absl::Status {
      latencies->clear();
      for (uint64_t i = 0; i < count; ++i) {
        int32_t token = start;
        if (absl::Status st = decode_tokens(*tr, token, 0, kGenTokens, *latencies); !st.ok()) {
          return st;
        }
        do_not_optimize(token);
      }
      report_item_latencies_ns(*latencies);
      return absl::OkStatus();
    });
  };
  return s;
}

// Time to first token: prefill an n-token prompt, pick the first generated
// token from the last position's logits.
BenchmarkSpec first_token_spec(const ModelSource& src, size_t threads) {
  BenchmarkSpec s;
  s.name = absl::StrCat("generate/", src.label, "/ttft", kPromptTokens, threads_suffix(threads));
  s.item_name = "first token";
  s.items_per_op = 1;  // the median is the TTFT itself
  s.threads = threads;
  s.targets.push_back(
      {"vs llama.cpp: not compared (llama-bench has no time-to-first-token test)", 0, 0});
  s.setup = [src, threads](const BenchmarkConfig& config) -> absl::StatusOr<BatchFn> {
    auto model = cached_model(src.label, src.make);
    if (!model.ok()) return in_context(model.status(), absl::StrCat("model ", src.label));
    const ModelConfig& c = (*model)->config;
    if (c.max_seq_len < kPromptTokens + 1) {
      return absl::FailedPreconditionError(
          absl::StrCat("context ", c.max_seq_len, " < ", kPromptTokens + 1));
    }
    auto t = make_transformer(config, **model, threads, 1, kPromptTokens + 1);
    if (!t.ok()) return t.status();
    auto tokens = std::make_shared<std::vector<int32_t>>(prompt_tokens(kPromptTokens, c.vocab_size));
    std::shared_ptr<Transformer> tr(std::move(*t));
    return BatchFn([tr, tokens, model = *model](uint64_t count) -> absl::Status {
      for (uint64_t i = 0; i < count; ++i) {
        const auto logits = tr->forward_batch(*tokens, 0);
        if (!logits.ok()) [[unlikely]] {
          return in_context(logits.status(), absl::StrCat(tokens->size(), " tokens"));
        }
        const absl::StatusOr<size_t> first = llmk::argmax(*logits);
        if (!first.ok()) [[unlikely]] return in_context(first.status(), "prompt logits");
        do_not_optimize(*first);
      }
      return absl::OkStatus();
    });
  };
  return s;
}

// llama-bench's -pg P,N: the prompt in batches, then N generated tokens,
// one operation; the prefill and decode parts reported as phases and the
// decode tokens' latencies as items.
BenchmarkSpec prompt_generation_spec(const ModelSource& src, size_t threads, size_t n_prompt) {
  BenchmarkSpec s;
  s.name = absl::StrCat("generate/", src.label, "/pp", n_prompt, "+tg", kPgGenTokens,
                        threads_suffix(threads));
  s.item_name = "token";
  s.items_per_op = n_prompt + kPgGenTokens;
  s.threads = threads;
  s.setup = [src, threads, n_prompt](const BenchmarkConfig& config) -> absl::StatusOr<BatchFn> {
    auto model = cached_model(src.label, src.make);
    if (!model.ok()) return in_context(model.status(), absl::StrCat("model ", src.label));
    const ModelConfig& c = (*model)->config;
    const size_t ctx = n_prompt + kPgGenTokens;
    if (c.max_seq_len < ctx) {
      return absl::FailedPreconditionError(absl::StrCat("context ", c.max_seq_len, " < ", ctx));
    }
    // Batches of 512 tokens, as llama-bench's default micro-batch (-ub 512).
    auto t = make_transformer(config, **model, threads, 1, ctx, kPgPromptTokens[0]);
    if (!t.ok()) return t.status();
    auto tokens = std::make_shared<std::vector<int32_t>>(prompt_tokens(n_prompt, c.vocab_size));
    std::shared_ptr<Transformer> tr(std::move(*t));
    auto latencies = std::make_shared<std::vector<double>>();
    latencies->reserve(kPgGenTokens);
    return BatchFn([tr, tokens, latencies, n_prompt, model = *model](uint64_t count) -> absl::Status {
      const Timer& timer = Timer::instance();
      latencies->clear();
      double prefill_ns = 0, decode_ns = 0;
      for (uint64_t i = 0; i < count; ++i) {
        const uint64_t t0 = timer.now();
        const auto logits = tr->forward_batch(*tokens, 0);
        if (!logits.ok()) [[unlikely]] {
          return in_context(logits.status(), absl::StrCat(tokens->size(), " tokens"));
        }
        const absl::StatusOr<size_t> first = llmk::argmax(*logits);
        if (!first.ok()) [[unlikely]] return in_context(first.status(), "prompt logits");
        int32_t token = static_cast<int32_t>(*first);
        const uint64_t t1 = timer.now();
        if (absl::Status st = decode_tokens(*tr, token, n_prompt, kPgGenTokens, *latencies);
            !st.ok()) {
          return st;
        }
        const uint64_t t2 = timer.now();
        prefill_ns += timer.ticks_to_ns(t1 - t0);
        decode_ns += timer.ticks_to_ns(t2 - t1);
        do_not_optimize(token);
      }
      const double ops = static_cast<double>(count);
      report_phase_time_ns("prefill", ops * static_cast<double>(n_prompt), prefill_ns);
      report_phase_time_ns("decode", ops * kPgGenTokens, decode_ns);
      report_item_latencies_ns(*latencies);
      return absl::OkStatus();
    });
  };
  return s;
}

// Generation with `depth` tokens already in the KV cache: filled once in
// setup; each operation generates from position `depth` again, overwriting
// what the previous one wrote after it.
BenchmarkSpec depth_generation_spec(const ModelSource& src, size_t threads, size_t depth) {
  BenchmarkSpec s;
  s.name = absl::StrCat("generate/", src.label, "/tg", kGenTokens, "/depth:", depth, threads_suffix(threads));
  s.item_name = "token";
  s.items_per_op = kGenTokens;
  s.threads = threads;
  s.targets.push_back(spec_token_latency_target());
  s.targets.push_back({"vs llama.cpp: llama-bench c392e509 has no depth option (-d)", 0, 0});
  s.setup = [src, threads, depth](const BenchmarkConfig& config) -> absl::StatusOr<BatchFn> {
    auto model = cached_model(src.label, src.make);
    if (!model.ok()) return in_context(model.status(), absl::StrCat("model ", src.label));
    const ModelConfig& c = (*model)->config;
    const size_t ctx = depth + kGenTokens;
    if (c.max_seq_len < ctx) {
      return absl::FailedPreconditionError(absl::StrCat("context ", c.max_seq_len, " < ", ctx));
    }
    auto t = make_transformer(config, **model, threads, 1, ctx, kPgPromptTokens[0]);
    if (!t.ok()) return t.status();
    std::shared_ptr<Transformer> tr(std::move(*t));
    const auto fill = tr->forward_batch(prompt_tokens(depth, c.vocab_size), 0);
    if (!fill.ok()) return in_context(fill.status(), absl::StrCat("filling the cache to ", depth));
    const absl::StatusOr<size_t> first = llmk::argmax(*fill);
    if (!first.ok()) return in_context(first.status(), "fill logits");
    const int32_t start = static_cast<int32_t>(*first);
    auto latencies = std::make_shared<std::vector<double>>();
    latencies->reserve(kGenTokens);
    return BatchFn([tr, start, depth, latencies, model = *model](uint64_t count) -> absl::Status {
      latencies->clear();
      for (uint64_t i = 0; i < count; ++i) {
        int32_t token = start;
        if (absl::Status st = decode_tokens(*tr, token, depth, kGenTokens, *latencies); !st.ok()) {
          return st;
        }
        do_not_optimize(token);
      }
      report_item_latencies_ns(*latencies);
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
  s.setup = [src, threads](const BenchmarkConfig& config) -> absl::StatusOr<BatchFn> {
    auto model = cached_model(src.label, src.make);
    if (!model.ok()) return in_context(model.status(), absl::StrCat("model ", src.label));
    auto t = make_transformer(config, **model, threads, kBatchSeqs, kBatchGenTokens);
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
                                  size_t n_prompt, size_t n_gen, const std::string& binary,
                                  bool combined = false) {
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
  s.setup = [src, n_prompt, n_gen, binary, threads, combined](const BenchmarkConfig& config)
      -> absl::StatusOr<BatchFn> {
    absl::StatusOr<std::string> file = peer_model_file(src);
    if (!file.ok()) return file.status();
    absl::StatusOr<std::string> dir = peer_scratch_dir();
    if (!dir.ok()) return dir.status();
    const std::string& cache_type = config.suite_option("kv-type");
    if (cache_type == "f32") {
      // Its -ctk parser (ggml_type_from_name) knows f16, bf16 and quantized types only.
      return absl::FailedPreconditionError(
          "llama-bench c392e509 has no F32 KV cache (-ctk f32 is refused)");
    }
    LlamaBenchTest test{*file, n_prompt, n_gen, threads, combined, cache_type};
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
// Which llama-bench test matches an entry, and the speedup ours must reach.
enum class PeerTest { kPrompt, kGeneration, kPromptGeneration };

// pg_prompt: the prompt tokens of a kPromptGeneration test.
void compare_with_llama_cpp(const BenchmarkConfig& config, BenchmarkSpec ours,
                            const ModelSource& src, PeerTest kind, std::vector<BenchmarkSpec>& out,
                            size_t pg_prompt = 0) {
  if (config.suite_option("llama-bench").empty()) {
    ours.targets.push_back({"vs llama.cpp: not run (--llama-bench PATH)", 0, 0});
    out.push_back(std::move(ours));
    return;
  }
  const std::string& binary = config.suite_option("llama-bench");
  BenchmarkSpec peer =
      kind == PeerTest::kPrompt ? llama_cpp_peer_spec(ours, src, ours.items_per_op, 0, binary)
      : kind == PeerTest::kGeneration
          ? llama_cpp_peer_spec(ours, src, 0, kGenTokens, binary)
          : llama_cpp_peer_spec(ours, src, pg_prompt, kPgGenTokens, binary, /*combined=*/true);
  ours.ratio_targets = {RatioTarget{peer.name, kind == PeerTest::kPrompt ? 1.5 : 1.2}};
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

// Weight bytes a GGUF file's model streams per token: every tensor but the
// token embedding (one row of it is read), plus the embedding when it is also
// the classifier (no output.weight). Unreadable files: 0, no GB/s column
// (loading the model then reports the error).
// What a file's weights cost per token: the bytes a token streams, and the
// multiply-adds of its matrix products (2-D tensors; the token embedding is
// a lookup, unless the classifier reuses it).
struct FileWeightCost {
  double bytes = 0;
  double matrix_elements = 0;  // every matrix but the classifier
  double classifier_elements = 0;
};

FileWeightCost file_weight_cost(const std::string& gguf_path) {
  FileWeightCost cost;
  auto file = GgufFile::open(gguf_path);
  if (!file.ok()) return cost;
  double embedding_bytes = 0, embedding_elements = 0;
  bool tied = true;
  for (const GgufTensorInfo& t : (*file)->tensors()) {
    const double elements = t.dims.size() == 2 ? static_cast<double>(t.elements) : 0;
    if (t.name == "token_embd.weight") {
      embedding_bytes = static_cast<double>(t.bytes);
      embedding_elements = elements;
      continue;
    }
    if (t.name == "output.weight") {
      tied = false;
      cost.classifier_elements = elements;
    } else {
      cost.matrix_elements += elements;
    }
    cost.bytes += static_cast<double>(t.bytes);
  }
  if (tied) {
    cost.bytes += embedding_bytes;
    cost.classifier_elements = embedding_elements;
  }
  return cost;
}

// Lengthens a llama model's context to kSyntheticContext: its positions are
// rotary, nothing learned per position, so a longer context changes no
// weight (llama-bench, too, runs -pg 1024,128 past a 1024-token training
// context).
absl::StatusOr<Model> with_bench_context(absl::StatusOr<Model> m) {
  if (m.ok() && m->config.arch == ModelArch::kLlama) {
    m->config.max_seq_len = std::max(m->config.max_seq_len, kSyntheticContext);
  }
  return m;
}

ModelSource synthetic(const std::string& shape, TensorType type) {
  const std::string label = absl::StrCat(shape, "-", type == TensorType::kQ4_0   ? "q4_0"
                                                     : type == TensorType::kQ8_0 ? "q8_0"
                                                                                 : "f32");
  return {label,
          [shape, type]() { return with_bench_context(make_synthetic_model(shape, type, kSeed)); },
          ""};
}

// Every entry of a model beyond pp/tg/batch: TTFT, pg, depths.
void add_latency_entries(const BenchmarkConfig& config, const ModelSource& src,
                         const std::vector<size_t>& thread_counts, std::vector<BenchmarkSpec>& out) {
  for (size_t t : thread_counts) {
    out.push_back(first_token_spec(src, t));
    for (size_t n_prompt : kPgPromptTokens) {
      compare_with_llama_cpp(config, prompt_generation_spec(src, t, n_prompt), src,
                             PeerTest::kPromptGeneration, out, n_prompt);
    }
    for (size_t depth : kDepths) out.push_back(depth_generation_spec(src, t, depth));
  }
}

void add_generate(const BenchmarkConfig& config, std::vector<BenchmarkSpec>& out) {
  const size_t threads = std::max<size_t>(config.threads, 1);
  std::vector<size_t> thread_counts = {1};
  if (threads > 1) thread_counts.push_back(threads);

  if (!config.suite_option("model").empty()) {
    const std::string path = config.suite_option("model");
    // --weights map,copy: both, in one run, as <model>-map and <model>-copy.
    const std::vector<std::string> modes = absl::StrSplit(config.suite_option("weights"), ',',
                                                          absl::SkipEmpty());
    for (const std::string& mode : modes.empty() ? std::vector<std::string>{""} : modes) {
      LoadConfig load;
      if (mode == "map") load.weights = LoadConfig::Weights::kMap;
      if (mode == "copy") load.weights = LoadConfig::Weights::kCopy;
      ModelSource src{absl::StrCat(std::filesystem::path(path).stem().string(),
                                   modes.size() > 1 ? "-" + mode : ""),
                      [path, load]() { return with_bench_context(load_model(path, load)); },
                      is_gguf_file(path) ? path : ""};
      const FileWeightCost cost = src.gguf_path.empty() ? FileWeightCost{} : file_weight_cost(path);
      for (size_t t : thread_counts) {
        for (size_t n_prompt : kPromptSizes) {
          BenchmarkSpec pp = prompt_spec(src, t, n_prompt);
          pp.bytes_per_op = cost.bytes;  // one pass over the weights per batch
          // The matrix products only (logits for the last token alone, as
          // llama-bench computes them): attention's share is left out, so the
          // GFLOP/s column errs low.
          pp.flops_per_op = 2 * (cost.matrix_elements * static_cast<double>(n_prompt) +
                                 cost.classifier_elements);
          compare_with_llama_cpp(config, std::move(pp), src, PeerTest::kPrompt, out);
        }
        BenchmarkSpec tg = generation_spec(src, t);
        tg.bytes_per_op = cost.bytes * static_cast<double>(tg.items_per_op);
        compare_with_llama_cpp(config, std::move(tg), src, PeerTest::kGeneration, out);
      }
      BenchmarkSpec batch = batched_generation_spec(src, threads);
      note_batch_not_compared(batch);
      out.push_back(std::move(batch));
      add_latency_entries(config, src, thread_counts, out);
    }
    return;
  }

  // The default: stories15M in the three weight types, at 1 and N threads.
  for (TensorType type : {TensorType::kQ4_0, TensorType::kQ8_0, TensorType::kF32}) {
    const ModelSource src = synthetic("stories15M", type);
    for (size_t t : thread_counts) {
      BenchmarkSpec tg = generation_spec(src, t);
      set_weight_traffic(tg, "stories15M", type);
      compare_with_llama_cpp(config, std::move(tg), src, PeerTest::kGeneration, out);
      if (type == TensorType::kQ4_0) {
        BenchmarkSpec pp = prompt_spec(src, t);
        set_weight_traffic(pp, "stories15M", type);
        pp.bytes_per_op /= kPromptTokens;  // one pass over the weights per batch
        compare_with_llama_cpp(config, std::move(pp), src, PeerTest::kPrompt, out);
      }
    }
  }
  BenchmarkSpec batch = batched_generation_spec(synthetic("stories15M", TensorType::kQ4_0), threads);
  set_weight_traffic(batch, "stories15M", TensorType::kQ4_0);
  batch.bytes_per_op /= kBatchSeqs;  // the batch shares each pass over the weights
  note_batch_not_compared(batch);
  out.push_back(std::move(batch));
  add_latency_entries(config, synthetic("stories15M", TensorType::kQ4_0), thread_counts, out);

  if (!config.suite_option("scaling").empty()) {
    for (const char* shape : {"stories42M", "stories110M", "tinyllama-1.1B"}) {
      const ModelSource src = synthetic(shape, TensorType::kQ4_0);
      for (size_t t : thread_counts) {
        BenchmarkSpec tg = generation_spec(src, t, "/scaling");
        set_weight_traffic(tg, shape, TensorType::kQ4_0);
        if (std::string(shape) != "tinyllama-1.1B") {
          compare_with_llama_cpp(config, std::move(tg), src, PeerTest::kGeneration, out);
        } else {
          // The spec's target: its weights must stream at ≥ 80% of the bandwidth the
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
    // The spec's table's sizes: ours beside its ARM figures (print_scaling).
    for (const SpecScalingRow& row : kSpecScaling) {
      const ModelSource src = synthetic(row.shape, TensorType::kQ4_0);
      for (size_t t : thread_counts) {
        BenchmarkSpec tg = generation_spec(src, t, "/scaling");
        set_weight_traffic(tg, row.shape, TensorType::kQ4_0);
        compare_with_llama_cpp(config, std::move(tg), src, PeerTest::kGeneration, out);
      }
    }
  }
}

// The spec's throughput-scaling table beside our scaling entries: each
// shape's parameters, tokens/s and ms/token (median and p99 per token).
void print_scaling(const SuiteResult& suite, std::FILE* out) {
  bool header = false;
  for (const SpecScalingRow& row : kSpecScaling) {
    const std::string prefix = absl::StrCat("generate/", row.shape, "-q4_0/tg", kGenTokens);
    for (const BenchmarkResult& r : suite.results) {
      if (r.name.rfind(prefix, 0) != 0 || r.name.find("/scaling") == std::string::npos ||
          r.name.find("/llama.cpp") != std::string::npos || !r.skipped.empty() ||
          !r.error.empty() || r.stats.n == 0) {
        continue;
      }
      if (!header) {
        std::fprintf(out,
                     "\nscaling (Q4_0, tg%zu; the spec's figures are for a 1 GHz ARM Cortex-A with "
                     "NEON, for reference, not judged here)\n",
                     kGenTokens);
        std::fprintf(out, "%-12s %7s %6s %8s %8s %10s %10s   %-6s %7s %9s %11s\n", "shape", "threads",
                     "layers", "params", "tok/s", "ms/tok p50", "ms/tok p99", "spec", "params",
                     "spec tok/s", "spec ms/tok");
        header = true;
      }
      const absl::StatusOr<ModelConfig> c = synthetic_model_config(row.shape);
      const double params_m = c.ok() ? static_cast<double>(parameter_count(*c)) / 1e6 : 0;
      const double ms_p50 = r.item_latency ? r.item_latency->p50 / 1e6 : 0;
      const double ms_p99 = r.item_latency ? r.item_latency->p99 / 1e6 : 0;
      std::fprintf(out, "%-12s %7zu %6zu %7.0fM %8.1f %10.2f %10.2f   %-6s %7s %9.0f %11.0f\n",
                   row.shape, r.threads, c.ok() ? c->n_layers : size_t{0}, params_m,
                   r.items_per_second, ms_p50, ms_p99, row.size, row.parameters, row.tokens_per_s,
                   row.ms_per_token);
    }
  }
}

absl::Status check_executable(const std::string& path) {
  if (access(path.c_str(), X_OK) != 0) return absl::InvalidArgumentError("not an executable file");
  return absl::OkStatus();
}

const bool registered = register_suite("generate", add_generate);
const bool scaling_section = register_report_section(print_scaling);
const bool model_option = register_suite_option(
    {"model", "FILE", "model (GGUF or llama2.c) for the end-to-end entries", "", {}});
const bool weights_option = register_suite_option(
    {"weights", "map|copy", "--model's GGUF weights: the file's mapping, a copy in huge pages, "
     "or map,copy for both (default: load_model's choice)", "",
     [](const std::string& value) -> absl::Status {
       for (absl::string_view mode : absl::StrSplit(value, ',')) {
         if (mode != "map" && mode != "copy") {
           return absl::InvalidArgumentError("expected map, copy or map,copy");
         }
       }
       return absl::OkStatus();
     }});
const bool scaling_option = register_suite_option(
    {"scaling", "", "model-size scaling table (end-to-end suite)", "", {}});
const bool kv_type_option_registered = register_suite_option(
    {"kv-type", "f32|f16",
     "KV cache element type of the generate/ entries, and llama-bench's -ctk/-ctv (default: "
     "ours f32, llama-bench's f16; f32 skips the llama-bench peers, which refuse -ctk f32)", "",
     [](const std::string& value) -> absl::Status { return parse_kv_type(value).status(); }});
const bool llama_bench_option = register_suite_option(
    {"llama-bench", "PATH", "llama.cpp's llama-bench: the same-run peer of generate/",
     "LLMK_LLAMA_BENCH", check_executable});

}  // namespace
}  // namespace llmk::bench
