// fp16 conversion, the ggml-exact Q4_0 quantizer (Q8_0's are dispatched
// kernels, quant/quantize-inl.h, since activations are quantized on every
// matvec), and the checked public API of llmk/quant.h over the kernels.
#include "llmk/quant.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "ops/kernels.h"
#include "quant/fp16.h"
#include "quant/quant_kernels.h"
#include "util/check.h"

namespace llmk {
namespace {

using internal::checked_mul;
using internal::size_error;

// ggml converts x·id + 8.5 with a C cast to int8 (truncation) and clamps at
// 15; for finite rows the value lies in [0.5, 16.5]. The explicit range keeps
// non-finite input (which ggml leaves undefined) from being undefined here.
inline int truncate_nibble(float biased) {
  if (!(biased >= 0.0f)) return 0;  // also NaN
  if (biased >= 15.0f) return 15;
  return static_cast<int>(biased);
}

void quantize_block_q4_0(const float* x, Q4_0Block* out) {
  // The element of largest magnitude, with its sign; the first one on ties.
  float amax = 0.0f, max = 0.0f;
  for (size_t j = 0; j < kQuantBlock; ++j) {
    if (amax < std::fabs(x[j])) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  // d = max / −8 maps the extreme to nibble 0 (exactly −8·d); the other side
  // reaches at most +8·d and is clamped to nibble 15 (+7·d).
  const float d = max / -8.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  out->d = internal::float_to_half(d);
  for (size_t j = 0; j < 16; ++j) {
    const int lo = truncate_nibble(x[j] * id + 8.5f);
    const int hi = truncate_nibble(x[j + 16] * id + 8.5f);
    out->qs[j] = static_cast<uint8_t>(lo | (hi << 4));
  }
}

absl::Status check_row(absl::string_view fn, size_t values, size_t blocks) {
  if (values % kQuantBlock != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(fn, ": x has ", values, " elements, not a multiple of 32"));
  }
  if (blocks != values / kQuantBlock) return size_error(fn, "out", blocks, values / kQuantBlock);
  return absl::OkStatus();
}

absl::Status check_dequant(absl::string_view fn, size_t blocks, size_t values,
                           absl::string_view what = "out") {
  size_t expected = 0;
  if (!checked_mul(blocks, kQuantBlock, &expected)) {
    return absl::InvalidArgumentError(absl::StrCat(fn, ": blocks × 32 overflows"));
  }
  if (values != expected) return size_error(fn, what, values, expected);
  return absl::OkStatus();
}

bool row_bytes_for(TensorType type, size_t cols, size_t* bytes) {
  switch (type) {
    case TensorType::kF32:
      return checked_mul(cols, sizeof(float), bytes);
    case TensorType::kF16:
      return checked_mul(cols, sizeof(uint16_t), bytes);
    case TensorType::kQ4_0:
      *bytes = cols / kQuantBlock * sizeof(Q4_0Block);
      return true;
    case TensorType::kQ8_0:
      *bytes = cols / kQuantBlock * sizeof(Q8_0Block);
      return true;
    case TensorType::kBF16:
      return checked_mul(cols, sizeof(uint16_t), bytes);
    case TensorType::kQ2_K:
      *bytes = cols / kSuperBlock * sizeof(Q2_KBlock);
      return true;
    case TensorType::kQ3_K:
      *bytes = cols / kSuperBlock * sizeof(Q3_KBlock);
      return true;
    case TensorType::kQ4_K:
      *bytes = cols / kSuperBlock * sizeof(Q4_KBlock);
      return true;
    case TensorType::kQ5_K:
      *bytes = cols / kSuperBlock * sizeof(Q5_KBlock);
      return true;
    case TensorType::kQ6_K:
      *bytes = cols / kSuperBlock * sizeof(Q6_KBlock);
      return true;
    default:
      return false;
  }
}

// Validates w and the activation / output sizes of a matmul over `batch`
// vectors (matvec: batch 1).
absl::Status check_weights(absl::string_view fn, const WeightView& w, size_t x_size, size_t batch,
                           size_t y_size, ActivationMode mode) {
  size_t row_bytes = 0, total_bytes = 0;
  if (!row_bytes_for(w.type, w.cols, &row_bytes)) {
    if (w.type != TensorType::kF32 && w.type != TensorType::kF16 && w.type != TensorType::kBF16) {
      return absl::InvalidArgumentError(
          absl::StrCat(fn, ": w.type ", static_cast<uint32_t>(w.type),
                       " is not F32, F16, BF16, Q4_0, Q8_0 or Q2_K…Q6_K"));
    }
    return absl::InvalidArgumentError(absl::StrCat(fn, ": w.cols × element size overflows"));
  }
  const bool quantized = w.type == TensorType::kQ4_0 || w.type == TensorType::kQ8_0;
  if (quantized && w.cols % kQuantBlock != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(fn, ": w.cols = ", w.cols, " is not a multiple of 32 for a quantized type"));
  }
  if (kernels::is_k_quant(w.type) && w.cols % kSuperBlock != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        fn, ": w.cols = ", w.cols, " is not a multiple of 256 for a K-quant type"));
  }
  if (!checked_mul(row_bytes, w.rows, &total_bytes)) {
    return absl::InvalidArgumentError(absl::StrCat(fn, ": w.rows × row bytes overflows"));
  }
  if (w.data == nullptr && total_bytes != 0) {
    return absl::InvalidArgumentError(absl::StrCat(fn, ": w.data is null"));
  }
  if (w.layout != WeightLayout::kRowMajor &&
      (w.layout != WeightLayout::kInterleaved8 || !quantized)) {
    return absl::InvalidArgumentError(
        absl::StrCat(fn, ": w.layout ", static_cast<int>(w.layout),
                     " is not kRowMajor, or kInterleaved8 with Q4_0 / Q8_0 weights"));
  }
  if (mode != ActivationMode::kQuantizeQ8_0 && mode != ActivationMode::kFloat) {
    return absl::InvalidArgumentError(absl::StrCat(fn, ": mode is not an ActivationMode"));
  }
  size_t x_expected = 0, y_expected = 0;
  if (!checked_mul(batch, w.cols, &x_expected) || !checked_mul(batch, w.rows, &y_expected)) {
    return absl::InvalidArgumentError(absl::StrCat(fn, ": batch × matrix size overflows"));
  }
  if (x_size != x_expected) return size_error(fn, "x", x_size, x_expected);
  if (y_size != y_expected) return size_error(fn, "y", y_size, y_expected);
  return absl::OkStatus();
}

absl::Status run_weights(const WeightView& w, std::span<const float> x, size_t batch,
                         std::span<float> y, ThreadPool* pool, ActivationMode mode) {
  if (y.empty()) return absl::OkStatus();
  const bool quantized = w.type == TensorType::kQ4_0 || w.type == TensorType::kQ8_0;
  const bool rounded_by_driver = kernels::is_k_quant(w.type) || w.type == TensorType::kBF16 ||
                                 w.type == TensorType::kF16;
  if (rounded_by_driver && mode == ActivationMode::kQuantizeQ8_0) {
    // The driver quantizes x to Q8_K (K-quants) or rounds it to F16 / BF16
    // itself, as the forward pass's call does.
    kernels::matmul_weights(w, x.data(), kernels::kIntegerActivations, batch, y.data(), pool);
  } else if (quantized && mode == ActivationMode::kQuantizeQ8_0) {
    std::vector<Q8_0Block> xq(x.size() / kQuantBlock);
    kernels::quantize_q8_0_ties_even(x.data(), x.size(), xq.data());  // as the forward pass
    kernels::matmul_weights(w, x.data(), xq.data(), batch, y.data(), pool);
  } else {
    const bool stream = w.rows * w.row_bytes() > kernels::kStreamingMatrixBytes;
    kernels::matmul_weights(w, x.data(), nullptr, batch, y.data(), pool, stream);
  }
  return absl::OkStatus();
}

}  // namespace

uint16_t f32_to_f16(float value) { return internal::float_to_half(value); }
float f16_to_f32(uint16_t half) { return internal::half_to_float(half); }

size_t WeightView::row_bytes() const {
  size_t bytes = 0;
  return row_bytes_for(type, cols, &bytes) ? bytes : 0;
}

absl::Status quantize_q4_0(std::span<const float> x, std::span<Q4_0Block> out) {
  LLMK_RETURN_IF_ERROR(check_row("quantize_q4_0", x.size(), out.size()));
  for (size_t k = 0; k < out.size(); ++k) quantize_block_q4_0(x.data() + k * kQuantBlock, &out[k]);
  return absl::OkStatus();
}

absl::Status quantize_q8_0(std::span<const float> x, std::span<Q8_0Block> out) {
  LLMK_RETURN_IF_ERROR(check_row("quantize_q8_0", x.size(), out.size()));
  kernels::quantize_q8_0_ties_away(x.data(), x.size(), out.data());
  return absl::OkStatus();
}

absl::Status dequantize_q4_0(std::span<const Q4_0Block> blocks, std::span<float> out) {
  LLMK_RETURN_IF_ERROR(check_dequant("dequantize_q4_0", blocks.size(), out.size()));
  kernels::dequantize_q4_0(blocks.data(), blocks.size(), out.data());
  return absl::OkStatus();
}

absl::Status dequantize_q8_0(std::span<const Q8_0Block> blocks, std::span<float> out) {
  LLMK_RETURN_IF_ERROR(check_dequant("dequantize_q8_0", blocks.size(), out.size()));
  kernels::dequantize_q8_0(blocks.data(), blocks.size(), out.data());
  return absl::OkStatus();
}

absl::StatusOr<float> dot_q4_0_q8_0(std::span<const Q4_0Block> a, std::span<const Q8_0Block> b) {
  if (b.size() != a.size()) return size_error("dot_q4_0_q8_0", "b", b.size(), a.size());
  return kernels::dot_q4_0_q8_0(a.data(), b.data(), a.size());
}

absl::StatusOr<float> dot_q8_0_q8_0(std::span<const Q8_0Block> a, std::span<const Q8_0Block> b) {
  if (b.size() != a.size()) return size_error("dot_q8_0_q8_0", "b", b.size(), a.size());
  return kernels::dot_q8_0_q8_0(a.data(), b.data(), a.size());
}

absl::StatusOr<float> dot_q4_0_f32(std::span<const Q4_0Block> a, std::span<const float> x) {
  LLMK_RETURN_IF_ERROR(check_dequant("dot_q4_0_f32", a.size(), x.size(), "x"));
  return kernels::dot_q4_0_f32(a.data(), x.data(), a.size());
}

absl::StatusOr<float> dot_q8_0_f32(std::span<const Q8_0Block> a, std::span<const float> x) {
  LLMK_RETURN_IF_ERROR(check_dequant("dot_q8_0_f32", a.size(), x.size(), "x"));
  return kernels::dot_q8_0_f32(a.data(), x.data(), a.size());
}

absl::StatusOr<WeightView> pack_weights(const WeightView& w, std::span<uint8_t> out) {
  if (w.type != TensorType::kQ4_0 && w.type != TensorType::kQ8_0) {
    return absl::InvalidArgumentError("pack_weights: w.type must be Q4_0 or Q8_0");
  }
  if (w.layout != WeightLayout::kRowMajor) {
    return absl::InvalidArgumentError("pack_weights: w must be row-major");
  }
  LLMK_RETURN_IF_ERROR(check_weights("pack_weights", w, w.cols, 1, w.rows,
                                     ActivationMode::kQuantizeQ8_0));
  const size_t bytes = w.rows * w.row_bytes();  // checked above
  if (out.size() != bytes) return size_error("pack_weights", "out", out.size(), bytes);
  const auto* src = static_cast<const uint8_t*>(w.data);
  if (bytes != 0 && src < out.data() + bytes && out.data() < src + bytes) {
    return absl::InvalidArgumentError("pack_weights: out overlaps w.data");
  }
  if (bytes != 0) kernels::repack_interleaved8(w, out.data());
  WeightView packed = w;
  packed.data = out.data();
  packed.layout = WeightLayout::kInterleaved8;
  return packed;
}

absl::Status matvec(const WeightView& w, std::span<const float> x, std::span<float> y,
                    ThreadPool* pool, ActivationMode mode) {
  LLMK_RETURN_IF_ERROR(check_weights("matvec", w, x.size(), 1, y.size(), mode));
  return run_weights(w, x, 1, y, pool, mode);
}

absl::Status matmul(const WeightView& w, std::span<const float> x, size_t batch, std::span<float> y,
                    ThreadPool* pool, ActivationMode mode) {
  LLMK_RETURN_IF_ERROR(check_weights("matmul", w, x.size(), batch, y.size(), mode));
  return run_weights(w, x, batch, y, pool, mode);
}

}  // namespace llmk
