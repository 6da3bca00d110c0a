// GGML K-quants: the reference quantizers, the dequantizers and BF16, all
// bit-identical to ggml (ggml-quants.c, ggml-impl.h), and the checked public
// API of llmk/kquant.h over them.
//
// Bit-identity depends on evaluating every float expression in ggml's order
// and precision: products associate left to right, int operands convert to
// float where ggml's would, and nothing is fused (the library builds for
// baseline x86-64, which has no FMA to contract into).
#include "llmk/kquant.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "quant/fp16.h"
#include "quant/kquant_format.h"
#include "util/check.h"

namespace llmk {
namespace {

using internal::half_to_float;

void dequantize_block_q2_k(const Q2_KBlock& b, float* out) {
  const float d = half_to_float(b.d);
  const float dmin = half_to_float(b.dmin);
  for (int sub = 0; sub < 16; ++sub) {
    const float step = d * static_cast<float>(b.scales[sub] & 0x0F);
    const float offset = dmin * static_cast<float>(b.scales[sub] >> 4);
    for (int e = 16 * sub; e < 16 * sub + 16; ++e) {
      const int q = (b.qs[kquant::two_bit_byte(e)] >> kquant::two_bit_shift(e)) & 3;
      out[e] = step * static_cast<float>(q) - offset;
    }
  }
}

void dequantize_block_q3_k(const Q3_KBlock& b, float* out) {
  const float d = half_to_float(b.d);
  for (int sub = 0; sub < 16; ++sub) {
    const float step = d * static_cast<float>(kquant::unpack_q3_scale(b.scales, sub));
    for (int e = 16 * sub; e < 16 * sub + 16; ++e) {
      const int low = (b.qs[kquant::two_bit_byte(e)] >> kquant::two_bit_shift(e)) & 3;
      const bool high = (b.hmask[kquant::high_bit_byte(e)] >> kquant::high_bit_shift(e)) & 1;
      out[e] = step * static_cast<float>(high ? low : low - 4);
    }
  }
}

// Q4_K and Q5_K differ only in the fifth bit; qh == nullptr means Q4_K.
void dequantize_block_q45_k(uint16_t d_half, uint16_t dmin_half, const uint8_t* packed_scales,
                            const uint8_t* qs, const uint8_t* qh, float* out) {
  const float d = half_to_float(d_half);
  const float dmin = half_to_float(dmin_half);
  for (int sub = 0; sub < 8; ++sub) {
    uint8_t scale, min;
    kquant::unpack_scale_min(packed_scales, sub, &scale, &min);
    const float step = d * static_cast<float>(scale);
    const float offset = dmin * static_cast<float>(min);
    for (int e = 32 * sub; e < 32 * sub + 32; ++e) {
      int q = (qs[kquant::nibble_byte(e)] >> kquant::nibble_shift(e)) & 0x0F;
      if (qh != nullptr && ((qh[kquant::high_bit_byte(e)] >> kquant::high_bit_shift(e)) & 1)) {
        q += 16;
      }
      out[e] = step * static_cast<float>(q) - offset;
    }
  }
}

void dequantize_block_q6_k(const Q6_KBlock& b, float* out) {
  const float d = half_to_float(b.d);
  for (int e = 0; e < 256; ++e) {
    const int low = (b.ql[kquant::q6_low_byte(e)] >> kquant::q6_low_shift(e)) & 0x0F;
    const int high = (b.qh[kquant::two_bit_byte(e)] >> kquant::two_bit_shift(e)) & 3;
    // ggml multiplies d by the scale first, then by the quant.
    out[e] = d * static_cast<float>(b.scales[e / 16]) * static_cast<float>((low | (high << 4)) - 32);
  }
}

absl::Status check_quantize(absl::string_view fn, size_t values, size_t blocks) {
  if (values % kSuperBlock != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(fn, ": x has ", values, " elements, not a multiple of 256"));
  }
  if (blocks != values / kSuperBlock) {
    return internal::size_error(fn, "out", blocks, values / kSuperBlock);
  }
  return absl::OkStatus();
}

absl::Status check_dequantize(absl::string_view fn, size_t blocks, size_t values) {
  size_t expected = 0;
  if (!internal::checked_mul(blocks, kSuperBlock, &expected)) {
    return absl::InvalidArgumentError(absl::StrCat(fn, ": blocks × 256 overflows"));
  }
  if (values != expected) return internal::size_error(fn, "out", values, expected);
  return absl::OkStatus();
}

}  // namespace

namespace kernels {

void dequantize_q2_k(const Q2_KBlock* blocks, size_t count, float* out) {
  for (size_t k = 0; k < count; ++k) dequantize_block_q2_k(blocks[k], out + k * kSuperBlock);
}
void dequantize_q3_k(const Q3_KBlock* blocks, size_t count, float* out) {
  for (size_t k = 0; k < count; ++k) dequantize_block_q3_k(blocks[k], out + k * kSuperBlock);
}
void dequantize_q4_k(const Q4_KBlock* blocks, size_t count, float* out) {
  for (size_t k = 0; k < count; ++k) {
    const Q4_KBlock& b = blocks[k];
    dequantize_block_q45_k(b.d, b.dmin, b.scales, b.qs, nullptr, out + k * kSuperBlock);
  }
}
void dequantize_q5_k(const Q5_KBlock* blocks, size_t count, float* out) {
  for (size_t k = 0; k < count; ++k) {
    const Q5_KBlock& b = blocks[k];
    dequantize_block_q45_k(b.d, b.dmin, b.scales, b.qs, b.qh, out + k * kSuperBlock);
  }
}
void dequantize_q6_k(const Q6_KBlock* blocks, size_t count, float* out) {
  for (size_t k = 0; k < count; ++k) dequantize_block_q6_k(blocks[k], out + k * kSuperBlock);
}

}  // namespace kernels

absl::Status dequantize_q2_k(std::span<const Q2_KBlock> blocks, std::span<float> out) {
  LLMK_RETURN_IF_ERROR(check_dequantize("dequantize_q2_k", blocks.size(), out.size()));
  kernels::dequantize_q2_k(blocks.data(), blocks.size(), out.data());
  return absl::OkStatus();
}
absl::Status dequantize_q3_k(std::span<const Q3_KBlock> blocks, std::span<float> out) {
  LLMK_RETURN_IF_ERROR(check_dequantize("dequantize_q3_k", blocks.size(), out.size()));
  kernels::dequantize_q3_k(blocks.data(), blocks.size(), out.data());
  return absl::OkStatus();
}
absl::Status dequantize_q4_k(std::span<const Q4_KBlock> blocks, std::span<float> out) {
  LLMK_RETURN_IF_ERROR(check_dequantize("dequantize_q4_k", blocks.size(), out.size()));
  kernels::dequantize_q4_k(blocks.data(), blocks.size(), out.data());
  return absl::OkStatus();
}
absl::Status dequantize_q5_k(std::span<const Q5_KBlock> blocks, std::span<float> out) {
  LLMK_RETURN_IF_ERROR(check_dequantize("dequantize_q5_k", blocks.size(), out.size()));
  kernels::dequantize_q5_k(blocks.data(), blocks.size(), out.data());
  return absl::OkStatus();
}
absl::Status dequantize_q6_k(std::span<const Q6_KBlock> blocks, std::span<float> out) {
  LLMK_RETURN_IF_ERROR(check_dequantize("dequantize_q6_k", blocks.size(), out.size()));
  kernels::dequantize_q6_k(blocks.data(), blocks.size(), out.data());
  return absl::OkStatus();
}

uint16_t f32_to_bf16(float value) {
  const uint32_t bits = internal::float_bits(value);
  // NaN: truncate, and set the top mantissa bit so a signalling NaN whose
  // payload lives only in the dropped bits cannot turn into infinity.
  if ((bits & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((bits >> 16) | 0x40u);
  // Round to nearest even on the 16 dropped bits: add just under half, plus
  // one more when the kept part is odd; a carry correctly bumps the exponent
  // (up to infinity).
  const uint32_t odd = (bits >> 16) & 1u;
  return static_cast<uint16_t>((bits + 0x7FFFu + odd) >> 16);
}

float bf16_to_f32(uint16_t value) { return internal::bits_float(uint32_t{value} << 16); }

}  // namespace llmk
