// Transformer::State: the forward pass's buffers and steps, shared by the
// files of the forward pass (transformer.cc: creation, the public API and
// the run loop; transformer_steps.cc: matmul, activation quantization, KV
// writes, attention; transformer_<arch>.cc: each architecture's layer).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <initializer_list>
#include <span>
#include <utility>

#include "absl/status/status.h"
#include "hwy/contrib/thread_pool/thread_pool.h"
#include "llmk/arena.h"
#include "llmk/kv_cache.h"
#include "llmk/model.h"
#include "llmk/thread_pool.h"
#include "model/arch.h"
#include "model/model_internal.h"
#include "quant/quant_kernels.h"
#include "util/spin_barrier.h"

namespace llmk {

inline bool is_block_quantized(const WeightView& w) {
  return w.type == TensorType::kQ8_0 || w.type == TensorType::kQ4_0;
}

// Below this many multiply-adds, attention stays on the calling thread.
constexpr size_t kMinParallelAttention = size_t{1} << 15;

// RMSNorm as ggml computes it (sum of squares in double, x·scale then ·w).
// A last-bit difference here flips roundings in the Q8_0 activation
// quantization that follows and moves quantized models' logits by ~1%, so
// matching llama.cpp needs its exact arithmetic; the cost is one pass over
// `dim` floats per norm.
inline void rms_norm_ggml(const float* x, const float* w, float eps, size_t n, float* out) {
  double sum = 0.0;
  for (size_t i = 0; i < n; ++i) sum += static_cast<double>(x[i] * x[i]);
  const float mean = static_cast<float>(sum / static_cast<double>(n));
  const float scale = 1.0f / std::sqrt(mean + eps);
  for (size_t i = 0; i < n; ++i) out[i] = (x[i] * scale) * w[i];
}

// out[rows) += bias[rows) when the model has the bias (an empty span costs
// one branch); rows of one token's projection.
void add_bias_rows(std::span<const float> bias, std::pair<size_t, size_t> rows, float* out);
// Rows [i0, i1) of a batch of projections (bias.size() floats each) += bias.
void add_bias_tokens(std::span<const float> bias, size_t i0, size_t i1, float* out);

// Below this many weight elements, a single-token parallel region (one or
// more matvecs split by rows) stays on the calling thread: a fork/join costs
// about a microsecond even with spinning workers.
constexpr size_t kMinParallelRegion = size_t{1} << 15;

// Below this many weight elements per token, a llama token runs on the
// calling thread: its 4 barriers per layer would cost more than they save.
constexpr size_t kMinParallelToken = size_t{1} << 20;

// Part `part` of `parts` of [0, rows), boundaries on multiples of 8 rows (the
// matvec kernels' tile height and the kInterleaved8 group) so none is split.
inline std::pair<size_t, size_t> share(size_t rows, size_t part, size_t parts) {
  const size_t eights = (rows + 7) / 8;
  const size_t begin = std::min(rows, eights * part / parts * 8);
  const size_t end = std::min(rows, eights * (part + 1) / parts * 8);
  return {begin, end};
}

struct Transformer::State {
  State(const Model& m, const TransformerOptions& o, KVCache&& kv, Arena&& a)
      : model(m), opt(o), pool(o.n_threads), cache(std::move(kv)), arena(std::move(a)) {}

  Model model;  // its weight views point at `packed` where weights were packed
  const internal::ArchDescription* arch = nullptr;
  TransformerOptions opt;
  AlignedBytes packed;  // the kInterleaved8 copies of quantized matrices
  ThreadPool pool;
  KVCache cache;
  Arena arena;
  bool quantize_activations = false;
  size_t token_weight_elements = 0;  // matrix elements one token multiplies
  internal::SpinBarrier barrier;     // llama_token's parts
  kernels::SharedActivations shared_input;  // a batch's input to several products
  // llama_token's per-part copies: [T][dim] residual, [T][dim] normed input,
  // [T][tok_xq_stride] its quantization.
  float* tok_x = nullptr;
  float* tok_xb = nullptr;
  Q8_0Block* tok_xq = nullptr;
  size_t tok_xq_stride = 0;  // blocks per row of xq and tok_xq

  // Activations, B = max_batch rows each.
  float* x = nullptr;         // [B][dim] residual stream
  float* xb = nullptr;        // [B][dim] normed input of a sublayer
  float* xb2 = nullptr;       // [B][dim] attention output
  float* q = nullptr;         // [B][dim] queries (gpt2: [B][3·dim] fused q,k,v)
  float* k = nullptr;         // [B][kv_dim] keys before they reach the cache
  float* v = nullptr;         // [B][kv_dim] (an F16 cache: also a single token's)
  float* hb = nullptr;        // [B][hidden]
  float* hb2 = nullptr;       // [B][hidden]
  Q8_0Block* xq = nullptr;    // [B][max(dim, hidden)/32] quantized activations
  float* rope = nullptr;      // [B][head_dim] cos then sin (rotary_dims/2 each) per token
  float* scores = nullptr;    // [n_threads][max_seq_len] attention weights
  float* logits = nullptr;    // [B][vocab]

  // Per-call bookkeeping (B entries each).
  size_t* positions = nullptr;
  size_t* seqs = nullptr;

  // Calls visit(buffer, count) for every activation buffer above with its
  // element count, for B = max_batch rows, T threads and a cache of ctx
  // positions: create() sizes the arena and carves the buffers from this one
  // list.
  template <class Visit>
  void visit_buffers(size_t B, size_t T, size_t ctx, Visit&& visit) {
    const ModelConfig& c = model.config;
    const size_t q_cols = internal::has_fused_qkv(*arch) ? 3 * c.dim : c.dim;
    visit(x, B * c.dim);
    visit(xb, B * c.dim);
    visit(xb2, B * c.dim);
    visit(q, B * q_cols);
    visit(k, B * c.kv_dim());
    visit(v, B * c.kv_dim());
    visit(hb, B * c.hidden_dim);
    visit(hb2, B * c.hidden_dim);
    visit(xq, B * tok_xq_stride);
    visit(rope, B * c.head_dim);
    visit(scores, T * ctx);
    visit(logits, B * c.vocab_size);
    visit(positions, B);
    visit(seqs, B);
    visit(tok_x, T * c.dim);
    visit(tok_xb, T * c.dim);
    visit(tok_xq, T * tok_xq_stride);
  }

  absl::Status pack_all();
  bool wants_q8(size_t cols, std::initializer_list<const WeightView*> users) const;
  // The x_q8 argument for w's matvec / matmul: in_q for Q4_0 / Q8_0 weights,
  // the flag for ggml's activation rounding for K-quant weights (the driver
  // quantizes x to Q8_K) and F16 / BF16 weights (x rounded to their type),
  // null for F32 weights or f32 activations.
  const Q8_0Block* integer_activations(const WeightView& w, const Q8_0Block* in_q) const {
    if (is_block_quantized(w)) return in_q;
    const bool flagged = kernels::is_k_quant(w.type) || w.type == TensorType::kBF16 ||
                         w.type == TensorType::kF16;
    return quantize_activations && flagged ? kernels::kIntegerActivations : nullptr;
  }
  const Q8_0Block* quantize(const float* in, size_t cols, size_t n,
                            std::initializer_list<const WeightView*> users);
  // shared: the layout of `in` kept for the next product of the same input
  // (q, k and v; gate and up); the caller forgets it when `in` changes.
  void matmul(const WeightView& w, const float* in, const Q8_0Block* in_q, size_t n, float* out,
              kernels::SharedActivations* shared = nullptr);
  void matvec_rows(const WeightView& w, const float* in, const Q8_0Block* in_q, float* out,
                   std::pair<size_t, size_t> rows);
  template <class Fn>
  void parallel_region(size_t weight_elements, const Fn& fn);
  template <class Fn>
  void for_tokens(size_t n, size_t cols, const Fn& fn);
  void llama_token(size_t part, size_t parts);
  void attention(size_t layer, size_t n, float* out);
  bool attend_prompt(size_t layer, size_t n, float* out);
  void attend_head(size_t layer, size_t seq, size_t kv_head, const float* q, size_t len,
                   float* scratch, float* out);
  void store_kv_rows(size_t layer, size_t pos, size_t seq, const float* k, const float* v,
                     std::pair<size_t, size_t> range);
  void write_kv(size_t layer, size_t n, bool contiguous);
  void llama_layer(size_t layer, size_t n, bool contiguous);
  void gpt2_layer(size_t layer, size_t n, bool contiguous);
  absl::Status run(const int32_t* tokens, size_t n, size_t logits_from);
};


// Calls fn(part, parts) for every part in [0, parts), one part per thread,
// or fn(0, 1) alone when the region is too small to split. One fork/join
// covers every matvec inside fn, which is the point: a token's small
// projections are only worth threading when they share a region.
template <class Fn>
void Transformer::State::parallel_region(size_t weight_elements, const Fn& fn) {
  const size_t threads = pool.num_threads();
  if (threads <= 1 || weight_elements < kMinParallelRegion) {
    fn(size_t{0}, size_t{1});
    return;
  }
  pool.hwy_pool().Run(0, threads, [&](uint64_t part, size_t) {
    fn(static_cast<size_t>(part), threads);
  });
}

// Calls fn(i0, i1) over token rows [0, n) of a batch's elementwise step
// (norms, RoPE, activation quantization, SwiGLU), one contiguous share per
// thread, or all on the calling thread when the step is small: in a prompt
// batch these are otherwise the serial part between the threaded matmuls.
template <class Fn>
void Transformer::State::for_tokens(size_t n, size_t cols, const Fn& fn) {
  const size_t threads = pool.num_threads();
  if (threads <= 1 || n < 2 * threads || n * cols < kMinParallelRegion) {
    fn(size_t{0}, n);
    return;
  }
  pool.hwy_pool().Run(0, threads, [&](uint64_t t, size_t) {
    const size_t i0 = n * t / threads, i1 = n * (t + 1) / threads;
    if (i0 < i1) fn(i0, i1);
  });
}

}  // namespace llmk
