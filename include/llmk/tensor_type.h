// Element types of a weight tensor, shared by the kernels (llmk/quant.h,
// llmk/kquant.h) and the file formats (llmk/gguf.h) without either depending
// on the other.
#pragma once

#include "llmk/export.h"

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

}  // namespace llmk
