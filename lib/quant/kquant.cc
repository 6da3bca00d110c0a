// GGML K-quants: the reference quantizers, the dequantizers and BF16, all
// bit-identical to ggml (ggml-quants.c, ggml-impl.h), and the checked public
// API of llmk/kquant.h over them.
//
// Bit-identity depends on evaluating every float expression in ggml's order
// and precision: products associate left to right, int operands convert to
// float where ggml's would, and nothing is fused into an FMA. Baseline
// x86-64 has no FMA, but AArch64 does and C++ compilers contract by default,
// so contraction is switched off for this file.
#include "llmk/kquant.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "quant/fp16.h"
#include "quant/kquant_format.h"
#include "util/check.h"

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

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

// ---- Quantization: ggml's reference quantizers (no importance matrix).
//
// Every K-quant is built in two passes. First each sub-block gets its own
// float scale (and min), found by a small search that minimises a weighted
// error; then the sub-block scales are themselves quantized against one
// fp16 super-scale, and the elements are re-quantized against the scales
// as they will actually be decoded, so the stored quants match the stored
// (rounded) scales.

using internal::float_to_half;
using kquant::nearest_int;

// ggml treats a sub-block whose largest magnitude is below this as all zero.
constexpr float kAllZeroBelow = 1e-15f;

int clamp_int(int value, int lo, int hi) { return std::max(lo, std::min(hi, value)); }

// The first element of largest magnitude, with its sign (0 when none is
// nonzero); ggml's searches start from it.
float signed_extreme(const float* x, int n, float* magnitude) {
  float amax = 0.0f, extreme = 0.0f;
  for (int i = 0; i < n; ++i) {
    const float ax = std::fabs(x[i]);
    if (ax > amax) {
      amax = ax;
      extreme = x[i];
    }
  }
  *magnitude = amax;
  return extreme;
}

// Q6_K's sub-block fit: symmetric levels −nmax…nmax−1 (stored biased by
// nmax in `levels`) and the scale minimising Σ x²·(x − scale·l)², the x²
// weight favouring large elements. The extreme element maps to −nmax; 18
// nearby inverse scales (−nmax ± 0.1·k) are tried and the best least-squares
// fit kept. Returns the scale; all-zero input gives 0 and levels of 0.
float fit_symmetric_scale(const float* x, int n, int nmax, int8_t* levels) {
  float amax;
  const float extreme = signed_extreme(x, n, &amax);
  if (amax < kAllZeroBelow) {
    std::fill(levels, levels + n, int8_t{0});
    return 0.0f;
  }
  // Σ w·x·l and Σ w·l² for one inverse scale, with w = x².
  auto fit_sums = [&](float inverse_scale, float* sum_wxl, float* sum_wll) {
    *sum_wxl = 0.0f;
    *sum_wll = 0.0f;
    for (int i = 0; i < n; ++i) {
      const int l = clamp_int(nearest_int(inverse_scale * x[i]), -nmax, nmax - 1);
      const float w = x[i] * x[i];
      *sum_wxl += w * x[i] * static_cast<float>(l);
      *sum_wll += w * static_cast<float>(l) * static_cast<float>(l);
    }
  };
  auto store_levels = [&](float inverse_scale) {
    for (int i = 0; i < n; ++i) {
      const int l = clamp_int(nearest_int(inverse_scale * x[i]), -nmax, nmax - 1);
      levels[i] = static_cast<int8_t>(l + nmax);
    }
  };
  const float first_inverse = static_cast<float>(-nmax) / extreme;
  float sum_wxl, sum_wll;
  fit_sums(first_inverse, &sum_wxl, &sum_wll);
  store_levels(first_inverse);
  float scale = sum_wll != 0.0f ? sum_wxl / sum_wll : 0.0f;
  // The weighted error is Σw·x² − (Σwxl)²/Σwll, so a larger (Σwxl)²/Σwll is
  // better; compared cross-multiplied, as ggml does.
  float best = scale * sum_wxl;
  for (int step = -9; step <= 9; ++step) {
    if (step == 0) continue;
    const float inverse = -(static_cast<float>(nmax) + 0.1f * static_cast<float>(step)) / extreme;
    fit_sums(inverse, &sum_wxl, &sum_wll);
    if (sum_wll > 0.0f && sum_wxl * sum_wxl > best * sum_wll) {
      store_levels(inverse);
      scale = sum_wxl / sum_wll;
      best = scale * sum_wxl;
    }
  }
  return scale;
}

// Q3_K's sub-block fit: levels −nmax…nmax−1 from the extreme element, then
// up to five sweeps of coordinate descent that move one level at a time to
// the value optimal for the others, kept when it improves the x²-weighted
// least-squares fit. Levels are stored biased by nmax; returns the scale
// (0 with levels of 0 for an all-zero sub-block).
float fit_scale_by_descent(const float* x, int n, int nmax, int8_t* levels) {
  float amax;
  const float extreme = signed_extreme(x, n, &amax);
  if (amax < kAllZeroBelow) {
    std::fill(levels, levels + n, int8_t{0});
    return 0.0f;
  }
  const float inverse_scale = static_cast<float>(-nmax) / extreme;
  float sum_wxl = 0.0f, sum_wll = 0.0f;
  for (int i = 0; i < n; ++i) {
    const int l = clamp_int(nearest_int(inverse_scale * x[i]), -nmax, nmax - 1);
    levels[i] = static_cast<int8_t>(l);
    const float w = x[i] * x[i];
    sum_wxl += w * x[i] * static_cast<float>(l);
    sum_wll += w * static_cast<float>(l) * static_cast<float>(l);
  }
  for (int sweep = 0; sweep < 5; ++sweep) {
    bool changed = false;
    for (int i = 0; i < n; ++i) {
      const float w = x[i] * x[i];
      const float l_old = static_cast<float>(levels[i]);
      // The sums without element i; its best level given the others is
      // x·Σwll/Σwxl (the inverse of the others' scale).
      float others_wxl = sum_wxl - w * x[i] * l_old;
      if (!(others_wxl > 0.0f)) continue;
      float others_wll = sum_wll - w * l_old * l_old;
      const int l_new = clamp_int(nearest_int(x[i] * others_wll / others_wxl), -nmax, nmax - 1);
      if (l_new == levels[i]) continue;
      others_wxl += w * x[i] * static_cast<float>(l_new);
      others_wll += w * static_cast<float>(l_new) * static_cast<float>(l_new);
      // Better when (Σwxl)²/Σwll grows, compared cross-multiplied.
      if (others_wll > 0.0f &&
          others_wxl * others_wxl * sum_wll > sum_wxl * sum_wxl * others_wll) {
        levels[i] = static_cast<int8_t>(l_new);
        sum_wxl = others_wxl;
        sum_wll = others_wll;
        changed = true;
      }
    }
    if (!changed) break;
  }
  for (int i = 0; i < n; ++i) levels[i] = static_cast<int8_t>(levels[i] + nmax);
  return sum_wxl / sum_wll;
}

// How the scale-and-min search is tuned per type: the inverse scales tried
// are (nmax + first_offset + offset_step·k) / range for k = 0…steps, and the
// error is Σ w·|err| (absolute) or Σ w·err² (squared).
struct AffineSearch {
  int nmax;
  float first_offset;
  float offset_step;
  int steps;
  bool absolute_error;
};

// Q2_K / Q4_K / Q5_K's sub-block fit: x ≈ scale·l + min with l in 0…nmax
// and min ≤ 0. Starts from the grid spanning [min(x, 0), max(x)], then for
// each trial inverse scale solves the weighted least-squares scale and min
// for the rounded levels (min forced to 0 when it comes out positive) and
// keeps the trial with the smallest weighted error. Later trials grid from
// the best min found so far, not the data's: ggml's search does, and the
// bytes depend on it. Returns the scale and stores −min (≥ 0) in
// *negated_min; levels go to `levels`.
float fit_scale_and_min(const float* x, const float* weights, int n, const AffineSearch& search,
                        uint8_t* levels, float* negated_min) {
  float lo = x[0], hi = x[0];
  float sum_w = weights[0];
  float sum_wx = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < lo) lo = x[i];
    if (x[i] > hi) hi = x[i];
    sum_w += weights[i];
    sum_wx += weights[i] * x[i];
  }
  if (lo > 0.0f) lo = 0.0f;  // the min is an offset subtracted, never added
  if (hi == lo) {
    std::fill(levels, levels + n, uint8_t{0});
    *negated_min = -lo;
    return 0.0f;
  }
  const int nmax = search.nmax;
  auto error_of = [&](float scale, float min, const uint8_t* l) {
    float total = 0.0f;
    for (int i = 0; i < n; ++i) {
      float diff = scale * static_cast<float>(l[i]) + min - x[i];
      diff = search.absolute_error ? std::fabs(diff) : diff * diff;
      total += weights[i] * diff;
    }
    return total;
  };
  float inverse_scale = static_cast<float>(nmax) / (hi - lo);
  float scale = 1.0f / inverse_scale;
  float min = lo;
  for (int i = 0; i < n; ++i) {
    levels[i] = static_cast<uint8_t>(clamp_int(nearest_int(inverse_scale * (x[i] - min)), 0, nmax));
  }
  float best_error = error_of(scale, min, levels);
  uint8_t trial[32];
  for (int step = 0; step <= search.steps; ++step) {
    inverse_scale = (search.first_offset + search.offset_step * static_cast<float>(step) +
                     static_cast<float>(nmax)) / (hi - min);
    float sum_wl = 0.0f, sum_wll = 0.0f, sum_wxl = 0.0f;
    for (int i = 0; i < n; ++i) {
      const int l = clamp_int(nearest_int(inverse_scale * (x[i] - min)), 0, nmax);
      trial[i] = static_cast<uint8_t>(l);
      const float wl = weights[i] * static_cast<float>(l);
      sum_wl += wl;
      sum_wll += wl * static_cast<float>(l);
      sum_wxl += wl * x[i];
    }
    // Normal equations of min Σw(x − s·l − m)²; D is their determinant.
    const float determinant = sum_w * sum_wll - sum_wl * sum_wl;
    if (!(determinant > 0.0f)) continue;
    float trial_scale = (sum_w * sum_wxl - sum_wx * sum_wl) / determinant;
    float trial_min = (sum_wll * sum_wx - sum_wl * sum_wxl) / determinant;
    if (trial_min > 0.0f) {
      trial_min = 0.0f;
      trial_scale = sum_wxl / sum_wll;
    }
    const float trial_error = error_of(trial_scale, trial_min, trial);
    if (trial_error < best_error) {
      std::copy(trial, trial + n, levels);
      best_error = trial_error;
      scale = trial_scale;
      min = trial_min;
    }
  }
  *negated_min = -min;
  return scale;
}

// Packs levels 0…3 four to a byte at the positions the dequantizers read.
void pack_two_bit(const uint8_t* levels, uint8_t* qs) {
  std::memset(qs, 0, 64);
  for (int e = 0; e < 256; ++e) {
    qs[kquant::two_bit_byte(e)] |= static_cast<uint8_t>(levels[e] << kquant::two_bit_shift(e));
  }
}

void quantize_block_q2_k(const float* x, Q2_KBlock* out) {
  constexpr float kScaleLevels = 15.0f;  // 4-bit sub-block scales and mins
  constexpr AffineSearch kSearch{3, -0.5f, 0.1f, 15, true};
  uint8_t levels[256];
  float scales[16], mins[16];
  float max_scale = 0.0f, max_min = 0.0f;
  for (int sub = 0; sub < 16; ++sub) {
    const float* xs = x + 16 * sub;
    float weights[16];
    for (int i = 0; i < 16; ++i) weights[i] = std::fabs(xs[i]);
    scales[sub] = fit_scale_and_min(xs, weights, 16, kSearch, levels + 16 * sub, &mins[sub]);
    if (scales[sub] > max_scale) max_scale = scales[sub];
    if (mins[sub] > max_min) max_min = mins[sub];
  }
  // Scales in the low nibbles, mins in the high ones; ggml stores the int
  // results with C's truncating conversions, reproduced by the casts.
  std::memset(out->scales, 0, sizeof out->scales);
  if (max_scale > 0.0f) {
    const float inverse = kScaleLevels / max_scale;
    for (int sub = 0; sub < 16; ++sub) {
      out->scales[sub] = static_cast<uint8_t>(nearest_int(inverse * scales[sub]));
    }
    out->d = float_to_half(max_scale / kScaleLevels);
  } else {
    out->d = float_to_half(0.0f);
  }
  if (max_min > 0.0f) {
    const float inverse = kScaleLevels / max_min;
    for (int sub = 0; sub < 16; ++sub) {
      const int m = nearest_int(inverse * mins[sub]);
      out->scales[sub] = static_cast<uint8_t>(out->scales[sub] | (m << 4));
    }
    out->dmin = float_to_half(max_min / kScaleLevels);
  } else {
    out->dmin = float_to_half(0.0f);
  }
  // Re-quantize against the decoded scales; a sub-block whose scale decodes
  // to zero keeps the levels of its float fit.
  const float d = half_to_float(out->d);
  const float dmin = half_to_float(out->dmin);
  for (int sub = 0; sub < 16; ++sub) {
    const float step = d * static_cast<float>(out->scales[sub] & 0x0F);
    if (step == 0.0f) continue;
    const float offset = dmin * static_cast<float>(out->scales[sub] >> 4);
    for (int e = 16 * sub; e < 16 * sub + 16; ++e) {
      levels[e] = static_cast<uint8_t>(clamp_int(nearest_int((x[e] + offset) / step), 0, 3));
    }
  }
  pack_two_bit(levels, out->qs);
}

void quantize_block_q3_k(const float* x, Q3_KBlock* out) {
  int8_t levels[256];
  float scales[16];
  float max_scale = 0.0f, max_magnitude = 0.0f;  // the scale of largest magnitude, signed
  for (int sub = 0; sub < 16; ++sub) {
    scales[sub] = fit_scale_by_descent(x + 16 * sub, 16, 4, levels + 16 * sub);
    if (std::fabs(scales[sub]) > max_magnitude) {
      max_magnitude = std::fabs(scales[sub]);
      max_scale = scales[sub];
    }
  }
  uint8_t biased[16] = {};
  if (max_scale != 0.0f) {
    // The extreme scale maps to −32, so signed 6-bit scales cover the rest.
    const float inverse = -32.0f / max_scale;
    for (int sub = 0; sub < 16; ++sub) {
      const auto level = static_cast<int8_t>(nearest_int(inverse * scales[sub]));
      biased[sub] = static_cast<uint8_t>(clamp_int(level, -32, 31) + 32);
    }
    out->d = float_to_half(1.0f / inverse);
  } else {
    out->d = float_to_half(0.0f);
  }
  kquant::pack_q3_scales(biased, out->scales);
  const float d = half_to_float(out->d);
  for (int sub = 0; sub < 16; ++sub) {
    const float step = d * static_cast<float>(kquant::unpack_q3_scale(out->scales, sub));
    if (step == 0.0f) continue;
    for (int e = 16 * sub; e < 16 * sub + 16; ++e) {
      levels[e] = static_cast<int8_t>(clamp_int(nearest_int(x[e] / step), -4, 3) + 4);
    }
  }
  // Levels 0…7: bit 2 goes to hmask, bits 0…1 to qs.
  std::memset(out->hmask, 0, sizeof out->hmask);
  uint8_t low_bits[256];
  for (int e = 0; e < 256; ++e) {
    int level = levels[e];
    if (level > 3) {
      out->hmask[kquant::high_bit_byte(e)] |= static_cast<uint8_t>(1u << kquant::high_bit_shift(e));
      level -= 4;
    }
    low_bits[e] = static_cast<uint8_t>(level);
  }
  pack_two_bit(low_bits, out->qs);
}

// Q4_K and Q5_K share everything but the level count and the search tuning;
// levels 0…nmax come back in `levels` with d, dmin and the packed scales set.
void quantize_block_q45_k(const float* x, const AffineSearch& search, uint16_t* d_half,
                          uint16_t* dmin_half, uint8_t* packed_scales, uint8_t* levels) {
  constexpr float kScaleLevels = 63.0f;  // 6-bit sub-block scales and mins
  float scales[8], mins[8];
  float max_scale = 0.0f, max_min = 0.0f;
  for (int sub = 0; sub < 8; ++sub) {
    const float* xs = x + 32 * sub;
    // Weight each element by the sub-block's RMS plus its own magnitude.
    float sum_squares = 0.0f;
    for (int i = 0; i < 32; ++i) sum_squares += xs[i] * xs[i];
    const float rms = std::sqrt(sum_squares / 32.0f);
    float weights[32];
    for (int i = 0; i < 32; ++i) weights[i] = rms + std::fabs(xs[i]);
    scales[sub] = fit_scale_and_min(xs, weights, 32, search, levels + 32 * sub, &mins[sub]);
    if (scales[sub] > max_scale) max_scale = scales[sub];
    if (mins[sub] > max_min) max_min = mins[sub];
  }
  const float inverse_scale = max_scale > 0.0f ? kScaleLevels / max_scale : 0.0f;
  const float inverse_min = max_min > 0.0f ? kScaleLevels / max_min : 0.0f;
  uint8_t scale_levels[8], min_levels[8];
  for (int sub = 0; sub < 8; ++sub) {
    // Truncated to a byte before the clamp, as ggml's uint8_t locals do.
    const auto s = static_cast<uint8_t>(nearest_int(inverse_scale * scales[sub]));
    const auto m = static_cast<uint8_t>(nearest_int(inverse_min * mins[sub]));
    scale_levels[sub] = std::min<uint8_t>(63, s);
    min_levels[sub] = std::min<uint8_t>(63, m);
  }
  kquant::pack_scales_mins(scale_levels, min_levels, packed_scales);
  *d_half = float_to_half(max_scale / kScaleLevels);
  *dmin_half = float_to_half(max_min / kScaleLevels);
  const float d = half_to_float(*d_half);
  const float dmin = half_to_float(*dmin_half);
  for (int sub = 0; sub < 8; ++sub) {
    uint8_t scale, min;
    kquant::unpack_scale_min(packed_scales, sub, &scale, &min);
    const float step = d * static_cast<float>(scale);
    if (step == 0.0f) continue;
    const float offset = dmin * static_cast<float>(min);
    for (int e = 32 * sub; e < 32 * sub + 32; ++e) {
      levels[e] =
          static_cast<uint8_t>(clamp_int(nearest_int((x[e] + offset) / step), 0, search.nmax));
    }
  }
}

void quantize_block_q4_k(const float* x, Q4_KBlock* out) {
  uint8_t levels[256];
  quantize_block_q45_k(x, AffineSearch{15, -1.0f, 0.1f, 20, false}, &out->d, &out->dmin,
                       out->scales, levels);
  std::memset(out->qs, 0, sizeof out->qs);
  for (int e = 0; e < 256; ++e) {
    out->qs[kquant::nibble_byte(e)] |= static_cast<uint8_t>(levels[e] << kquant::nibble_shift(e));
  }
}

void quantize_block_q5_k(const float* x, Q5_KBlock* out) {
  uint8_t levels[256];
  quantize_block_q45_k(x, AffineSearch{31, -0.5f, 0.1f, 15, false}, &out->d, &out->dmin,
                       out->scales, levels);
  std::memset(out->qs, 0, sizeof out->qs);
  std::memset(out->qh, 0, sizeof out->qh);
  for (int e = 0; e < 256; ++e) {
    out->qs[kquant::nibble_byte(e)] |=
        static_cast<uint8_t>((levels[e] & 0x0F) << kquant::nibble_shift(e));
    out->qh[kquant::high_bit_byte(e)] |=
        static_cast<uint8_t>((levels[e] >> 4) << kquant::high_bit_shift(e));
  }
}

void quantize_block_q6_k(const float* x, Q6_KBlock* out) {
  int8_t levels[256];
  float scales[16];
  float max_scale = 0.0f, max_magnitude = 0.0f;  // the scale of largest magnitude, signed
  for (int sub = 0; sub < 16; ++sub) {
    scales[sub] = fit_symmetric_scale(x + 16 * sub, 16, 32, levels + 16 * sub);
    if (std::fabs(scales[sub]) > max_magnitude) {
      max_magnitude = std::fabs(scales[sub]);
      max_scale = scales[sub];
    }
  }
  std::memset(out, 0, sizeof *out);
  if (max_magnitude < kAllZeroBelow) {
    out->d = float_to_half(0.0f);
    return;
  }
  // The extreme scale maps to −128 so the int8 scales use their full range.
  const float inverse = -128.0f / max_scale;
  out->d = float_to_half(1.0f / inverse);
  for (int sub = 0; sub < 16; ++sub) {
    out->scales[sub] = static_cast<int8_t>(std::min(127, nearest_int(inverse * scales[sub])));
  }
  const float d = half_to_float(out->d);
  for (int sub = 0; sub < 16; ++sub) {
    const float step = d * static_cast<float>(out->scales[sub]);
    if (step == 0.0f) continue;
    for (int e = 16 * sub; e < 16 * sub + 16; ++e) {
      levels[e] = static_cast<int8_t>(clamp_int(nearest_int(x[e] / step), -32, 31) + 32);
    }
  }
  for (int e = 0; e < 256; ++e) {
    const int level = levels[e];
    out->ql[kquant::q6_low_byte(e)] |=
        static_cast<uint8_t>((level & 0x0F) << kquant::q6_low_shift(e));
    out->qh[kquant::two_bit_byte(e)] |=
        static_cast<uint8_t>((level >> 4) << kquant::two_bit_shift(e));
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

absl::Status quantize_q2_k(std::span<const float> x, std::span<Q2_KBlock> out) {
  LLMK_RETURN_IF_ERROR(check_quantize("quantize_q2_k", x.size(), out.size()));
  for (size_t k = 0; k < out.size(); ++k) quantize_block_q2_k(x.data() + k * kSuperBlock, &out[k]);
  return absl::OkStatus();
}
absl::Status quantize_q3_k(std::span<const float> x, std::span<Q3_KBlock> out) {
  LLMK_RETURN_IF_ERROR(check_quantize("quantize_q3_k", x.size(), out.size()));
  for (size_t k = 0; k < out.size(); ++k) quantize_block_q3_k(x.data() + k * kSuperBlock, &out[k]);
  return absl::OkStatus();
}
absl::Status quantize_q4_k(std::span<const float> x, std::span<Q4_KBlock> out) {
  LLMK_RETURN_IF_ERROR(check_quantize("quantize_q4_k", x.size(), out.size()));
  for (size_t k = 0; k < out.size(); ++k) quantize_block_q4_k(x.data() + k * kSuperBlock, &out[k]);
  return absl::OkStatus();
}
absl::Status quantize_q5_k(std::span<const float> x, std::span<Q5_KBlock> out) {
  LLMK_RETURN_IF_ERROR(check_quantize("quantize_q5_k", x.size(), out.size()));
  for (size_t k = 0; k < out.size(); ++k) quantize_block_q5_k(x.data() + k * kSuperBlock, &out[k]);
  return absl::OkStatus();
}
absl::Status quantize_q6_k(std::span<const float> x, std::span<Q6_KBlock> out) {
  LLMK_RETURN_IF_ERROR(check_quantize("quantize_q6_k", x.size(), out.size()));
  for (size_t k = 0; k < out.size(); ++k) quantize_block_q6_k(x.data() + k * kSuperBlock, &out[k]);
  return absl::OkStatus();
}

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
