// f32 kernels of a transformer: dot products, matrix-vector and matrix
// products, norms, softmax, activations and RoPE.
//
// Conventions, stated once:
// - Matrices are row-major, rows × cols, with no padding between rows.
// - Outputs come last. An output may be the very same span as an input (in
//   place); partially overlapping spans are not allowed.
// - Sizes are checked: a mismatch returns InvalidArgumentError naming the
//   argument and nothing is written.
// - Every kernel dispatches at run time to the best Highway target of this
//   CPU (see target.h); llmk/reference.h holds the plain scalar versions.
#pragma once

#include "llmk/export.h"

#include <cstddef>
#include <span>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace llmk LLMK_API {

class ThreadPool;

// sum_i a[i]·b[i], accumulated in f32 lanes.
absl::StatusOr<float> dot(std::span<const float> a, std::span<const float> b);

// y = W·x with W rows × cols (w.size() == rows·cols, x.size() == cols,
// y.size() == rows). Rows are split over `pool` when the matrix is large
// enough to gain from it; pool may be null (single thread).
absl::Status matvec(std::span<const float> w, size_t rows, size_t cols,
                    std::span<const float> x, std::span<float> y,
                    ThreadPool* pool = nullptr);

// Y = X·Wᵀ for a batch: X is batch × cols (one input vector per row), Y is
// batch × rows. Each weight row is loaded once and used for the whole batch.
absl::Status matmul(std::span<const float> w, size_t rows, size_t cols,
                    std::span<const float> x, size_t batch, std::span<float> y,
                    ThreadPool* pool = nullptr);

// out = (x − mean) / sqrt(var + eps) · weight + bias.
absl::Status layer_norm(std::span<const float> x, std::span<const float> weight,
                        std::span<const float> bias, float eps,
                        std::span<float> out);
// out = x / sqrt(mean(x²) + eps) · weight.
absl::Status rms_norm(std::span<const float> x, std::span<const float> weight,
                      float eps, std::span<float> out);

// out = exp(x − max x) / Σ exp(x − max x). Empty input is an error.
absl::Status softmax(std::span<const float> x, std::span<float> out);

// GPT-2's tanh approximation: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
absl::Status gelu(std::span<const float> x, std::span<float> out);
// x·sigmoid(x).
absl::Status silu(std::span<const float> x, std::span<float> out);
// silu(gate)·up, the SwiGLU feed-forward activation.
absl::Status swiglu(std::span<const float> gate, std::span<const float> up,
                    std::span<float> out);

absl::Status add(std::span<const float> a, std::span<const float> b,
                 std::span<float> out);
absl::Status mul(std::span<const float> a, std::span<const float> b,
                 std::span<float> out);
absl::Status scale(std::span<const float> x, float factor, std::span<float> out);

// Index of the largest element (the first one on ties). Empty is an error.
absl::StatusOr<size_t> argmax(std::span<const float> x);

// How RoPE pairs the elements of a head vector.
enum class RopeLayout {
  kAdjacentPairs,  // (x0,x1), (x2,x3), … : llama2.c and GGUF llama
  kSplitHalves,    // (x0,x[d/2]), (x1,x[d/2+1]), … : GPT-NeoX
};

// Rotates every head of `x` (x.size() a multiple of head_dim, head_dim even)
// in place for position `pos`: pair i turns by pos·theta_base^(−2i/head_dim).
absl::Status rope(std::span<float> x, size_t head_dim, size_t pos,
                  float theta_base, RopeLayout layout);

}  // namespace llmk
