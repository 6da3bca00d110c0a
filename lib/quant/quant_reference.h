// Plain scalar references for the quantized kernels: the definition of
// "correct" that tests compare every Highway target against. Each element is
// dequantized exactly into double and the products summed in double, so a
// reference dot differs from the true value of Σ a_j·b_j only by double
// rounding. Slow by design; no size checks.
#pragma once

#include <cstddef>
#include <vector>

#include "llmk/kquant.h"
#include "llmk/quant.h"

namespace llmk::ref {

// ggml's quantize_row_q8_0_ref, transcribed as plain scalar code: amax,
// d = amax/127, id = 1/d, q = roundf(x·id) (NaN → 0, clamped to ±127).
void quantize_q8_0(const float* x, size_t n, Q8_0Block* out);

// ggml's quantize_row_q8_K_ref transcribed: the element of largest
// magnitude with its sign (the first on ties), iscale = −127/max,
// q = nearest_int(iscale·x) capped at 127, bsums per 16, d = 1/iscale; an
// all-zero block is d = 0 with zero quants and bsums. n a multiple of 256.
void quantize_q8_k(const float* x, size_t n, Q8_KBlock* out);

// Row `row` of w as exact doubles (w.cols values).
std::vector<double> dequantize_row(const WeightView& w, size_t row);
std::vector<double> dequantize_q4_0(const Q4_0Block* blocks, size_t count);
std::vector<double> dequantize_q8_0(const Q8_0Block* blocks, size_t count);
// K-quants from the format definitions of llmk/kquant.h, 256 · count values.
std::vector<double> dequantize_q2_k(const Q2_KBlock* blocks, size_t count);
std::vector<double> dequantize_q3_k(const Q3_KBlock* blocks, size_t count);
std::vector<double> dequantize_q4_k(const Q4_KBlock* blocks, size_t count);
std::vector<double> dequantize_q5_k(const Q5_KBlock* blocks, size_t count);
std::vector<double> dequantize_q6_k(const Q6_KBlock* blocks, size_t count);
std::vector<double> dequantize_q8_k(const Q8_KBlock* blocks, size_t count);
std::vector<double> dequantize_bf16(const uint16_t* values, size_t count);

// Σ a_j·b_j in double, and Σ |a_j·b_j| (the scale that reassociation error
// in a float kernel is proportional to).
struct DotResult {
  double value = 0;
  double magnitude = 0;
};
DotResult dot(const std::vector<double>& a, const std::vector<double>& b);
DotResult dot(const std::vector<double>& a, const float* b);

// Σ a_j·b_j for `count` super-blocks of K-quant `type` at `a` against b
// (dequantized exactly). For the formats with mins (Q2_K, Q4_K, Q5_K) the
// magnitude is Σ (|d·sc·q| + |dmin·m|)·|b_j|: a kernel that sums the two
// terms apart (as the fused dots do) errs in proportion to both, even where
// they cancel in a_j. b is either Q8_K blocks (bq) or floats (bf).
DotResult dot_k(TensorType type, const void* a, size_t count, const Q8_KBlock* bq);
DotResult dot_k(TensorType type, const void* a, size_t count, const float* bf);

}  // namespace llmk::ref
