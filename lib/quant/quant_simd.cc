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
// Paths: AVX-512 targets use 512-bit vectors holding two blocks; the other
// x86 targets 128-bit vectors (one block = two vectors); HWY_SCALAR plain C++.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "quant/quant_simd.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include <cstddef>
#include <cstdint>

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

// ------------------------------------------------------ 512-bit (two blocks per vector)

#if HWY_TARGET <= HWY_AVX3
using DWU8 = hn::Full512<uint8_t>;
using DWI8 = hn::Full512<int8_t>;
using DWI32 = hn::Full512<int32_t>;
using DWF = hn::Full512<float>;

// The scales d_a·d_b of four consecutive blocks, laid out per block pair as
// [s0 ×8, s1 ×8] and [s2 ×8, s3 ×8]. Converting all eight halves with one
// F16C instruction is far cheaper than eight scalar conversions.
struct QuadScales {
  hn::Vec<DWF> pair01, pair23;
};
template <class BlockA>
HWY_INLINE QuadScales LoadQuadScales(const BlockA* a, const Q8_0Block* b,
                                     hn::Indices512<float> first, hn::Indices512<float> second) {
  const hn::Full128<uint64_t> d64;
  const hn::Full128<hwy::float16_t> dh;
  const hn::Full256<float> df8;
  const hn::Full128<float> df4;
  const uint64_t a_bits =
      a[0].d | (uint64_t{a[1].d} << 16) | (uint64_t{a[2].d} << 32) | (uint64_t{a[3].d} << 48);
  const uint64_t b_bits =
      b[0].d | (uint64_t{b[1].d} << 16) | (uint64_t{b[2].d} << 32) | (uint64_t{b[3].d} << 48);
  const auto both =
      hn::PromoteTo(df8, hn::BitCast(dh, hn::Dup128VecFromValues(d64, a_bits, b_bits)));
  const auto scales = hn::Mul(hn::LowerHalf(df4, both), hn::UpperHalf(df4, both));
  const auto wide = hn::ZeroExtendVector(DWF(), hn::ZeroExtendVector(df8, scales));
  return {hn::TableLookupLanes(wide, first), hn::TableLookupLanes(wide, second)};
}

// Lane → block indices for LoadQuadScales: lane / 8 and lane / 8 + 2.
HWY_INLINE hn::Indices512<float> PairIndices(int32_t first_block) {
  const hn::Full512<int32_t> di32;
  return hn::IndicesFromVec(
      DWF(), hn::Add(hn::ShiftRight<3>(hn::Iota(di32, 0)), hn::Set(di32, first_block)));
}

// Exact Σ u·s for u unsigned and s signed bytes, minus Σ offset·s: the
// offset-corrected int8 dot product described at the top of the file.
HWY_INLINE hn::Vec<DWI32> OffsetDot(hn::Vec<DWU8> u, hn::Vec<DWI8> s, hn::Vec<DWU8> offset) {
  const DWI32 di32;
  const auto plus = hn::SumOfMulQuadAccumulate(di32, u, s, hn::Zero(di32));
  const auto minus = hn::SumOfMulQuadAccumulate(di32, offset, s, hn::Zero(di32));
  return hn::Sub(plus, minus);
}

HWY_INLINE hn::Vec<DWI8> LoadQ8Pair(const Q8_0Block* b) {
  const DWI8 di8;
  const hn::Half<DWI8> dh;
  return hn::Combine(di8, hn::LoadU(dh, b[1].qs), hn::LoadU(dh, b[0].qs));
}

HWY_INLINE float WideDotQ4Q8(const Q4_0Block* HWY_RESTRICT a, const Q8_0Block* HWY_RESTRICT b,
                             size_t blocks) {
  const DWU8 du8;
  const DWF df;
  const hn::Repartition<uint16_t, DWU8> du16;
  // Odd 128-bit blocks hold the copy of qs whose high nibbles we want.
  const auto shift =
      hn::ShiftLeft<2>(hn::And(hn::ShiftRight<3>(hn::Iota(du16, 0)), hn::Set(du16, 1)));
  const auto low4 = hn::Set(du8, 0x0F);
  const auto eight = hn::Set(du8, 8);
  const auto first = PairIndices(0), second = PairIndices(2);
  auto acc0 = hn::Zero(df), acc1 = hn::Zero(df);
  size_t k = 0;
  for (; k + 4 <= blocks; k += 4) {
    const QuadScales scales = LoadQuadScales(a + k, b + k, first, second);
    for (size_t pair = 0; pair < 2; ++pair) {
      const Q4_0Block* ap = a + k + 2 * pair;
      const Q8_0Block* bp = b + k + 2 * pair;
      // [qs0, qs0, qs1, qs1] → [lo0, hi0, lo1, hi1], matching b's layout.
      const auto dup =
          hn::ConcatUpperLower(du8, hn::LoadDup128(du8, ap[1].qs), hn::LoadDup128(du8, ap[0].qs));
      const auto nibbles = hn::And(hn::BitCast(du8, hn::Shr(hn::BitCast(du16, dup), shift)), low4);
      const auto sum = OffsetDot(nibbles, LoadQ8Pair(bp), eight);
      if (pair == 0) {
        acc0 = hn::MulAdd(hn::ConvertTo(df, sum), scales.pair01, acc0);
      } else {
        acc1 = hn::MulAdd(hn::ConvertTo(df, sum), scales.pair23, acc1);
      }
    }
  }
  float tail = ScalarDot(a + k, b + k, blocks - k);
  return hn::ReduceSum(df, hn::Add(acc0, acc1)) + tail;
}

HWY_INLINE float WideDotQ8Q8(const Q8_0Block* HWY_RESTRICT a, const Q8_0Block* HWY_RESTRICT b,
                             size_t blocks) {
  const DWU8 du8;
  const DWF df;
  const auto bias = hn::Set(du8, 0x80);
  const auto first = PairIndices(0), second = PairIndices(2);
  auto acc0 = hn::Zero(df), acc1 = hn::Zero(df);
  size_t k = 0;
  for (; k + 4 <= blocks; k += 4) {
    const QuadScales scales = LoadQuadScales(a + k, b + k, first, second);
    for (size_t pair = 0; pair < 2; ++pair) {
      const Q8_0Block* ap = a + k + 2 * pair;
      const Q8_0Block* bp = b + k + 2 * pair;
      const auto biased = hn::Xor(hn::BitCast(du8, LoadQ8Pair(ap)), bias);
      const auto sum = OffsetDot(biased, LoadQ8Pair(bp), bias);
      if (pair == 0) {
        acc0 = hn::MulAdd(hn::ConvertTo(df, sum), scales.pair01, acc0);
      } else {
        acc1 = hn::MulAdd(hn::ConvertTo(df, sum), scales.pair23, acc1);
      }
    }
  }
  float tail = ScalarDot(a + k, b + k, blocks - k);
  return hn::ReduceSum(df, hn::Add(acc0, acc1)) + tail;
}
#endif  // HWY_TARGET <= HWY_AVX3

#endif  // HWY_TARGET != HWY_SCALAR

float DotQ4Q8(const Q4_0Block* HWY_RESTRICT a, const Q8_0Block* HWY_RESTRICT b, size_t blocks) {
#if HWY_TARGET == HWY_SCALAR
  return ScalarDot(a, b, blocks);
#elif HWY_TARGET <= HWY_AVX3
  return WideDotQ4Q8(a, b, blocks);
#else
  return NarrowDotQ4Q8(a, b, blocks);
#endif
}

float DotQ8Q8(const Q8_0Block* HWY_RESTRICT a, const Q8_0Block* HWY_RESTRICT b, size_t blocks) {
#if HWY_TARGET == HWY_SCALAR
  return ScalarDot(a, b, blocks);
#elif HWY_TARGET <= HWY_AVX3
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

// N halves from p as f32. F16C (AVX2 and up) converts exactly; Highway's
// emulation on older targets maps ±inf/NaN to finite values, so there we
// rebias the bits ourselves (subnormals via an exact int → float product).
HWY_INLINE hn::Vec<DF> LoadHalves(const uint16_t* HWY_RESTRICT p) {
  const DF df;
#if HWY_TARGET <= HWY_AVX2 && HWY_TARGET != HWY_SCALAR
  const hn::Rebind<hwy::float16_t, DF> dh;
  return hn::PromoteTo(df, hn::LoadU(dh, reinterpret_cast<const hwy::float16_t*>(p)));
#else
  const hn::RebindToUnsigned<DF> du32;
  const hn::Rebind<uint16_t, DF> du16;
  const auto h = hn::PromoteTo(du32, hn::LoadU(du16, p));
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

// f16 row · f32 x over n values (any n).
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
  float sum = hn::ReduceSum(df, hn::Add(acc0, acc1));
  for (; i < n; ++i) sum += internal::half_to_float(w[i]) * x[i];
  return sum;
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

// Rows [row_begin, row_end) of Y = X·Wᵀ for `batch` vectors (batch 1 is a
// matvec). The weight row stays in L1 while it meets every batch vector.
void WeightRows(RowKind kind, const uint8_t* HWY_RESTRICT w, size_t row_bytes, size_t rows,
                size_t cols, const float* HWY_RESTRICT x, const Q8_0Block* HWY_RESTRICT xq,
                size_t batch, float* HWY_RESTRICT y, size_t row_begin, size_t row_end) {
  const size_t blocks = cols / kQuantBlock;
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

#include "hwy/contrib/thread_pool/thread_pool.h"
#include "llmk/thread_pool.h"
#include "ops/kernels.h"
#include "quant/quant_kernels.h"

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

// Splits [0, rows) into blocks of a multiple of 4 rows, a few per thread so
// work stealing evens out, and calls fn(begin, end) for each. `work` is the
// element count that decides whether threading pays.
template <class Fn>
void ForRowBlocks(size_t rows, size_t work, ThreadPool* pool, const Fn& fn) {
  const size_t threads = pool ? pool->num_threads() : 1;
  if (threads <= 1 || work < kMinParallelElements || rows < 8) {
    fn(0, rows);
    return;
  }
  size_t block = (rows + threads * 4 - 1) / (threads * 4);
  block = (block + 3) & ~size_t{3};
  const size_t tasks = (rows + block - 1) / block;
  pool->hwy_pool().Run(0, tasks, [&](uint64_t task, size_t) {
    const size_t begin = task * block;
    fn(begin, std::min(rows, begin + block));
  });
}

}  // namespace

void matmul_weights(const WeightView& w, const float* x, const Q8_0Block* x_q8, size_t batch,
                    float* y, ThreadPool* pool) {
  if (w.type == TensorType::kF32) {
    const auto* wf = static_cast<const float*>(w.data);
    if (batch == 1) {
      matvec(wf, w.rows, w.cols, x, y, pool);
    } else {
      matmul(wf, w.rows, w.cols, x, batch, y, pool);
    }
    return;
  }
  RowKind kind = RowKind::kF16;
  if (w.type == TensorType::kQ4_0) kind = x_q8 ? RowKind::kQ4Q8 : RowKind::kQ4F32;
  if (w.type == TensorType::kQ8_0) kind = x_q8 ? RowKind::kQ8Q8 : RowKind::kQ8F32;
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
  ForRowBlocks(w.rows, work, pool, [&](size_t begin, size_t end) {
    rows_fn(kind, bytes, row_bytes, w.rows, w.cols, xf, xq, batch, y, begin, end);
  });
}

void matvec_weights(const WeightView& w, const float* x, const Q8_0Block* x_q8, float* y,
                    ThreadPool* pool) {
  matmul_weights(w, x, x_q8, 1, y, pool);
}

}  // namespace llmk::kernels
#endif  // HWY_ONCE
