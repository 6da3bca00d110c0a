// The architecture table (see arch.h). Tensor names are llama.cpp's.
#include "model/arch.h"

#include <cstdlib>

namespace llmk::internal {
namespace {

using L = LayerWeights;

constexpr LayerTensor matrix(const char* name, WeightView L::*field, Extent rows, Extent cols) {
  return {name, field, nullptr, rows, cols, false, false};
}
constexpr LayerTensor norm(const char* name, std::span<const float> L::*field) {
  return {name, nullptr, field, Extent::kDim, Extent::kDim, false, false};
}
constexpr LayerTensor bias(const char* name, std::span<const float> L::*field, Extent n) {
  return {name, nullptr, field, n, n, true, false};
}
constexpr LayerTensor optional_bias(const char* name, std::span<const float> L::*field,
                                    Extent n) {
  return {name, nullptr, field, n, n, true, true};
}

// The biases are the ones llama.cpp's llama architecture loads when present.
constexpr LayerTensor kLlamaLayer[] = {
    norm("attn_norm.weight", &L::attn_norm),
    matrix("attn_q.weight", &L::attn_q, Extent::kDim, Extent::kDim),
    optional_bias("attn_q.bias", &L::attn_q_bias, Extent::kDim),
    matrix("attn_k.weight", &L::attn_k, Extent::kKvDim, Extent::kDim),
    optional_bias("attn_k.bias", &L::attn_k_bias, Extent::kKvDim),
    matrix("attn_v.weight", &L::attn_v, Extent::kKvDim, Extent::kDim),
    optional_bias("attn_v.bias", &L::attn_v_bias, Extent::kKvDim),
    matrix("attn_output.weight", &L::attn_output, Extent::kDim, Extent::kDim),
    optional_bias("attn_output.bias", &L::attn_output_bias, Extent::kDim),
    norm("ffn_norm.weight", &L::ffn_norm),
    matrix("ffn_gate.weight", &L::ffn_gate, Extent::kHidden, Extent::kDim),
    optional_bias("ffn_gate.bias", &L::ffn_gate_bias, Extent::kHidden),
    matrix("ffn_up.weight", &L::ffn_up, Extent::kHidden, Extent::kDim),
    optional_bias("ffn_up.bias", &L::ffn_up_bias, Extent::kHidden),
    matrix("ffn_down.weight", &L::ffn_down, Extent::kDim, Extent::kHidden),
    optional_bias("ffn_down.bias", &L::ffn_down_bias, Extent::kDim),
};

constexpr LayerTensor kGpt2Layer[] = {
    norm("attn_norm.weight", &L::attn_norm),
    bias("attn_norm.bias", &L::attn_norm_bias, Extent::kDim),
    matrix("attn_qkv.weight", &L::attn_qkv, Extent::kFusedQkv, Extent::kDim),
    bias("attn_qkv.bias", &L::attn_qkv_bias, Extent::kFusedQkv),
    matrix("attn_output.weight", &L::attn_output, Extent::kDim, Extent::kDim),
    bias("attn_output.bias", &L::attn_output_bias, Extent::kDim),
    norm("ffn_norm.weight", &L::ffn_norm),
    bias("ffn_norm.bias", &L::ffn_norm_bias, Extent::kDim),
    bias("ffn_up.bias", &L::ffn_up_bias, Extent::kHidden),
    bias("ffn_down.bias", &L::ffn_down_bias, Extent::kDim),
    matrix("ffn_up.weight", &L::ffn_up, Extent::kHidden, Extent::kDim),
    matrix("ffn_down.weight", &L::ffn_down, Extent::kDim, Extent::kHidden),
};

constexpr ArchDescription kArchs[] = {
    {ModelArch::kLlama, "llama", "attention.layer_norm_rms_epsilon", NormKind::kRms,
     FfnActivation::kSwiGLU, /*rope=*/true,
     VocabKind::kSentencePiece, kLlamaLayer},
    {ModelArch::kGpt2, "gpt2", "attention.layer_norm_epsilon", NormKind::kLayerNorm,
     FfnActivation::kGelu, /*rope=*/false,
     VocabKind::kByteLevelBpe, kGpt2Layer},
};

}  // namespace

size_t extent_size(Extent e, const ModelConfig& c) {
  switch (e) {
    case Extent::kDim: return c.dim;
    case Extent::kKvDim: return c.kv_dim();
    case Extent::kHidden: return c.hidden_dim;
    case Extent::kFusedQkv: return 3 * c.dim;
  }
  return 0;
}

const ArchDescription& arch_description(ModelArch arch) {
  for (const ArchDescription& a : kArchs) {
    if (a.arch == arch) return a;
  }
  std::abort();  // every ModelArch has an entry
}

const ArchDescription* find_arch(std::string_view name) {
  for (const ArchDescription& a : kArchs) {
    if (name == a.name) return &a;
  }
  return nullptr;
}

std::string_view supported_arch_names() { return "llama, gpt2"; }

}  // namespace llmk::internal
