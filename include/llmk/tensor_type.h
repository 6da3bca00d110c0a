// Element types of a weight tensor, shared by the kernels (llmk/quant.h,
// llmk/kquant.h) and the file formats (llmk/gguf.h) without either depending
// on the other.
#pragma once

#include "llmk/export.h"

#include <cstddef>
#include <cstdint>

namespace llmk LLMK_API {

// Tensor element types, numbered as in GGUF/ggml.
enum class TensorType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ8_0 = 8,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kQ8_K = 15,  // activations only: GGUF files never hold it
  kBF16 = 30,
};

// Values per block: a row of a quantized type holds whole blocks (32 for
// Q4_0 / Q8_0, 256 for the K-quants); 1 for the float types.
constexpr size_t values_per_block(TensorType type) {
  switch (type) {
    case TensorType::kQ4_0:
    case TensorType::kQ8_0:
      return 32;
    case TensorType::kQ2_K:
    case TensorType::kQ3_K:
    case TensorType::kQ4_K:
    case TensorType::kQ5_K:
    case TensorType::kQ6_K:
    case TensorType::kQ8_K:
      return 256;
    default:
      return 1;
  }
}

}  // namespace llmk
