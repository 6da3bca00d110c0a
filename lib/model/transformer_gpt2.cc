// The gpt2 layer: LayerNorm with bias, fused QKV with bias, GELU.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>

#include "model/transformer_state.h"
#include "ops/kernels.h"
#include "quant/quant_kernels.h"
#include "util/check.h"

namespace llmk {

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

}  // namespace llmk
