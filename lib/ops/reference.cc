// Scalar references: the simplest correct loops, in double where a sum could
// lose precision, so tests measure the SIMD kernels' error against the truth.
#include "llmk/reference.h"

#include <cmath>

namespace llmk::ref {

float dot(const float* a, const float* b, size_t n) {
  double sum = 0.0;
  for (size_t i = 0; i < n; ++i) sum += static_cast<double>(a[i]) * b[i];
  return static_cast<float>(sum);
}

void matvec(const float* w, size_t rows, size_t cols, const float* x, float* y) {
  for (size_t r = 0; r < rows; ++r) y[r] = dot(w + r * cols, x, cols);
}

void layer_norm(const float* x, const float* weight, const float* bias, float eps, size_t n,
                float* out) {
  double mean = 0.0;
  for (size_t i = 0; i < n; ++i) mean += x[i];
  mean /= static_cast<double>(n);
  double var = 0.0;
  for (size_t i = 0; i < n; ++i) var += (x[i] - mean) * (x[i] - mean);
  var /= static_cast<double>(n);
  const double inv = 1.0 / std::sqrt(var + eps);
  for (size_t i = 0; i < n; ++i) {
    out[i] = static_cast<float>((x[i] - mean) * inv * weight[i] + bias[i]);
  }
}

void rms_norm(const float* x, const float* weight, float eps, size_t n, float* out) {
  double ss = 0.0;
  for (size_t i = 0; i < n; ++i) ss += static_cast<double>(x[i]) * x[i];
  const double inv = 1.0 / std::sqrt(ss / static_cast<double>(n) + eps);
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<float>(x[i] * inv * weight[i]);
}

void softmax(const float* x, size_t n, float* out) {
  float max = x[0];
  for (size_t i = 1; i < n; ++i) max = std::fmax(max, x[i]);
  double sum = 0.0;
  for (size_t i = 0; i < n; ++i) sum += std::exp(static_cast<double>(x[i]) - max);
  for (size_t i = 0; i < n; ++i) {
    out[i] = static_cast<float>(std::exp(static_cast<double>(x[i]) - max) / sum);
  }
}

void gelu(const float* x, size_t n, float* out) {
  const double k = std::sqrt(2.0 / M_PI);
  for (size_t i = 0; i < n; ++i) {
    const double v = x[i];
    out[i] = static_cast<float>(0.5 * v * (1.0 + std::tanh(k * (v + 0.044715 * v * v * v))));
  }
}

void silu(const float* x, size_t n, float* out) {
  for (size_t i = 0; i < n; ++i) {
    const double v = x[i];
    out[i] = static_cast<float>(v / (1.0 + std::exp(-v)));
  }
}

void swiglu(const float* gate, const float* up, size_t n, float* out) {
  for (size_t i = 0; i < n; ++i) {
    const double g = gate[i];
    out[i] = static_cast<float>(g / (1.0 + std::exp(-g)) * up[i]);
  }
}

void add(const float* a, const float* b, size_t n, float* out) {
  for (size_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

void mul(const float* a, const float* b, size_t n, float* out) {
  for (size_t i = 0; i < n; ++i) out[i] = a[i] * b[i];
}

void scale(const float* x, float factor, size_t n, float* out) {
  for (size_t i = 0; i < n; ++i) out[i] = x[i] * factor;
}

size_t argmax(const float* x, size_t n) {
  size_t best = 0;
  for (size_t i = 1; i < n; ++i) {
    if (x[i] > x[best]) best = i;
  }
  return best;
}

void rope(float* x, size_t n, size_t head_dim, size_t pos, float theta_base, RopeLayout layout) {
  const size_t half = head_dim / 2;
  for (size_t h = 0; h < n; h += head_dim) {
    float* head = x + h;
    for (size_t i = 0; i < half; ++i) {
      const double freq = std::pow(static_cast<double>(theta_base),
                                   -static_cast<double>(2 * i) / static_cast<double>(head_dim));
      const double angle = static_cast<double>(pos) * freq;
      const double c = std::cos(angle), s = std::sin(angle);
      float* a = layout == RopeLayout::kAdjacentPairs ? &head[2 * i] : &head[i];
      float* b = layout == RopeLayout::kAdjacentPairs ? &head[2 * i + 1] : &head[i + half];
      const double va = *a, vb = *b;
      *a = static_cast<float>(va * c - vb * s);
      *b = static_cast<float>(vb * c + va * s);
    }
  }
}

}  // namespace llmk::ref
