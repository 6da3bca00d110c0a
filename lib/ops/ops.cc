// The checked public API of ops.h over the unchecked dispatched kernels.
#include "llmk/ops.h"

#include "ops/kernels.h"
#include "util/check.h"

namespace llmk {
namespace {

using internal::size_error;

absl::Status check_same(absl::string_view fn, std::span<const float> a, absl::string_view a_name,
                        size_t expected) {
  if (a.size() != expected) return size_error(fn, a_name, a.size(), expected);
  return absl::OkStatus();
}

absl::Status check_nonempty(absl::string_view fn, size_t n) {
  if (n == 0) return absl::InvalidArgumentError(absl::StrCat(fn, ": input is empty"));
  return absl::OkStatus();
}

absl::Status check_matrix(absl::string_view fn, std::span<const float> w, size_t rows,
                          size_t cols) {
  size_t elements = 0;
  if (!internal::checked_mul(rows, cols, &elements)) {
    return absl::InvalidArgumentError(absl::StrCat(fn, ": rows × cols overflows"));
  }
  return check_same(fn, w, "w", elements);
}

}  // namespace

absl::StatusOr<float> dot(std::span<const float> a, std::span<const float> b) {
  LLMK_RETURN_IF_ERROR(check_same("dot", b, "b", a.size()));
  return kernels::f32().dot(a.data(), b.data(), a.size());
}

absl::Status matvec(std::span<const float> w, size_t rows, size_t cols,
                    std::span<const float> x, std::span<float> y, ThreadPool* pool) {
  LLMK_RETURN_IF_ERROR(check_matrix("matvec", w, rows, cols));
  LLMK_RETURN_IF_ERROR(check_same("matvec", x, "x", cols));
  LLMK_RETURN_IF_ERROR(check_same("matvec", y, "y", rows));
  kernels::matvec(w.data(), rows, cols, x.data(), y.data(), pool,
                  w.size() * sizeof(float) > kernels::kStreamingMatrixBytes);
  return absl::OkStatus();
}

absl::Status matmul(std::span<const float> w, size_t rows, size_t cols,
                    std::span<const float> x, size_t batch, std::span<float> y,
                    ThreadPool* pool) {
  LLMK_RETURN_IF_ERROR(check_matrix("matmul", w, rows, cols));
  size_t x_elements = 0, y_elements = 0;
  if (!internal::checked_mul(batch, cols, &x_elements) ||
      !internal::checked_mul(batch, rows, &y_elements)) {
    return absl::InvalidArgumentError("matmul: batch size overflows");
  }
  LLMK_RETURN_IF_ERROR(check_same("matmul", x, "x", x_elements));
  LLMK_RETURN_IF_ERROR(check_same("matmul", y, "y", y_elements));
  kernels::matmul(w.data(), rows, cols, x.data(), batch, y.data(), pool);
  return absl::OkStatus();
}

absl::Status layer_norm(std::span<const float> x, std::span<const float> weight,
                        std::span<const float> bias, float eps, std::span<float> out) {
  LLMK_RETURN_IF_ERROR(check_nonempty("layer_norm", x.size()));
  LLMK_RETURN_IF_ERROR(check_same("layer_norm", weight, "weight", x.size()));
  LLMK_RETURN_IF_ERROR(check_same("layer_norm", bias, "bias", x.size()));
  LLMK_RETURN_IF_ERROR(check_same("layer_norm", out, "out", x.size()));
  kernels::f32().layer_norm(x.data(), weight.data(), bias.data(), eps, x.size(), out.data());
  return absl::OkStatus();
}

absl::Status rms_norm(std::span<const float> x, std::span<const float> weight, float eps,
                      std::span<float> out) {
  LLMK_RETURN_IF_ERROR(check_nonempty("rms_norm", x.size()));
  LLMK_RETURN_IF_ERROR(check_same("rms_norm", weight, "weight", x.size()));
  LLMK_RETURN_IF_ERROR(check_same("rms_norm", out, "out", x.size()));
  kernels::f32().rms_norm(x.data(), weight.data(), eps, x.size(), out.data());
  return absl::OkStatus();
}

absl::Status softmax(std::span<const float> x, std::span<float> out) {
  LLMK_RETURN_IF_ERROR(check_nonempty("softmax", x.size()));
  LLMK_RETURN_IF_ERROR(check_same("softmax", out, "out", x.size()));
  kernels::f32().softmax(x.data(), x.size(), out.data());
  return absl::OkStatus();
}

absl::Status gelu(std::span<const float> x, std::span<float> out) {
  LLMK_RETURN_IF_ERROR(check_same("gelu", out, "out", x.size()));
  kernels::f32().gelu(x.data(), x.size(), out.data());
  return absl::OkStatus();
}

absl::Status silu(std::span<const float> x, std::span<float> out) {
  LLMK_RETURN_IF_ERROR(check_same("silu", out, "out", x.size()));
  kernels::f32().silu(x.data(), x.size(), out.data());
  return absl::OkStatus();
}

absl::Status swiglu(std::span<const float> gate, std::span<const float> up,
                    std::span<float> out) {
  LLMK_RETURN_IF_ERROR(check_same("swiglu", up, "up", gate.size()));
  LLMK_RETURN_IF_ERROR(check_same("swiglu", out, "out", gate.size()));
  kernels::f32().swiglu(gate.data(), up.data(), gate.size(), out.data());
  return absl::OkStatus();
}

absl::Status add(std::span<const float> a, std::span<const float> b, std::span<float> out) {
  LLMK_RETURN_IF_ERROR(check_same("add", b, "b", a.size()));
  LLMK_RETURN_IF_ERROR(check_same("add", out, "out", a.size()));
  kernels::f32().add(a.data(), b.data(), a.size(), out.data());
  return absl::OkStatus();
}

absl::Status mul(std::span<const float> a, std::span<const float> b, std::span<float> out) {
  LLMK_RETURN_IF_ERROR(check_same("mul", b, "b", a.size()));
  LLMK_RETURN_IF_ERROR(check_same("mul", out, "out", a.size()));
  kernels::f32().mul(a.data(), b.data(), a.size(), out.data());
  return absl::OkStatus();
}

absl::Status scale(std::span<const float> x, float factor, std::span<float> out) {
  LLMK_RETURN_IF_ERROR(check_same("scale", out, "out", x.size()));
  kernels::f32().scale(x.data(), factor, x.size(), out.data());
  return absl::OkStatus();
}

absl::StatusOr<size_t> argmax(std::span<const float> x) {
  LLMK_RETURN_IF_ERROR(check_nonempty("argmax", x.size()));
  return kernels::f32().argmax(x.data(), x.size());
}

absl::Status rope(std::span<float> x, size_t head_dim, size_t pos, float theta_base,
                  RopeLayout layout) {
  if (head_dim == 0 || head_dim % 2 != 0 || head_dim > 1024) {
    return absl::InvalidArgumentError(
        absl::StrCat("rope: head_dim ", head_dim, " must be even and in [2, 1024]"));
  }
  if (x.size() % head_dim != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "rope: x has ", x.size(), " elements, not a multiple of head_dim ", head_dim));
  }
  if (!(theta_base > 0.0f)) {
    return absl::InvalidArgumentError("rope: theta_base must be positive");
  }
  float cos_sin[1024];
  kernels::rope_angles(head_dim, pos, theta_base, /*freq_scale=*/1.0f, /*freq_factors=*/nullptr,
                       cos_sin);
  kernels::f32().rope_apply(x.data(), x.size(), head_dim, head_dim, cos_sin, layout);
  return absl::OkStatus();
}

}  // namespace llmk
