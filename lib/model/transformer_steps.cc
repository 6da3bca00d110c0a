// The forward pass's shared steps: activation quantization, matmul and
// row-split matvec, KV-cache writes and attention over the cache.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <utility>

#include "model/transformer_state.h"
#include "ops/kernels.h"
#include "quant/quant_kernels.h"
#include "util/check.h"

namespace llmk {

void add_bias_rows(std::span<const float> bias, std::pair<size_t, size_t> rows, float* out) {
  if (bias.empty() || rows.first >= rows.second) return;
  kernels::f32().add(out + rows.first, bias.data() + rows.first, rows.second - rows.first,
                     out + rows.first);
}

void add_bias_tokens(std::span<const float> bias, size_t i0, size_t i1, float* out) {
  if (bias.empty()) return;
  const size_t n = bias.size();
  for (size_t i = i0; i < i1; ++i) kernels::f32().add(out + i * n, bias.data(), n, out + i * n);
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
                                size_t n, float* out, kernels::SharedActivations* shared) {
  const Q8_0Block* use_q = integer_activations(w, in_q);
  if (n == 1) {
    kernels::matvec_weights(w, in, use_q, out, &pool);
  } else {
    kernels::matmul_weights(w, in, use_q, n, out, &pool, /*stream=*/true, shared);
  }
}

// Elements [range.first, range.second) of one position's key and value rows
// from f32 k, v (kv_dim each) into the cache, converted to its type.
void Transformer::State::store_kv_rows(size_t layer, size_t pos, size_t seq, const float* k,
                                       const float* v, std::pair<size_t, size_t> range) {
  const size_t n = range.second - range.first;
  cache.write_rows(layer, pos, seq, range.first, {k + range.first, n}, {v + range.first, n});
}

// Copies keys/values from k, v into the cache rows of each token, unless
// they were written there directly (contiguous prompt batch, F32 cache).
void Transformer::State::write_kv(size_t layer, size_t n, bool contiguous) {
  if (contiguous && cache.type() == KvType::kF32) return;
  const size_t kv_dim = model.config.kv_dim();
  for (size_t i = 0; i < n; ++i) {
    store_kv_rows(layer, positions[i], seqs[i], k + i * kv_dim, v + i * kv_dim, {0, kv_dim});
  }
}

// One head of attention for query q over positions [0, len) of a layer and
// sequence, with the kernel of the cache's type; scratch holds len floats.
void Transformer::State::attend_head(size_t layer, size_t seq, size_t kv_head, const float* q,
                                     size_t len, float* scratch, float* out) {
  const ModelConfig& c = model.config;
  const size_t hd = c.head_dim, kv_off = kv_head * hd;
  const float inv_sqrt = 1.0f / std::sqrt(static_cast<float>(hd));
  const std::byte* keys = cache.key_data(layer, 0, seq);
  const std::byte* values = cache.value_data(layer, 0, seq);
  if (cache.type() == KvType::kF32) {
    kernels::f32().attend_head(q, reinterpret_cast<const float*>(keys) + kv_off,
                               reinterpret_cast<const float*>(values) + kv_off, c.kv_dim(), len,
                               hd, inv_sqrt, scratch, out);
  } else {
    kernels::f32().attend_head_f16(q, reinterpret_cast<const uint16_t*>(keys) + kv_off,
                                   reinterpret_cast<const uint16_t*>(values) + kv_off, c.kv_dim(),
                                   len, hd, inv_sqrt, scratch, out);
  }
}

// attention() for a prompt: n queries of one sequence at consecutive
// positions, one head per task, as register-tiled products
// (attend_queries). False where that does not apply or its scratch could
// not be allocated; the caller then computes every head query by query.
bool Transformer::State::attend_prompt(size_t layer, size_t n, float* out) {
  const kernels::F32Kernels& k = kernels::f32();
  const bool f16 = cache.type() != KvType::kF32;
  if ((f16 ? k.attend_queries_f16 == nullptr : k.attend_queries == nullptr) ||
      n < k.panel_vectors()) {
    return false;
  }
  for (size_t i = 1; i < n; ++i) {
    if (seqs[i] != seqs[0] || positions[i] != positions[0] + i) return false;
  }
  const ModelConfig& c = model.config;
  const size_t hd = c.head_dim, group = c.n_heads / c.n_kv_heads;
  const size_t q_stride = internal::has_fused_qkv(*arch) ? 3 * c.dim : c.dim;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const std::byte* keys = cache.key_data(layer, 0, seqs[0]);
  const std::byte* values = cache.value_data(layer, 0, seqs[0]);
  std::atomic<bool> ok{true};
  auto head = [&](size_t h) {
    const size_t kv_off = h / group * hd;
    const float* qh = q + h * hd;
    float* oh = out + h * hd;
    const bool done =
        f16 ? k.attend_queries_f16(qh, q_stride, n, positions[0],
                                   reinterpret_cast<const uint16_t*>(keys) + kv_off,
                                   reinterpret_cast<const uint16_t*>(values) + kv_off,
                                   c.kv_dim(), hd, scale, oh, c.dim)
            : k.attend_queries(qh, q_stride, n, positions[0],
                               reinterpret_cast<const float*>(keys) + kv_off,
                               reinterpret_cast<const float*>(values) + kv_off, c.kv_dim(), hd,
                               scale, oh, c.dim);
    if (!done) ok.store(false, std::memory_order_relaxed);
  };
  if (pool.num_threads() > 1) {
    pool.hwy_pool().Run(0, c.n_heads, [&](uint64_t h, size_t) { head(static_cast<size_t>(h)); });
  } else {
    for (size_t h = 0; h < c.n_heads; ++h) head(h);
  }
  return ok.load();
}

// out[i] = softmax(q_i·K/√d)·V per head, over positions [0, positions[i]].
void Transformer::State::attention(size_t layer, size_t n, float* out) {
  const ModelConfig& c = model.config;
  const size_t hd = c.head_dim;
  const size_t group = c.n_heads / c.n_kv_heads;
  const size_t q_stride = internal::has_fused_qkv(*arch) ? 3 * c.dim : c.dim;
  const size_t max_len = cache.max_ctx();
  if (attend_prompt(layer, n, out)) return;
  // Head-major: one head's queries in a row read the same key and value
  // columns, which stay in L2; query-major, every query read the whole
  // layer's rows (1.5 MiB at 512 positions of a 768-wide F16 cache) again.
  auto one = [&](size_t task, size_t thread) {
    const size_t h = task / n, i = task % n;
    attend_head(layer, seqs[i], h / group, q + i * q_stride + h * hd, positions[i] + 1,
                scores + thread * max_len, out + i * c.dim + h * hd);
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
  kernels::matvec_weights(part, in, integer_activations(w, in_q), out + rows.first,
                          nullptr);
}

}  // namespace llmk
