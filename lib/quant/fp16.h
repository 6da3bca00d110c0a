// Exact software IEEE binary16 <-> binary32 conversion, inline so the
// quantizers and the scalar kernel paths can use it per block without a call.
// Both directions are exact: f32 -> f16 rounds to nearest, ties to even, and
// handles subnormals, overflow to infinity, infinities and NaN (payload kept
// where it fits, always a quiet NaN).
#pragma once

#include <cstdint>
#include <cstring>

namespace llmk::internal {

inline uint32_t float_bits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, sizeof b);
  return b;
}
inline float bits_float(uint32_t b) {
  float f;
  std::memcpy(&f, &b, sizeof f);
  return f;
}

inline float half_to_float(uint16_t h) {
  const uint32_t sign = uint32_t{h & 0x8000u} << 16;
  const uint32_t exponent = (h >> 10) & 0x1Fu;
  const uint32_t mantissa = h & 0x3FFu;
  if (exponent == 0x1F) return bits_float(sign | 0x7F800000u | (mantissa << 13));
  if (exponent != 0) return bits_float(sign | ((exponent + 112) << 23) | (mantissa << 13));
  // Zero or subnormal: mantissa · 2^-24 is exact in f32.
  const float magnitude = static_cast<float>(mantissa) * 0x1p-24f;
  return bits_float(sign | float_bits(magnitude));
}

inline uint16_t float_to_half(float f) {
  const uint32_t bits = float_bits(f);
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  const uint32_t magnitude = bits & 0x7FFFFFFFu;
  if (magnitude > 0x7F800000u) {  // NaN: keep the top payload bits, force quiet
    return static_cast<uint16_t>(sign | 0x7E00u | ((magnitude >> 13) & 0x3FFu));
  }
  // 65520 = 65504 + half an ulp: it and everything above round to infinity.
  if (magnitude >= 0x477FF000u) return static_cast<uint16_t>(sign | 0x7C00u);
  if (magnitude < 0x38800000u) {  // below 2^-14: a half subnormal or zero
    // Adding 0.5 (whose f32 ulp is 2^-24, the half subnormal step) makes the
    // FPU round |f| to a multiple of 2^-24 with ties to even.
    const float rounded = bits_float(magnitude) + 0.5f;
    return static_cast<uint16_t>(sign | (float_bits(rounded) - 0x3F000000u));
  }
  // Normal: rebias the exponent (127 → 15) and round the 13 dropped bits to
  // nearest even; a carry out of the mantissa correctly bumps the exponent.
  const uint32_t odd = (magnitude >> 13) & 1u;
  const uint32_t rebased = magnitude - (112u << 23) + 0xFFFu + odd;
  return static_cast<uint16_t>(sign | (rebased >> 13));
}

}  // namespace llmk::internal
