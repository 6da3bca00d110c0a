// f32 dot product, matrix-vector and matrix-matrix products.
//
// matvec walks four (eight from cache) weight rows at a time so each load of
// x feeds four (eight) FMAs;
// matmul tiles 4 weight rows × 4 batch vectors so each loaded weight vector is
// reused across the batch (16 accumulators fit AVX2's and AVX-512's register
// files). Tails use masked loads (LoadN), so any length works and no element
// past the end is touched.
// Arrays and members of vectors (the register tiles below) cannot have SVE's
// sizeless types, so on aarch64 this file is compiled without the SVE
// targets: SVE CPUs run its NEON code (Highway dispatches per file).
#if defined(__aarch64__) && !defined(HWY_DISABLED_TARGETS)
#define HWY_DISABLED_TARGETS HWY_ALL_SVE
#endif
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "ops/matvec.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include <cstdint>

#include "hwy/cache_control.h"
#include "hwy/highway.h"
#include "ops/dot-inl.h"

HWY_BEFORE_NAMESPACE();
namespace llmk {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;
using DF = hn::ScalableTag<float>;

float Dot(const float* HWY_RESTRICT a, const float* HWY_RESTRICT b, size_t n) {
  return DotInline(a, b, n);
}

// kRows rows of w (stride cols) times kBatch vectors of x (stride cols), into
// y[b·y_stride + r]. kAhead > 0: prefetch each row kAhead floats ahead of
// its loads (a matvec streaming long rows from DRAM).
template <size_t kRows, size_t kBatch, size_t kAhead = 0>
HWY_INLINE void Tile(const float* HWY_RESTRICT w, size_t cols, const float* HWY_RESTRICT x,
                     float* HWY_RESTRICT y, size_t y_stride) {
  const DF d;
  const size_t N = hn::Lanes(d);
  hn::Vec<DF> acc[kRows][kBatch];
  for (size_t r = 0; r < kRows; ++r)
    for (size_t b = 0; b < kBatch; ++b) acc[r][b] = hn::Zero(d);
  size_t i = 0;
  for (; i + N <= cols; i += N) {
    hn::Vec<DF> xv[kBatch];
    for (size_t b = 0; b < kBatch; ++b) xv[b] = hn::LoadU(d, x + b * cols + i);
    for (size_t r = 0; r < kRows; ++r) {
      if constexpr (kAhead > 0) hwy::Prefetch(w + r * cols + i + kAhead);
      const auto wv = hn::LoadU(d, w + r * cols + i);
      for (size_t b = 0; b < kBatch; ++b) acc[r][b] = hn::MulAdd(wv, xv[b], acc[r][b]);
    }
  }
  if (i < cols) {
    const size_t rem = cols - i;
    hn::Vec<DF> xv[kBatch];
    for (size_t b = 0; b < kBatch; ++b) xv[b] = hn::LoadN(d, x + b * cols + i, rem);
    for (size_t r = 0; r < kRows; ++r) {
      const auto wv = hn::LoadN(d, w + r * cols + i, rem);
      for (size_t b = 0; b < kBatch; ++b) acc[r][b] = hn::MulAdd(wv, xv[b], acc[r][b]);
    }
  }
  for (size_t r = 0; r < kRows; ++r)
    for (size_t b = 0; b < kBatch; ++b) y[b * y_stride + r] = hn::ReduceSum(d, acc[r][b]);
}

// Rows [row_begin, row_end) of y = W·x.
//
// A matvec reads each weight once, so it runs at the speed one core can pull
// from DRAM, and the hardware prefetchers alone leave much of that unused
// (measured on a Zen 5 VM: 18–25 GB/s without software prefetch, 32–40 GB/s
// with). Unless the caller says w is cache-resident (prefetches would only
// take load slots), two patterns, by row length: a tile of short rows (≤ 16 KiB) asks
// for the whole next tile at once; long rows are each prefetched 2 KiB ahead
// of their loads.
void MatvecRows(const float* HWY_RESTRICT w, size_t cols, const float* HWY_RESTRICT x,
                float* HWY_RESTRICT y, size_t row_begin, size_t row_end, bool stream) {
  constexpr size_t kBurstMaxBytes = 16384;
  constexpr size_t kRowAheadFloats = 2048 / sizeof(float);
  const size_t tile_bytes = 4 * cols * sizeof(float);
  const auto* end = reinterpret_cast<const uint8_t*>(w + row_end * cols);
  size_t r = row_begin;
  if (!stream) {
    // From cache the loads are the limit: 8 rows per x load (measured 25%
    // faster than 4 on a 384×384 matrix).
    for (; r + 8 <= row_end; r += 8) Tile<8, 1>(w + r * cols, cols, x, y + r, 1);
    for (; r + 4 <= row_end; r += 4) Tile<4, 1>(w + r * cols, cols, x, y + r, 1);
  } else if (tile_bytes <= kBurstMaxBytes) {
    for (; r + 4 <= row_end; r += 4) {
      const auto* next = reinterpret_cast<const uint8_t*>(w + (r + 4) * cols);
      for (size_t b = 0; b < tile_bytes && next + b < end; b += 64) hwy::Prefetch(next + b);
      Tile<4, 1>(w + r * cols, cols, x, y + r, 1);
    }
  } else {
    for (; r + 4 <= row_end; r += 4) Tile<4, 1, kRowAheadFloats>(w + r * cols, cols, x, y + r, 1);
  }
  for (; r < row_end; ++r) Tile<1, 1>(w + r * cols, cols, x, y + r, 1);
}

// Rows [row_begin, row_end) of Y = X·Wᵀ for the whole batch.
template <size_t kRows>
HWY_INLINE void MatmulRowBlock(const float* w, size_t rows, size_t cols, const float* x,
                               size_t batch, float* y) {
  size_t b = 0;
  for (; b + 4 <= batch; b += 4) Tile<kRows, 4>(w, cols, x + b * cols, y + b * rows, rows);
  for (; b < batch; ++b) Tile<kRows, 1>(w, cols, x + b * cols, y + b * rows, rows);
}

void MatmulRows(const float* HWY_RESTRICT w, size_t rows, size_t cols,
                const float* HWY_RESTRICT x, size_t batch, float* HWY_RESTRICT y,
                size_t row_begin, size_t row_end) {
  size_t r = row_begin;
  for (; r + 4 <= row_end; r += 4) MatmulRowBlock<4>(w + r * cols, rows, cols, x, batch, y + r);
  for (; r < row_end; ++r) MatmulRowBlock<1>(w + r * cols, rows, cols, x, batch, y + r);
}

}  // namespace HWY_NAMESPACE
}  // namespace llmk
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include <algorithm>

#include "hwy/contrib/thread_pool/thread_pool.h"
#include "llmk/thread_pool.h"
#include "ops/kernels.h"
#include "util/parallel.h"

namespace llmk::kernels {

HWY_EXPORT(Dot);
HWY_EXPORT(MatvecRows);
HWY_EXPORT(MatmulRows);

float dot(const float* a, const float* b, size_t n) { return HWY_DYNAMIC_DISPATCH(Dot)(a, b, n); }


void matvec(const float* w, size_t rows, size_t cols, const float* x, float* y,
            ThreadPool* pool, bool stream) {
  const auto rows_fn = HWY_DYNAMIC_POINTER(MatvecRows);
  internal::for_row_blocks(rows, rows * cols, pool,
               [&](size_t begin, size_t end) { rows_fn(w, cols, x, y, begin, end, stream); });
}

void matmul(const float* w, size_t rows, size_t cols, const float* x, size_t batch, float* y,
            ThreadPool* pool) {
  const auto rows_fn = HWY_DYNAMIC_POINTER(MatmulRows);
  internal::for_row_blocks(rows, rows * cols * batch, pool, [&](size_t begin, size_t end) {
    rows_fn(w, rows, cols, x, batch, y, begin, end);
  });
}

}  // namespace llmk::kernels
#endif  // HWY_ONCE
