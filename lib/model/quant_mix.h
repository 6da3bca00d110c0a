// Which type each tensor of a GGUF model gets when it is quantized to one of
// llama.cpp's file types: the file type's main type, or (unless pure) the
// per-tensor choice llama.cpp's llama-quantize makes for it, so that a file
// we write as Q4_K_M holds the same types as llama.cpp's Q4_K_M of the same
// model. Internal to lib/model (quantize.cc); docs/quantization.md lists the
// rules.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "absl/status/statusor.h"
#include "llmk/gguf.h"
#include "llmk/model_tools.h"
#include "llmk/tensor_type.h"

namespace llmk::internal {

// One row of f32 values encoded as weight type `type` into row_bytes bytes
// at `out` (quantizers: ggml's reference ones). InvalidArgumentError for
// Q8_K, which is not a weight type, or a row that doesn't fit its blocks.
absl::Status encode_weight_row(TensorType type, std::span<const float> row, uint8_t* out);

// The type most weight matrices of `file_type` get.
TensorType main_type(QuantFileType file_type);

class QuantMixPlanner {
 public:
  // Reads the counts the rules depend on (layers, heads, kv heads, whether
  // the model has its own output matrix) from `model`'s metadata and tensors.
  static absl::StatusOr<QuantMixPlanner> create(const GgufFile& model, QuantFileType file_type,
                                                bool pure);

  // The type `tensor` is written as, or nullopt when it is copied as it is
  // (1-D tensors, norms, position embeddings, non-float sources). Call once
  // per tensor in file order: the layer-dependent rules count the tensors
  // they have seen, as llama.cpp does.
  absl::StatusOr<std::optional<TensorType>> next(const GgufTensorInfo& tensor);

 private:
  QuantMixPlanner() = default;
  TensorType mixed_type(const std::string& name, size_t cols);

  QuantFileType file_type_ = QuantFileType::kQ8_0;
  bool pure_ = false;
  size_t n_layer_ = 0;
  size_t n_gqa_ = 1;          // query heads per kv head
  bool has_output_ = false;   // output.weight present (else tied to token_embd)
  bool is_70b_class_ = false; // llama.cpp's LLM_TYPE_70B: 80 layers with GQA
  size_t n_attention_v_ = 0;  // attn_v / attn_qkv tensors in the file
  size_t i_attention_v_ = 0;  // seen so far
  size_t i_ffn_down_ = 0;
};

}  // namespace llmk::internal
