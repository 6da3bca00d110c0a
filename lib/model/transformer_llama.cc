// The llama layer: RMSNorm, RoPE (partial, scaled), grouped-query attention,
// SwiGLU, and the projections' biases where the model has them; and a
// single token's whole forward pass in one parallel region.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>

#include "model/transformer_state.h"
#include "ops/kernels.h"
#include "quant/quant_kernels.h"
#include "util/check.h"

namespace llmk {


// A llama token's whole forward pass (every layer, then the output norm and
// logits) as part `part` of `parts`, one per thread of a single parallel
// region; parts meet at a spin barrier only where one reads what another
// wrote — 4 times a layer:
// - every split is static, the same rows for the same part at every token:
//   a part's share of the weights then stays in its core's caches (stories15M
//   Q8_0 2-thread tg64 about 1.5x faster than chunks claimed dynamically;
//   docs/performance.md);
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
  const size_t rot = c.rotary_dims();
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
  const bool head_split = hd % 8 == 0 && c.n_kv_heads >= parts;
  const size_t kv0 = c.n_kv_heads * part / parts, kv1 = c.n_kv_heads * (part + 1) / parts;
  const auto heads = head_split ? std::pair{kv0 * group, kv1 * group}
                                : std::pair{c.n_heads * part / parts,
                                            c.n_heads * (part + 1) / parts};
  float* scratch = scores + part * cache.max_ctx();
  // An F32 cache takes k and v straight into its rows; an F16 one gets them
  // from the k, v buffers once they are roped (store_kv_rows).
  const bool f32_cache = cache.type() == KvType::kF32;

  std::memcpy(my_x, x, d * sizeof(float));
  for (size_t l = 0; l < c.n_layers; ++l) {
    const LayerWeights& w = mw.layers[l];
    float* kout = f32_cache ? cache.key_row(l, pos, seq) : k;
    float* vout = f32_cache ? cache.value_row(l, pos, seq) : v;
    rms_norm_ggml(my_x, w.attn_norm.data(), c.norm_eps, d, my_xb);
    const Q8_0Block* xbq = quantized(my_xb, d, {&w.attn_q, &w.attn_k, &w.attn_v});
    if (head_split) {
      const std::pair q_rows{heads.first * hd, heads.second * hd};
      const std::pair kv_rows{kv0 * hd, kv1 * hd};
      matvec_rows(w.attn_q, my_xb, xbq, q, q_rows);
      matvec_rows(w.attn_k, my_xb, xbq, kout, kv_rows);
      matvec_rows(w.attn_v, my_xb, xbq, vout, kv_rows);
      add_bias_rows(w.attn_q_bias, q_rows, q);
      add_bias_rows(w.attn_k_bias, kv_rows, kout);
      add_bias_rows(w.attn_v_bias, kv_rows, vout);
      kernels::f32().rope_apply(q + q_rows.first, q_rows.second - q_rows.first, hd, rot, rope,
                                c.rope_layout);
      kernels::f32().rope_apply(kout + kv_rows.first, kv_rows.second - kv_rows.first, hd, rot,
                                rope, c.rope_layout);
      if (!f32_cache) store_kv_rows(l, pos, seq, kout, vout, kv_rows);
    } else {
      const auto q_rows = share(d, part, parts), kv_rows = share(kv_dim, part, parts);
      matvec_rows(w.attn_q, my_xb, xbq, q, q_rows);
      matvec_rows(w.attn_k, my_xb, xbq, kout, kv_rows);
      matvec_rows(w.attn_v, my_xb, xbq, vout, kv_rows);
      add_bias_rows(w.attn_q_bias, q_rows, q);
      add_bias_rows(w.attn_k_bias, kv_rows, kout);
      add_bias_rows(w.attn_v_bias, kv_rows, vout);
      sync();
      if (part == 0) {
        kernels::f32().rope_apply(q, d, hd, rot, rope, c.rope_layout);
        kernels::f32().rope_apply(kout, kv_dim, hd, rot, rope, c.rope_layout);
        if (!f32_cache) store_kv_rows(l, pos, seq, kout, vout, {0, kv_dim});
      }
      sync();
    }
    for (size_t h = heads.first; h < heads.second; ++h) {
      attend_head(l, seq, h / group, q + h * hd, pos + 1, scratch, xb2 + h * hd);
    }
    sync();  // xb2 complete
    const Q8_0Block* attq = quantized(xb2, d, {&w.attn_output});
    const auto d_rows = share(d, part, parts);
    matvec_rows(w.attn_output, xb2, attq, xb, d_rows);
    add_bias_rows(w.attn_output_bias, d_rows, xb);
    sync();  // xb complete
    kernels::f32().add(my_x, xb, d, my_x);
    rms_norm_ggml(my_x, w.ffn_norm.data(), c.norm_eps, d, my_xb);
    const Q8_0Block* ffq = quantized(my_xb, d, {&w.ffn_gate, &w.ffn_up});
    const auto rows = share(hid, part, parts);
    matvec_rows(w.ffn_gate, my_xb, ffq, hb, rows);
    matvec_rows(w.ffn_up, my_xb, ffq, hb2, rows);
    add_bias_rows(w.ffn_gate_bias, rows, hb);
    add_bias_rows(w.ffn_up_bias, rows, hb2);
    kernels::f32().swiglu(hb + rows.first, hb2 + rows.first, rows.second - rows.first, hb + rows.first);
    sync();  // hb complete (and every part is done reading xb)
    const Q8_0Block* hbq = quantized(hb, hid, {&w.ffn_down});
    matvec_rows(w.ffn_down, hb, hbq, xb, d_rows);
    add_bias_rows(w.ffn_down_bias, d_rows, xb);
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
  const size_t rot = c.rotary_dims();
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
  // Keys and values of a contiguous batch go straight into an F32 cache's rows.
  const bool direct = contiguous && cache.type() == KvType::kF32;
  float* kout = direct ? cache.key_row(l, positions[0], seqs[0]) : k;
  float* vout = direct ? cache.value_row(l, positions[0], seqs[0]) : v;
  shared_input.forget();  // xb and xq are new
  matmul(w.attn_q, xb, xbq, n, q, &shared_input);
  matmul(w.attn_k, xb, xbq, n, kout, &shared_input);
  matmul(w.attn_v, xb, xbq, n, vout, &shared_input);
  for_tokens(n, d, [&](size_t i0, size_t i1) {
    add_bias_tokens(w.attn_q_bias, i0, i1, q);
    add_bias_tokens(w.attn_k_bias, i0, i1, kout);
    add_bias_tokens(w.attn_v_bias, i0, i1, vout);
    for (size_t i = i0; i < i1; ++i) {
      kernels::f32().rope_apply(q + i * d, d, hd, rot, rope + i * hd, c.rope_layout);
      kernels::f32().rope_apply(kout + i * kv_dim, kv_dim, hd, rot, rope + i * hd,
                                c.rope_layout);
    }
  });
  write_kv(l, n, contiguous);
  attention(l, n, xb2);
  const bool q_o = wants_q8(d, {&w.attn_output});
  if (q_o) for_tokens(n, d, [&](size_t i0, size_t i1) { quantize_rows(xb2, d, d_blocks, i0, i1); });
  matmul(w.attn_output, xb2, q_o ? xq : nullptr, n, xb);

  const bool q_ffn = wants_q8(d, {&w.ffn_gate, &w.ffn_up});
  for_tokens(n, d, [&](size_t i0, size_t i1) {
    add_bias_tokens(w.attn_output_bias, i0, i1, xb);
    kernels::f32().add(x + i0 * d, xb + i0 * d, (i1 - i0) * d, x + i0 * d);
    for (size_t i = i0; i < i1; ++i) {
      rms_norm_ggml(x + i * d, w.ffn_norm.data(), c.norm_eps, d, xb + i * d);
    }
    if (q_ffn) quantize_rows(xb, d, d_blocks, i0, i1);
  });
  shared_input.forget();  // xb and xq are new
  matmul(w.ffn_gate, xb, q_ffn ? xq : nullptr, n, hb, &shared_input);
  matmul(w.ffn_up, xb, q_ffn ? xq : nullptr, n, hb2, &shared_input);
  const bool q_down = wants_q8(hid, {&w.ffn_down});
  for_tokens(n, hid, [&](size_t i0, size_t i1) {
    add_bias_tokens(w.ffn_gate_bias, i0, i1, hb);
    add_bias_tokens(w.ffn_up_bias, i0, i1, hb2);
    kernels::f32().swiglu(hb + i0 * hid, hb2 + i0 * hid, (i1 - i0) * hid, hb + i0 * hid);
    if (q_down) quantize_rows(hb, hid, hid_blocks, i0, i1);
  });
  matmul(w.ffn_down, hb, q_down ? xq : nullptr, n, xb);
  if (!w.ffn_down_bias.empty()) {
    for_tokens(n, d, [&](size_t i0, size_t i1) { add_bias_tokens(w.ffn_down_bias, i0, i1, xb); });
  }
  kernels::f32().add(x, xb, n * d, x);
}

}  // namespace llmk
