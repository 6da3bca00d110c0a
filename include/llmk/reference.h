// Plain scalar reference implementations of the kernels in ops.h: the
// definition of "correct" that tests compare every SIMD target against.
// Slow by design; no size checks (callers pass consistent sizes).
#pragma once

#include "llmk/export.h"

#include <cstddef>

#include "llmk/ops.h"

namespace llmk LLMK_API {
namespace ref {

float dot(const float* a, const float* b, size_t n);
void matvec(const float* w, size_t rows, size_t cols, const float* x, float* y);
void layer_norm(const float* x, const float* weight, const float* bias,
                float eps, size_t n, float* out);
void rms_norm(const float* x, const float* weight, float eps, size_t n,
              float* out);
void softmax(const float* x, size_t n, float* out);
void gelu(const float* x, size_t n, float* out);
void silu(const float* x, size_t n, float* out);
void swiglu(const float* gate, const float* up, size_t n, float* out);
void add(const float* a, const float* b, size_t n, float* out);
void mul(const float* a, const float* b, size_t n, float* out);
void scale(const float* x, float factor, size_t n, float* out);
size_t argmax(const float* x, size_t n);
void rope(float* x, size_t n, size_t head_dim, size_t pos, float theta_base,
          RopeLayout layout);

}  // namespace ref
}  // namespace llmk
