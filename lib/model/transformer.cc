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
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "hwy/contrib/thread_pool/thread_pool.h"
#include "llmk/arena.h"
#include "llmk/kv_cache.h"
#include "llmk/model.h"
#include "llmk/thread_pool.h"
#include "model/model_internal.h"
#include "ops/kernels.h"
#include "quant/quant_kernels.h"
#include "util/check.h"
#include "util/spin_barrier.h"

namespace llmk {
namespace {

bool is_block_quantized(const WeightView& w) {
  return w.type == TensorType::kQ8_0 || w.type == TensorType::kQ4_0;
}

// Below this many multiply-adds, attention stays on the calling thread.
constexpr size_t kMinParallelAttention = size_t{1} << 15;

// RMSNorm as ggml computes it (sum of squares in double, x·scale then ·w).
// A last-bit difference here flips roundings in the Q8_0 activation
// quantization that follows and moves quantized models' logits by ~1%, so
// matching llama.cpp needs its exact arithmetic; the cost is one pass over
// `dim` floats per norm.
void rms_norm_ggml(const float* x, const float* w, float eps, size_t n, float* out) {
  double sum = 0.0;
  for (size_t i = 0; i < n; ++i) sum += static_cast<double>(x[i] * x[i]);
  const float mean = static_cast<float>(sum / static_cast<double>(n));
  const float scale = 1.0f / std::sqrt(mean + eps);
  for (size_t i = 0; i < n; ++i) out[i] = (x[i] * scale) * w[i];
}

// Below this many weight elements, a single-token parallel region (one or
// more matvecs split by rows) stays on the calling thread: a fork/join costs
// about a microsecond even with spinning workers.
constexpr size_t kMinParallelRegion = size_t{1} << 15;

// Below this many weight elements per token, a llama token runs on the
// calling thread: its 4 barriers per layer would cost more than they save.
constexpr size_t kMinParallelToken = size_t{1} << 20;

// Part `part` of `parts` of [0, rows), boundaries on multiples of 8 rows (the
// matvec kernels' tile height and the kInterleaved8 group) so none is split.
std::pair<size_t, size_t> share(size_t rows, size_t part, size_t parts) {
  const size_t eights = (rows + 7) / 8;
  const size_t begin = std::min(rows, eights * part / parts * 8);
  const size_t end = std::min(rows, eights * (part + 1) / parts * 8);
  return {begin, end};
}

}  // namespace

struct Transformer::State {
  State(const Model& m, const TransformerOptions& o, KVCache&& kv, Arena&& a)
      : model(m), opt(o), pool(o.n_threads), cache(std::move(kv)), arena(std::move(a)) {}

  Model model;  // its weight views point at `packed` where weights were packed
  TransformerOptions opt;
  AlignedBytes packed;  // the kInterleaved8 copies of quantized matrices
  ThreadPool pool;
  KVCache cache;
  Arena arena;
  bool quantize_activations = false;
  size_t token_weight_elements = 0;  // matrix elements one token multiplies
  internal::SpinBarrier barrier;     // llama_token's parts
  // llama_token's per-part copies: [T][dim] residual, [T][dim] normed input,
  // [T][tok_xq_stride] its quantization.
  float* tok_x = nullptr;
  float* tok_xb = nullptr;
  Q8_0Block* tok_xq = nullptr;
  size_t tok_xq_stride = 0;

  // Activations, B = max_batch rows each.
  float* x = nullptr;         // [B][dim] residual stream
  float* xb = nullptr;        // [B][dim] normed input of a sublayer
  float* xb2 = nullptr;       // [B][dim] attention output
  float* q = nullptr;         // [B][dim] queries (gpt2: [B][3·dim] fused q,k,v)
  float* k = nullptr;         // [B][kv_dim] keys before they reach the cache
  float* v = nullptr;         // [B][kv_dim]
  float* hb = nullptr;        // [B][hidden]
  float* hb2 = nullptr;       // [B][hidden]
  Q8_0Block* xq = nullptr;    // [B][max(dim, hidden)/32] quantized activations
  float* rope = nullptr;      // [B][head_dim] cos then sin per token
  float* scores = nullptr;    // [n_threads][max_seq_len] attention weights
  float* logits = nullptr;    // [B][vocab]

  // Per-call bookkeeping (B entries each).
  size_t* positions = nullptr;
  size_t* seqs = nullptr;

  absl::Status pack_all();
  bool wants_q8(size_t cols, std::initializer_list<const WeightView*> users) const;
  const Q8_0Block* quantize(const float* in, size_t cols, size_t n,
                            std::initializer_list<const WeightView*> users);
  void matmul(const WeightView& w, const float* in, const Q8_0Block* in_q, size_t n,
              float* out);
  void matvec_rows(const WeightView& w, const float* in, const Q8_0Block* in_q, float* out,
                   std::pair<size_t, size_t> rows);
  template <class Fn>
  void parallel_region(size_t weight_elements, const Fn& fn);
  template <class Fn>
  void for_tokens(size_t n, size_t cols, const Fn& fn);
  void llama_token(size_t part, size_t parts);
  void attention(size_t layer, size_t n, float* out);
  void write_kv(size_t layer, size_t n, bool contiguous);
  void llama_layer(size_t layer, size_t n, bool contiguous);
  void gpt2_layer(size_t layer, size_t n, bool contiguous);
  absl::Status run(const int32_t* tokens, size_t n, size_t logits_from);
};

namespace {
// Whether pack_all gives w a kInterleaved8 copy: Q4_0 / Q8_0 matrices of at
// least one group.
bool packable(const WeightView& w) {
  return is_block_quantized(w) && w.layout == WeightLayout::kRowMajor && w.rows >= 8;
}
}  // namespace

// Replaces every packable matrix of the model by a kInterleaved8 copy, all
// of them in one huge-page buffer owned by this state, in the order a token
// reads them. With a buffer per matrix, matrices under 2 MiB (all of a
// stories110M layer's) sat in 4 KiB pages. One buffer measured, tg64:
// - alternating bench runs of the two builds: stories15M Q4_0 on one thread
//   +2.8% (6 of 6 pairs faster), tinyllama-1.1B Q4_0 on two +4% (3 of 3);
// - both models in one process, interleaved: stories110M Q4_0 on one
//   thread +8–16%, stories15M Q8_0 +11%.
absl::Status Transformer::State::pack_all() {
  std::vector<WeightView*> views;
  for (LayerWeights& l : model.weights.layers) {
    for (WeightView* w : {&l.attn_q, &l.attn_k, &l.attn_v, &l.attn_qkv, &l.attn_output,
                          &l.ffn_gate, &l.ffn_up, &l.ffn_down}) {
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

// Quantizes n rows of `in` to Q8_0 when some user of it has block-quantized
// weights and the activation mode asks for it; otherwise null (f32 path).
bool Transformer::State::wants_q8(size_t cols,
                                   std::initializer_list<const WeightView*> users) const {
  if (!quantize_activations || cols % kQuantBlock != 0) return false;
  bool needed = false;
  for (const WeightView* w : users) needed |= is_block_quantized(*w);
  return needed;
}

const Q8_0Block* Transformer::State::quantize(const float* in, size_t cols, size_t n,
                                              std::initializer_list<const WeightView*> users) {
  if (!wants_q8(cols, users)) return nullptr;
  // Rows are cols floats / cols/32 blocks each, so n rows quantize as one run.
  kernels::quantize_q8_0_ties_even(in, n * cols, xq);
  return xq;
}

void Transformer::State::matmul(const WeightView& w, const float* in, const Q8_0Block* in_q,
                                size_t n, float* out) {
  const Q8_0Block* use_q = is_block_quantized(w) ? in_q : nullptr;
  if (n == 1) {
    kernels::matvec_weights(w, in, use_q, out, &pool);
  } else {
    kernels::matmul_weights(w, in, use_q, n, out, &pool);
  }
}

// Copies keys/values from k, v into the cache rows of each token, unless
// they were written there directly (contiguous prompt batch).
void Transformer::State::write_kv(size_t layer, size_t n, bool contiguous) {
  if (contiguous) return;
  const size_t kv_dim = model.config.kv_dim();
  for (size_t i = 0; i < n; ++i) {
    std::memcpy(cache.key_row(layer, positions[i], seqs[i]), k + i * kv_dim,
                kv_dim * sizeof(float));
    std::memcpy(cache.value_row(layer, positions[i], seqs[i]), v + i * kv_dim,
                kv_dim * sizeof(float));
  }
}

// out[i] = softmax(q_i·K/√d)·V per head, over positions [0, positions[i]].
void Transformer::State::attention(size_t layer, size_t n, float* out) {
  const ModelConfig& c = model.config;
  const size_t hd = c.head_dim, kv_dim = c.kv_dim();
  const size_t group = c.n_heads / c.n_kv_heads;
  const size_t q_stride = c.arch == ModelArch::kGpt2 ? 3 * c.dim : c.dim;
  const float inv_sqrt = 1.0f / std::sqrt(static_cast<float>(hd));
  const size_t max_len = cache.max_ctx();
  auto one = [&](size_t task, size_t thread) {
    const size_t i = task / c.n_heads, h = task % c.n_heads;
    const size_t kv_off = (h / group) * hd;
    kernels::f32().attend_head(q + i * q_stride + h * hd, cache.key_rows(layer, seqs[i]) + kv_off,
                         cache.value_rows(layer, seqs[i]) + kv_off, kv_dim, positions[i] + 1,
                         hd, inv_sqrt, scores + thread * max_len, out + i * c.dim + h * hd);
  };
  size_t work = 0;
  for (size_t i = 0; i < n; ++i) work += (positions[i] + 1) * c.dim;
  const size_t tasks = n * c.n_heads;
  if (pool.num_threads() > 1 && work * 2 >= kMinParallelAttention) {
    pool.hwy_pool().Run(0, tasks, [&](uint64_t task, size_t thread) {
      one(static_cast<size_t>(task), thread);
    });
  } else {
    for (size_t t = 0; t < tasks; ++t) one(t, 0);
  }
}

// Rows [first, second) of out = W·in for one token, on the calling thread.
void Transformer::State::matvec_rows(const WeightView& w, const float* in, const Q8_0Block* in_q,
                                     float* out, std::pair<size_t, size_t> rows) {
  if (rows.first >= rows.second) return;
  WeightView part = w;
  part.data = static_cast<const uint8_t*>(w.data) + rows.first * w.row_bytes();
  part.rows = rows.second - rows.first;
  kernels::matvec_weights(part, in, is_block_quantized(w) ? in_q : nullptr, out + rows.first,
                          nullptr);
}

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

// A llama token's whole forward pass (every layer, then the output norm and
// logits) as part `part` of `parts`, one per thread of a single parallel
// region; parts meet at a spin barrier only where one reads what another
// wrote — 4 times a layer:
// - every split is static, the same rows for the same part at every token:
//   a part's share of the weights then stays in its core's caches (measured
//   2-thread tg64 on stories15M: Q8_0 4.4–4.7k tok/s static, 2.8–3.0k with
//   chunks claimed dynamically; F32 1.12–1.17k against 0.90–0.91k);
// - each part keeps its own copy of the residual stream (tok_x) and does the
//   short serial steps (residual add, RMSNorm, activation quantization) on
//   it itself, rather than one part doing them while the others wait;
// - q/k/v rows are split by kv head, so a part ropes and attends with the
//   heads it computed (when head_dim is a multiple of 8 and there are at
//   least `parts` kv heads; otherwise two more barriers around RoPE);
// - the attention output (xb2), projections (xb) and FFN hidden (hb) are
//   shared, each row written by one part.
void Transformer::State::llama_token(size_t part, size_t parts) {
  const ModelConfig& c = model.config;
  const ModelWeights& mw = model.weights;
  const size_t d = c.dim, kv_dim = c.kv_dim(), hid = c.hidden_dim, hd = c.head_dim;
  const size_t pos = positions[0], seq = seqs[0];
  auto sync = [&] { barrier.arrive_and_wait(parts); };
  float* my_x = tok_x + part * d;
  float* my_xb = tok_xb + part * d;
  Q8_0Block* my_q = tok_xq + part * tok_xq_stride;
  // Normalized / quantized input of a sublayer, private to this part.
  auto quantized = [&](const float* in, size_t cols,
                       std::initializer_list<const WeightView*> users) -> const Q8_0Block* {
    if (!wants_q8(cols, users)) return nullptr;
    kernels::quantize_q8_0_ties_even(in, cols, my_q);
    return my_q;
  };
  const size_t group = c.n_heads / c.n_kv_heads;
  const float inv_sqrt = 1.0f / std::sqrt(static_cast<float>(hd));
  const bool head_split = hd % 8 == 0 && c.n_kv_heads >= parts;
  const size_t kv0 = c.n_kv_heads * part / parts, kv1 = c.n_kv_heads * (part + 1) / parts;
  const auto heads = head_split ? std::pair{kv0 * group, kv1 * group}
                                : std::pair{c.n_heads * part / parts,
                                            c.n_heads * (part + 1) / parts};
  float* scratch = scores + part * cache.max_ctx();

  std::memcpy(my_x, x, d * sizeof(float));
  for (size_t l = 0; l < c.n_layers; ++l) {
    const LayerWeights& w = mw.layers[l];
    float* kout = cache.key_row(l, pos, seq);
    float* vout = cache.value_row(l, pos, seq);
    rms_norm_ggml(my_x, w.attn_norm.data(), c.norm_eps, d, my_xb);
    const Q8_0Block* xbq = quantized(my_xb, d, {&w.attn_q, &w.attn_k, &w.attn_v});
    if (head_split) {
      const std::pair q_rows{heads.first * hd, heads.second * hd};
      const std::pair kv_rows{kv0 * hd, kv1 * hd};
      matvec_rows(w.attn_q, my_xb, xbq, q, q_rows);
      matvec_rows(w.attn_k, my_xb, xbq, kout, kv_rows);
      matvec_rows(w.attn_v, my_xb, xbq, vout, kv_rows);
      kernels::f32().rope_apply(q + q_rows.first, q_rows.second - q_rows.first, hd, rope,
                          c.rope_layout);
      kernels::f32().rope_apply(kout + kv_rows.first, kv_rows.second - kv_rows.first, hd, rope,
                          c.rope_layout);
    } else {
      matvec_rows(w.attn_q, my_xb, xbq, q, share(d, part, parts));
      matvec_rows(w.attn_k, my_xb, xbq, kout, share(kv_dim, part, parts));
      matvec_rows(w.attn_v, my_xb, xbq, vout, share(kv_dim, part, parts));
      sync();
      if (part == 0) {
        kernels::f32().rope_apply(q, d, hd, rope, c.rope_layout);
        kernels::f32().rope_apply(kout, kv_dim, hd, rope, c.rope_layout);
      }
      sync();
    }
    for (size_t h = heads.first; h < heads.second; ++h) {
      const size_t kv_off = (h / group) * hd;
      kernels::f32().attend_head(q + h * hd, cache.key_rows(l, seq) + kv_off,
                           cache.value_rows(l, seq) + kv_off, kv_dim, pos + 1, hd, inv_sqrt,
                           scratch, xb2 + h * hd);
    }
    sync();  // xb2 complete
    const Q8_0Block* attq = quantized(xb2, d, {&w.attn_output});
    matvec_rows(w.attn_output, xb2, attq, xb, share(d, part, parts));
    sync();  // xb complete
    kernels::f32().add(my_x, xb, d, my_x);
    rms_norm_ggml(my_x, w.ffn_norm.data(), c.norm_eps, d, my_xb);
    const Q8_0Block* ffq = quantized(my_xb, d, {&w.ffn_gate, &w.ffn_up});
    const auto rows = share(hid, part, parts);
    matvec_rows(w.ffn_gate, my_xb, ffq, hb, rows);
    matvec_rows(w.ffn_up, my_xb, ffq, hb2, rows);
    kernels::f32().swiglu(hb + rows.first, hb2 + rows.first, rows.second - rows.first, hb + rows.first);
    sync();  // hb complete (and every part is done reading xb)
    const Q8_0Block* hbq = quantized(hb, hid, {&w.ffn_down});
    matvec_rows(w.ffn_down, hb, hbq, xb, share(d, part, parts));
    sync();  // xb complete
    kernels::f32().add(my_x, xb, d, my_x);
  }
  rms_norm_ggml(my_x, mw.output_norm.data(), c.norm_eps, d, my_xb);
  const Q8_0Block* outq = quantized(my_xb, d, {&mw.output});
  matvec_rows(mw.output, my_xb, outq, logits, share(c.vocab_size, part, parts));
  if (part == 0) std::memcpy(x, my_x, d * sizeof(float));
}

void Transformer::State::llama_layer(size_t l, size_t n, bool contiguous) {
  const ModelConfig& c = model.config;
  const LayerWeights& w = model.weights.layers[l];
  const size_t d = c.dim, kv_dim = c.kv_dim(), hd = c.head_dim, hid = c.hidden_dim;
  const size_t d_blocks = d / kQuantBlock, hid_blocks = hid / kQuantBlock;
  // Quantizes rows [i0, i1) of `in` (cols each) into xq's same rows.
  auto quantize_rows = [&](const float* in, size_t cols, size_t blocks, size_t i0, size_t i1) {
    kernels::quantize_q8_0_ties_even(in + i0 * cols, (i1 - i0) * cols, xq + i0 * blocks);
  };

  const bool q_qkv = wants_q8(d, {&w.attn_q, &w.attn_k, &w.attn_v});
  for_tokens(n, d, [&](size_t i0, size_t i1) {
    for (size_t i = i0; i < i1; ++i) {
      rms_norm_ggml(x + i * d, w.attn_norm.data(), c.norm_eps, d, xb + i * d);
    }
    if (q_qkv) quantize_rows(xb, d, d_blocks, i0, i1);
  });
  const Q8_0Block* xbq = q_qkv ? xq : nullptr;
  // Keys and values of a contiguous batch go straight into the cache rows.
  float* kout = contiguous ? cache.key_row(l, positions[0], seqs[0]) : k;
  float* vout = contiguous ? cache.value_row(l, positions[0], seqs[0]) : v;
  matmul(w.attn_q, xb, xbq, n, q);
  matmul(w.attn_k, xb, xbq, n, kout);
  matmul(w.attn_v, xb, xbq, n, vout);
  for_tokens(n, d, [&](size_t i0, size_t i1) {
    for (size_t i = i0; i < i1; ++i) {
      kernels::f32().rope_apply(q + i * d, d, hd, rope + i * hd, c.rope_layout);
      kernels::f32().rope_apply(kout + i * kv_dim, kv_dim, hd, rope + i * hd, c.rope_layout);
    }
  });
  write_kv(l, n, contiguous);
  attention(l, n, xb2);
  const bool q_o = wants_q8(d, {&w.attn_output});
  if (q_o) for_tokens(n, d, [&](size_t i0, size_t i1) { quantize_rows(xb2, d, d_blocks, i0, i1); });
  matmul(w.attn_output, xb2, q_o ? xq : nullptr, n, xb);

  const bool q_ffn = wants_q8(d, {&w.ffn_gate, &w.ffn_up});
  for_tokens(n, d, [&](size_t i0, size_t i1) {
    kernels::f32().add(x + i0 * d, xb + i0 * d, (i1 - i0) * d, x + i0 * d);
    for (size_t i = i0; i < i1; ++i) {
      rms_norm_ggml(x + i * d, w.ffn_norm.data(), c.norm_eps, d, xb + i * d);
    }
    if (q_ffn) quantize_rows(xb, d, d_blocks, i0, i1);
  });
  matmul(w.ffn_gate, xb, q_ffn ? xq : nullptr, n, hb);
  matmul(w.ffn_up, xb, q_ffn ? xq : nullptr, n, hb2);
  const bool q_down = wants_q8(hid, {&w.ffn_down});
  for_tokens(n, hid, [&](size_t i0, size_t i1) {
    kernels::f32().swiglu(hb + i0 * hid, hb2 + i0 * hid, (i1 - i0) * hid, hb + i0 * hid);
    if (q_down) quantize_rows(hb, hid, hid_blocks, i0, i1);
  });
  matmul(w.ffn_down, hb, q_down ? xq : nullptr, n, xb);
  kernels::f32().add(x, xb, n * d, x);
}

void Transformer::State::gpt2_layer(size_t l, size_t n, bool /*contiguous*/) {
  const ModelConfig& c = model.config;
  const LayerWeights& w = model.weights.layers[l];
  const size_t d = c.dim, hid = c.hidden_dim;

  for (size_t i = 0; i < n; ++i) {
    kernels::f32().layer_norm(x + i * d, w.attn_norm.data(), w.attn_norm_bias.data(), c.norm_eps, d,
                        xb + i * d);
  }
  // Fused projection: row i of q holds [q | k | v] (3·dim).
  matmul(w.attn_qkv, xb, quantize(xb, d, n, {&w.attn_qkv}), n, q);
  for (size_t i = 0; i < n; ++i) {
    float* row = q + i * 3 * d;
    kernels::f32().add(row, w.attn_qkv_bias.data(), 3 * d, row);
    std::memcpy(k + i * d, row + d, d * sizeof(float));
    std::memcpy(v + i * d, row + 2 * d, d * sizeof(float));
  }
  write_kv(l, n, /*contiguous=*/false);
  attention(l, n, xb2);
  matmul(w.attn_output, xb2, quantize(xb2, d, n, {&w.attn_output}), n, xb);
  for (size_t i = 0; i < n; ++i) {
    kernels::f32().add(xb + i * d, w.attn_output_bias.data(), d, xb + i * d);
  }
  kernels::f32().add(x, xb, n * d, x);

  for (size_t i = 0; i < n; ++i) {
    kernels::f32().layer_norm(x + i * d, w.ffn_norm.data(), w.ffn_norm_bias.data(), c.norm_eps, d,
                        xb + i * d);
  }
  matmul(w.ffn_up, xb, quantize(xb, d, n, {&w.ffn_up}), n, hb);
  for (size_t i = 0; i < n; ++i) {
    kernels::f32().add(hb + i * hid, w.ffn_up_bias.data(), hid, hb + i * hid);
  }
  kernels::f32().gelu(hb, n * hid, hb);
  matmul(w.ffn_down, hb, quantize(hb, hid, n, {&w.ffn_down}), n, xb);
  for (size_t i = 0; i < n; ++i) {
    kernels::f32().add(xb + i * d, w.ffn_down_bias.data(), d, xb + i * d);
  }
  kernels::f32().add(x, xb, n * d, x);
}

// Runs n ≤ max_batch validated tokens (positions/seqs already filled in);
// logits for rows [logits_from, n) land in logits[0…].
absl::Status Transformer::State::run(const int32_t* tokens, size_t n, size_t logits_from) {
  const ModelConfig& c = model.config;
  const ModelWeights& w = model.weights;
  const size_t d = c.dim;
  for (size_t i = 0; i < n; ++i) {
    kernels::dequantize_row(w.token_embedding, static_cast<size_t>(tokens[i]), x + i * d);
    if (c.arch == ModelArch::kGpt2) {
      kernels::dequantize_row(w.position_embedding, positions[i], xb);
      kernels::f32().add(x + i * d, xb, d, x + i * d);
    } else {
      kernels::rope_angles(c.head_dim, positions[i], c.rope_theta, rope + i * c.head_dim);
    }
  }
  bool contiguous = c.arch == ModelArch::kLlama;
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
    if (c.arch == ModelArch::kLlama) {
      llama_layer(l, n, contiguous);
    } else {
      gpt2_layer(l, n, contiguous);
    }
  }
  for (size_t i = 0; i < n; ++i) {
    LLMK_RETURN_IF_ERROR(cache.set_pos(std::max(cache.pos(seqs[i]), positions[i] + 1), seqs[i]));
  }
  const size_t rows = n - logits_from;
  for (size_t i = logits_from; i < n; ++i) {
    float* out = xb + (i - logits_from) * d;
    if (c.arch == ModelArch::kLlama) {
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
  if (ctx > c.max_seq_len && c.arch == ModelArch::kGpt2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Transformer::create: max_seq_len ", ctx, " exceeds the model's positions (",
        c.max_seq_len, ")"));
  }
  if (ctx > kMaxModelSeqLen) {
    return absl::InvalidArgumentError("Transformer::create: max_seq_len is too large");
  }
  LLMK_ASSIGN_OR_RETURN(auto cache, KVCache::create(c.n_layers, ctx, c.kv_dim(), options.n_seqs));

  // Arena layout: sizes in floats (block arrays counted in bytes / 4).
  const size_t B = options.max_batch, T = options.n_threads;
  const size_t q_cols = c.arch == ModelArch::kGpt2 ? 3 * c.dim : c.dim;
  const size_t xq_bytes = (std::max(c.dim, c.hidden_dim) / kQuantBlock + 1) * sizeof(Q8_0Block);
  struct Piece {
    size_t count, elem;
  };
  const Piece pieces[] = {
      {B * c.dim, 4}, {B * c.dim, 4},      {B * c.dim, 4},        {B * q_cols, 4},
      {B * c.kv_dim(), 4}, {B * c.kv_dim(), 4}, {B * c.hidden_dim, 4}, {B * c.hidden_dim, 4},
      {B * xq_bytes, 1}, {B * c.head_dim, 4}, {T * ctx, 4},          {B * c.vocab_size, 4},
      {B, sizeof(size_t)}, {B, sizeof(size_t)}, {T * c.dim, 4},      {T * c.dim, 4},
      {T * xq_bytes, 1}};
  size_t total = 0;
  for (const Piece& p : pieces) {
    size_t bytes;
    if (!internal::checked_mul(p.count, p.elem, &bytes) ||
        !internal::checked_add(total, bytes + 64, &total)) {
      return absl::InvalidArgumentError("Transformer::create: activation size overflows");
    }
  }
  LLMK_ASSIGN_OR_RETURN(auto arena, Arena::create(total));

  auto t = std::unique_ptr<Transformer>(new Transformer());
  t->s_ = std::make_unique<State>(model, options, std::move(cache), std::move(arena));
  State& s = *t->s_;
  s.quantize_activations = options.activation_mode == ActivationMode::kQuantizeQ8_0;
  Arena& a = s.arena;
  auto take = [&a](auto*& ptr, size_t count) -> absl::Status {
    using T = std::remove_reference_t<decltype(*ptr)>;
    LLMK_ASSIGN_OR_RETURN(auto p, a.alloc(count * sizeof(T), 64));
    ptr = static_cast<T*>(p);
    return absl::OkStatus();
  };
  LLMK_RETURN_IF_ERROR(take(s.x, B * c.dim));
  LLMK_RETURN_IF_ERROR(take(s.xb, B * c.dim));
  LLMK_RETURN_IF_ERROR(take(s.xb2, B * c.dim));
  LLMK_RETURN_IF_ERROR(take(s.q, B * q_cols));
  LLMK_RETURN_IF_ERROR(take(s.k, B * c.kv_dim()));
  LLMK_RETURN_IF_ERROR(take(s.v, B * c.kv_dim()));
  LLMK_RETURN_IF_ERROR(take(s.hb, B * c.hidden_dim));
  LLMK_RETURN_IF_ERROR(take(s.hb2, B * c.hidden_dim));
  LLMK_RETURN_IF_ERROR(take(s.xq, B * xq_bytes / sizeof(Q8_0Block)));
  LLMK_RETURN_IF_ERROR(take(s.rope, B * c.head_dim));
  LLMK_RETURN_IF_ERROR(take(s.scores, T * ctx));
  LLMK_RETURN_IF_ERROR(take(s.logits, B * c.vocab_size));
  LLMK_RETURN_IF_ERROR(take(s.positions, B));
  LLMK_RETURN_IF_ERROR(take(s.seqs, B));
  s.tok_xq_stride = xq_bytes / sizeof(Q8_0Block);
  LLMK_RETURN_IF_ERROR(take(s.tok_x, T * c.dim));
  LLMK_RETURN_IF_ERROR(take(s.tok_xb, T * c.dim));
  LLMK_RETURN_IF_ERROR(take(s.tok_xq, T * s.tok_xq_stride));
  if (options.spin_wait) s.pool.hwy_pool().SetWaitMode(hwy::PoolWaitMode::kSpin);
  for (const LayerWeights& l : model.weights.layers) {
    for (const WeightView* w : {&l.attn_q, &l.attn_k, &l.attn_v, &l.attn_qkv, &l.attn_output,
                                &l.ffn_gate, &l.ffn_up, &l.ffn_down}) {
      s.token_weight_elements += w->rows * w->cols;
    }
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
