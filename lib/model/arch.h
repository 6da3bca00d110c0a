// One description per model architecture, read by the GGUF loader, the GGUF
// exporter, the synthetic builder and the forward pass alike: its GGUF name
// and keys, the tensors of a layer (GGUF name, LayerWeights field, shape),
// its norm, feed-forward activation and position encoding. Adding an
// architecture is one entry in arch.cc plus its layer function in the
// forward pass (transformer_<arch>.cc).
#pragma once

#include <cstddef>
#include <span>
#include <string_view>

#include "llmk/model.h"

namespace llmk::internal {

enum class NormKind {
  kRms,        // RMSNorm, a weight and no bias
  kLayerNorm,  // mean/variance LayerNorm with a weight and a bias
};

enum class FfnActivation {
  kSwiGLU,  // down(silu(gate·x) ⊙ up·x)
  kGelu,    // down(gelu(up·x + b) + b)
};

// The tokenizer a GGUF file of the architecture carries (the exporter's
// placeholder vocabulary follows it).
enum class VocabKind {
  kSentencePiece,  // <unk>, <s>, </s>, byte tokens, pieces
  kByteLevelBpe,   // 256 byte symbols, merges, <|endoftext|> last (bos = eos)
};

// A tensor size in terms of the hyperparameters.
enum class Extent { kDim, kKvDim, kHidden, kFusedQkv /* 3·dim: q, k, v rows */ };
size_t extent_size(Extent e, const ModelConfig& c);

// One tensor of a layer: a matrix (rows × cols) or a 1-D vector (rows).
struct LayerTensor {
  const char* name;                               // GGUF name after "blk.N."
  WeightView LayerWeights::*matrix;               // set for a matrix, else null
  std::span<const float> LayerWeights::*vector;   // set for a vector, else null
  Extent rows;
  Extent cols;  // matrices only
  bool is_bias;  // a bias (synthetic values near 0) rather than a norm weight (near 1)
  // Files may leave it out (llama's biases, as llama.cpp loads them): the
  // loader then leaves the span empty, the exporter writes it only when set,
  // and synthetic models have none.
  bool optional;
};

struct ArchDescription {
  ModelArch arch;
  const char* name;          // general.architecture, and the key prefix
  const char* norm_eps_key;  // after "<name>."
  NormKind norm;
  FfnActivation activation;
  // Rotary positions (RoPE keys in the file, n_kv_heads may differ from
  // n_heads); otherwise learned position embeddings (position_embd.weight,
  // context length fixed by the file).
  bool rope;
  VocabKind vocab;
  // The layer's tensors in the order a GGUF file lists them.
  std::span<const LayerTensor> layer_tensors;
};

const ArchDescription& arch_description(ModelArch arch);
// The description whose GGUF name is `name`, or null.
const ArchDescription* find_arch(std::string_view name);
// "llama, gpt2": the names load_model accepts.
std::string_view supported_arch_names();

// Query rows per token in the forward pass (fused q|k|v or q alone).
inline bool has_fused_qkv(const ArchDescription& a) {
  for (const LayerTensor& t : a.layer_tensors) {
    if (t.matrix == &LayerWeights::attn_qkv) return true;
  }
  return false;
}

}  // namespace llmk::internal
