// Every f32 kernel against its scalar reference, under every Highway target
// this CPU supports, on odd lengths and misaligned pointers.
#include <algorithm>
#include <cstring>
#include <cmath>
#include <numeric>
#include <vector>

#include "llmk/ops.h"
#include "llmk/reference.h"
#include "llmk/target.h"
#include "llmk/thread_pool.h"
#include "test_util.h"

using llmk::test::fill_uniform;
using llmk::test::for_each_target;
using llmk::test::kTestLengths;
using llmk::test::near;
using llmk::test::UnalignedFloats;

namespace {

// Tolerances. Sums of n products differ from the double-precision reference
// by reassociation: bound |err| ≤ 1e-6·n·Σ|a_i·b_i| (far above the typical
// √n·ε error, far below any real bug). Transcendentals (exp/tanh from
// hwy/contrib/math) are within a few ULP: 1e-5 relative + 1e-6 absolute.
constexpr float kElementRel = 1e-5f;
constexpr float kElementAbs = 1e-6f;

float abs_dot(const float* a, const float* b, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; ++i) s += std::fabs(static_cast<double>(a[i]) * b[i]);
  return static_cast<float>(s);
}

void check_close(std::span<const float> got, std::span<const float> want, float rel, float abs,
                 const char* what) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    if (!near(got[i], want[i], rel, abs)) {
      FAIL_CHECK(what << "[" << i << "] = " << got[i] << ", reference " << want[i]);
      return;
    }
  }
}

}  // namespace

TEST_CASE("targets: the scalar fallback is always supported and can be forced") {
  const auto targets = llmk::supported_targets();
  REQUIRE(!targets.empty());
  CHECK((targets.back() == "EMU128" || targets.back() == "SCALAR"));
  REQUIRE(llmk::force_target("scalar").ok());
  CHECK(llmk::current_target() == targets.back());
  REQUIRE(llmk::force_target("best").ok());
  CHECK(llmk::current_target() == targets.front());
  const auto bad = llmk::force_target("NOT_A_TARGET");
  CHECK(bad.code() == absl::StatusCode::kInvalidArgument);
  CHECK(llmk::current_target() == targets.front());
}

TEST_CASE("dot matches the reference on every target") {
  for_each_target([](const std::string&) {
    for (size_t n : kTestLengths) {
      for (size_t offset : {0u, 1u, 3u}) {
        UnalignedFloats a(n, offset), b(n, offset + 1);
        fill_uniform(a.span(), 1 + n);
        fill_uniform(b.span(), 2 + n);
        const auto got = llmk::dot(a.cspan(), b.cspan());
        REQUIRE(got.ok());
        const float want = llmk::ref::dot(a.data(), b.data(), n);
        const float bound = 1e-6f * n * abs_dot(a.data(), b.data(), n) + 1e-7f;
        CHECK_MESSAGE(std::fabs(*got - want) <= bound, "n=" << n << " got " << *got << " want " << want);
      }
    }
  });
  std::vector<float> a(3), b(4);
  CHECK(llmk::dot(a, b).status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("matvec and matmul match the reference, threaded or not") {
  llmk::ThreadPool pool(2);
  const std::vector<std::pair<size_t, size_t>> shapes = {
      {1, 1}, {3, 7}, {5, 17}, {16, 33}, {17, 63}, {384, 384}, {33, 385}, {7, 4097}, {600, 600},
      // Over kStreamingMatrixBytes, so the prefetching paths run: short rows
      // (a tile's burst) and long rows (per-row prefetch that moves on to
      // the next tile).
      {4001, 300}, {301, 4099}};
  for_each_target([&](const std::string&) {
    for (auto [rows, cols] : shapes) {
      UnalignedFloats w(rows * cols, 1), x(cols, 3);
      fill_uniform(w.span(), rows * 31 + cols);
      fill_uniform(x.span(), cols);
      std::vector<float> want(rows);
      llmk::ref::matvec(w.data(), rows, cols, x.data(), want.data());
      for (llmk::ThreadPool* p : {static_cast<llmk::ThreadPool*>(nullptr), &pool}) {
        std::vector<float> y(rows, -1.0f);
        REQUIRE(llmk::matvec(w.cspan(), rows, cols, x.cspan(), y, p).ok());
        for (size_t r = 0; r < rows; ++r) {
          const float bound = 1e-6f * cols * abs_dot(w.data() + r * cols, x.data(), cols) + 1e-7f;
          REQUIRE_MESSAGE(std::fabs(y[r] - want[r]) <= bound,
                          rows << "x" << cols << " row " << r << ": " << y[r] << " vs " << want[r]);
        }
      }
      // matmul over a batch of 1, 3, 4 and 6 vectors equals one matvec per vector.
      for (size_t batch : {1u, 3u, 4u, 6u}) {
        UnalignedFloats xb(batch * cols, 2);
        fill_uniform(xb.span(), batch + cols);
        std::vector<float> yb(batch * rows, -1.0f);
        REQUIRE(llmk::matmul(w.cspan(), rows, cols, xb.cspan(), batch, yb, &pool).ok());
        for (size_t b = 0; b < batch; ++b) {
          for (size_t r = 0; r < rows; ++r) {
            const float* xr = xb.data() + b * cols;
            const float want_br = llmk::ref::dot(w.data() + r * cols, xr, cols);
            const float bound = 1e-6f * cols * abs_dot(w.data() + r * cols, xr, cols) + 1e-7f;
            REQUIRE_MESSAGE(std::fabs(yb[b * rows + r] - want_br) <= bound,
                            "batch " << batch << " b " << b << " row " << r);
          }
        }
      }
    }
  });
  std::vector<float> w(12), x(4), y(3), bad_y(2);
  CHECK(llmk::matvec(w, 3, 4, x, y).ok());
  CHECK(llmk::matvec(w, 3, 4, x, bad_y).code() == absl::StatusCode::kInvalidArgument);
  CHECK(llmk::matvec(w, 4, 4, x, y).code() == absl::StatusCode::kInvalidArgument);
  CHECK(llmk::matvec(w, SIZE_MAX, 2, x, y).code() == absl::StatusCode::kInvalidArgument);
  CHECK(llmk::matmul(w, 3, 4, x, 2, y).code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("norms match the reference, in place and out of place") {
  for_each_target([](const std::string&) {
    for (size_t n : kTestLengths) {
      UnalignedFloats x(n, 1), w(n, 2), b(n, 3), out(n, 1);
      fill_uniform(x.span(), n, -3.0f, 5.0f);  // non-zero mean
      fill_uniform(w.span(), n + 1);
      fill_uniform(b.span(), n + 2);
      std::vector<float> want(n);

      llmk::ref::rms_norm(x.data(), w.data(), 1e-5f, n, want.data());
      REQUIRE(llmk::rms_norm(x.cspan(), w.cspan(), 1e-5f, out.span()).ok());
      check_close(out.cspan(), want, 1e-5f, 1e-6f, "rms_norm");
      std::vector<float> inplace(x.cspan().begin(), x.cspan().end());
      REQUIRE(llmk::rms_norm(inplace, w.cspan(), 1e-5f, inplace).ok());
      check_close(inplace, want, 1e-5f, 1e-6f, "rms_norm in place");

      llmk::ref::layer_norm(x.data(), w.data(), b.data(), 1e-5f, n, want.data());
      REQUIRE(llmk::layer_norm(x.cspan(), w.cspan(), b.cspan(), 1e-5f, out.span()).ok());
      check_close(out.cspan(), want, 1e-4f, 1e-5f, "layer_norm");
      inplace.assign(x.cspan().begin(), x.cspan().end());
      REQUIRE(llmk::layer_norm(inplace, w.cspan(), b.cspan(), 1e-5f, inplace).ok());
      check_close(inplace, want, 1e-4f, 1e-5f, "layer_norm in place");
    }
  });
  std::vector<float> x(4), w(3), out(4);
  CHECK(llmk::rms_norm(x, w, 1e-5f, out).code() == absl::StatusCode::kInvalidArgument);
  CHECK(llmk::layer_norm({}, {}, {}, 1e-5f, {}).code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("softmax matches the reference, sums to 1 and is stable at ±1e4") {
  for_each_target([](const std::string&) {
    for (size_t n : kTestLengths) {
      for (float range : {1.0f, 1e4f}) {
        UnalignedFloats x(n, 1), out(n, 2);
        fill_uniform(x.span(), n, -range, range);
        std::vector<float> want(n);
        llmk::ref::softmax(x.data(), n, want.data());
        REQUIRE(llmk::softmax(x.cspan(), out.span()).ok());
        check_close(out.cspan(), want, 1e-5f, 1e-7f, "softmax");
        double sum = 0;
        for (size_t i = 0; i < n; ++i) {
          REQUIRE(std::isfinite(out[i]));
          sum += out[i];
        }
        CHECK(sum == doctest::Approx(1.0).epsilon(1e-5));
      }
    }
  });
  std::vector<float> huge = {1e4f, -1e4f, 1e4f};
  REQUIRE(llmk::softmax(huge, huge).ok());
  CHECK(huge[0] == doctest::Approx(0.5));
  CHECK(huge[1] == 0.0f);
  CHECK(llmk::softmax({}, {}).code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("activations and element-wise ops match the reference") {
  for_each_target([](const std::string&) {
    for (size_t n : kTestLengths) {
      UnalignedFloats a(n, 1), b(n, 2), out(n, 3);
      fill_uniform(a.span(), n, -8.0f, 8.0f);
      fill_uniform(b.span(), n + 7, -2.0f, 2.0f);
      std::vector<float> want(n);

      llmk::ref::gelu(a.data(), n, want.data());
      REQUIRE(llmk::gelu(a.cspan(), out.span()).ok());
      check_close(out.cspan(), want, kElementRel, kElementAbs, "gelu");

      llmk::ref::silu(a.data(), n, want.data());
      REQUIRE(llmk::silu(a.cspan(), out.span()).ok());
      check_close(out.cspan(), want, kElementRel, kElementAbs, "silu");

      llmk::ref::swiglu(a.data(), b.data(), n, want.data());
      REQUIRE(llmk::swiglu(a.cspan(), b.cspan(), out.span()).ok());
      check_close(out.cspan(), want, kElementRel, kElementAbs, "swiglu");

      // Exact operations: one rounding each, so equality is required.
      llmk::ref::add(a.data(), b.data(), n, want.data());
      REQUIRE(llmk::add(a.cspan(), b.cspan(), out.span()).ok());
      check_close(out.cspan(), want, 0, 0, "add");
      llmk::ref::mul(a.data(), b.data(), n, want.data());
      REQUIRE(llmk::mul(a.cspan(), b.cspan(), out.span()).ok());
      check_close(out.cspan(), want, 0, 0, "mul");
      llmk::ref::scale(a.data(), 0.37f, n, want.data());
      REQUIRE(llmk::scale(a.cspan(), 0.37f, out.span()).ok());
      check_close(out.cspan(), want, 0, 0, "scale");

      const auto got = llmk::argmax(a.cspan());
      REQUIRE(got.ok());
      CHECK(*got == llmk::ref::argmax(a.data(), n));
    }
  });
  // Extreme inputs saturate instead of producing NaN.
  std::vector<float> x = {-1e4f, -100.0f, 0.0f, 100.0f, 1e4f}, y(5);
  REQUIRE(llmk::silu(x, y).ok());
  CHECK(y[0] == doctest::Approx(0.0));
  CHECK(y[4] == doctest::Approx(1e4));
  REQUIRE(llmk::gelu(x, y).ok());
  CHECK(y[1] == doctest::Approx(0.0));
  CHECK(y[3] == doctest::Approx(100.0));
  // argmax returns the first of equal maxima.
  std::vector<float> ties = {1, 5, 2, 5, 5};
  CHECK(*llmk::argmax(ties) == 1);
  CHECK(!llmk::argmax({}).ok());
}

TEST_CASE("rope matches the reference, is the identity at 0 and keeps pair norms") {
  for_each_target([](const std::string&) {
    for (auto layout : {llmk::RopeLayout::kAdjacentPairs, llmk::RopeLayout::kSplitHalves}) {
      for (size_t head_dim : {2u, 6u, 8u, 32u, 48u, 64u, 128u}) {
        for (size_t pos : {0u, 1u, 7u, 511u, 4095u}) {
          const size_t n = head_dim * 3;
          UnalignedFloats x(n, 1);
          fill_uniform(x.span(), head_dim + pos);
          std::vector<float> orig(x.cspan().begin(), x.cspan().end());
          std::vector<float> want = orig;
          llmk::ref::rope(want.data(), n, head_dim, pos, 10000.0f, layout);
          REQUIRE(llmk::rope(x.span(), head_dim, pos, 10000.0f, layout).ok());
          // Angles in float (as llama2.c computes them) vs double: at
          // pos·freq ≈ 4096 rad the float angle is off by up to 2.4e-4 rad.
          check_close(x.cspan(), want, 0, 1e-6f + 1e-7f * pos, "rope");
          const size_t half = head_dim / 2;
          for (size_t h = 0; h < n; h += head_dim) {
            for (size_t i = 0; i < half; ++i) {
              const size_t ia = layout == llmk::RopeLayout::kAdjacentPairs ? h + 2 * i : h + i;
              const size_t ib = layout == llmk::RopeLayout::kAdjacentPairs ? ia + 1 : ia + half;
              const float before = std::hypot(orig[ia], orig[ib]);
              const float after = std::hypot(x[ia], x[ib]);
              REQUIRE(after == doctest::Approx(before).epsilon(1e-5));
              if (pos == 0) {
                REQUIRE(x[ia] == orig[ia]);
                REQUIRE(x[ib] == orig[ib]);
              }
            }
          }
        }
      }
    }
  });
  std::vector<float> x(10);
  CHECK(llmk::rope(x, 3, 1, 1e4f, llmk::RopeLayout::kAdjacentPairs).code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(llmk::rope(x, 4, 1, 1e4f, llmk::RopeLayout::kAdjacentPairs).code() ==
        absl::StatusCode::kInvalidArgument);
}

// ---------------------------------------------------------------------------
// Internal kernels the forward pass uses (lib/ops/kernels.h).

#include "ops/kernels.h"

TEST_CASE("attend_head matches scores, softmax and the weighted sum of values") {
  for_each_target([](const std::string&) {
    for (size_t head_dim : {4u, 16u, 48u, 64u}) {
      for (size_t len : {1u, 2u, 7u, 33u, 100u}) {
        const size_t stride = head_dim * 3 + 5;  // keys of one head inside wider rows
        UnalignedFloats q(head_dim, 1), keys(len * stride, 2), values(len * stride, 3);
        fill_uniform(q.span(), head_dim + len);
        fill_uniform(keys.span(), 2 * len + 1);
        fill_uniform(values.span(), 3 * len + 2);
        const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
        std::vector<float> want_scores(len), want(head_dim, 0.0f);
        for (size_t t = 0; t < len; ++t) {
          want_scores[t] = llmk::ref::dot(q.data(), keys.data() + t * stride, head_dim) * scale;
        }
        llmk::ref::softmax(want_scores.data(), len, want_scores.data());
        for (size_t t = 0; t < len; ++t) {
          for (size_t i = 0; i < head_dim; ++i) want[i] += want_scores[t] * values[t * stride + i];
        }
        std::vector<float> scores(len), out(head_dim, -7.0f);
        llmk::kernels::f32().attend_head(q.data(), keys.data(), values.data(), stride, len,
                                         head_dim, scale, scores.data(), out.data());
        check_close(scores, want_scores, 1e-4f, 1e-6f, "attend_head scores");
        check_close(out, want, 1e-4f, 1e-5f, "attend_head out");
      }
    }
  });
}
