// f32 dot product, matrix-vector and matrix-matrix products.
//
// matvec streaming from memory walks one weight row at a time (one sequential
// stream); from cache, eight rows at a time so each load of x feeds eight FMAs;
// matmul tiles 4 weight rows × 4 batch vectors so each loaded weight vector is
// reused across the batch (16 accumulators fit AVX2's and AVX-512's register
// files). Tails use masked loads (LoadN), so any length works and no element
// past the end is touched.
//
// Per-target code, included by ops/kernels.cc; include after hwy/highway.h
// inside a foreach_target translation unit.
#if defined(LLMK_OPS_MATVEC_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef LLMK_OPS_MATVEC_INL_H_
#undef LLMK_OPS_MATVEC_INL_H_
#else
#define LLMK_OPS_MATVEC_INL_H_
#endif

#include <cstdint>

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
// y[b·y_stride + r].
template <size_t kRows, size_t kBatch>
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
// A matvec reads each weight once, so from memory it runs at the speed one
// core can pull a stream. The rows are contiguous, so one row at a time
// reads one sequential stream, which the hardware prefetchers follow best:
// tiles of 4 rows read 4 streams side by side and, even with software
// prefetch, took half as long again per token on a Zen 4
// (docs/performance.md). From cache (the caller says w is resident) the
// loads are the limit instead, so 8 rows share each load of x.
void MatvecRows(const float* HWY_RESTRICT w, size_t cols, const float* HWY_RESTRICT x,
                float* HWY_RESTRICT y, size_t row_begin, size_t row_end, bool stream) {
  size_t r = row_begin;
  if (!stream) {
    for (; r + 8 <= row_end; r += 8) Tile<8, 1>(w + r * cols, cols, x, y + r, 1);
    for (; r + 4 <= row_end; r += 4) Tile<4, 1>(w + r * cols, cols, x, y + r, 1);
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

// The packed batch product (AVX2 and AVX-512 targets). The tiles above keep
// one accumulator per (row, vector) pair and reduce each across its lanes at
// the end; with a prompt's batch of 128 vectors those reductions, and the
// loads of both operands per step, cost a large share of the work. Here x
// is transposed once per call into panels of 2N vectors, element-major, so
// a step loads two vectors of 2N batch lanes, broadcasts one weight element
// per row, and keeps every FMA on independent lanes: a tile of kPanelRows
// rows × 2N vectors holds 2·kPanelRows accumulators (24 of AVX-512's 32
// registers, 12 of AVX2's 16) and no reduction remains. Each output is then
// a plain running FMA sum over the row, in element order.
#if HWY_TARGET <= HWY_AVX2 && HWY_TARGET != HWY_SCALAR && HWY_ARCH_X86
#if HWY_TARGET <= HWY_AVX3
constexpr size_t kPanelRows = 12;
#else
constexpr size_t kPanelRows = 6;
#endif

size_t PanelVectors() { return 2 * hn::Lanes(DF()); }

// Vectors [0, batch) of x (cols floats each) into ⌈batch / P⌉ panels of
// cols × P floats, P = PanelVectors(): panel p holds element k of vector
// pP + j at k·P + j, zero past the batch. Writes panels [panel_begin,
// panel_end) only.
void PackPanels(const float* HWY_RESTRICT x, size_t batch, size_t cols, size_t panel_begin,
                size_t panel_end, float* HWY_RESTRICT out) {
  const DF d;
  const hn::RebindToSigned<DF> di;
  const size_t N = hn::Lanes(d), P = 2 * N;
  const auto lane = hn::Iota(di, 0);
  for (size_t p = panel_begin; p < panel_end && p * P < batch; ++p) {
    float* panel = out + p * P * cols;
    const float* first = x + p * P * cols;
    const size_t count = HWY_MIN(P, batch - p * P);
    for (size_t h = 0; h < 2; ++h) {
      const size_t valid = count > h * N ? HWY_MIN(N, count - h * N) : 0;
      const auto mask = hn::FirstN(d, valid);
      const auto index = hn::Mul(lane, hn::Set(di, static_cast<int32_t>(cols)));
      const float* base = first + h * N * cols;
      for (size_t k = 0; k < cols; ++k) {
        hn::Store(hn::MaskedGatherIndex(mask, d, base + k, index), d, panel + k * P + h * N);
      }
    }
  }
}

// kRows rows of w times one panel's vectors (kHalves · N of them, the
// first `vectors` real), into y[v·y_stride + r].
template <size_t kRows, size_t kHalves>
HWY_INLINE void PanelTile(const float* HWY_RESTRICT w, size_t cols,
                          const float* HWY_RESTRICT panel, size_t vectors,
                          float* HWY_RESTRICT y, size_t y_stride) {
  const DF d;
  const size_t N = hn::Lanes(d), P = 2 * N;
  hn::Vec<DF> acc[kRows][kHalves];
  for (size_t r = 0; r < kRows; ++r)
    for (size_t h = 0; h < kHalves; ++h) acc[r][h] = hn::Zero(d);
  for (size_t k = 0; k < cols; ++k) {
    hn::Vec<DF> xv[kHalves];
    for (size_t h = 0; h < kHalves; ++h) xv[h] = hn::Load(d, panel + k * P + h * N);
    for (size_t r = 0; r < kRows; ++r) {
      const auto wr = hn::Set(d, w[r * cols + k]);
      for (size_t h = 0; h < kHalves; ++h) acc[r][h] = hn::MulAdd(wr, xv[h], acc[r][h]);
    }
  }
  // Transposed on the way out: each vector's kRows outputs are adjacent in
  // y, so one store per vector. (Stored element by element, row after row,
  // each of a tile's 384 stores went to another line of y and missed L1:
  // a fifth of the product's time.)
  HWY_ALIGN float tile[kRows][2 * hn::MaxLanes(DF())];
  for (size_t r = 0; r < kRows; ++r) {
    for (size_t h = 0; h < kHalves; ++h) hn::Store(acc[r][h], d, &tile[r][h * N]);
  }
  if constexpr (kRows == 1) {
    for (size_t v = 0; v < vectors; ++v) y[v * y_stride] = tile[0][v];
  } else {
    static_assert(kRows <= hn::MaxLanes(DF()));
    const hn::RebindToSigned<DF> di;
    const auto index = hn::Mul(hn::Iota(di, 0), hn::Set(di, static_cast<int32_t>(2 * N)));
    const auto rows = hn::FirstN(d, kRows);
    for (size_t v = 0; v < vectors; ++v) {
      hn::StoreN(hn::MaskedGatherIndex(rows, d, &tile[0][v], index), d, y + v * y_stride, kRows);
    }
  }
}

template <size_t kRows>
HWY_INLINE void PanelRows(const float* w, size_t rows, size_t cols, const float* panels,
                          size_t batch, float* y) {
  const size_t N = hn::Lanes(DF()), P = 2 * N;
  for (size_t p = 0; p * P < batch; ++p) {
    const size_t vectors = HWY_MIN(P, batch - p * P);
    const float* panel = panels + p * P * cols;
    float* out = y + p * P * rows;
    if (vectors > N) {
      PanelTile<kRows, 2>(w, cols, panel, vectors, out, rows);
    } else {
      PanelTile<kRows, 1>(w, cols, panel, vectors, out, rows);
    }
  }
}

// Rows [row_begin, row_end) of Y = X·Wᵀ from x packed by PackPanels.
void MatmulPackedRows(const float* HWY_RESTRICT w, size_t rows, size_t cols,
                      const float* HWY_RESTRICT panels, size_t batch, float* HWY_RESTRICT y,
                      size_t row_begin, size_t row_end) {
  size_t r = row_begin;
  for (; r + kPanelRows <= row_end; r += kPanelRows) {
    PanelRows<kPanelRows>(w + r * cols, rows, cols, panels, batch, y + r);
  }
  for (; r + 4 <= row_end; r += 4) PanelRows<4>(w + r * cols, rows, cols, panels, batch, y + r);
  for (; r < row_end; ++r) PanelRows<1>(w + r * cols, rows, cols, panels, batch, y + r);
}
#else
size_t PanelVectors() { return 0; }
void PackPanels(const float*, size_t, size_t, size_t, size_t, float*) {}
void MatmulPackedRows(const float*, size_t, size_t, const float*, size_t, float*, size_t, size_t) {}
#endif

}  // namespace HWY_NAMESPACE
}  // namespace llmk
HWY_AFTER_NAMESPACE();

#endif  // LLMK_OPS_MATVEC_INL_H_ toggle
