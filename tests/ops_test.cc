// Every f32 kernel against its scalar reference, under every Highway target
// this CPU supports, on odd lengths and misaligned pointers.
#include <algorithm>
#include <cfloat>
#include <cstring>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
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

// Error bounds, from the standard rounding-error analysis (Higham, "Accuracy
// and Stability of Numerical Algorithms", §3.1 and §4.2): with u = 2⁻²⁴ (half
// of FLT_EPSILON, round to nearest), a float sum in which no term passes
// through more than h roundings is within γ_h·Σ|terms| of the exact sum,
// γ_h = h·u / (1 − h·u) (rounding_gamma). Each kernel's h follows from its accumulation
// order (sum_depth). The references sum in double, so they differ from the
// exact result by their final rounding to float, u·|result|, plus n·2⁻⁵³ of
// Σ|terms| from the double sum itself.
constexpr double kRoundoff = FLT_EPSILON / 2;
constexpr double kDoubleRoundoff = DBL_EPSILON / 2;

double rounding_gamma(size_t roundings) {
  const double hu = static_cast<double>(roundings) * kRoundoff;
  return hu / (1 - hu);
}

// Float lanes of the target that dispatch runs now (force_target follows
// it); the SCALAR target reports one byte.
size_t float_lanes() { return std::max<size_t>(1, llmk::current_vector_bytes() / sizeof(float)); }

// The fixed tolerances these tests used before the bounds above: on narrow
// targets, long plain sums (a SCALAR rms_norm of 4097 squares: 2052
// roundings) have a worst case above them, but their actual error grows like
// √h (unbiased roundings), so the fixed tolerance stays as a cap and no
// bound is looser than it was.
double capped(double bound, double want, double old_rel, double old_abs) {
  return std::min(bound, old_rel * std::fabs(want) + old_abs);
}
std::vector<double> capped(std::vector<double> bounds, std::span<const float> want,
                           double old_rel, double old_abs) {
  for (size_t i = 0; i < bounds.size(); ++i) bounds[i] = capped(bounds[i], want[i], old_rel, old_abs);
  return bounds;
}

// Most roundings on any term's path through a SIMD sum of n terms kept in
// `accumulators` vectors of `lanes` lanes: one for the product (none with FMA,
// but the SSE targets multiply, then add); at most ⌈n/(a·N)⌉ + a − 1 steps in
// its lane of its accumulator (whole groups of a vectors round-robin, then
// at most a − 1 more vectors, single ones or the masked tail, into any one);
// ⌈log2 a⌉ levels merging the accumulators pairwise; and N − 1 adds across
// the lanes, the bound for any order ReduceSum may use (a shuffle tree takes
// log2 N, the emulated 128-bit target adds lane by lane).
size_t sum_depth(size_t n, size_t lanes, size_t accumulators, bool products = true) {
  const size_t per_group = lanes * accumulators;
  size_t merge_levels = 0;
  while ((size_t{1} << merge_levels) < accumulators) ++merge_levels;
  return (products ? 1 : 0) + (n + per_group - 1) / per_group + accumulators - 1 +
         merge_levels + lanes - 1;
}

// Accumulator vectors per kernel (lib/ops/*-inl.h): dot-inl.h's DotInline
// keeps four, SumOfSquares (rms_norm) two, matvec's and matmul's tiles and
// the other sums one per row.
constexpr size_t kDotAccumulators = 4;
constexpr size_t kSumOfSquaresAccumulators = 2;

// |kernel − reference| for a sum of n products whose Σ|a_i·b_i| is abs_sum.
double dot_bound(size_t n, size_t accumulators, double abs_sum) {
  return (rounding_gamma(sum_depth(n, float_lanes(), accumulators)) + kRoundoff +
          static_cast<double>(n) * kDoubleRoundoff) * abs_sum;
}

// matmul: the tiles' bound (one accumulator per output), or the packed
// product's, a single FMA chain over the row in element order (depth n,
// one rounding a step), whichever is larger: the batch size and target
// decide which of the two runs.
double matmul_bound(size_t n, double abs_sum) {
  const double chain = (rounding_gamma(n) + kRoundoff + static_cast<double>(n) * kDoubleRoundoff) *
                       abs_sum;
  return std::max(dot_bound(n, 1, abs_sum), chain);
}

// Activations: transcendentals (exp/tanh from hwy/contrib/math) are within a
// few ULP: 1e-5 relative + 1e-6 absolute.
constexpr float kElementRel = 1e-5f;
constexpr float kElementAbs = 1e-6f;

double abs_dot(const float* a, const float* b, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; ++i) s += std::fabs(static_cast<double>(a[i]) * b[i]);
  return s;
}

// Relative error of rms_norm's outputs: the sum of squares (positive terms,
// so γ_h relative) loses half of its relative error through the square root;
// /n, +eps, sqrt, 1/s and the two output multiplies add one rounding each,
// the reference's final rounding one more, and one u covers the second-order
// terms (below h²u², under 1e-9 here).
double rms_norm_rel_bound(size_t n) {
  return rounding_gamma(sum_depth(n, float_lanes(), kSumOfSquaresAccumulators)) / 2 + 8 * kRoundoff;
}

// Per-element bound for layer_norm, from the exact (double) mean, variance
// and inverse deviation of x. The kernel's mean is off by
// δ = γ_h1·Σ|x|/n + u·|mean| (a plain sum, then /n); each centred value by δ
// plus its own rounding; the variance, a sum of squares of the centred
// values, by γ_h2 + 3u relative (the centred values' and /n's roundings) plus
// the second-order n·δ²/Σc²; the inverse deviation, through +eps, sqrt and
// 1/s, by half of that plus 3u. Then (x − mean)·inv, ·weight and +bias round
// once each, and the reference once. Factors 1.001 cover second-order terms.
std::vector<double> layer_norm_bounds(const float* x, const float* w, const float* b, size_t n,
                                      float eps) {
  const size_t lanes = float_lanes();
  double mean = 0, abs_sum = 0;
  for (size_t i = 0; i < n; ++i) {
    mean += x[i];
    abs_sum += std::fabs(static_cast<double>(x[i]));
  }
  mean /= static_cast<double>(n);
  double centred_sq = 0;
  for (size_t i = 0; i < n; ++i) centred_sq += (x[i] - mean) * (x[i] - mean);
  const double inv = 1 / std::sqrt(centred_sq / static_cast<double>(n) + eps);
  const double mean_err = (rounding_gamma(sum_depth(n, lanes, 1, false)) * abs_sum / static_cast<double>(n) +
                           kRoundoff * std::fabs(mean)) * 1.001;
  const double var_rel = rounding_gamma(sum_depth(n, lanes, 1)) + 3 * kRoundoff +
                         (centred_sq > 0 ? static_cast<double>(n) * mean_err * mean_err / centred_sq
                                         : 0.0);
  const double inv_rel = var_rel / 2 + 3 * kRoundoff;
  std::vector<double> bounds(n);
  for (size_t i = 0; i < n; ++i) {
    const double c = x[i] - mean;
    const double out = c * inv * w[i] + b[i];
    bounds[i] = (std::fabs(w[i]) * inv * (std::fabs(c) * (inv_rel + 3 * kRoundoff) + mean_err) +
                 2 * kRoundoff * std::fabs(out)) * 1.001;
  }
  return bounds;
}

// Per-element relative bound for softmax over x (plus FLT_MIN absolute for
// outputs below the normal range, where the relative error is unbounded).
// Each exponent x_i − max rounds once (u·|x_i − max| relative in e^…), Exp
// is within 1 ULP (2u), the sum of the e_i (positive, a plain sum) adds γ_h
// relative to the e_i-weighted mean of those errors, then 1/sum, the
// multiply and the reference's rounding u each.
std::vector<double> softmax_rel_bounds(const float* x, size_t n) {
  float max = x[0];
  for (size_t i = 1; i < n; ++i) max = std::fmax(max, x[i]);
  std::vector<double> exp_rel(n);
  double sum = 0, weighted = 0;
  for (size_t i = 0; i < n; ++i) {
    const double d = static_cast<double>(x[i]) - max;
    const double e = std::exp(d);
    exp_rel[i] = kRoundoff * std::fabs(d) + 2 * kRoundoff;
    sum += e;
    weighted += e * exp_rel[i];
  }
  const double sum_rel = weighted / sum + rounding_gamma(sum_depth(n, float_lanes(), 1, false));
  for (double& r : exp_rel) r = (r + sum_rel + 3 * kRoundoff) * 1.001;
  return exp_rel;
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

// |got[i] − want[i]| ≤ bound[i] for every i.
void check_within(std::span<const float> got, std::span<const float> want,
                  std::span<const double> bound, const char* what) {
  REQUIRE(got.size() == want.size());
  REQUIRE(got.size() == bound.size());
  for (size_t i = 0; i < got.size(); ++i) {
    if (!(std::fabs(static_cast<double>(got[i]) - want[i]) <= bound[i])) {
      FAIL_CHECK(std::string(what) << "[" << i << "] = " << got[i] << ", reference " << want[i] << ", bound "
                      << bound[i]);
      return;
    }
  }
}

// bound[i] = rel·|want[i]|.
std::vector<double> relative_bounds(std::span<const float> want, double rel) {
  std::vector<double> bounds(want.size());
  for (size_t i = 0; i < want.size(); ++i) bounds[i] = rel * std::fabs(want[i]);
  return bounds;
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
        const double bound = dot_bound(n, kDotAccumulators, abs_dot(a.data(), b.data(), n));
        CHECK_MESSAGE(std::fabs(static_cast<double>(*got) - want) <= bound, "n=" << n << " got " << *got << " want " << want);
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
          const double bound = dot_bound(cols, 1, abs_dot(w.data() + r * cols, x.data(), cols));
          REQUIRE_MESSAGE(std::fabs(static_cast<double>(y[r]) - want[r]) <= bound,
                          rows << "x" << cols << " row " << r << ": " << y[r] << " vs " << want[r]);
        }
      }
      // matmul over a batch of 1, 3, 4 and 6 vectors (tiles of 4 and single
      // vectors) and of 16, 37 and 70 (the packed product on AVX2 and
      // AVX-512 targets: whole and partial panels of 16 resp. 32 vectors).
      for (size_t batch : {1u, 3u, 4u, 6u, 16u, 37u, 70u}) {
        if (batch > 6 && rows * cols > 400000) continue;  // the reference's time
        UnalignedFloats xb(batch * cols, 2);
        fill_uniform(xb.span(), batch + cols);
        std::vector<float> yb(batch * rows, -1.0f);
        REQUIRE(llmk::matmul(w.cspan(), rows, cols, xb.cspan(), batch, yb, &pool).ok());
        for (size_t b = 0; b < batch; ++b) {
          for (size_t r = 0; r < rows; ++r) {
            const float* xr = xb.data() + b * cols;
            const float want_br = llmk::ref::dot(w.data() + r * cols, xr, cols);
            const double bound = matmul_bound(cols, abs_dot(w.data() + r * cols, xr, cols));
            REQUIRE_MESSAGE(std::fabs(static_cast<double>(yb[b * rows + r]) - want_br) <= bound,
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
      const auto rms_bounds = capped(relative_bounds(want, rms_norm_rel_bound(n)), want, 1e-5, 1e-6);
      REQUIRE(llmk::rms_norm(x.cspan(), w.cspan(), 1e-5f, out.span()).ok());
      check_within(out.cspan(), want, rms_bounds, "rms_norm");
      std::vector<float> inplace(x.cspan().begin(), x.cspan().end());
      REQUIRE(llmk::rms_norm(inplace, w.cspan(), 1e-5f, inplace).ok());
      check_within(inplace, want, rms_bounds, "rms_norm in place");

      llmk::ref::layer_norm(x.data(), w.data(), b.data(), 1e-5f, n, want.data());
      const auto ln_bounds =
          capped(layer_norm_bounds(x.data(), w.data(), b.data(), n, 1e-5f), want, 1e-4, 1e-5);
      REQUIRE(llmk::layer_norm(x.cspan(), w.cspan(), b.cspan(), 1e-5f, out.span()).ok());
      check_within(out.cspan(), want, ln_bounds, "layer_norm");
      inplace.assign(x.cspan().begin(), x.cspan().end());
      REQUIRE(llmk::layer_norm(inplace, w.cspan(), b.cspan(), 1e-5f, inplace).ok());
      check_within(inplace, want, ln_bounds, "layer_norm in place");
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
        const auto rel = softmax_rel_bounds(x.data(), n);
        std::vector<double> bounds(n);
        double sum = 0, sum_bound = 0;
        for (size_t i = 0; i < n; ++i) {
          bounds[i] = capped(rel[i] * std::fabs(want[i]) + FLT_MIN, want[i], 1e-5, 1e-7);
          REQUIRE(std::isfinite(out[i]));
          sum += out[i];
          sum_bound += bounds[i];
        }
        check_within(out.cspan(), want, bounds, "softmax");
        // The outputs' own errors, the references' roundings to float
        // (u each) and the double sum's (n·2⁻⁵³).
        CHECK(std::fabs(sum - 1.0) <=
              std::min(sum_bound + (kRoundoff + n * kDoubleRoundoff) * 1.001, 2e-5));
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
          // Angles in float, as ggml computes them (pos times step^i, one
          // rounding per multiply, step = base^(−2/d) itself rounded), vs
          // double: pair i's angle pos·step^i is off by up to 2i + 1
          // roundings of 2⁻²⁴ relative, and i·step^i peaks at
          // d / (2e·ln base). A rotated value moves by at most
          // (|x0| + |x1|) ≤ 2 times its angle's error.
          const double peak = head_dim / (2 * std::exp(1.0) * std::log(10000.0));
          const double angle_error = pos * 0x1p-24 * (1 + 2 * peak);
          check_close(x.cspan(), want, 0, static_cast<float>(1e-6 + 2 * angle_error), "rope");
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
#include "quant/fp16.h"  // the exact scalar binary16 conversion

TEST_CASE("f32_to_f16 gives the software conversion's bits on every target that has one") {
  // Ties at each rounding position, halves' extremes, subnormals, the
  // overflow boundary, infinities, NaNs with payloads, and random bits.
  std::vector<uint32_t> bits = {0x00000000u, 0x80000000u, 0x3F800000u, 0x3F801000u, 0x3F803000u,
                                0x3F802000u, 0x477FE000u, 0x477FEFFFu, 0x477FF000u, 0x7F800000u,
                                0xFF800000u, 0x7FC00000u, 0x7F801234u, 0xFFC0ABCDu, 0x38800000u,
                                0x387FFFFFu, 0x33800000u, 0x33000000u, 0x33000001u, 0x337FFFFFu,
                                0x00000001u, 0x007FFFFFu, 0x38FFE000u, 0x38001000u};
  std::mt19937 rng(7);
  for (int i = 0; i < 4000; ++i) bits.push_back(static_cast<uint32_t>(rng()));
  std::vector<float> x(bits.size() + 1);
  for (size_t i = 0; i < bits.size(); ++i) std::memcpy(&x[i + 1], &bits[i], 4);
  size_t converters = 0;
  for_each_target([&](const std::string&) {
    const auto convert = llmk::kernels::f32().f32_to_f16;
    if (convert == nullptr) return;
    ++converters;
    for (size_t n : {bits.size(), size_t{1}, size_t{7}, size_t{17}, size_t{33}}) {
      std::vector<uint16_t> out(n + 2, 0xBEEF);
      convert(x.data() + 1, n, out.data() + 1);  // unaligned in and out
      CHECK(out[0] == 0xBEEF);
      CHECK(out[n + 1] == 0xBEEF);
      for (size_t i = 0; i < n; ++i) {
        REQUIRE_MESSAGE(out[i + 1] == llmk::internal::float_to_half(x[i + 1]),
                        "bits 0x" << std::hex << bits[i]);
      }
    }
  });
#if defined(__x86_64__)
  CHECK(converters > 0);  // AVX2 and AVX-512 targets convert with F16C
#endif
}

namespace {

// An F16 cache's rows: x rounded to binary16 bits, stored from element 1 of
// the returned vector (so no row is vector-aligned), and the same halves
// widened back to f32 in `widened` (exact: every half is an f32).
std::vector<uint16_t> to_halves(std::span<const float> x, std::span<float> widened) {
  std::vector<uint16_t> h(x.size() + 1, 0xFFFF);
  for (size_t i = 0; i < x.size(); ++i) {
    h[i + 1] = llmk::internal::float_to_half(x[i]);
    widened[i] = llmk::internal::half_to_float(h[i + 1]);
  }
  return h;
}

}  // namespace

// One head for one query against its exact (double) scores, probabilities
// and output. Each score's error Δ_t (its dot product, summed `score_depth`
// roundings deep, then ·scale) moves every probability by at most 2·max Δ
// relative (softmax is shift-invariant), on top of softmax's own error; the
// output is one fused multiply-add chain over t per element (γ_{len+1} of
// Σ p_t·|v_t|). scores: the probabilities the kernel left, or null.
void check_head(const float* q, const float* keys, const float* values, size_t stride,
                size_t len, size_t head_dim, size_t score_depth, const float* scores,
                const float* out) {
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  std::vector<double> exact_scores(len), p(len);
  std::vector<float> rounded_scores(len);
  double max_score_err = 0;
  for (size_t t = 0; t < len; ++t) {
    const float* k = keys + t * stride;
    double sum = 0;
    for (size_t i = 0; i < head_dim; ++i) sum += static_cast<double>(q[i]) * k[i];
    exact_scores[t] = sum * scale;
    rounded_scores[t] = static_cast<float>(exact_scores[t]);
    const double err = scale * rounding_gamma(score_depth) * abs_dot(q, k, head_dim) +
                       kRoundoff * std::fabs(exact_scores[t]);
    max_score_err = std::max(max_score_err, err * 1.001);
  }
  const double max_exact = *std::max_element(exact_scores.begin(), exact_scores.end());
  double p_sum = 0;
  for (size_t t = 0; t < len; ++t) p_sum += p[t] = std::exp(exact_scores[t] - max_exact);
  for (double& pt : p) pt /= p_sum;
  std::vector<double> p_rel = softmax_rel_bounds(rounded_scores.data(), len);
  for (double& r : p_rel) r += 2 * max_score_err * 1.001;
  for (size_t t = 0; scores != nullptr && t < len; ++t) {
    REQUIRE_MESSAGE(std::fabs(scores[t] - p[t]) <= capped(p[t] * p_rel[t] + FLT_MIN, p[t], 1e-4, 1e-6),
                    "score " << t << " = " << scores[t] << ", exact " << p[t]);
  }
  const double chain = rounding_gamma(len + 1);
  for (size_t i = 0; i < head_dim; ++i) {
    double want = 0, bound = 0;
    for (size_t t = 0; t < len; ++t) {
      const double v = values[t * stride + i];
      want += p[t] * v;
      bound += std::fabs(v) * (p[t] * (p_rel[t] + chain * (1 + p_rel[t])) + FLT_MIN);
    }
    REQUIRE_MESSAGE(std::fabs(out[i] - want) <= capped(bound * 1.001, want, 1e-4, 1e-5),
                    "out[" << i << "] = " << out[i] << ", exact " << want);
  }
}

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
        std::vector<float> scores(len), out(head_dim, -7.0f);
        llmk::kernels::f32().attend_head(q.data(), keys.data(), values.data(), stride, len,
                                         head_dim, scale, scores.data(), out.data());
        INFO("head_dim " << head_dim << " len " << len);
        check_head(q.data(), keys.data(), values.data(), stride, len, head_dim,
                   sum_depth(head_dim, float_lanes(), kDotAccumulators), scores.data(),
                   out.data());
      }
    }
  });
}

// A prompt's attention as products (attend_queries): each query's output
// within the same bounds, its scores a single FMA chain over the head
// (depth head_dim + 1); over an F16 cache, the f32 kernel's result on the
// widened rows bit for bit; and a prompt split in two gives the same bits
// as in one piece, which fails if a tile stops short of the keys a query sees
// or reads past them.
TEST_CASE("attend_queries: each query's head within bounds, F16 rows bit for bit, split prompts alike") {
  size_t ran = 0;
  for_each_target([&](const std::string&) {
    const auto& k = llmk::kernels::f32();
    if (k.attend_queries == nullptr) return;
    ++ran;
    for (size_t head_dim : {20u, 48u, 64u, 80u}) {
      for (size_t first_pos : {0u, 5u}) {
        for (size_t n : {16u, 37u, 70u}) {
          const size_t len = first_pos + n;
          const size_t stride = head_dim * 3 + 5, q_stride = head_dim * 2 + 3;
          UnalignedFloats q(n * q_stride, 1), keys(len * stride, 2), values(len * stride, 3);
          fill_uniform(q.span(), head_dim + n);
          fill_uniform(keys.span(), 2 * len + 1);
          fill_uniform(values.span(), 3 * len + 2);
          const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
          const size_t out_stride = head_dim + 7;
          std::vector<float> out(n * out_stride, -7.0f);
          REQUIRE(k.attend_queries(q.data(), q_stride, n, first_pos, keys.data(), values.data(),
                                   stride, head_dim, scale, out.data(), out_stride));
          for (size_t i = 0; i < n; ++i) {
            INFO("head_dim " << head_dim << " first_pos " << first_pos << " n " << n << " query " << i);
            check_head(q.data() + i * q_stride, keys.data(), values.data(), stride,
                       first_pos + i + 1, head_dim, head_dim + 1, nullptr,
                       out.data() + i * out_stride);
            for (size_t j = head_dim; j < out_stride; ++j) REQUIRE(out[i * out_stride + j] == -7.0f);
          }
          // The last 16 queries alone, after the others' keys.
          const size_t tail = 16, skip = n - tail;
          std::vector<float> part(tail * out_stride, -7.0f);
          REQUIRE(k.attend_queries(q.data() + skip * q_stride, q_stride, tail, first_pos + skip,
                                   keys.data(), values.data(), stride, head_dim, scale,
                                   part.data(), out_stride));
          for (size_t i = 0; i < tail * out_stride; ++i) {
            REQUIRE(part[i] == out[skip * out_stride + i]);
          }
          // F16 rows: the f32 kernel on the widened rows, bit for bit.
          std::vector<float> wide_keys(keys.size()), wide_values(values.size());
          const std::vector<uint16_t> hk = to_halves(keys.span(), wide_keys);
          const std::vector<uint16_t> hv = to_halves(values.span(), wide_values);
          std::vector<float> want(n * out_stride, -7.0f), got(n * out_stride, -7.0f);
          REQUIRE(k.attend_queries(q.data(), q_stride, n, first_pos, wide_keys.data(),
                                   wide_values.data(), stride, head_dim, scale, want.data(),
                                   out_stride));
          REQUIRE(k.attend_queries_f16(q.data(), q_stride, n, first_pos, hk.data() + 1,
                                       hv.data() + 1, stride, head_dim, scale, got.data(),
                                       out_stride));
          REQUIRE(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)) == 0);
        }
      }
    }
  });
#if defined(__x86_64__)
  CHECK(ran > 0);  // AVX2 and AVX-512 targets have the products
#endif
}


TEST_CASE("attend_head equals dot, softmax and add_scaled in turn, bit for bit") {
  // ops/kernels.h promises the single kernel the bits of the three steps;
  // its scores come two keys at a time (DotInline2), so odd and even
  // lengths both matter.
  for_each_target([](const std::string&) {
    for (size_t head_dim : {5u, 16u, 64u, 72u}) {
      for (size_t len : {1u, 2u, 3u, 8u, 33u}) {
        INFO("head_dim " << head_dim << ", len " << len);
        const size_t stride = head_dim + 3;
        UnalignedFloats q(head_dim, 1), keys(len * stride, 2), values(len * stride, 3);
        fill_uniform(q.span(), head_dim * 7 + len);
        fill_uniform(keys.span(), 5 * len + 1);
        fill_uniform(values.span(), 11 * len + 2);
        const float scale = 0.125f;
        const auto& k = llmk::kernels::f32();
        std::vector<float> want_scores(len), want_out(head_dim, 0.0f);
        for (size_t t = 0; t < len; ++t) {
          want_scores[t] = k.dot(q.data(), keys.data() + t * stride, head_dim) * scale;
        }
        k.softmax(want_scores.data(), len, want_scores.data());
        for (size_t t = 0; t < len; ++t) {
          k.add_scaled(values.data() + t * stride, want_scores[t], head_dim, want_out.data());
        }
        std::vector<float> scores(len), out(head_dim, -7.0f);
        k.attend_head(q.data(), keys.data(), values.data(), stride, len, head_dim, scale,
                      scores.data(), out.data());
        CHECK(std::memcmp(scores.data(), want_scores.data(), len * sizeof(float)) == 0);
        CHECK(std::memcmp(out.data(), want_out.data(), head_dim * sizeof(float)) == 0);
      }
    }
  });
}

TEST_CASE("attend_head_f16 equals attend_head on the rows widened to f32, bit for bit") {
  // The F16 kernel is the F32 one with each loaded vector widened, so any
  // difference, even one ulp, is a change of order (or a wrong widening).
  for_each_target([](const std::string&) {
    for (size_t head_dim : {1u, 3u, 4u, 16u, 17u, 48u, 64u, 65u, 80u, 128u}) {
      for (size_t len : {1u, 2u, 7u, 33u, 100u}) {
        INFO("head_dim = " << head_dim << ", len = " << len);
        const size_t stride = head_dim * 3 + 5;  // odd: rows at every alignment
        UnalignedFloats q(head_dim, 1), keys(len * stride, 2), values(len * stride, 3);
        fill_uniform(q.span(), static_cast<uint32_t>(head_dim + len));
        fill_uniform(keys.span(), static_cast<uint32_t>(2 * len + 1), -4.0f, 4.0f);
        fill_uniform(values.span(), static_cast<uint32_t>(3 * len + 2), -4.0f, 4.0f);
        // Zeros, subnormal halves (below 2⁻¹⁴) and the largest finite half.
        const float specials[] = {0.0f, -0.0f, 3e-7f, -5e-6f, 6e-5f, 65504.0f, -1000.5f};
        for (size_t i = 0; i < std::size(specials); ++i) {
          keys[(i * 37) % keys.size()] = specials[i];
          values[(i * 41) % values.size()] = specials[i];
        }
        UnalignedFloats wide_keys(len * stride, 1), wide_values(len * stride, 2);
        const std::vector<uint16_t> hk = to_halves(keys.cspan(), wide_keys.span());
        const std::vector<uint16_t> hv = to_halves(values.cspan(), wide_values.span());
        const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
        std::vector<float> scores(len), out(head_dim, -7.0f);
        std::vector<float> scores16(len), out16(head_dim, -7.0f);
        llmk::kernels::f32().attend_head(q.data(), wide_keys.data(), wide_values.data(), stride,
                                         len, head_dim, scale, scores.data(), out.data());
        llmk::kernels::f32().attend_head_f16(q.data(), hk.data() + 1, hv.data() + 1, stride, len,
                                             head_dim, scale, scores16.data(), out16.data());
        for (size_t t = 0; t < len; ++t) {
          REQUIRE_MESSAGE(llmk::internal::float_bits(scores16[t]) ==
                              llmk::internal::float_bits(scores[t]),
                          "score " << t << ": " << scores16[t] << " vs " << scores[t]);
        }
        for (size_t i = 0; i < head_dim; ++i) {
          REQUIRE_MESSAGE(llmk::internal::float_bits(out16[i]) ==
                              llmk::internal::float_bits(out[i]),
                          "out[" << i << "]: " << out16[i] << " vs " << out[i]);
        }
      }
    }
  });
}

// ---------------------------------------------------------------------------
// Tails: inputs whose last element (last row, last key) carries everything,
// so a kernel that skips its masked tail, its last vector or its last row
// gives a wrong answer rather than a small error. Results here are exact:
// every other product is zero, and adding zeros does not round.

namespace {

// 1…70 covers every tail of 1, 2 and 4 vectors of up to 16 lanes; the
// longer ones end in the 4-vector main loops after several iterations.
std::vector<size_t> tail_lengths() {
  std::vector<size_t> lengths;
  for (size_t n = 1; n <= 70; ++n) lengths.push_back(n);
  for (size_t n : {127u, 128u, 129u, 255u, 256u, 257u, 4096u, 4097u}) lengths.push_back(n);
  return lengths;
}

}  // namespace

TEST_CASE("tails: dot and matvec see the last element and the last row") {
  llmk::ThreadPool pool(2);
  for_each_target([&](const std::string&) {
    for (size_t n : tail_lengths()) {
      for (size_t offset : {0u, 1u, 3u}) {
        INFO("n = " << n << ", offset = " << offset);
        UnalignedFloats a(n, offset), b(n, offset + 1);
        fill_uniform(a.span(), 5 + n, 0.5f, 1.0f);
        fill_uniform(b.span(), 6 + n, 0.5f, 1.0f);
        for (size_t i = 0; i + 1 < n; ++i) a[i] = 0.0f;
        const auto got = llmk::dot(a.cspan(), b.cspan());
        REQUIRE(got.ok());
        REQUIRE(*got == a[n - 1] * b[n - 1]);
      }
    }
    // x zero but for its last element: every row's result is that product.
    // Rows around the 8-, 4- and 1-row tiles; the last two shapes are over
    // the streaming threshold (short-row bursts, long-row prefetch).
    std::vector<std::pair<size_t, size_t>> shapes;
    for (size_t rows : {1u, 3u, 4u, 5u, 8u, 9u, 12u, 13u, 17u}) {
      for (size_t cols : tail_lengths()) {
        if (cols <= 257) shapes.push_back({rows, cols});
      }
    }
    shapes.push_back({4001, 300});
    shapes.push_back({301, 4099});
    for (auto [rows, cols] : shapes) {
      INFO(rows << "×" << cols);
      UnalignedFloats w(rows * cols, 1), x(cols, 3);
      fill_uniform(w.span(), static_cast<uint32_t>(rows + cols), 0.5f, 1.0f);
      fill_uniform(x.span(), static_cast<uint32_t>(cols), 0.5f, 1.0f);
      std::vector<float> x_last(cols, 0.0f);
      x_last[cols - 1] = x[cols - 1];
      for (llmk::ThreadPool* p : {static_cast<llmk::ThreadPool*>(nullptr), &pool}) {
        std::vector<float> y(rows, -1.0f);
        REQUIRE(llmk::matvec(w.cspan(), rows, cols, x_last, y, p).ok());
        for (size_t r = 0; r < rows; ++r) REQUIRE(y[r] == w[r * cols + cols - 1] * x[cols - 1]);
      }
      // W zero but for its last row: that row's dot product, zeros elsewhere.
      std::vector<float> w_last(rows * cols, 0.0f);
      std::copy(w.data() + (rows - 1) * cols, w.data() + rows * cols,
                w_last.begin() + static_cast<ptrdiff_t>((rows - 1) * cols));
      const double want = llmk::ref::dot(w.data() + (rows - 1) * cols, x.data(), cols);
      const double bound = dot_bound(cols, 1, abs_dot(w.data() + (rows - 1) * cols, x.data(), cols));
      std::vector<float> y(rows, -1.0f);
      REQUIRE(llmk::matvec(w_last, rows, cols, x.cspan(), y, &pool).ok());
      for (size_t r = 0; r + 1 < rows; ++r) REQUIRE(y[r] == 0.0f);
      REQUIRE(std::fabs(y[rows - 1] - want) <= bound);
      // matmul: only the last vector of a batch of 5 (a 4-tile and a single)
      // is non-zero, and only in its last element.
      if (cols <= 257) {
        for (size_t batch : {5u, 37u}) {  // a 4-tile and a single; a partial packed panel
        std::vector<float> xb(batch * cols, 0.0f), yb(batch * rows, -1.0f);
        xb[batch * cols - 1] = x[cols - 1];
        REQUIRE(llmk::matmul(w.cspan(), rows, cols, xb, batch, yb, &pool).ok());
        for (size_t i = 0; i < (batch - 1) * rows; ++i) REQUIRE(yb[i] == 0.0f);
        for (size_t r = 0; r < rows; ++r) {
          REQUIRE(yb[(batch - 1) * rows + r] == w[r * cols + cols - 1] * x[cols - 1]);
        }
        }
      }
    }
  });
}

TEST_CASE("tails: norms and softmax see, and write, the last element") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for_each_target([&](const std::string&) {
    for (size_t n : tail_lengths()) {
      for (size_t offset : {0u, 1u, 3u}) {
        INFO("n = " << n << ", offset = " << offset);
        UnalignedFloats x(n, offset), w(n, offset + 1), b(n, offset + 2), out(n, offset);
        std::fill(x.span().begin(), x.span().end(), 0.0f);
        x[n - 1] = 3.0f;
        fill_uniform(w.span(), 7 + n, 0.5f, 1.0f);
        fill_uniform(b.span(), 8 + n, 0.5f, 1.0f);
        std::vector<float> want(n);

        // Outputs start as NaN so an unwritten tail shows.
        std::fill(out.span().begin(), out.span().end(), nan);
        llmk::ref::rms_norm(x.data(), w.data(), 1e-5f, n, want.data());
        REQUIRE(llmk::rms_norm(x.cspan(), w.cspan(), 1e-5f, out.span()).ok());
        check_within(out.cspan(), want,
                     capped(relative_bounds(want, rms_norm_rel_bound(n)), want, 1e-5, 1e-6), "rms_norm");

        std::fill(out.span().begin(), out.span().end(), nan);
        llmk::ref::layer_norm(x.data(), w.data(), b.data(), 1e-5f, n, want.data());
        REQUIRE(llmk::layer_norm(x.cspan(), w.cspan(), b.cspan(), 1e-5f, out.span()).ok());
        check_within(out.cspan(), want,
                     capped(layer_norm_bounds(x.data(), w.data(), b.data(), n, 1e-5f), want, 1e-4, 1e-5),
                     "layer_norm");

        // The last logit is 200 above the rest: e^−200 is 0 in float, so the
        // result is exactly one-hot; a maximum that missed it overflows exp.
        x[n - 1] = 200.0f;
        std::fill(out.span().begin(), out.span().end(), nan);
        REQUIRE(llmk::softmax(x.cspan(), out.span()).ok());
        for (size_t i = 0; i + 1 < n; ++i) REQUIRE(out[i] == 0.0f);
        REQUIRE(out[n - 1] == 1.0f);

        // argmax of a unique maximum in the last place.
        x[n - 1] = 1.0f;
        REQUIRE(*llmk::argmax(x.cspan()) == n - 1);
      }
    }
  });
}

TEST_CASE("tails: attend_head(_f16) sees the last key, the last element of q and writes out's tail") {
  for_each_target([](const std::string&) {
    for (size_t head_dim : {1u, 2u, 3u, 5u, 8u, 15u, 16u, 17u, 31u, 33u, 48u, 63u, 64u, 65u, 70u}) {
      for (size_t len : {1u, 2u, 3u, 5u, 16u, 17u, 33u}) {
        INFO("head_dim = " << head_dim << ", len = " << len);
        const size_t stride = head_dim + 3;
        UnalignedFloats q(head_dim, 1), keys(len * stride, 2), values(len * stride, 3);
        fill_uniform(q.span(), static_cast<uint32_t>(head_dim));
        fill_uniform(keys.span(), static_cast<uint32_t>(len));
        fill_uniform(values.span(), static_cast<uint32_t>(len + head_dim));
        // Only q's last element counts; only the last key's score is large
        // (200 above the others, which are 0), so the probabilities are
        // exactly one-hot and out is exactly the last value row.
        for (size_t i = 0; i + 1 < head_dim; ++i) q[i] = 0.0f;
        q[head_dim - 1] = 1.0f;
        const float scale = 0.25f;
        for (size_t t = 0; t + 1 < len; ++t) keys[t * stride + head_dim - 1] = 0.0f;
        keys[(len - 1) * stride + head_dim - 1] = 800.0f;
        std::vector<float> scores(len, -1.0f), out(head_dim, -7.0f);
        llmk::kernels::f32().attend_head(q.data(), keys.data(), values.data(), stride, len,
                                         head_dim, scale, scores.data(), out.data());
        for (size_t t = 0; t + 1 < len; ++t) REQUIRE(scores[t] == 0.0f);
        REQUIRE(scores[len - 1] == 1.0f);
        for (size_t i = 0; i < head_dim; ++i) REQUIRE(out[i] == values[(len - 1) * stride + i]);
        // The same through F16 rows (800 and 0 are exact halves): out is the
        // last value row as the cache holds it.
        UnalignedFloats wide_keys(len * stride, 1), wide_values(len * stride, 2);
        const std::vector<uint16_t> hk = to_halves(keys.cspan(), wide_keys.span());
        const std::vector<uint16_t> hv = to_halves(values.cspan(), wide_values.span());
        std::fill(scores.begin(), scores.end(), -1.0f);
        std::fill(out.begin(), out.end(), -7.0f);
        llmk::kernels::f32().attend_head_f16(q.data(), hk.data() + 1, hv.data() + 1, stride, len,
                                             head_dim, scale, scores.data(), out.data());
        for (size_t t = 0; t + 1 < len; ++t) REQUIRE(scores[t] == 0.0f);
        REQUIRE(scores[len - 1] == 1.0f);
        for (size_t i = 0; i < head_dim; ++i) {
          REQUIRE(out[i] == wide_values[(len - 1) * stride + i]);
        }
      }
    }
  });
}
