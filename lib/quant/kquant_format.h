// The bit-level pieces of ggml's K-quant formats that the quantizers, the
// dequantizers and the dot-product kernels share: rounding, the packed 6-bit
// sub-block scales of Q3_K / Q4_K / Q5_K, and where element e of a block keeps
// its bits. Plus the unchecked, pointer-based dequantizers for library code
// that has validated its shapes (the checked API is llmk/kquant.h).
//
// Element order inside a 256-value block (e = 0…255) is the order of the
// dequantized output; the helpers below name the byte and shift of e's bits.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "llmk/kquant.h"

namespace llmk::kquant {

// round(value) with ties to even, as ggml computes it: adding 1.5·2^23 makes
// the FPU round to an integer in the low mantissa bits. Exact for
// |value| < 2^22; beyond that it returns the same wrapped bits ggml does,
// which matters because ggml's quantizers feed it out-of-range quotients and
// clamp afterwards.
inline int nearest_int(float value) {
  const float shifted = value + 12582912.0f;  // 1.5 · 2^23
  int32_t bits;
  std::memcpy(&bits, &shifted, sizeof bits);
  return (bits & 0x007FFFFF) - 0x00400000;
}

// Q4_K / Q5_K: 8 scales and 8 mins of 6 bits in 12 bytes. Sub-blocks 0…3
// keep all six bits in bytes j (scale) and j + 4 (min); sub-blocks 4…7 keep
// their low nibbles in byte j + 4 and their top two bits in the spare high
// bits of bytes j − 4 (scale) and j (min).
inline void unpack_scale_min(const uint8_t* packed, int j, uint8_t* scale, uint8_t* min) {
  if (j < 4) {
    *scale = packed[j] & 63;
    *min = packed[j + 4] & 63;
  } else {
    *scale = static_cast<uint8_t>((packed[j + 4] & 0x0F) | ((packed[j - 4] >> 6) << 4));
    *min = static_cast<uint8_t>((packed[j + 4] >> 4) | ((packed[j] >> 6) << 4));
  }
}
// The inverse, for scale and min values 0…63.
inline void pack_scales_mins(const uint8_t scales[8], const uint8_t mins[8], uint8_t* packed) {
  for (int j = 0; j < 4; ++j) {
    packed[j] = scales[j];
    packed[j + 4] = mins[j];
  }
  for (int j = 4; j < 8; ++j) {
    packed[j + 4] = static_cast<uint8_t>((scales[j] & 0x0F) | ((mins[j] & 0x0F) << 4));
    packed[j - 4] |= static_cast<uint8_t>((scales[j] >> 4) << 6);
    packed[j] |= static_cast<uint8_t>((mins[j] >> 4) << 6);
  }
}

// Q3_K: 16 scales of 6 bits (stored biased by 32) in 12 bytes. The low
// nibble of scale j is in byte j % 8 (low half for j < 8, high half after);
// its top two bits are bits 2·(j / 4) of byte 8 + j % 4.
inline int unpack_q3_scale(const uint8_t* packed, int j) {
  const int low = j < 8 ? packed[j] & 0x0F : packed[j - 8] >> 4;
  const int high = (packed[8 + j % 4] >> (2 * (j / 4))) & 3;
  return (low | (high << 4)) - 32;
}
// The inverse, for biased values 0…63.
inline void pack_q3_scales(const uint8_t biased[16], uint8_t* packed) {
  std::memset(packed, 0, kKScaleBytes);
  for (int j = 0; j < 16; ++j) {
    const uint8_t low = biased[j] & 0x0F;
    if (j < 8) {
      packed[j] = low;
    } else {
      packed[j - 8] |= static_cast<uint8_t>(low << 4);
    }
    packed[8 + j % 4] |= static_cast<uint8_t>((biased[j] >> 4) << (2 * (j / 4)));
  }
}

// Where element e (0…255) keeps its low bits. Q2_K, Q3_K and Q6_K's high
// bits split the block into halves of 128 whose four runs of 32 share 32
// bytes at shifts 0, 2, 4, 6; Q4_K / Q5_K split it into four 64-value
// chunks whose two runs of 32 share 32 bytes as low and high nibble.
inline int two_bit_byte(int e) { return (e / 128) * 32 + e % 32; }
inline int two_bit_shift(int e) { return 2 * ((e % 128) / 32); }
inline int nibble_byte(int e) { return (e / 64) * 32 + e % 32; }
inline int nibble_shift(int e) { return 4 * ((e % 64) / 32); }
// Q3_K hmask / Q5_K qh: bit e / 32 of byte e % 32.
inline int high_bit_byte(int e) { return e % 32; }
inline int high_bit_shift(int e) { return e / 32; }
// Q6_K ql: the four runs of 32 in each half of 128 are (byte l, low),
// (byte l + 32, low), (byte l, high), (byte l + 32, high).
inline int q6_low_byte(int e) { return (e / 128) * 64 + ((e / 32) % 2) * 32 + e % 32; }
inline int q6_low_shift(int e) { return 4 * ((e % 128) / 64); }

}  // namespace llmk::kquant

namespace llmk::kernels {

// count blocks → 256 · count floats, bit-identical to ggml's
// dequantize_row_qN_K. No checks: out holds 256 · count floats.
void dequantize_q2_k(const Q2_KBlock* blocks, size_t count, float* out);
void dequantize_q3_k(const Q3_KBlock* blocks, size_t count, float* out);
void dequantize_q4_k(const Q4_KBlock* blocks, size_t count, float* out);
void dequantize_q5_k(const Q5_KBlock* blocks, size_t count, float* out);
void dequantize_q6_k(const Q6_KBlock* blocks, size_t count, float* out);

}  // namespace llmk::kernels
