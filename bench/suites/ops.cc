// f32 kernels: the spec's dot (384), matvec (384×384) and layer norm (384),
// plus RMS norm, softmax, RoPE, the 4096×4096 matvec streamed from memory
// and a prompt-sized batch product on 1 and --threads threads, with
// OpenBLAS's sgemv and sgemm beside them when built with it.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "llmk/bench.h"
#include "llmk/ops.h"
#include "llmk/thread_pool.h"
#include "suites/suite_util.h"

#ifdef LLMK_HAVE_OPENBLAS
#include <cblas.h>
#endif

namespace llmk::bench {
namespace {

// Required speedups over the same kernel under Highway's scalar fallback:
// {at 128 bits (SSE4, NEON), added per doubling of the vector width (256-bit
// AVX2 one, 512-bit AVX-512 two)}. The fallback is portable C++ that the
// compiler itself vectorises with the baseline ISA (SSE2 on x86-64, NEON on
// AArch64), so at 128 bits Highway's own code gains little over it; a wider
// vector gains more, but less than twice per doubling in a 384-element call
// whose size checks, horizontal sums and tails do not shrink. Each number
// leaves a margin of at least 1.15 at 128 bits and 1.4 at 256 and 512 below
// the ratios measured on a Sapphire Rapids Xeon (docs/bench-targets.md); a
// kernel that fell back to the portable path gives 1.0 and fails.
struct ScalarSpeedup {
  double at_128_bits, per_doubling;
};
constexpr ScalarSpeedup kDotSpeedup{1.1, 0.6};         // measured 1.3 / 3.1 / 3.4
constexpr ScalarSpeedup kLayerNormSpeedup{2.0, 0.55};  // measured 2.8 / 3.6 / 5.9
constexpr ScalarSpeedup kRmsNormSpeedup{1.5, 0.25};    // measured 2.0 / 2.5 / 4.8

BenchmarkSpec dot_spec(size_t n) {
  BenchmarkSpec s;
  s.name = absl::StrCat("ops/dot/", n);
  s.bytes_per_op = 2.0 * n * sizeof(float);
  s.flops_per_op = 2.0 * n;
  if (n == 384) {
    s.targets = {{"spec", 1000, 0}};  // spec §3 Dot Product: < 1 µs per 384 elements
    s.ratio_targets = {
        scalar_ratio_target(s.name, kDotSpeedup.at_128_bits, kDotSpeedup.per_doubling)};
  }
  s.setup = [n](const BenchmarkConfig&) -> absl::StatusOr<BatchFn> {
    auto a = std::make_shared<FloatBuffer>(n, 1), b = std::make_shared<FloatBuffer>(n, 2);
    return BatchFn([a, b](uint64_t count) -> absl::Status {
      for (uint64_t i = 0; i < count; ++i) {
        const absl::StatusOr<float> d = llmk::dot(a->cspan(), b->cspan());
        if (!d.ok()) [[unlikely]] return d.status();
        do_not_optimize(*d);
      }
      return absl::OkStatus();
    });
  };
  return s;
}

// Inputs of an f32 matvec, shared by ours and OpenBLAS's entries.
struct MatvecData {
  MatvecData(size_t r, size_t c) : rows(r), cols(c), w(r * c, 3), x(c, 4), y(r, 5) {}
  size_t rows, cols;
  FloatBuffer w, x, y;
};

std::string shape(size_t rows, size_t cols) { return absl::StrCat(rows, "x", cols); }
std::string thread_suffix(size_t threads) {
  return threads > 1 ? absl::StrCat("/threads:", threads) : "";
}

void fill_matvec_cost(BenchmarkSpec& s, size_t rows, size_t cols) {
  s.bytes_per_op = (static_cast<double>(rows) * cols + cols + rows) * sizeof(float);
  s.flops_per_op = 2.0 * rows * cols;
}

BenchmarkSpec matvec_spec(size_t rows, size_t cols, size_t threads, double min_speedup) {
  BenchmarkSpec s;
  s.name = absl::StrCat("ops/matvec/", shape(rows, cols), thread_suffix(threads));
  s.threads = threads;
  fill_matvec_cost(s, rows, cols);
  // Spec §4 Matrix-Vector Multiplication: < 500 µs per 384×384 operation.
  if (rows == 384 && cols == 384 && threads == 1) s.targets = {{"spec", 500000, 0}};
#ifdef LLMK_HAVE_OPENBLAS
  s.ratio_targets = {RatioTarget{
      absl::StrCat("openblas/sgemv/", shape(rows, cols), thread_suffix(threads)), min_speedup}};
#else
  (void)min_speedup;
#endif
  s.setup = [rows, cols, threads](const BenchmarkConfig&) -> absl::StatusOr<BatchFn> {
    auto d = std::make_shared<MatvecData>(rows, cols);
    std::shared_ptr<ThreadPool> pool;
    if (threads > 1) pool = std::make_shared<ThreadPool>(threads);
    return BatchFn([d, pool](uint64_t count) -> absl::Status {
      for (uint64_t i = 0; i < count; ++i) {
        const absl::Status st =
            llmk::matvec(d->w.cspan(), d->rows, d->cols, d->x.cspan(), d->y.span(), pool.get());
        if (!st.ok()) [[unlikely]] return st;
        clobber_memory();
      }
      return absl::OkStatus();
    });
  };
  return s;
}

// Inputs of an f32 batch product Y = X·Wᵀ (a prompt's projection), shared
// by ours and OpenBLAS's entries.
struct MatmulData {
  MatmulData(size_t r, size_t c, size_t b)
      : rows(r), cols(c), batch(b), w(r * c, 6), x(b * c, 7), y(b * r, 8) {}
  size_t rows, cols, batch;
  FloatBuffer w, x, y;
};

std::string matmul_shape(size_t rows, size_t cols, size_t batch) {
  return absl::StrCat(rows, "x", cols, "x", batch);
}

void fill_matmul_cost(BenchmarkSpec& s, size_t rows, size_t cols, size_t batch) {
  s.bytes_per_op = (static_cast<double>(rows) * cols + batch * (cols + rows)) * sizeof(float);
  s.flops_per_op = 2.0 * rows * cols * batch;
}

// The compute-bound product prompt processing spends its time in; GFLOP/s
// against the core's FMA peak is the figure to read.
BenchmarkSpec matmul_spec(size_t rows, size_t cols, size_t batch, size_t threads) {
  BenchmarkSpec s;
  s.name = absl::StrCat("ops/matmul/", matmul_shape(rows, cols, batch), thread_suffix(threads));
  s.threads = threads;
  fill_matmul_cost(s, rows, cols, batch);
  s.setup = [rows, cols, batch, threads](const BenchmarkConfig&) -> absl::StatusOr<BatchFn> {
    auto d = std::make_shared<MatmulData>(rows, cols, batch);
    std::shared_ptr<ThreadPool> pool;
    if (threads > 1) pool = std::make_shared<ThreadPool>(threads);
    return BatchFn([d, pool](uint64_t count) -> absl::Status {
      for (uint64_t i = 0; i < count; ++i) {
        const absl::Status st = llmk::matmul(d->w.cspan(), d->rows, d->cols, d->x.cspan(),
                                             d->batch, d->y.span(), pool.get());
        if (!st.ok()) [[unlikely]] return st;
        clobber_memory();
      }
      return absl::OkStatus();
    });
  };
  return s;
}

#ifdef LLMK_HAVE_OPENBLAS
BenchmarkSpec openblas_sgemm_spec(size_t rows, size_t cols, size_t batch, size_t threads) {
  BenchmarkSpec s;
  s.name =
      absl::StrCat("openblas/sgemm/", matmul_shape(rows, cols, batch), thread_suffix(threads));
  s.threads = threads;
  s.per_target = false;  // OpenBLAS picks its own kernels
  fill_matmul_cost(s, rows, cols, batch);
  s.setup = [rows, cols, batch, threads](const BenchmarkConfig&) -> absl::StatusOr<BatchFn> {
    auto d = std::make_shared<MatmulData>(rows, cols, batch);
    return BatchFn([d, threads](uint64_t count) -> absl::Status {
      openblas_set_num_threads(static_cast<int>(threads));
      for (uint64_t i = 0; i < count; ++i) {
        // Y (batch × rows) = X (batch × cols) · Wᵀ, all row-major.
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(d->batch),
                    static_cast<int>(d->rows), static_cast<int>(d->cols), 1.0f, d->x.data(),
                    static_cast<int>(d->cols), d->w.data(), static_cast<int>(d->cols), 0.0f,
                    d->y.data(), static_cast<int>(d->rows));
        clobber_memory();
      }
      return absl::OkStatus();
    });
  };
  return s;
}

BenchmarkSpec openblas_spec(size_t rows, size_t cols, size_t threads) {
  BenchmarkSpec s;
  s.name = absl::StrCat("openblas/sgemv/", shape(rows, cols), thread_suffix(threads));
  s.threads = threads;
  s.per_target = false;  // OpenBLAS picks its own kernels
  fill_matvec_cost(s, rows, cols);
  s.setup = [rows, cols, threads](const BenchmarkConfig&) -> absl::StatusOr<BatchFn> {
    auto d = std::make_shared<MatvecData>(rows, cols);
    return BatchFn([d, threads](uint64_t count) -> absl::Status {
      openblas_set_num_threads(static_cast<int>(threads));
      for (uint64_t i = 0; i < count; ++i) {
        cblas_sgemv(CblasRowMajor, CblasNoTrans, static_cast<int>(d->rows),
                    static_cast<int>(d->cols), 1.0f, d->w.data(), static_cast<int>(d->cols),
                    d->x.data(), 1, 0.0f, d->y.data(), 1);
        clobber_memory();
      }
      return absl::OkStatus();  // cblas reports argument errors only by printing
    });
  };
  return s;
}
#endif

BenchmarkSpec norm_spec(bool layer, size_t n) {
  BenchmarkSpec s;
  s.name = absl::StrCat(layer ? "ops/layer_norm/" : "ops/rms_norm/", n);
  s.bytes_per_op = (layer ? 4.0 : 3.0) * n * sizeof(float);
  if (n == 384) {
    // Spec §5 Layer Normalization: < 10 µs per 384 elements (RMS norm has none).
    if (layer) s.targets = {{"spec", 10000, 0}};
    const ScalarSpeedup& speedup = layer ? kLayerNormSpeedup : kRmsNormSpeedup;
    s.ratio_targets = {scalar_ratio_target(s.name, speedup.at_128_bits, speedup.per_doubling)};
  }
  s.setup = [layer, n](const BenchmarkConfig&) -> absl::StatusOr<BatchFn> {
    auto x = std::make_shared<FloatBuffer>(n, 6), w = std::make_shared<FloatBuffer>(n, 7);
    auto b = std::make_shared<FloatBuffer>(n, 8), out = std::make_shared<FloatBuffer>(n, 9);
    return BatchFn([layer, x, w, b, out](uint64_t count) -> absl::Status {
      for (uint64_t i = 0; i < count; ++i) {
        const absl::Status st =
            layer ? llmk::layer_norm(x->cspan(), w->cspan(), b->cspan(), 1e-5f, out->span())
                  : llmk::rms_norm(x->cspan(), w->cspan(), 1e-5f, out->span());
        if (!st.ok()) [[unlikely]] return st;
        clobber_memory();
      }
      return absl::OkStatus();
    });
  };
  return s;
}

BenchmarkSpec softmax_spec(size_t n) {
  BenchmarkSpec s;
  s.name = absl::StrCat("ops/softmax/", n);
  s.bytes_per_op = 2.0 * n * sizeof(float);
  s.setup = [n](const BenchmarkConfig&) -> absl::StatusOr<BatchFn> {
    auto x = std::make_shared<FloatBuffer>(n, 10, -8.0f, 8.0f);
    auto out = std::make_shared<FloatBuffer>(n, 11);
    return BatchFn([x, out](uint64_t count) -> absl::Status {
      for (uint64_t i = 0; i < count; ++i) {
        const absl::Status st = llmk::softmax(x->cspan(), out->span());
        if (!st.ok()) [[unlikely]] return st;
        clobber_memory();
      }
      return absl::OkStatus();
    });
  };
  return s;
}

// One position's RoPE over a 384-wide q (6 heads of 64), as in a forward pass.
BenchmarkSpec rope_spec(size_t dim, size_t head_dim) {
  BenchmarkSpec s;
  s.name = absl::StrCat("ops/rope/", dim, "/head:", head_dim);
  s.bytes_per_op = 2.0 * dim * sizeof(float);
  s.setup = [dim, head_dim](const BenchmarkConfig&) -> absl::StatusOr<BatchFn> {
    auto x = std::make_shared<FloatBuffer>(dim, 12);
    return BatchFn([x, head_dim](uint64_t count) -> absl::Status {
      for (uint64_t i = 0; i < count; ++i) {
        // Positions cycle so the angles are not the same each call; the
        // rotation keeps norms, so x stays bounded however long this runs.
        const absl::Status st =
            llmk::rope(x->span(), head_dim, i & 255, 10000.0f, RopeLayout::kAdjacentPairs);
        if (!st.ok()) [[unlikely]] {
          return in_context(st, absl::StrCat("at position ", i & 255));
        }
        clobber_memory();
      }
      return absl::OkStatus();
    });
  };
  return s;
}

void add_ops(const BenchmarkConfig& config, std::vector<BenchmarkSpec>& out) {
  out.push_back(dot_spec(384));
  out.push_back(scalar_companion(out.back()));
  out.push_back(dot_spec(4096));
  out.push_back(matvec_spec(384, 384, 1, 1.2));
#ifdef LLMK_HAVE_OPENBLAS
  out.push_back(openblas_spec(384, 384, 1));
#endif
  // The classifier's shape (vocabulary × dim of stories15M), which the
  // quantized matvec entries compare with.
  out.push_back(matvec_spec(32000, 288, 1, 1.0 / 1.1));
#ifdef LLMK_HAVE_OPENBLAS
  out.push_back(openblas_spec(32000, 288, 1));
#endif
  std::vector<size_t> thread_counts = {1};
  if (config.threads > 1) thread_counts.push_back(config.threads);
  for (size_t t : thread_counts) {
    // "Within 10% of OpenBLAS or faster": a speedup of at least 1/1.1.
    out.push_back(matvec_spec(4096, 4096, t, 1.0 / 1.1));
#ifdef LLMK_HAVE_OPENBLAS
    out.push_back(openblas_spec(4096, 4096, t));
#endif
  }
  // A stories110M-shaped prompt's projections (128 tokens): attention's
  // 768 × 768 and the feed-forward's 2048 × 768 and 768 × 2048.
  for (size_t t : thread_counts) {
    out.push_back(matmul_spec(768, 768, 128, t));
    out.push_back(matmul_spec(2048, 768, 128, t));
    out.push_back(matmul_spec(768, 2048, 128, t));
#ifdef LLMK_HAVE_OPENBLAS
    out.push_back(openblas_sgemm_spec(768, 768, 128, t));
#endif
  }
  out.push_back(norm_spec(true, 384));
  out.push_back(scalar_companion(out.back()));
  out.push_back(norm_spec(false, 384));
  out.push_back(scalar_companion(out.back()));
  out.push_back(softmax_spec(256));
  out.push_back(softmax_spec(32000));
  out.push_back(rope_spec(384, 64));
}

const bool registered = register_suite("ops", add_ops);

}  // namespace
}  // namespace llmk::bench
