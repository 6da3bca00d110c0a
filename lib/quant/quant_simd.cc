// Quantized kernels: Q8_0 quantization of activations, Q4_0 / Q8_0
// dequantization, fused dot products and the per-row drivers of matvec /
// matmul for every weight type. Compiled once per
// Highway target (foreach_target) and dispatched at run time.
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
// Arrays and members of vectors (the register tiles below) cannot have SVE's
// sizeless types and its blocks assume vectors of at most 16 floats, so on aarch64 this file is compiled without the SVE
// targets: SVE CPUs run its NEON code (Highway dispatches per file).
#if defined(__aarch64__) && !defined(HWY_DISABLED_TARGETS)
#define HWY_DISABLED_TARGETS HWY_ALL_SVE
#endif
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "quant/quant_simd.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include <cstddef>
#include <cstdint>

#include "hwy/cache_control.h"
#include "hwy/highway.h"
#include "llmk/quant.h"
#include "quant/fp16.h"

#ifndef LLMK_QUANT_SIMD_ROW_KIND_
#define LLMK_QUANT_SIMD_ROW_KIND_
namespace llmk {
// What one weight row meets: the kind of dot product the row driver runs.
enum class RowKind { kF16, kQ4F32, kQ8F32, kQ4Q8, kQ8Q8 };
}  // namespace llmk
#endif

HWY_BEFORE_NAMESPACE();
namespace llmk {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// f16 → f32 for one block scale: F16C where the target has it.
HWY_INLINE float HalfToF32(uint16_t h) {
#if HWY_TARGET <= HWY_AVX2 && HWY_TARGET != HWY_SCALAR
  const hn::CappedTag<float, 1> df;
  const hn::Rebind<hwy::float16_t, decltype(df)> dh;
  const hn::RebindToUnsigned<decltype(dh)> du;
  return hn::GetLane(hn::PromoteTo(df, hn::BitCast(dh, hn::Set(du, h))));
#else
  return internal::half_to_float(h);
#endif
}

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

HWY_INLINE float NarrowDotQ8Q8(const Q8_0Block* HWY_RESTRICT a, const Q8_0Block* HWY_RESTRICT b,
                               size_t blocks) {
  const D128I8 di8;
  const D128I32 di32;
  const D128F df;
  auto acc0 = hn::Zero(df), acc1 = hn::Zero(df);
  for (size_t k = 0; k < blocks; ++k) {
    auto sum = DotI8(hn::LoadU(di8, a[k].qs), hn::LoadU(di8, b[k].qs), hn::Zero(di32));
    sum = DotI8(hn::LoadU(di8, a[k].qs + 16), hn::LoadU(di8, b[k].qs + 16), sum);
    const float scale = HalfToF32(a[k].d) * HalfToF32(b[k].d);
    if (k & 1) {
      acc1 = hn::MulAdd(hn::ConvertTo(df, sum), hn::Set(df, scale), acc1);
    } else {
      acc0 = hn::MulAdd(hn::ConvertTo(df, sum), hn::Set(df, scale), acc0);
    }
  }
  return hn::ReduceSum(df, hn::Add(acc0, acc1));
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

// ------------------------------------------------ quantized weights · f32 values
//
// These walk a block in f32 vectors of N ≤ 16 lanes: lanes i… of the low
// nibbles pair with x[i…], the high nibbles with x[16 + i…].

using DF = hn::ScalableTag<float>;
using DI32 = hn::RebindToSigned<DF>;
static_assert(hn::MaxLanes(DF()) <= 16, "a Q4_0 half block must fill whole vectors");

// Element values of a Q4_0 block as f32 vectors: (nibble − 8), lanes i….
struct Q4Halves {
  hn::Vec<DF> lo, hi;
};
HWY_INLINE Q4Halves LoadQ4(const uint8_t* qs) {
  const DF df;
  const DI32 di32;
  const hn::Rebind<uint8_t, DF> du8;
  const auto bytes = hn::PromoteTo(di32, hn::LoadU(du8, qs));
  const auto eight = hn::Set(di32, 8);
  return {hn::ConvertTo(df, hn::Sub(hn::And(bytes, hn::Set(di32, 0x0F)), eight)),
          hn::ConvertTo(df, hn::Sub(hn::ShiftRight<4>(bytes), eight))};
}
HWY_INLINE hn::Vec<DF> LoadQ8(const int8_t* qs) {
  const DF df;
  const hn::Rebind<int8_t, DF> di8;
  return hn::ConvertTo(df, hn::PromoteTo(DI32(), hn::LoadU(di8, qs)));
}

float DotQ4F32(const Q4_0Block* HWY_RESTRICT a, const float* HWY_RESTRICT x, size_t blocks) {
  const DF df;
  const size_t N = hn::Lanes(df);
  auto acc0 = hn::Zero(df), acc1 = hn::Zero(df);
  for (size_t k = 0; k < blocks; ++k, x += kQuantBlock) {
    auto part0 = hn::Zero(df), part1 = hn::Zero(df);
    for (size_t i = 0; i < 16; i += N) {
      const Q4Halves q = LoadQ4(a[k].qs + i);
      part0 = hn::MulAdd(q.lo, hn::LoadU(df, x + i), part0);
      part1 = hn::MulAdd(q.hi, hn::LoadU(df, x + 16 + i), part1);
    }
    const auto d = hn::Set(df, HalfToF32(a[k].d));
    acc0 = hn::MulAdd(d, part0, acc0);
    acc1 = hn::MulAdd(d, part1, acc1);
  }
  return hn::ReduceSum(df, hn::Add(acc0, acc1));
}

float DotQ8F32(const Q8_0Block* HWY_RESTRICT a, const float* HWY_RESTRICT x, size_t blocks) {
  const DF df;
  const size_t N = hn::Lanes(df);
  auto acc0 = hn::Zero(df), acc1 = hn::Zero(df);
  for (size_t k = 0; k < blocks; ++k, x += kQuantBlock) {
    auto part0 = hn::Zero(df), part1 = hn::Zero(df);
    for (size_t i = 0; i < 16; i += N) {
      part0 = hn::MulAdd(LoadQ8(a[k].qs + i), hn::LoadU(df, x + i), part0);
      part1 = hn::MulAdd(LoadQ8(a[k].qs + 16 + i), hn::LoadU(df, x + 16 + i), part1);
    }
    const auto d = hn::Set(df, HalfToF32(a[k].d));
    acc0 = hn::MulAdd(d, part0, acc0);
    acc1 = hn::MulAdd(d, part1, acc1);
  }
  return hn::ReduceSum(df, hn::Add(acc0, acc1));
}

// Half bits → f32. F16C (AVX2 and up) converts exactly; Highway's emulation
// on older targets maps ±inf/NaN to finite values, so there we rebias the bits
// ourselves (subnormals via an exact int → float product).
using DU16F = hn::Rebind<uint16_t, DF>;
HWY_INLINE hn::Vec<DF> HalvesToF32(hn::Vec<DU16F> h16) {
  const DF df;
#if HWY_TARGET <= HWY_AVX2 && HWY_TARGET != HWY_SCALAR
  return hn::PromoteTo(df, hn::BitCast(hn::Rebind<hwy::float16_t, DF>(), h16));
#else
  const hn::RebindToUnsigned<DF> du32;
  const auto h = hn::PromoteTo(du32, h16);
  const auto sign = hn::ShiftLeft<16>(hn::And(h, hn::Set(du32, 0x8000u)));
  const auto magnitude = hn::And(h, hn::Set(du32, 0x7FFFu));
  const auto exponent = hn::And(magnitude, hn::Set(du32, 0x7C00u));
  const auto rebias = hn::Set(du32, 112u << 23);  // 127 − 15, once more for inf/NaN
  auto normal = hn::Add(hn::ShiftLeft<13>(magnitude), rebias);
  normal =
      hn::IfThenElse(hn::Eq(exponent, hn::Set(du32, 0x7C00u)), hn::Add(normal, rebias), normal);
  const auto subnormal = hn::BitCast(
      du32, hn::Mul(hn::ConvertTo(df, hn::BitCast(DI32(), magnitude)), hn::Set(df, 0x1p-24f)));
  const auto bits = hn::IfThenElse(hn::Eq(exponent, hn::Zero(du32)), subnormal, normal);
  return hn::BitCast(df, hn::Or(bits, sign));
#endif
}
// N halves from p as f32; LoadHalvesN: the first `count` < N, zeros after.
HWY_INLINE hn::Vec<DF> LoadHalves(const uint16_t* HWY_RESTRICT p) {
  return HalvesToF32(hn::LoadU(DU16F(), p));
}
HWY_INLINE hn::Vec<DF> LoadHalvesN(const uint16_t* HWY_RESTRICT p, size_t count) {
  return HalvesToF32(hn::LoadN(DU16F(), p, count));
}

// f16 row · f32 x over n values (any n). A partial last vector is loaded
// zero-filled (0 · 0 adds nothing), so no lane runs scalar.
float DotF16F32(const uint16_t* HWY_RESTRICT w, const float* HWY_RESTRICT x, size_t n) {
  const DF df;
  const size_t N = hn::Lanes(df);
  auto acc0 = hn::Zero(df), acc1 = hn::Zero(df);
  size_t i = 0;
  for (; i + 2 * N <= n; i += 2 * N) {
    acc0 = hn::MulAdd(LoadHalves(w + i), hn::LoadU(df, x + i), acc0);
    acc1 = hn::MulAdd(LoadHalves(w + i + N), hn::LoadU(df, x + i + N), acc1);
  }
  for (; i + N <= n; i += N) acc0 = hn::MulAdd(LoadHalves(w + i), hn::LoadU(df, x + i), acc0);
  if (i < n) acc1 = hn::MulAdd(LoadHalvesN(w + i, n - i), hn::LoadN(df, x + i, n - i), acc1);
  return hn::ReduceSum(df, hn::Add(acc0, acc1));
}

// ------------------------------------------------------------ quantization

// x[0, 32·blocks) → Q8_0, bit-identical to ggml's scalar reference: the same
// amax, d = amax/127 and id = 1/d in f32, and roundf(x·id) (ties away from
// zero) computed as trunc(v) ± 1 when |v − trunc(v)| ≥ 0.5, where the
// subtraction is exact. (Adding 0.5 and truncating would round 0.49999997 up.)
// NaN products (only from non-finite rows) become 0 and results are clamped
// to ±127, as the scalar reference does, so no conversion is out of range.
void QuantizeQ8(const float* HWY_RESTRICT x, size_t blocks, Q8_0Block* HWY_RESTRICT out) {
  const DF df;
  const DI32 di32;
  const hn::Rebind<int8_t, DF> di8;
  const size_t N = hn::Lanes(df);
  const auto half = hn::Set(df, 0.5f), one = hn::Set(df, 1.0f), limit = hn::Set(df, 127.0f);
  for (size_t k = 0; k < blocks; ++k, x += kQuantBlock) {
    auto vmax = hn::Zero(df);
    for (size_t i = 0; i < kQuantBlock; i += N) vmax = hn::Max(vmax, hn::Abs(hn::LoadU(df, x + i)));
    const float amax = hn::ReduceMax(df, vmax);
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    out[k].d = internal::float_to_half(d);
    const auto vid = hn::Set(df, id);
    for (size_t i = 0; i < kQuantBlock; i += N) {
      auto v = hn::Mul(hn::LoadU(df, x + i), vid);
      v = hn::IfThenElseZero(hn::Eq(v, v), v);
      const auto whole = hn::Trunc(v);
      auto rounded = hn::IfThenElse(hn::Ge(hn::Abs(hn::Sub(v, whole)), half),
                                    hn::Add(whole, hn::CopySign(one, v)), whole);
      rounded = hn::Min(hn::Max(rounded, hn::Neg(limit)), limit);
      hn::StoreU(hn::DemoteTo(di8, hn::ConvertTo(di32, rounded)), di8, out[k].qs + i);
    }
  }
}

// ------------------------------------------------------------ dequantization
// (nibble − 8)·d and q·d with the int converted first, as ggml does: exact
// products of the same operands, so the results are bit-identical.

void DequantQ4(const Q4_0Block* HWY_RESTRICT blocks, size_t count, float* HWY_RESTRICT out) {
  const DF df;
  const size_t N = hn::Lanes(df);
  for (size_t k = 0; k < count; ++k, out += kQuantBlock) {
    const auto d = hn::Set(df, HalfToF32(blocks[k].d));
    for (size_t i = 0; i < 16; i += N) {
      const Q4Halves q = LoadQ4(blocks[k].qs + i);
      hn::StoreU(hn::Mul(q.lo, d), df, out + i);
      hn::StoreU(hn::Mul(q.hi, d), df, out + 16 + i);
    }
  }
}

void DequantQ8(const Q8_0Block* HWY_RESTRICT blocks, size_t count, float* HWY_RESTRICT out) {
  const DF df;
  const size_t N = hn::Lanes(df);
  for (size_t k = 0; k < count; ++k, out += kQuantBlock) {
    const auto d = hn::Set(df, HalfToF32(blocks[k].d));
    for (size_t i = 0; i < kQuantBlock; i += N) {
      hn::StoreU(hn::Mul(LoadQ8(blocks[k].qs + i), d), df, out + i);
    }
  }
}

void ConvertF16(const uint16_t* HWY_RESTRICT in, size_t n, float* HWY_RESTRICT out) {
  const DF df;
  const size_t N = hn::Lanes(df);
  size_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(LoadHalves(in + i), df, out + i);
  for (; i < n; ++i) out[i] = internal::half_to_float(in[i]);
}

// ------------------------------------------------------------ row drivers

HWY_INLINE float RowDot(RowKind kind, const uint8_t* row, size_t cols, const float* x,
                        const Q8_0Block* xq) {
  const size_t blocks = cols / kQuantBlock;
  switch (kind) {
    case RowKind::kF16:
      return DotF16F32(reinterpret_cast<const uint16_t*>(row), x, cols);
    case RowKind::kQ4F32:
      return DotQ4F32(reinterpret_cast<const Q4_0Block*>(row), x, blocks);
    case RowKind::kQ8F32:
      return DotQ8F32(reinterpret_cast<const Q8_0Block*>(row), x, blocks);
    case RowKind::kQ4Q8:
      return DotQ4Q8(reinterpret_cast<const Q4_0Block*>(row), xq, blocks);
    case RowKind::kQ8Q8:
      return DotQ8Q8(reinterpret_cast<const Q8_0Block*>(row), xq, blocks);
  }
  return 0.0f;
}

// Bytes PrepareActivations needs for `batch` vectors of `blocks` Q8_0 blocks;
// 0 where this target's kernels read the blocks directly (or it overflows).
size_t PreparedBytes(size_t blocks, size_t batch) {
#if HWY_TARGET <= HWY_AVX2
  size_t bytes = 0;
  if (__builtin_mul_overflow(PreparedX::Stride(blocks), batch, &bytes)) return 0;
  return bytes;
#else
  (void)blocks;
  (void)batch;
  return 0;
#endif
}

#if HWY_TARGET <= HWY_AVX2
template <class W>
HWY_INLINE void Prepare(const Q8_0Block* HWY_RESTRICT xq, size_t blocks, size_t batch,
                        uint8_t* HWY_RESTRICT out) {
  const DirectX<W> src{xq, blocks};
  const size_t stride = PreparedX::Stride(blocks);
  for (size_t v = 0; v < batch; ++v) {
    uint8_t* o = out + v * stride;
    for (size_t k = 0; k < blocks; ++k) {
      hn::Store(src.X(v, k), DBI8(), reinterpret_cast<int8_t*>(o + 64 * k));
      hn::Store(src.Bias(v, k), DBI32(), reinterpret_cast<int32_t*>(o + 64 * k + 32));
    }
    float* scales = reinterpret_cast<float*>(o + 64 * blocks);
    for (size_t k = 0; k < (blocks + 3) / 4 * 4; ++k) scales[k] = src.Scale(v, k);
  }
}
#endif

// Lays out `batch` quantized activation vectors for WeightRows (PreparedX):
// done once per matvec / matmul, shared by every row and thread.
void PrepareActivations(RowKind kind, const Q8_0Block* HWY_RESTRICT xq, size_t blocks,
                        size_t batch, uint8_t* HWY_RESTRICT out) {
#if HWY_TARGET <= HWY_AVX2
  if (kind == RowKind::kQ4Q8) {
    Prepare<Q4Weights>(xq, blocks, batch, out);
  } else {
    Prepare<Q8Weights>(xq, blocks, batch, out);
  }
#else
  (void)kind;
  (void)xq;
  (void)blocks;
  (void)batch;
  (void)out;
#endif
}

// Rows [row_begin, row_end) of Y = X·Wᵀ for `batch` vectors (batch 1 is a
// matvec). `prepared` is PrepareActivations' output where PreparedBytes was
// non-zero, else null.
void WeightRows(RowKind kind, const uint8_t* HWY_RESTRICT w, size_t row_bytes, size_t rows,
                size_t cols, const float* HWY_RESTRICT x, const Q8_0Block* HWY_RESTRICT xq,
                const uint8_t* HWY_RESTRICT prepared, size_t batch, float* HWY_RESTRICT y,
                size_t row_begin, size_t row_end) {
  const size_t blocks = cols / kQuantBlock;
#if HWY_TARGET <= HWY_AVX2
  if (kind == RowKind::kQ4Q8 || kind == RowKind::kQ8Q8) {
    const bool q4 = kind == RowKind::kQ4Q8;
    if (prepared != nullptr) {
      const PreparedX xs{prepared, blocks, PreparedX::Stride(blocks)};
      if (q4) {
        WideRows<Q4Weights>(w, row_bytes, rows, blocks, xs, batch, y, row_begin, row_end);
      } else {
        WideRows<Q8Weights>(w, row_bytes, rows, blocks, xs, batch, y, row_begin, row_end);
      }
    } else if (q4) {
      WideRows<Q4Weights>(w, row_bytes, rows, blocks, DirectX<Q4Weights>{xq, blocks}, batch, y,
                          row_begin, row_end);
    } else {
      WideRows<Q8Weights>(w, row_bytes, rows, blocks, DirectX<Q8Weights>{xq, blocks}, batch, y,
                          row_begin, row_end);
    }
    return;
  }
#else
  (void)prepared;
#endif
  for (size_t r = row_begin; r < row_end; ++r) {
    const uint8_t* row = w + r * row_bytes;
    for (size_t b = 0; b < batch; ++b) {
      y[b * rows + r] =
          RowDot(kind, row, cols, x ? x + b * cols : nullptr, xq ? xq + b * blocks : nullptr);
    }
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace llmk
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include <algorithm>
#include <vector>

#include "hwy/aligned_allocator.h"
#include "hwy/contrib/thread_pool/thread_pool.h"
#include "llmk/thread_pool.h"
#include "ops/kernels.h"
#include "quant/quant_kernels.h"
#include "util/parallel.h"

namespace llmk::kernels {

HWY_EXPORT(DotQ4Q8);
HWY_EXPORT(DotQ8Q8);
HWY_EXPORT(DotQ4F32);
HWY_EXPORT(DotQ8F32);
HWY_EXPORT(QuantizeQ8);
HWY_EXPORT(DequantQ4);
HWY_EXPORT(DequantQ8);
HWY_EXPORT(ConvertF16);
HWY_EXPORT(WeightRows);
HWY_EXPORT(PreparedBytes);
HWY_EXPORT(PrepareActivations);

float dot_q4_0_q8_0(const Q4_0Block* a, const Q8_0Block* b, size_t blocks) {
  return HWY_DYNAMIC_DISPATCH(DotQ4Q8)(a, b, blocks);
}
float dot_q8_0_q8_0(const Q8_0Block* a, const Q8_0Block* b, size_t blocks) {
  return HWY_DYNAMIC_DISPATCH(DotQ8Q8)(a, b, blocks);
}
float dot_q4_0_f32(const Q4_0Block* a, const float* x, size_t blocks) {
  return HWY_DYNAMIC_DISPATCH(DotQ4F32)(a, x, blocks);
}
float dot_q8_0_f32(const Q8_0Block* a, const float* x, size_t blocks) {
  return HWY_DYNAMIC_DISPATCH(DotQ8F32)(a, x, blocks);
}
void quantize_row_q8_0(const float* x, size_t n, Q8_0Block* out) {
  HWY_DYNAMIC_DISPATCH(QuantizeQ8)(x, n / kQuantBlock, out);
}
void dequantize_q4_0(const Q4_0Block* blocks, size_t count, float* out) {
  HWY_DYNAMIC_DISPATCH(DequantQ4)(blocks, count, out);
}
void dequantize_q8_0(const Q8_0Block* blocks, size_t count, float* out) {
  HWY_DYNAMIC_DISPATCH(DequantQ8)(blocks, count, out);
}

void dequantize_row(const WeightView& w, size_t row, float* out) {
  const auto* bytes = static_cast<const uint8_t*>(w.data) + row * w.row_bytes();
  thread_local std::vector<uint8_t> unpacked;
  if (w.layout == WeightLayout::kInterleaved8) {
    unpacked.resize(w.row_bytes());
    unpack_row8(w, row, unpacked.data());
    bytes = unpacked.data();
  }
  switch (w.type) {
    case TensorType::kF32:
      std::copy_n(reinterpret_cast<const float*>(bytes), w.cols, out);
      return;
    case TensorType::kF16:
      HWY_DYNAMIC_DISPATCH(ConvertF16)(reinterpret_cast<const uint16_t*>(bytes), w.cols, out);
      return;
    case TensorType::kQ4_0:
      dequantize_q4_0(reinterpret_cast<const Q4_0Block*>(bytes), w.cols / kQuantBlock, out);
      return;
    case TensorType::kQ8_0:
      dequantize_q8_0(reinterpret_cast<const Q8_0Block*>(bytes), w.cols / kQuantBlock, out);
      return;
  }
}

namespace {
RowKind row_kind(TensorType type, bool integer) {
  if (type == TensorType::kQ4_0) return integer ? RowKind::kQ4Q8 : RowKind::kQ4F32;
  if (type == TensorType::kQ8_0) return integer ? RowKind::kQ8Q8 : RowKind::kQ8F32;
  return RowKind::kF16;
}
}  // namespace

void weight_rows_direct(const WeightView& w, const float* x, const Q8_0Block* x_q8, size_t batch,
                        float* y, size_t y_stride, size_t row_begin, size_t row_end) {
  const RowKind kind = row_kind(w.type, x_q8 != nullptr);
  const bool integer = kind == RowKind::kQ4Q8 || kind == RowKind::kQ8Q8;
  HWY_DYNAMIC_DISPATCH(WeightRows)(kind, static_cast<const uint8_t*>(w.data), w.row_bytes(),
                                   y_stride, w.cols, integer ? nullptr : x,
                                   integer ? x_q8 : nullptr, nullptr, batch, y, row_begin,
                                   row_end);
}

void matmul_weights(const WeightView& w, const float* x, const Q8_0Block* x_q8, size_t batch,
                    float* y, ThreadPool* pool, bool stream) {
  if (w.layout == WeightLayout::kInterleaved8) {
    matmul_packed(w, x, x_q8, batch, y, pool);
    return;
  }
  if (w.type == TensorType::kF32) {
    const auto* wf = static_cast<const float*>(w.data);
    if (batch == 1) {
      matvec(wf, w.rows, w.cols, x, y, pool, stream);
    } else {
      matmul(wf, w.rows, w.cols, x, batch, y, pool);
    }
    return;
  }
  const RowKind kind = row_kind(w.type, x_q8 != nullptr);
  const bool integer = kind == RowKind::kQ4Q8 || kind == RowKind::kQ8Q8;
  const float* xf = integer ? nullptr : x;
  const Q8_0Block* xq = integer ? x_q8 : nullptr;
  const auto rows_fn = HWY_DYNAMIC_POINTER(WeightRows);
  const auto* bytes = static_cast<const uint8_t*>(w.data);
  const size_t row_bytes = w.row_bytes();
  size_t work = 0;  // only decides whether to thread: saturate rather than wrap
  if (__builtin_mul_overflow(w.rows, w.cols, &work) || __builtin_mul_overflow(work, batch, &work)) {
    work = SIZE_MAX;
  }
  // Integer paths: lay out x once for every row and thread (per calling
  // thread, the buffer is kept between calls).
  const uint8_t* prepared = nullptr;
  if (integer) {
    const size_t blocks = w.cols / kQuantBlock;
    const size_t needed = HWY_DYNAMIC_DISPATCH(PreparedBytes)(blocks, batch);
    if (needed != 0) {
      thread_local hwy::AlignedFreeUniquePtr<uint8_t[]> buffer;
      thread_local size_t capacity = 0;
      if (needed > capacity) {
        buffer = hwy::AllocateAligned<uint8_t>(needed);
        capacity = buffer ? needed : 0;
      }
      if (buffer) {
        HWY_DYNAMIC_DISPATCH(PrepareActivations)(kind, xq, blocks, batch, buffer.get());
        prepared = buffer.get();
      }
    }
  }
  internal::for_row_blocks(w.rows, work, pool, [&](size_t begin, size_t end) {
    rows_fn(kind, bytes, row_bytes, w.rows, w.cols, xf, xq, prepared, batch, y, begin, end);
  });
}

void matvec_weights(const WeightView& w, const float* x, const Q8_0Block* x_q8, float* y,
                    ThreadPool* pool, bool stream) {
  matmul_weights(w, x, x_q8, 1, y, pool, stream);
}

}  // namespace llmk::kernels
#endif  // HWY_ONCE
