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

using D8 = hn::CappedTag<float, 8>;  // 256-bit on both AVX2 and AVX-512

// Lanes [0, kCount) of v to p, in at most two stores.
template <size_t kCount>
HWY_INLINE void StoreFirstLanes(hn::Vec<D8> v, float* HWY_RESTRICT p) {
  const D8 d8;
  const hn::Half<D8> d4;
  const hn::Half<decltype(d4)> d2;
  if constexpr (kCount == 8) {
    hn::StoreU(v, d8, p);
  } else if constexpr (kCount == 4) {
    hn::StoreU(hn::LowerHalf(d4, v), d4, p);
  } else if constexpr (kCount == 6) {
    hn::StoreU(hn::LowerHalf(d4, v), d4, p);
    hn::StoreU(hn::LowerHalf(d2, hn::UpperHalf(d4, v)), d2, p + 4);
  } else {
    hn::StoreN(v, d8, p, kCount);
  }
}

// In place: m[j] lane i becomes m[i] lane j.
HWY_INLINE void Transpose8x8(hn::Vec<D8> (&m)[8]) {
  const D8 d8;
  const hn::Repartition<double, D8> d64;
  hn::Vec<D8> t[8];
  for (size_t i = 0; i < 8; i += 2) {
    t[i] = hn::InterleaveLower(d8, m[i], m[i + 1]);
    t[i + 1] = hn::InterleaveUpper(d8, m[i], m[i + 1]);
  }
  hn::Vec<D8> u[8];
  for (size_t q = 0; q < 8; q += 4) {
    for (size_t i = 0; i < 2; ++i) {
      const auto a = hn::BitCast(d64, t[q + i]), b = hn::BitCast(d64, t[q + i + 2]);
      u[q + 2 * i] = hn::BitCast(d8, hn::InterleaveLower(d64, a, b));
      u[q + 2 * i + 1] = hn::BitCast(d8, hn::InterleaveUpper(d64, a, b));
    }
  }
  for (size_t i = 0; i < 4; ++i) {
    m[i] = hn::ConcatLowerLower(d8, u[4 + i], u[i]);
    m[i + 4] = hn::ConcatUpperUpper(d8, u[4 + i], u[i]);
  }
}

// Lanes [8c, 8c + 8) of v.
template <class V>
HWY_INLINE hn::Vec<D8> Eighth(V v, size_t c) {
  if constexpr (hn::MaxLanes(hn::DFromV<V>()) == 8) {
    (void)c;
    return v;
  } else {
    const hn::Half<DF> dh;
    return c == 0 ? hn::LowerHalf(dh, v) : hn::UpperHalf(dh, v);
  }
}

// Vectors [0, batch) of x (cols floats each) into ⌈batch / P⌉ panels of
// cols × P floats, P = PanelVectors(): panel p holds element k of vector
// pP + j at k·P + j, zero past the batch. Writes panels [panel_begin,
// panel_end) only. Blocks of 8 vectors × 8 elements are transposed in
// registers, so every load and store is a whole vector. Vectors are
// x_stride floats apart (PackPanels: cols).
void PackPanelsStrided(const float* HWY_RESTRICT x, size_t x_stride, size_t batch, size_t cols,
                       size_t panel_begin, size_t panel_end, float* HWY_RESTRICT out) {
  const D8 d8;
  const size_t P = PanelVectors();
  for (size_t p = panel_begin; p < panel_end && p * P < batch; ++p) {
    float* panel = out + p * P * cols;
    for (size_t group = 0; group < P; group += 8) {
      const size_t first = p * P + group;
      const size_t valid = first < batch ? HWY_MIN(size_t{8}, batch - first) : 0;
      const float* rows = x + first * x_stride;
      for (size_t k = 0; k < cols; k += 8) {
        const size_t n = HWY_MIN(size_t{8}, cols - k);
        hn::Vec<D8> m[8];
        for (size_t i = 0; i < 8; ++i) {
          if (i >= valid) {
            m[i] = hn::Zero(d8);
          } else if (n == 8) {
            m[i] = hn::LoadU(d8, rows + i * x_stride + k);
          } else {
            m[i] = hn::LoadN(d8, rows + i * x_stride + k, n);
          }
        }
        Transpose8x8(m);
        for (size_t j = 0; j < n; ++j) hn::StoreU(m[j], d8, panel + (k + j) * P + group);
      }
    }
  }
}

void PackPanels(const float* HWY_RESTRICT x, size_t batch, size_t cols, size_t panel_begin,
                size_t panel_end, float* HWY_RESTRICT out) {
  PackPanelsStrided(x, cols, batch, cols, panel_begin, panel_end, out);
}

// y[v·y_stride + r] = lane v of acc[r] (the kHalves vectors of row r as one
// sequence), for v < vectors, 8 × 8 blocks at a time.
template <size_t kRows, size_t kHalves>
HWY_INLINE void StoreTransposed(const hn::Vec<DF> (&acc)[kRows][kHalves], size_t vectors,
                                float* HWY_RESTRICT y, size_t y_stride) {
  constexpr size_t kEighths = hn::MaxLanes(DF()) / 8;
  static_assert(kEighths * 8 == hn::MaxLanes(DF()) && kEighths <= 2 && kRows <= 16);
  for (size_t h = 0; h < kHalves; ++h) {
    for (size_t c = 0; c < kEighths; ++c) {
      const size_t first = (h * kEighths + c) * 8;
      if (first >= vectors) return;
      const size_t count = HWY_MIN(size_t{8}, vectors - first);
      float* out = y + first * y_stride;
      hn::Vec<D8> m[8];
      for (size_t i = 0; i < 8; ++i) m[i] = Eighth(acc[HWY_MIN(i, kRows - 1)][h], c);
      Transpose8x8(m);
      for (size_t j = 0; j < count; ++j) {
        StoreFirstLanes<HWY_MIN(kRows, size_t{8})>(m[j], out + j * y_stride);
      }
      if constexpr (kRows > 8) {
        for (size_t i = 0; i < 8; ++i) m[i] = Eighth(acc[HWY_MIN(8 + i, kRows - 1)][h], c);
        Transpose8x8(m);
        for (size_t j = 0; j < count; ++j) {
          StoreFirstLanes<kRows - 8>(m[j], out + j * y_stride + 8);
        }
      }
    }
  }
}

// kRows rows of w (w_stride floats apart) times one panel's vectors
// (kHalves · N of them, the first `vectors` real) over elements [0, k_end).
// Into y[v·y_stride + r] (vector-major, the batch product's layout), or
// with kRowMajor into y[r·y_stride + v].
template <size_t kRows, size_t kHalves, bool kRowMajor = false>
HWY_INLINE void PanelTile(const float* HWY_RESTRICT w, size_t w_stride, size_t k_end,
                          const float* HWY_RESTRICT panel, size_t vectors,
                          float* HWY_RESTRICT y, size_t y_stride) {
  const DF d;
  const size_t N = hn::Lanes(d), P = 2 * N;
  hn::Vec<DF> acc[kRows][kHalves];
  for (size_t r = 0; r < kRows; ++r)
    for (size_t h = 0; h < kHalves; ++h) acc[r][h] = hn::Zero(d);
  for (size_t k = 0; k < k_end; ++k) {
    hn::Vec<DF> xv[kHalves];
    for (size_t h = 0; h < kHalves; ++h) xv[h] = hn::Load(d, panel + k * P + h * N);
    for (size_t r = 0; r < kRows; ++r) {
      const auto wr = hn::Set(d, w[r * w_stride + k]);
      for (size_t h = 0; h < kHalves; ++h) acc[r][h] = hn::MulAdd(wr, xv[h], acc[r][h]);
    }
  }
  if constexpr (kRowMajor) {
    for (size_t r = 0; r < kRows; ++r) {
      for (size_t h = 0; h < kHalves && h * N < vectors; ++h) {
        hn::StoreN(acc[r][h], d, y + r * y_stride + h * N, HWY_MIN(N, vectors - h * N));
      }
    }
  } else if constexpr (kRows == 1) {
    HWY_ALIGN float tile[2 * hn::MaxLanes(DF())];
    for (size_t h = 0; h < kHalves; ++h) hn::Store(acc[0][h], d, tile + h * N);
    for (size_t v = 0; v < vectors; ++v) y[v * y_stride] = tile[v];
  } else {
    // Transposed in registers, so each vector's kRows outputs are adjacent
    // in y and leave in one or two stores: stored element by element, each
    // store went to another line of y, and gathered from a stack copy the
    // output was still a visible share of the product (docs/performance.md).
    StoreTransposed<kRows, kHalves>(acc, vectors, y, y_stride);
  }
}

// One panel (`vectors` of them) times the rows of a kRows-row tile.
template <size_t kRows, bool kRowMajor = false>
HWY_INLINE void PanelTileAnyWidth(const float* w, size_t w_stride, size_t k_end,
                                  const float* panel, size_t vectors, float* y,
                                  size_t y_stride) {
  if (vectors > hn::Lanes(DF())) {
    PanelTile<kRows, 2, kRowMajor>(w, w_stride, k_end, panel, vectors, y, y_stride);
  } else {
    PanelTile<kRows, 1, kRowMajor>(w, w_stride, k_end, panel, vectors, y, y_stride);
  }
}

template <size_t kRows>
HWY_INLINE void PanelRows(const float* w, size_t rows, size_t cols, const float* panels,
                          size_t batch, float* y) {
  const size_t P = PanelVectors();
  for (size_t p = 0; p * P < batch; ++p) {
    PanelTileAnyWidth<kRows>(w, cols, cols, panels + p * P * cols, HWY_MIN(P, batch - p * P),
                             y + p * P * rows, rows);
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
