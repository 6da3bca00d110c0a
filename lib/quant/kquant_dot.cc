// Q8_K activation quantization and the fused K-quant · Q8_K dot products:
// the unchecked kernels:: entry points over the dispatch table
// (quant/kquant_dot-inl.h, compiled per target by quant_targets.cc) and the
// checked public API of llmk/kquant.h.
#include <cstddef>

#include "absl/strings/str_cat.h"
#include "llmk/kquant.h"
#include "quant/quant_kernels.h"
#include "util/check.h"

namespace llmk {
namespace kernels {

void quantize_q8_k(const float* x, size_t n, Q8_KBlock* out) {
  quant_targets().quantize_q8_k(x, n / kSuperBlock, out);
}
float dot_q2_k_q8_k(const Q2_KBlock* a, const Q8_KBlock* b, size_t blocks) {
  return quant_targets().dot_q2_k_q8_k(a, b, blocks);
}
float dot_q3_k_q8_k(const Q3_KBlock* a, const Q8_KBlock* b, size_t blocks) {
  return quant_targets().dot_q3_k_q8_k(a, b, blocks);
}
float dot_q4_k_q8_k(const Q4_KBlock* a, const Q8_KBlock* b, size_t blocks) {
  return quant_targets().dot_q4_k_q8_k(a, b, blocks);
}
float dot_q5_k_q8_k(const Q5_KBlock* a, const Q8_KBlock* b, size_t blocks) {
  return quant_targets().dot_q5_k_q8_k(a, b, blocks);
}
float dot_q6_k_q8_k(const Q6_KBlock* a, const Q8_KBlock* b, size_t blocks) {
  return quant_targets().dot_q6_k_q8_k(a, b, blocks);
}

}  // namespace kernels

absl::Status quantize_q8_k(std::span<const float> x, std::span<Q8_KBlock> out) {
  if (x.size() % kSuperBlock != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("quantize_q8_k: x has ", x.size(), " elements, not a multiple of 256"));
  }
  if (out.size() != x.size() / kSuperBlock) {
    return internal::size_error("quantize_q8_k", "out", out.size(), x.size() / kSuperBlock);
  }
  kernels::quantize_q8_k(x.data(), x.size(), out.data());
  return absl::OkStatus();
}

absl::StatusOr<float> dot_q2_k_q8_k(std::span<const Q2_KBlock> a, std::span<const Q8_KBlock> b) {
  if (b.size() != a.size()) return internal::size_error("dot_q2_k_q8_k", "b", b.size(), a.size());
  return kernels::dot_q2_k_q8_k(a.data(), b.data(), a.size());
}
absl::StatusOr<float> dot_q3_k_q8_k(std::span<const Q3_KBlock> a, std::span<const Q8_KBlock> b) {
  if (b.size() != a.size()) return internal::size_error("dot_q3_k_q8_k", "b", b.size(), a.size());
  return kernels::dot_q3_k_q8_k(a.data(), b.data(), a.size());
}
absl::StatusOr<float> dot_q4_k_q8_k(std::span<const Q4_KBlock> a, std::span<const Q8_KBlock> b) {
  if (b.size() != a.size()) return internal::size_error("dot_q4_k_q8_k", "b", b.size(), a.size());
  return kernels::dot_q4_k_q8_k(a.data(), b.data(), a.size());
}
absl::StatusOr<float> dot_q5_k_q8_k(std::span<const Q5_KBlock> a, std::span<const Q8_KBlock> b) {
  if (b.size() != a.size()) return internal::size_error("dot_q5_k_q8_k", "b", b.size(), a.size());
  return kernels::dot_q5_k_q8_k(a.data(), b.data(), a.size());
}
absl::StatusOr<float> dot_q6_k_q8_k(std::span<const Q6_KBlock> a, std::span<const Q8_KBlock> b) {
  if (b.size() != a.size()) return internal::size_error("dot_q6_k_q8_k", "b", b.size(), a.size());
  return kernels::dot_q6_k_q8_k(a.data(), b.data(), a.size());
}

}  // namespace llmk
