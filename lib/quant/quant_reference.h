// Plain scalar references for the quantized kernels: the definition of
// "correct" that tests compare every Highway target against. Each element is
// dequantized exactly into double and the products summed in double, so a
// reference dot differs from the true value of Σ a_j·b_j only by double
// rounding. Slow by design; no size checks.
#pragma once

#include <cstddef>
#include <vector>

#include "llmk/quant.h"

namespace llmk::ref {

// ggml's quantize_row_q8_0_ref, transcribed as plain scalar code: amax,
// d = amax/127, id = 1/d, q = roundf(x·id) (NaN → 0, clamped to ±127).
void quantize_q8_0(const float* x, size_t n, Q8_0Block* out);

// Row `row` of w as exact doubles (w.cols values).
std::vector<double> dequantize_row(const WeightView& w, size_t row);
std::vector<double> dequantize_q4_0(const Q4_0Block* blocks, size_t count);
std::vector<double> dequantize_q8_0(const Q8_0Block* blocks, size_t count);

// Σ a_j·b_j in double, and Σ |a_j·b_j| (the scale that reassociation error
// in a float kernel is proportional to).
struct DotResult {
  double value = 0;
  double magnitude = 0;
};
DotResult dot(const std::vector<double>& a, const std::vector<double>& b);
DotResult dot(const std::vector<double>& a, const float* b);

}  // namespace llmk::ref
