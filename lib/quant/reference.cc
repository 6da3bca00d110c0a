// Scalar references of quant_reference.h.
#include <algorithm>
#include <cmath>

#include "quant/fp16.h"
#include "quant/quant_reference.h"

namespace llmk::ref {

void quantize_q8_0(const float* x, size_t n, Q8_0Block* out) {
  for (size_t k = 0; k < n / kQuantBlock; ++k, x += kQuantBlock) {
    float amax = 0.0f;
    for (size_t j = 0; j < kQuantBlock; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    out[k].d = internal::float_to_half(d);
    for (size_t j = 0; j < kQuantBlock; ++j) {
      const float v = x[j] * id;
      float q = std::isnan(v) ? 0.0f : std::round(v);
      q = std::min(127.0f, std::max(-127.0f, q));
      out[k].qs[j] = static_cast<int8_t>(q);
    }
  }
}

std::vector<double> dequantize_q4_0(const Q4_0Block* blocks, size_t count) {
  std::vector<double> out(count * kQuantBlock);
  for (size_t k = 0; k < count; ++k) {
    const double d = internal::half_to_float(blocks[k].d);
    for (size_t j = 0; j < 16; ++j) {
      out[k * kQuantBlock + j] = ((blocks[k].qs[j] & 0x0F) - 8) * d;
      out[k * kQuantBlock + j + 16] = ((blocks[k].qs[j] >> 4) - 8) * d;
    }
  }
  return out;
}

std::vector<double> dequantize_q8_0(const Q8_0Block* blocks, size_t count) {
  std::vector<double> out(count * kQuantBlock);
  for (size_t k = 0; k < count; ++k) {
    const double d = internal::half_to_float(blocks[k].d);
    for (size_t j = 0; j < kQuantBlock; ++j) out[k * kQuantBlock + j] = blocks[k].qs[j] * d;
  }
  return out;
}

std::vector<double> dequantize_row(const WeightView& w, size_t row) {
  const auto* bytes = static_cast<const unsigned char*>(w.data) + row * w.row_bytes();
  switch (w.type) {
    case TensorType::kF32: {
      const auto* f = reinterpret_cast<const float*>(bytes);
      return std::vector<double>(f, f + w.cols);
    }
    case TensorType::kF16: {
      const auto* h = reinterpret_cast<const uint16_t*>(bytes);
      std::vector<double> out(w.cols);
      for (size_t j = 0; j < w.cols; ++j) out[j] = internal::half_to_float(h[j]);
      return out;
    }
    case TensorType::kQ4_0:
      return dequantize_q4_0(reinterpret_cast<const Q4_0Block*>(bytes), w.cols / kQuantBlock);
    case TensorType::kQ8_0:
      return dequantize_q8_0(reinterpret_cast<const Q8_0Block*>(bytes), w.cols / kQuantBlock);
    default:
      return {};  // types without a row kernel yet
  }
}

DotResult dot(const std::vector<double>& a, const float* b) {
  DotResult r;
  for (size_t j = 0; j < a.size(); ++j) {
    r.value += a[j] * b[j];
    r.magnitude += std::fabs(a[j] * b[j]);
  }
  return r;
}

DotResult dot(const std::vector<double>& a, const std::vector<double>& b) {
  DotResult r;
  for (size_t j = 0; j < a.size() && j < b.size(); ++j) {
    r.value += a[j] * b[j];
    r.magnitude += std::fabs(a[j] * b[j]);
  }
  return r;
}

}  // namespace llmk::ref
