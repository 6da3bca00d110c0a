// GGML-compatible Q4_0 and Q8_0 block quantization, fp16 conversion, fused
// quantized dot products, and matrix-vector / matrix products over weight
// matrices of any supported element type.
//
// Formats (bit-identical to ggml):
// - Q4_0: fp16 scale d, then 16 bytes; element j < 16 is the low nibble of
//   byte j, element j + 16 its high nibble; value = (nibble − 8)·d.
// - Q8_0: fp16 scale d, then 32 int8; value = q·d.
#pragma once

#include "llmk/export.h"

#include <cstddef>
#include <cstdint>
#include <span>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "llmk/tensor_type.h"

namespace llmk LLMK_API {

class ThreadPool;

inline constexpr size_t kQuantBlock = 32;  // values per Q4_0 / Q8_0 block

struct Q4_0Block {
  uint16_t d;          // IEEE half-precision scale
  uint8_t qs[16];      // 32 nibbles
};
struct Q8_0Block {
  uint16_t d;          // IEEE half-precision scale
  int8_t qs[32];
};
static_assert(sizeof(Q4_0Block) == 18, "Q4_0 block must be 18 bytes, as in ggml");
static_assert(sizeof(Q8_0Block) == 34, "Q8_0 block must be 34 bytes, as in ggml");

// IEEE binary16 ↔ binary32, round-to-nearest-even, subnormals, ±inf, NaN.
uint16_t f32_to_f16(float value);
float f16_to_f32(uint16_t half);

// x.size() must be a multiple of 32 and out.size() == x.size() / 32.
// Byte-identical to ggml's reference quantizers (quantize_row_q4_0_ref /
// quantize_row_q8_0_ref) for finite input; non-finite input gives defined
// but meaningless blocks (ggml's behaviour there is undefined).
absl::Status quantize_q4_0(std::span<const float> x, std::span<Q4_0Block> out);
absl::Status quantize_q8_0(std::span<const float> x, std::span<Q8_0Block> out);
// out.size() == 32 · blocks.size().
absl::Status dequantize_q4_0(std::span<const Q4_0Block> blocks, std::span<float> out);
absl::Status dequantize_q8_0(std::span<const Q8_0Block> blocks, std::span<float> out);

// Fused dot products over equally long block rows (no floats materialised).
absl::StatusOr<float> dot_q4_0_q8_0(std::span<const Q4_0Block> a, std::span<const Q8_0Block> b);
absl::StatusOr<float> dot_q8_0_q8_0(std::span<const Q8_0Block> a, std::span<const Q8_0Block> b);
// Quantized weights against f32 activations (x.size() == 32 · a.size()).
absl::StatusOr<float> dot_q4_0_f32(std::span<const Q4_0Block> a, std::span<const float> x);
absl::StatusOr<float> dot_q8_0_f32(std::span<const Q8_0Block> a, std::span<const float> x);

// How a weight matrix's rows are laid out in memory.
enum class WeightLayout {
  kRowMajor,  // row after row, as in GGUF files
  // Q4_0 / Q8_0 only, written by pack_weights(): rows in groups of 8, each
  // group's blocks interleaved so one SIMD load holds 4 bytes of 8 rows (the
  // integer kernels then need no per-row reductions). Same total size as
  // kRowMajor; the last rows % 8 rows stay row-major. Row r's group starts at
  // byte (r / 8) · 8 · row_bytes(), so any 8-aligned run of rows is again a
  // valid view.
  kInterleaved8,
};

// A read-only weight matrix, rows × cols, of any TensorType (F32, F16, Q8_0,
// Q4_0; quantized rows hold cols/32 blocks). Not owning.
struct WeightView {
  TensorType type = TensorType::kF32;
  const void* data = nullptr;
  size_t rows = 0;
  size_t cols = 0;
  WeightLayout layout = WeightLayout::kRowMajor;
  size_t row_bytes() const;  // bytes per row for `type` (0 if it overflows)
};

// Re-lays a row-major Q4_0 / Q8_0 matrix out as kInterleaved8 into `out`
// (exactly rows · row_bytes() bytes) and returns the view of it. matvec and
// matmul give the same results within rounding (each block's integer sum is
// exact; only the float accumulation order differs), and are faster.
absl::StatusOr<WeightView> pack_weights(const WeightView& w, std::span<uint8_t> out);

// How quantized weights meet f32 activations.
enum class ActivationMode {
  // Round x as ggml's CPU backend does before a matrix product, so the
  // result is the forward pass's: Q4_0 / Q8_0 weights meet x quantized to
  // Q8_0 with ggml-cpu's x86 rounding (multiplier 127/amax, ties to even;
  // not quantize_q8_0's) in integer dot products; K-quant weights (llmk/
  // kquant.h) meet x quantized to Q8_K; F16 / BF16 weights meet x rounded
  // to F16 / BF16. F32 weights always meet x in f32.
  kQuantizeQ8_0,
  kFloat,         // keep x in f32 (Q·f32 dot products)
};

// y = W·x for any weight type; rows split over `pool` when large enough.
absl::Status matvec(const WeightView& w, std::span<const float> x, std::span<float> y,
                    ThreadPool* pool = nullptr,
                    ActivationMode mode = ActivationMode::kQuantizeQ8_0);
// Y = X·Wᵀ for a batch (X batch × cols, Y batch × rows), each weight row
// loaded once for the whole batch.
absl::Status matmul(const WeightView& w, std::span<const float> x, size_t batch,
                    std::span<float> y, ThreadPool* pool = nullptr,
                    ActivationMode mode = ActivationMode::kQuantizeQ8_0);

}  // namespace llmk
