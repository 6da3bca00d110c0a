// Q4_0 / Q8_0 weights · Q8_0 activations: integer dot products per block,
// and the tiles of rows × activation vectors the row drivers run.
//
// Integer dot products. x86's int8 dot-product instruction (VNNI vpdpbusd,
// Highway's SumOfMulQuadAccumulate) multiplies an UNSIGNED byte by a signed
// one. Rather than the usual sign-transfer trick (exact only when no operand
// is −128), we keep one operand unsigned and subtract its offset exactly:
//   Q4_0: Σ (n − 8)·b = Σ n·b − Σ 8·b          (nibbles n are already unsigned)
//   Q8_0: Σ a·b       = Σ (a + 128)·b − Σ 128·b  (a + 128 is a XOR 0x80)
// Both sums are int32 per lane, so the result is exact for every input.
// Each block's int32 sum is then converted once and scaled by d_a·d_b.
//
// Paths: AVX2 and AVX-512 targets use 256-bit vectors, one block each, in
// tiles of 4 weight rows × up to 4 activation vectors (matvec and matmul);
// SSE2–SSE4 128-bit vectors (one block = two vectors) row by row; HWY_SCALAR
// plain C++.
//
// Per-target code: include after hwy/highway.h inside a foreach_target
// translation unit (quant/quant_targets.cc).
#if defined(LLMK_QUANT_DOT_Q8_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef LLMK_QUANT_DOT_Q8_INL_H_
#undef LLMK_QUANT_DOT_Q8_INL_H_
#else
#define LLMK_QUANT_DOT_Q8_INL_H_
#endif

#include <cstddef>
#include <cstdint>

#include "hwy/cache_control.h"
#include "hwy/highway.h"
#include "llmk/quant.h"
#include "quant/fp16-inl.h"

HWY_BEFORE_NAMESPACE();
namespace llmk {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// ---------------------------------------------------------------- scalar path

HWY_INLINE int32_t ScalarBlockDot(const Q4_0Block& a, const Q8_0Block& b) {
  int32_t sum = 0;
  for (size_t j = 0; j < 16; ++j) {
    sum += ((a.qs[j] & 0x0F) - 8) * b.qs[j] + ((a.qs[j] >> 4) - 8) * b.qs[j + 16];
  }
  return sum;
}
HWY_INLINE int32_t ScalarBlockDot(const Q8_0Block& a, const Q8_0Block& b) {
  int32_t sum = 0;
  for (size_t j = 0; j < 32; ++j) sum += a.qs[j] * b.qs[j];
  return sum;
}

template <class BlockA>
HWY_INLINE float ScalarDot(const BlockA* HWY_RESTRICT a, const Q8_0Block* HWY_RESTRICT b,
                           size_t blocks) {
  float sum = 0.0f;
  for (size_t k = 0; k < blocks; ++k) {
    sum += HalfToF32(a[k].d) * HalfToF32(b[k].d) * static_cast<float>(ScalarBlockDot(a[k], b[k]));
  }
  return sum;
}

#if HWY_TARGET != HWY_SCALAR

// ------------------------------------------------------ 128-bit (one block = 2 vectors)

using D128U8 = hn::Full128<uint8_t>;
using D128I8 = hn::Full128<int8_t>;
using D128I32 = hn::Full128<int32_t>;
using D128F = hn::Full128<float>;

// Σ a·b over 16 signed bytes, added to sum.
HWY_INLINE hn::Vec<D128I32> DotI8(hn::Vec<D128I8> a, hn::Vec<D128I8> b, hn::Vec<D128I32> sum) {
  return hn::SumOfMulQuadAccumulate(D128I32(), a, b, sum);
}

// Float order of the 128-bit dots, chosen by what llama.cpp's reference
// logits of ../shared (t1m-*.llama.logits.bin) were computed with, since a
// last-bit difference can flip an activation's int8 rounding in the next
// layer and grow from there (docs/arm64.md):
// - Q4_0 · Q8_0: one 4-lane sum per block (both halves), accumulated in two
//   vectors alternating block by block, ggml's NEON order: the t1m Q4_0
//   model then matches to 1.2e-7 on NEON.
// - Q8_0 · Q8_0: the 256-bit kernels' order (ggml's x86 one): eight lanes
//   of 4-byte sums, here two vectors (lo: values 0–15, hi: 16–31), each
//   scaled and accumulated block by block, the lanes then added by
//   Reduce4's tree: the t1m Q8_0 model then matches to the bit on NEON (in
//   ggml's NEON order it drifted to 1.3% of the largest logit).
HWY_INLINE float NarrowDotQ4Q8(const Q4_0Block* HWY_RESTRICT a, const Q8_0Block* HWY_RESTRICT b,
                               size_t blocks) {
  const D128U8 du8;
  const D128I8 di8;
  const D128I32 di32;
  const D128F df;
  const auto eight = hn::Set(di8, 8);
  auto acc0 = hn::Zero(df), acc1 = hn::Zero(df);
  for (size_t k = 0; k < blocks; ++k) {
    const auto qs = hn::LoadU(du8, a[k].qs);
    const auto lo = hn::Sub(hn::BitCast(di8, hn::And(qs, hn::Set(du8, 0x0F))), eight);
    const auto hi = hn::Sub(hn::BitCast(di8, hn::ShiftRight<4>(qs)), eight);
    auto sum = DotI8(lo, hn::LoadU(di8, b[k].qs), hn::Zero(di32));
    sum = DotI8(hi, hn::LoadU(di8, b[k].qs + 16), sum);
    const float scale = HalfToF32(a[k].d) * HalfToF32(b[k].d);
    if (k & 1) {
      acc1 = hn::MulAdd(hn::ConvertTo(df, sum), hn::Set(df, scale), acc1);
    } else {
      acc0 = hn::MulAdd(hn::ConvertTo(df, sum), hn::Set(df, scale), acc0);
    }
  }
  return hn::ReduceSum(df, hn::Add(acc0, acc1));
}

// The eight lanes lo[0..3], hi[0..3] added as Reduce4 adds a 256-bit vector.
HWY_INLINE float ReduceEight(hn::Vec<D128F> lo, hn::Vec<D128F> hi) {
  const auto s4 = hn::Add(lo, hi);                       // v[i] + v[i+4]
  const auto s2 = hn::Add(s4, hn::Shuffle1032(s4));      // s4[i] + s4[i+2]
  return hn::GetLane(hn::Add(s2, hn::Shuffle2301(s2)));  // s2[0] + s2[1]
}

HWY_INLINE float NarrowDotQ8Q8(const Q8_0Block* HWY_RESTRICT a, const Q8_0Block* HWY_RESTRICT b,
                               size_t blocks) {
  const D128I8 di8;
  const D128I32 di32;
  const D128F df;
  auto acc_lo = hn::Zero(df), acc_hi = hn::Zero(df);
  for (size_t k = 0; k < blocks; ++k) {
    const auto sum_lo = DotI8(hn::LoadU(di8, a[k].qs), hn::LoadU(di8, b[k].qs), hn::Zero(di32));
    const auto sum_hi =
        DotI8(hn::LoadU(di8, a[k].qs + 16), hn::LoadU(di8, b[k].qs + 16), hn::Zero(di32));
    const auto scale = hn::Set(df, HalfToF32(a[k].d) * HalfToF32(b[k].d));
    acc_lo = hn::MulAdd(hn::ConvertTo(df, sum_lo), scale, acc_lo);
    acc_hi = hn::MulAdd(hn::ConvertTo(df, sum_hi), scale, acc_hi);
  }
  return ReduceEight(acc_lo, acc_hi);
}

// ------------------------------------------------------ 256-bit (one block per vector)
//
// AVX2 and AVX-512 targets work on one block per 256-bit vector: 32 bytes of
// weights against 32 activation bytes give 8 int32 lanes. (On Zen 4 a 512-bit
// op costs two 256-bit ones, and one block per vector needs no lane shuffles
// for the scales — each block's scale is a single broadcast — and leaves no
// odd block over.)
//
// Q4_0 weights are unpacked with one AND: lanes 0–3 see the low nibbles n, lanes
// 4–7 the high nibbles as 16·n (the byte & 0xF0), against an offset of 8 resp.
// 128. Those lanes' int32 sums are exactly 16× the true ones, and so are their
// float accumulators (power-of-two scaling commutes with rounding); one
// multiply by 1/16 per row at the end restores them exactly.
//
// Every (weight row, activation vector) result is computed in one canonical
// order, whichever kernel shape computes it (one row, a group of 4 rows, a
// tile of 4 rows × up to 4 vectors, any thread split):
//   acc = Σ over blocks k in order of ConvertTo(S_k) · (d_w·d_x)    (FMA)
//   result = Reduce4's fixed lane tree (after the 1/16 fix for Q4_0).
// So matvec, matmul and the public dot give bit-identical per-row results.

#if HWY_TARGET <= HWY_AVX2
// Reduce4's lanes 0, 4, 1, 5 (rows 0…3) gathered to lanes 0…3.
alignas(32) constexpr int32_t kReducedLanes[8] = {0, 4, 1, 5, 0, 0, 0, 0};
using DBU8 = hn::Full256<uint8_t>;
using DBI8 = hn::Full256<int8_t>;
using DBI32 = hn::Full256<int32_t>;
using DBF = hn::Full256<float>;

struct Q4Weights {
  using Block = Q4_0Block;
  // Per-byte offsets: 8 for the low nibbles (lanes 0–3), 16·8 for 16·high.
  HWY_INLINE static hn::Vec<DBU8> Offsets() {
    const DBU8 du8;
    return hn::ConcatLowerLower(du8, hn::Set(du8, 128), hn::Set(du8, 8));
  }
  HWY_INLINE hn::Vec<DBU8> Unpack(const Q4_0Block* a) const {
    const DBU8 du8;
    return hn::And(hn::LoadDup128(du8, a->qs), mask);
  }
  // The exact 1/16 for the high-nibble lanes (see above).
  HWY_INLINE static hn::Vec<DBF> Fix() {
    const DBF df;
    return hn::ConcatLowerLower(df, hn::Set(df, 0.0625f), hn::Set(df, 1.0f));
  }
  HWY_INLINE Q4Weights()
      : mask(hn::ConcatLowerLower(DBU8(), hn::Set(DBU8(), 0xF0), hn::Set(DBU8(), 0x0F))) {}
  hn::Vec<DBU8> mask;
};

struct Q8Weights {
  using Block = Q8_0Block;
  HWY_INLINE static hn::Vec<DBU8> Offsets() { return hn::Set(DBU8(), 128); }
  HWY_INLINE hn::Vec<DBU8> Unpack(const Q8_0Block* a) const {
    const DBU8 du8;
    return hn::Xor(hn::LoadU(du8, reinterpret_cast<const uint8_t*>(a->qs)), hn::Set(du8, 0x80));
  }
  HWY_INLINE static hn::Vec<DBF> Fix() { return hn::Set(DBF(), 1.0f); }
};

// Activations straight from Q8_0 blocks (for the public dot and as the source
// of PrepareActivations): block k's int8 values, the exact correction
// −Σ offset·x per lane, and the f32 scales of blocks 4q…4q+3 (0 past the end).
template <class W>
struct DirectX {
  const Q8_0Block* b;  // `blocks` blocks per vector
  size_t blocks;

  HWY_INLINE hn::Vec<DBI8> X(size_t v, size_t k) const {
    return hn::LoadU(DBI8(), b[v * blocks + k].qs);
  }
  HWY_INLINE hn::Vec<DBI32> Bias(size_t v, size_t k) const {
    const DBI32 di32;
    return hn::Neg(hn::SumOfMulQuadAccumulate(di32, W::Offsets(), X(v, k), hn::Zero(di32)));
  }
  HWY_INLINE float Scale(size_t v, size_t k) const {
    return k < blocks ? HalfToF32(b[v * blocks + k].d) : 0.0f;
  }
  HWY_INLINE hn::Vec<DBF> Dx(size_t v, size_t q) const {
    return hn::Dup128VecFromValues(DBF(), Scale(v, 4 * q), Scale(v, 4 * q + 1),
                                   Scale(v, 4 * q + 2), Scale(v, 4 * q + 3));
  }
};

// Activations prepared once per call (PrepareActivations): per vector, one
// 64-byte line per block (32 int8, then 8 int32 corrections), then the f32
// scales padded to whole quads; `stride` bytes per vector (a multiple of 64).
struct PreparedX {
  const uint8_t* base;
  size_t blocks;
  size_t stride;

  static size_t Stride(size_t blocks) {
    return (blocks * 64 + (blocks + 3) / 4 * 16 + 63) & ~size_t{63};
  }
  HWY_INLINE hn::Vec<DBI8> X(size_t v, size_t k) const {
    return hn::Load(DBI8(), reinterpret_cast<const int8_t*>(base + v * stride + 64 * k));
  }
  HWY_INLINE hn::Vec<DBI32> Bias(size_t v, size_t k) const {
    return hn::Load(DBI32(), reinterpret_cast<const int32_t*>(base + v * stride + 64 * k + 32));
  }
  HWY_INLINE hn::Vec<DBF> Dx(size_t v, size_t q) const {
    return hn::LoadDup128(DBF(),
                          reinterpret_cast<const float*>(base + v * stride + 64 * blocks + 16 * q));
  }
};

// d_w of rows r0, r0+1 (< R) × blocks k…k+count−1 (count ≤ 4) as f32, row
// r0 + i in lanes 4i…4i+3; zero for absent rows and blocks.
template <size_t R, class Block>
HWY_INLINE hn::Vec<DBF> RowScales(const uint8_t* rows, size_t row_bytes, size_t r0, size_t k,
                                  size_t count) {
  uint64_t bits[2] = {0, 0};
  for (size_t i = 0; i < 2; ++i) {
    if (r0 + i >= R) break;
    const uint8_t* p = rows + (r0 + i) * row_bytes + k * sizeof(Block);
    for (size_t j = 0; j < 4; ++j) {
      if (j >= count) break;
      uint16_t h;
      __builtin_memcpy(&h, p + j * sizeof(Block), sizeof h);
      bits[i] |= uint64_t{h} << (16 * j);
    }
  }
  const hn::Full128<uint64_t> d64;
  return hn::PromoteTo(DBF(), hn::BitCast(hn::Full128<hwy::float16_t>(),
                                          hn::Dup128VecFromValues(d64, bits[0], bits[1])));
}

// The lane sums of a, b, c, d in lanes 0, 4, 1, 5 by one fixed tree:
// s4[i] = v[i] + v[i+4], s2[i] = s4[i] + s4[i+2], s = s2[0] + s2[1].
// A single accumulator (a = b = c = d) gives the same bits in lane 0.
HWY_INLINE hn::Vec<DBF> Reduce4(hn::Vec<DBF> a, hn::Vec<DBF> b, hn::Vec<DBF> c, hn::Vec<DBF> d) {
  const DBF df;
  const auto ab = hn::Add(hn::ConcatLowerLower(df, b, a), hn::ConcatUpperUpper(df, b, a));
  const auto cd = hn::Add(hn::ConcatLowerLower(df, d, c), hn::ConcatUpperUpper(df, d, c));
  // Per 128-bit block: [a0 c0 a1 c1] + [a2 c2 a3 c3] (b, d in the upper block).
  const auto s2 = hn::Add(hn::InterleaveLower(df, ab, cd), hn::InterleaveUpper(df, ab, cd));
  return hn::Add(s2, hn::Shuffle1032(s2));
}

// Y tile: R rows (R = 1 or 4, starting at `rows`) × B activation vectors
// v0…v0+B−1. Each weight block is unpacked once for all B vectors and each
// activation block loaded once for all R rows. Results go to
// y[v · y_stride + r].
template <size_t R, size_t B, class W, class X>
HWY_INLINE void Tile(const W& wk, const uint8_t* rows, size_t row_bytes, size_t blocks,
                     const X& xs, size_t v0, float* y, size_t y_stride) {
  using Block = typename W::Block;
  const DBF df;
  const DBI32 di32;
  hn::Vec<DBF> acc[R][B];
  for (size_t r = 0; r < R; ++r) {
    for (size_t v = 0; v < B; ++v) acc[r][v] = hn::Zero(df);
  }
  for (size_t k0 = 0; k0 < blocks; k0 += 4) {
    const size_t count = blocks - k0 < 4 ? blocks - k0 : 4;
    // d_w·d_x of (vector v, row r, block k0 + j) in lane 4·(r mod 2) + j of
    // scales[v][r / 2]; kept in registers (a round trip through memory
    // stalls on store-to-load forwarding).
    const auto dw01 = RowScales<R, Block>(rows, row_bytes, 0, k0, count);
    const auto dw23 = RowScales<R, Block>(rows, row_bytes, 2, k0, count);
    hn::Vec<DBF> scales[B][2];
    for (size_t v = 0; v < B; ++v) {
      const auto dx = xs.Dx(v0 + v, k0 / 4);
      scales[v][0] = hn::Mul(dw01, dx);
      scales[v][1] = R > 2 ? hn::Mul(dw23, dx) : scales[v][0];
    }
    for (size_t j = 0; j < 4; ++j) {
      if (j >= count) break;
      const size_t k = k0 + j;
      hn::Vec<DBU8> wv[R];
      for (size_t r = 0; r < R; ++r) {
        wv[r] = wk.Unpack(reinterpret_cast<const Block*>(rows + r * row_bytes) + k);
      }
      for (size_t v = 0; v < B; ++v) {
        const auto xv = xs.X(v0 + v, k);
        const auto bias = xs.Bias(v0 + v, k);
        for (size_t r = 0; r < R; ++r) {
          const auto sum = hn::SumOfMulQuadAccumulate(di32, wv[r], xv, bias);
          const auto lane = hn::IndicesFromVec(df, hn::Set(di32, static_cast<int32_t>(4 * (r % 2) + j)));
          acc[r][v] = hn::MulAdd(hn::ConvertTo(df, sum),
                                 hn::TableLookupLanes(scales[v][r / 2], lane), acc[r][v]);
        }
      }
    }
  }
  const auto fix = W::Fix();
  for (size_t v = 0; v < B; ++v) {
    float* out = y + v * y_stride;
    if constexpr (R == 4) {
      const auto sums = Reduce4(hn::Mul(acc[0][v], fix), hn::Mul(acc[1][v], fix),
                                hn::Mul(acc[2][v], fix), hn::Mul(acc[3][v], fix));
      const auto packed = hn::TableLookupLanes(
          sums, hn::SetTableIndices(df, kReducedLanes));  // lanes 0, 4, 1, 5 → 0…3
      const hn::Full128<float> d4;
      hn::StoreU(hn::LowerHalf(d4, packed), d4, out);
    } else {
      static_assert(R == 1, "row groups are 1 or 4 rows");
      const auto a = hn::Mul(acc[0][v], fix);
      out[0] = hn::GetLane(Reduce4(a, a, a, a));
    }
  }
}

// R rows × `batch` vectors, in tiles of up to 4 vectors.
template <size_t R, class W, class X>
HWY_INLINE void RowGroup(const W& wk, const uint8_t* rows, size_t row_bytes, size_t blocks,
                         const X& xs, size_t batch, float* y, size_t y_stride) {
  size_t v = 0;
  for (; v + 4 <= batch; v += 4) {
    Tile<R, 4>(wk, rows, row_bytes, blocks, xs, v, y + v * y_stride, y_stride);
  }
  switch (batch - v) {
    case 3:
      Tile<R, 3>(wk, rows, row_bytes, blocks, xs, v, y + v * y_stride, y_stride);
      break;
    case 2:
      Tile<R, 2>(wk, rows, row_bytes, blocks, xs, v, y + v * y_stride, y_stride);
      break;
    case 1:
      Tile<R, 1>(wk, rows, row_bytes, blocks, xs, v, y + v * y_stride, y_stride);
      break;
    default:
      break;
  }
}

// Rows [row_begin, row_end), 4 rows at a time.
template <class W, class X>
HWY_INLINE void WideRows(const uint8_t* HWY_RESTRICT w, size_t row_bytes, size_t rows,
                         size_t blocks, const X& xs, size_t batch, float* HWY_RESTRICT y,
                         size_t row_begin, size_t row_end) {
  const W wk;
  // Weights stream from L3 / DRAM in generation; a group's rows are read
  // interleaved, which the hardware prefetchers follow poorly, so prefetch
  // kAheadBytes ahead of each group (prefetches never fault; stop at the end).
  constexpr size_t kAheadBytes = 8192;
  const uint8_t* end = w + row_end * row_bytes;
  size_t r = row_begin;
  for (; r + 4 <= row_end; r += 4) {
    const uint8_t* ahead = w + r * row_bytes + kAheadBytes;
    for (size_t i = 0; i < 4 * row_bytes && ahead + i < end; i += 64) hwy::Prefetch(ahead + i);
    RowGroup<4>(wk, w + r * row_bytes, row_bytes, blocks, xs, batch, y + r, rows);
  }
  for (; r < row_end; ++r) {
    RowGroup<1>(wk, w + r * row_bytes, row_bytes, blocks, xs, batch, y + r, rows);
  }
}

template <class W, class BlockA>
HWY_INLINE float WideDot(const BlockA* HWY_RESTRICT a, const Q8_0Block* HWY_RESTRICT b,
                         size_t blocks) {
  float out = 0.0f;
  Tile<1, 1>(W(), reinterpret_cast<const uint8_t*>(a), 0, blocks, DirectX<W>{b, blocks}, 0, &out,
             0);
  return out;
}

HWY_INLINE float WideDotQ4Q8(const Q4_0Block* HWY_RESTRICT a, const Q8_0Block* HWY_RESTRICT b,
                             size_t blocks) {
  return WideDot<Q4Weights>(a, b, blocks);
}
HWY_INLINE float WideDotQ8Q8(const Q8_0Block* HWY_RESTRICT a, const Q8_0Block* HWY_RESTRICT b,
                             size_t blocks) {
  return WideDot<Q8Weights>(a, b, blocks);
}
#endif  // HWY_TARGET <= HWY_AVX2

#endif  // HWY_TARGET != HWY_SCALAR

float DotQ4Q8(const Q4_0Block* HWY_RESTRICT a, const Q8_0Block* HWY_RESTRICT b, size_t blocks) {
#if HWY_TARGET == HWY_SCALAR
  return ScalarDot(a, b, blocks);
#elif HWY_TARGET <= HWY_AVX2
  return WideDotQ4Q8(a, b, blocks);
#else
  return NarrowDotQ4Q8(a, b, blocks);
#endif
}

float DotQ8Q8(const Q8_0Block* HWY_RESTRICT a, const Q8_0Block* HWY_RESTRICT b, size_t blocks) {
#if HWY_TARGET == HWY_SCALAR
  return ScalarDot(a, b, blocks);
#elif HWY_TARGET <= HWY_AVX2
  return WideDotQ8Q8(a, b, blocks);
#else
  return NarrowDotQ8Q8(a, b, blocks);
#endif
}

}  // namespace HWY_NAMESPACE
}  // namespace llmk
HWY_AFTER_NAMESPACE();

#endif  // LLMK_QUANT_DOT_Q8_INL_H_ toggle
