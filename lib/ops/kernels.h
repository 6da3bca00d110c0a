// Unchecked, pointer-based entry points to the dispatched f32 kernels, for
// library code that has already validated its sizes (the forward pass, the
// quantized paths). The public, checked API is llmk/ops.h.
#pragma once

#include <cstddef>

#include "llmk/ops.h"
#include "llmk/quant.h"  // Q8_0Block

namespace llmk {
class ThreadPool;
}

namespace llmk::kernels {

float dot(const float* a, const float* b, size_t n);
// stream: w comes from DRAM (a model's weights, read once per token), so
// software-prefetch it; false for a matrix likely still in cache.
void matvec(const float* w, size_t rows, size_t cols, const float* x, float* y,
            ThreadPool* pool, bool stream = true);
// Bytes above which a matrix a caller knows nothing about is assumed not to
// be cache-resident (the public matvec's `stream` choice).
inline constexpr size_t kStreamingMatrixBytes = size_t{4} << 20;
void matmul(const float* w, size_t rows, size_t cols, const float* x, size_t batch,
            float* y, ThreadPool* pool);
void layer_norm(const float* x, const float* weight, const float* bias, float eps,
                size_t n, float* out);
void rms_norm(const float* x, const float* weight, float eps, size_t n, float* out);
void softmax(const float* x, size_t n, float* out);
void gelu(const float* x, size_t n, float* out);
void silu(const float* x, size_t n, float* out);
void swiglu(const float* gate, const float* up, size_t n, float* out);
void add(const float* a, const float* b, size_t n, float* out);
void mul(const float* a, const float* b, size_t n, float* out);
void scale(const float* x, float factor, size_t n, float* out);
// out += factor·x (attention's weighted sum of values).
void add_scaled(const float* x, float factor, size_t n, float* out);
size_t argmax(const float* x, size_t n);

// One attention head for one query over `len` cached positions: out[0,
// head_dim) = softmax(q·Kᵀ·scale)·V, where key and value rows are kv_stride
// floats apart and scores has room for len floats. Bit-identical to dot,
// softmax and add_scaled applied in turn, in one dispatch.
void attend_head(const float* q, const float* keys, const float* values, size_t kv_stride,
                 size_t len, size_t head_dim, float scale, float* scores, float* out);

// Activation quantization as ggml-cpu's x86 quantize_row_q8_0: multiplier
// 127/amax (not the reference quantizer's 1/d, which differs in the last bit),
// ties to even. n must be a multiple of 32.
void quantize_activation_q8_0(const float* x, size_t n, Q8_0Block* out);

// RoPE in two steps so a forward pass computes the angles once per position
// and applies them to every head of q and k: cos_sin holds head_dim/2 cos
// values then head_dim/2 sin values.
void rope_angles(size_t head_dim, size_t pos, float theta_base, float* cos_sin);
void rope_apply(float* x, size_t n, size_t head_dim, const float* cos_sin,
                RopeLayout layout);

// Which weight-row count per thread makes threading worth it; below
// kMinParallelElements (rows × cols) matvec stays on the calling thread.
inline constexpr size_t kMinParallelElements = size_t{1} << 18;

}  // namespace llmk::kernels
