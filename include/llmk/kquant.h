// GGML-compatible K-quants: 256-value super-blocks split into sub-blocks
// with their own quantized scales (and, for Q2_K / Q4_K / Q5_K, minimums).
// Layouts, quantization and dequantization are bit-identical to ggml's; the
// weights meet activations quantized to Q8_K in fused integer dot products.
//
// Formats (value of element i; "scale" and "min" are the sub-block's):
// - Q2_K: 16 sub-blocks of 16; 4-bit scale and 4-bit min per sub-block
//   (scales[j] low / high nibble); value = d·scale·q − dmin·min, q in 0…3.
// - Q3_K: 16 sub-blocks of 16; 6-bit signed scales packed in 12 bytes;
//   q = low 2 bits from qs, minus 4 where hmask's bit is clear;
//   value = d·(scale − 32)·q.
// - Q4_K: 8 sub-blocks of 32; 6-bit scale and min packed in 12 bytes;
//   value = d·scale·q − dmin·min, q in 0…15.
// - Q5_K: as Q4_K with a fifth bit per element in qh; q in 0…31.
// - Q6_K: 16 sub-blocks of 16; int8 scales; q = 4 bits of ql and 2 of qh,
//   minus 32; value = d·scale·q.
// - Q8_K: float d, 256 int8, and the sums of each 16 quants (bsums).
#pragma once

#include "llmk/export.h"

#include <cstddef>
#include <cstdint>
#include <span>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace llmk LLMK_API {

inline constexpr size_t kSuperBlock = 256;     // values per K-quant block
inline constexpr size_t kKScaleBytes = 12;     // Q3_K/Q4_K/Q5_K packed scales

struct Q2_KBlock {
  uint8_t scales[16];  // low nibble scale, high nibble min
  uint8_t qs[64];      // 2-bit quants
  uint16_t d;          // fp16 scale of the scales
  uint16_t dmin;       // fp16 scale of the mins
};
struct Q3_KBlock {
  uint8_t hmask[32];   // high bit of each quant
  uint8_t qs[64];      // low 2 bits
  uint8_t scales[kKScaleBytes];
  uint16_t d;
};
struct Q4_KBlock {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[kKScaleBytes];
  uint8_t qs[128];
};
struct Q5_KBlock {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[kKScaleBytes];
  uint8_t qh[32];
  uint8_t qs[128];
};
struct Q6_KBlock {
  uint8_t ql[128];     // low 4 bits
  uint8_t qh[64];      // high 2 bits
  int8_t scales[16];
  uint16_t d;
};
struct Q8_KBlock {
  float d;
  int8_t qs[256];
  int16_t bsums[16];   // Σ qs over each run of 16
};
static_assert(sizeof(Q2_KBlock) == 84, "Q2_K block must be 84 bytes, as in ggml");
static_assert(sizeof(Q3_KBlock) == 110, "Q3_K block must be 110 bytes, as in ggml");
static_assert(sizeof(Q4_KBlock) == 144, "Q4_K block must be 144 bytes, as in ggml");
static_assert(sizeof(Q5_KBlock) == 176, "Q5_K block must be 176 bytes, as in ggml");
static_assert(sizeof(Q6_KBlock) == 210, "Q6_K block must be 210 bytes, as in ggml");
static_assert(sizeof(Q8_KBlock) == 292, "Q8_K block must be 292 bytes, as in ggml");

// x.size() must be a multiple of 256 and out.size() == x.size() / 256.
// Byte-identical to ggml's reference quantizers (quantize_row_qN_K_ref, the
// path ggml takes without an importance matrix) for finite input.
absl::Status quantize_q2_k(std::span<const float> x, std::span<Q2_KBlock> out);
absl::Status quantize_q3_k(std::span<const float> x, std::span<Q3_KBlock> out);
absl::Status quantize_q4_k(std::span<const float> x, std::span<Q4_KBlock> out);
absl::Status quantize_q5_k(std::span<const float> x, std::span<Q5_KBlock> out);
absl::Status quantize_q6_k(std::span<const float> x, std::span<Q6_KBlock> out);
absl::Status quantize_q8_k(std::span<const float> x, std::span<Q8_KBlock> out);

// out.size() == 256 · blocks.size(); bit-identical to ggml's dequantization.
absl::Status dequantize_q2_k(std::span<const Q2_KBlock> blocks, std::span<float> out);
absl::Status dequantize_q3_k(std::span<const Q3_KBlock> blocks, std::span<float> out);
absl::Status dequantize_q4_k(std::span<const Q4_KBlock> blocks, std::span<float> out);
absl::Status dequantize_q5_k(std::span<const Q5_KBlock> blocks, std::span<float> out);
absl::Status dequantize_q6_k(std::span<const Q6_KBlock> blocks, std::span<float> out);

// Fused dot products of a weight row against Q8_K activations of equal length.
absl::StatusOr<float> dot_q2_k_q8_k(std::span<const Q2_KBlock> a, std::span<const Q8_KBlock> b);
absl::StatusOr<float> dot_q3_k_q8_k(std::span<const Q3_KBlock> a, std::span<const Q8_KBlock> b);
absl::StatusOr<float> dot_q4_k_q8_k(std::span<const Q4_KBlock> a, std::span<const Q8_KBlock> b);
absl::StatusOr<float> dot_q5_k_q8_k(std::span<const Q5_KBlock> a, std::span<const Q8_KBlock> b);
absl::StatusOr<float> dot_q6_k_q8_k(std::span<const Q6_KBlock> a, std::span<const Q8_KBlock> b);

// bfloat16 (the high half of a binary32): to f32 exactly, and from f32
// rounding to nearest even (subnormals kept) with NaN forced quiet, as ggml does.
uint16_t f32_to_bf16(float value);
float bf16_to_f32(uint16_t value);

}  // namespace llmk
