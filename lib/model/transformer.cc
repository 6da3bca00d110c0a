// The forward pass: llama (RMSNorm, RoPE, grouped-query attention, SwiGLU)
// and gpt2 (LayerNorm with bias, learned positions, fused QKV, GELU).
//
// One routine, run(), processes n tokens at once; token i sits at position
// positions[i] of sequence seqs[i]. Each layer first writes every token's key
// and value into the cache, then each token attends over positions
// [0, positions[i]] of its own sequence — so a prompt batch (one sequence,
// consecutive positions) gets causal attention inside the batch, and a batch
// of sequences (one token each) gets independent attention, from the same
// code. Every buffer is carved from one arena at creation: a token allocates
// nothing.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "model/transformer_state.h"
#include "ops/kernels.h"
#include "quant/quant_kernels.h"
#include "util/check.h"

namespace llmk {
namespace {
// Whether pack_all gives w a kInterleaved8 copy: Q4_0 / Q8_0 matrices of at
// least one group.
bool packable(const WeightView& w) {
  return is_block_quantized(w) && w.layout == WeightLayout::kRowMajor && w.rows >= 8;
}
}  // namespace

// Replaces every packable matrix of the model by a kInterleaved8 copy, all
// of them in one huge-page buffer owned by this state, in the order a token
// reads them: with a buffer per matrix, matrices under 2 MiB (all of a
// stories110M layer's) sat in 4 KiB pages and cost TLB misses (stories15M
// Q4_0 tg64 +2.8% with one buffer; docs/performance.md).
absl::Status Transformer::State::pack_all() {
  std::vector<WeightView*> views;
  for (LayerWeights& l : model.weights.layers) {
    for (WeightView* w : l.matrices()) {
      if (packable(*w)) views.push_back(w);
    }
  }
  if (packable(model.weights.output)) views.push_back(&model.weights.output);
  auto bytes_of = [](const WeightView& w) {  // the loader checked the size
    return (w.rows * w.row_bytes() + 63) / 64 * 64;
  };
  size_t total = 0;
  for (const WeightView* w : views) total += bytes_of(*w);
  if (total == 0) return absl::OkStatus();
  packed = allocate_weight_buffer(total);
  if (!packed) {
    return absl::ResourceExhaustedError(
        absl::StrCat("Transformer::create: cannot allocate ", total, " bytes of packed weights"));
  }
  uint8_t* next = packed.get();
  for (WeightView* w : views) {
    LLMK_ASSIGN_OR_RETURN(auto view, pack_weights(*w, {next, w->rows * w->row_bytes()}));
    next += bytes_of(*w);
    *w = view;
  }
  return absl::OkStatus();
}


// Runs n ≤ max_batch validated tokens (positions/seqs already filled in);
// logits for rows [logits_from, n) land in logits[0…].
absl::Status Transformer::State::run(const int32_t* tokens, size_t n, size_t logits_from) {
  const ModelConfig& c = model.config;
  const ModelWeights& w = model.weights;
  const size_t d = c.dim;
  for (size_t i = 0; i < n; ++i) {
    kernels::dequantize_row(w.token_embedding, static_cast<size_t>(tokens[i]), x + i * d);
    if (arch->rope) {
      kernels::rope_angles(c.rotary_dims(), positions[i], c.rope_theta,
                           1.0f / c.rope_scale_factor,
                           w.rope_freq_factors.empty() ? nullptr : w.rope_freq_factors.data(),
                           rope + i * c.head_dim);
    } else {
      kernels::dequantize_row(w.position_embedding, positions[i], xb);
      kernels::f32().add(x + i * d, xb, d, x + i * d);
    }
  }
  bool contiguous = true;
  for (size_t i = 1; i < n && contiguous; ++i) {
    contiguous = seqs[i] == seqs[0] && positions[i] == positions[0] + i;
  }
  if (c.arch == ModelArch::kLlama && n == 1 && logits_from == 0) {
    // One parallel region for the whole token (see llama_token).
    const size_t threads = pool.num_threads();
    if (threads > 1 && token_weight_elements >= kMinParallelToken &&
        pool.hwy_pool().NumWorkers() == threads) {
      // With exactly one task per worker, hwy::ThreadPool runs task t on
      // thread t: every part runs concurrently, as the barrier needs.
      pool.hwy_pool().Run(0, threads, [&](uint64_t part, size_t) {
        llama_token(static_cast<size_t>(part), threads);
      });
    } else {
      llama_token(0, 1);
    }
    return cache.set_pos(std::max(cache.pos(seqs[0]), positions[0] + 1), seqs[0]);
  }
  for (size_t l = 0; l < c.n_layers; ++l) {
    switch (c.arch) {
      case ModelArch::kLlama: llama_layer(l, n, contiguous); break;
      case ModelArch::kGpt2: gpt2_layer(l, n, contiguous); break;
    }
  }
  for (size_t i = 0; i < n; ++i) {
    LLMK_RETURN_IF_ERROR(cache.set_pos(std::max(cache.pos(seqs[i]), positions[i] + 1), seqs[i]));
  }
  const size_t rows = n - logits_from;
  for (size_t i = logits_from; i < n; ++i) {
    float* out = xb + (i - logits_from) * d;
    if (arch->norm == internal::NormKind::kRms) {
      rms_norm_ggml(x + i * d, w.output_norm.data(), c.norm_eps, d, out);
    } else {
      kernels::f32().layer_norm(x + i * d, w.output_norm.data(), w.output_norm_bias.data(),
                          c.norm_eps, d, out);
    }
  }
  const Q8_0Block* outq = quantize(xb, d, rows, {&w.output});
  if (rows == 1) {
    parallel_region(c.vocab_size * d, [&](size_t part, size_t parts) {
      matvec_rows(w.output, xb, outq, logits, share(c.vocab_size, part, parts));
    });
  } else {
    matmul(w.output, xb, outq, rows, logits);
  }
  return absl::OkStatus();
}

// ------------------------------------------------------------ public API

Transformer::Transformer() = default;
Transformer::~Transformer() = default;

absl::StatusOr<std::unique_ptr<Transformer>> Transformer::create(
    const Model& model, const TransformerOptions& options) {
  const ModelConfig& c = model.config;
  LLMK_RETURN_IF_ERROR(internal::validate_config(c));
  if (model.weights.layers.size() != c.n_layers) {
    return absl::InvalidArgumentError("Transformer::create: model has no weights for its layers");
  }
  if (!model.weights.rope_freq_factors.empty() &&
      model.weights.rope_freq_factors.size() != c.rotary_dims() / 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Transformer::create: rope_freq_factors has ", model.weights.rope_freq_factors.size(),
        " entries, expected rotary_dims / 2 = ", c.rotary_dims() / 2));
  }
  if (options.n_threads == 0 || options.n_threads > 1024) {
    return absl::InvalidArgumentError("Transformer::create: n_threads must be in [1, 1024]");
  }
  if (options.max_batch == 0 || options.max_batch > 65536) {
    return absl::InvalidArgumentError("Transformer::create: max_batch must be in [1, 65536]");
  }
  if (options.n_seqs == 0 || options.n_seqs > 65536) {
    return absl::InvalidArgumentError("Transformer::create: n_seqs must be in [1, 65536]");
  }
  const size_t ctx = options.max_seq_len ? options.max_seq_len : c.max_seq_len;
  const internal::ArchDescription& arch = internal::arch_description(c.arch);
  if (ctx > c.max_seq_len && !arch.rope) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Transformer::create: max_seq_len ", ctx, " exceeds the model's positions (",
        c.max_seq_len, ")"));
  }
  if (ctx > kMaxModelSeqLen) {
    return absl::InvalidArgumentError("Transformer::create: max_seq_len is too large");
  }
  LLMK_ASSIGN_OR_RETURN(auto cache, KVCache::create(c.n_layers, ctx, c.kv_dim(), options.n_seqs,
                                                    options.kv_type));

  auto t = std::unique_ptr<Transformer>(new Transformer());
  t->s_ = std::make_unique<State>(model, options, std::move(cache), Arena(0));
  State& s = *t->s_;
  s.arch = &arch;
  s.quantize_activations = options.activation_mode == ActivationMode::kQuantizeQ8_0;
  // One spare block per row of quantized activations.
  s.tok_xq_stride = std::max(c.dim, c.hidden_dim) / kQuantBlock + 1;
  const size_t B = options.max_batch, T = options.n_threads;
  size_t total = 0;
  bool overflow = false;
  s.visit_buffers(B, T, ctx, [&](auto* ptr, size_t count) {
    size_t bytes;
    overflow |= !internal::checked_mul(count, sizeof(*ptr), &bytes) ||
                !internal::checked_add(total, bytes + 64, &total);
  });
  if (overflow) return absl::InvalidArgumentError("Transformer::create: activation size overflows");
  LLMK_ASSIGN_OR_RETURN(s.arena, Arena::create(total));
  absl::Status carved = absl::OkStatus();
  s.visit_buffers(B, T, ctx, [&](auto*& ptr, size_t count) {
    using Elem = std::remove_reference_t<decltype(*ptr)>;
    auto p = s.arena.alloc(count * sizeof(Elem), 64);
    if (!p.ok()) {
      carved.Update(p.status());
      return;
    }
    ptr = static_cast<Elem*>(*p);
  });
  LLMK_RETURN_IF_ERROR(carved);
  if (options.spin_wait) s.pool.hwy_pool().SetWaitMode(hwy::PoolWaitMode::kSpin);
  for (const LayerWeights& l : model.weights.layers) {
    for (const WeightView* w : l.matrices()) s.token_weight_elements += w->rows * w->cols;
  }
  s.token_weight_elements += model.weights.output.rows * model.weights.output.cols;
  if (options.pack_weights && s.quantize_activations) LLMK_RETURN_IF_ERROR(s.pack_all());
  return t;
}

absl::StatusOr<std::span<const float>> Transformer::forward(int32_t token, size_t pos,
                                                            size_t seq) {
  return forward_batch({&token, 1}, pos, seq);
}

absl::StatusOr<std::span<const float>> Transformer::forward_batch(std::span<const int32_t> tokens,
                                                                  size_t start_pos, size_t seq,
                                                                  bool all_logits) {
  State& s = *s_;
  const ModelConfig& c = s.model.config;
  if (tokens.empty()) return absl::InvalidArgumentError("forward_batch: no tokens");
  if (seq >= s.cache.n_seqs()) {
    return absl::OutOfRangeError(absl::StrCat("forward: seq = ", seq, " but the cache holds ",
                                              s.cache.n_seqs(), " sequences"));
  }
  if (start_pos > s.cache.pos(seq)) {
    return absl::InvalidArgumentError(absl::StrCat("forward: pos = ", start_pos,
                                                   " skips positions (sequence ", seq,
                                                   " is at ", s.cache.pos(seq), ")"));
  }
  if (start_pos >= s.cache.max_ctx() || tokens.size() > s.cache.max_ctx() - start_pos) {
    return absl::OutOfRangeError(absl::StrCat("forward: positions ", start_pos, "…",
                                              start_pos + tokens.size() - 1,
                                              " exceed the context length ", s.cache.max_ctx()));
  }
  if (all_logits && tokens.size() > s.opt.max_batch) {
    return absl::InvalidArgumentError(absl::StrCat("forward_batch: all_logits needs ≤ ",
                                                   s.opt.max_batch, " tokens, got ",
                                                   tokens.size()));
  }
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] < 0 || static_cast<size_t>(tokens[i]) >= c.vocab_size) {
      return absl::OutOfRangeError(absl::StrCat("forward: token ", tokens[i], " at index ", i,
                                                " is outside [0, ", c.vocab_size, ")"));
    }
  }
  for (size_t done = 0; done < tokens.size();) {
    const size_t n = std::min(s.opt.max_batch, tokens.size() - done);
    for (size_t i = 0; i < n; ++i) {
      s.positions[i] = start_pos + done + i;
      s.seqs[i] = seq;
    }
    const bool last = done + n == tokens.size();
    LLMK_RETURN_IF_ERROR(s.run(tokens.data() + done, n, all_logits || !last ? 0 : n - 1));
    done += n;
  }
  return std::span<const float>(s.logits, (all_logits ? tokens.size() : 1) * c.vocab_size);
}

absl::StatusOr<std::span<const float>> Transformer::forward_seqs(std::span<const int32_t> tokens,
                                                                 std::span<const size_t> positions,
                                                                 std::span<const size_t> seqs) {
  State& s = *s_;
  const ModelConfig& c = s.model.config;
  if (tokens.empty()) return absl::InvalidArgumentError("forward_seqs: no tokens");
  if (positions.size() != tokens.size() || seqs.size() != tokens.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "forward_seqs: tokens, positions and seqs must have equal sizes (", tokens.size(), ", ",
        positions.size(), ", ", seqs.size(), ")"));
  }
  if (tokens.size() > s.opt.max_batch) {
    return absl::InvalidArgumentError(absl::StrCat("forward_seqs: ", tokens.size(),
                                                   " tokens exceed max_batch ", s.opt.max_batch));
  }
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (seqs[i] >= s.cache.n_seqs()) {
      return absl::OutOfRangeError(absl::StrCat("forward_seqs: seqs[", i, "] = ", seqs[i],
                                                " but the cache holds ", s.cache.n_seqs()));
    }
    for (size_t j = 0; j < i; ++j) {
      if (seqs[j] == seqs[i]) {
        return absl::InvalidArgumentError(
            absl::StrCat("forward_seqs: sequence ", seqs[i], " appears twice"));
      }
    }
    if (positions[i] >= s.cache.max_ctx()) {
      return absl::OutOfRangeError(absl::StrCat("forward_seqs: positions[", i, "] = ",
                                                positions[i], " ≥ context length ",
                                                s.cache.max_ctx()));
    }
    if (positions[i] > s.cache.pos(seqs[i])) {
      return absl::InvalidArgumentError(absl::StrCat("forward_seqs: positions[", i, "] = ",
                                                     positions[i], " skips positions"));
    }
    if (tokens[i] < 0 || static_cast<size_t>(tokens[i]) >= c.vocab_size) {
      return absl::OutOfRangeError(absl::StrCat("forward_seqs: token ", tokens[i],
                                                " is outside [0, ", c.vocab_size, ")"));
    }
    s.positions[i] = positions[i];
    s.seqs[i] = seqs[i];
  }
  LLMK_RETURN_IF_ERROR(s.run(tokens.data(), tokens.size(), 0));
  return std::span<const float>(s.logits, tokens.size() * c.vocab_size);
}

const ModelConfig& Transformer::config() const { return s_->model.config; }
KVCache& Transformer::kv_cache() { return s_->cache; }
ThreadPool& Transformer::pool() { return s_->pool; }
size_t Transformer::max_seq_len() const { return s_->cache.max_ctx(); }
size_t Transformer::max_batch() const { return s_->opt.max_batch; }

}  // namespace llmk
