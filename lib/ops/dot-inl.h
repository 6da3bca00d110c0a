// The f32 dot product as an inline per-target function (its second operand
// f32 or, for an F16 KV cache, f16), shared by the kernels that call it in
// their inner loops (matvec-inl.h's Dot, attention in attention-inl.h) so every caller gets bit-identical sums without paying a
// dynamic dispatch per call. Include after hwy/highway.h inside a
// foreach_target translation unit.
#if defined(LLMK_OPS_DOT_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef LLMK_OPS_DOT_INL_H_
#undef LLMK_OPS_DOT_INL_H_
#else
#define LLMK_OPS_DOT_INL_H_
#endif

#include <cstddef>
#include <cstdint>

#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace llmk {
namespace HWY_NAMESPACE {

namespace hn = hwy::HWY_NAMESPACE;

// Rows of f32 or of IEEE binary16 bits (an F16 KV cache's) as f32 vectors:
// an f32 row loads as it is, an f16 one widens exactly (PromoteTo; F16C or
// AVX-512 on x86, native on NEON/SVE; Highway's emulation elsewhere maps
// only ±inf/NaN to finite values). LoadRowN: the first n < N lanes, zeros
// after. The kernels below are templates over the row type, so both types
// run the very same arithmetic on the loaded vectors.
HWY_INLINE hn::Vec<hn::ScalableTag<float>> LoadRow(const float* HWY_RESTRICT p) {
  return hn::LoadU(hn::ScalableTag<float>(), p);
}
HWY_INLINE hn::Vec<hn::ScalableTag<float>> LoadRowN(const float* HWY_RESTRICT p, size_t n) {
  return hn::LoadN(hn::ScalableTag<float>(), p, n);
}
HWY_INLINE hn::Vec<hn::ScalableTag<float>> LoadRow(const uint16_t* HWY_RESTRICT p) {
  const hn::ScalableTag<float> df;
  const hn::Rebind<uint16_t, decltype(df)> du;
  const hn::Rebind<hwy::float16_t, decltype(df)> dh;
  return hn::PromoteTo(df, hn::BitCast(dh, hn::LoadU(du, p)));
}
HWY_INLINE hn::Vec<hn::ScalableTag<float>> LoadRowN(const uint16_t* HWY_RESTRICT p, size_t n) {
  const hn::ScalableTag<float> df;
  const hn::Rebind<uint16_t, decltype(df)> du;
  const hn::Rebind<hwy::float16_t, decltype(df)> dh;
  return hn::PromoteTo(df, hn::BitCast(dh, hn::LoadN(du, p, n)));
}

// Sum of a[i]·b[i]: four accumulators over whole groups of four vectors,
// then single vectors into the first, then a masked tail into the second.
// b is f32 or f16 bits (LoadRow); the order is the same for both.
template <typename T>
HWY_INLINE float DotInline(const float* HWY_RESTRICT a, const T* HWY_RESTRICT b, size_t n) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  auto s0 = hn::Zero(d), s1 = hn::Zero(d), s2 = hn::Zero(d), s3 = hn::Zero(d);
  size_t i = 0;
  for (; i + 4 * N <= n; i += 4 * N) {
    s0 = hn::MulAdd(hn::LoadU(d, a + i), LoadRow(b + i), s0);
    s1 = hn::MulAdd(hn::LoadU(d, a + i + N), LoadRow(b + i + N), s1);
    s2 = hn::MulAdd(hn::LoadU(d, a + i + 2 * N), LoadRow(b + i + 2 * N), s2);
    s3 = hn::MulAdd(hn::LoadU(d, a + i + 3 * N), LoadRow(b + i + 3 * N), s3);
  }
  for (; i + N <= n; i += N) s0 = hn::MulAdd(hn::LoadU(d, a + i), LoadRow(b + i), s0);
  if (i < n) s1 = hn::MulAdd(hn::LoadN(d, a + i, n - i), LoadRowN(b + i, n - i), s1);
  return hn::ReduceSum(d, hn::Add(hn::Add(s0, s1), hn::Add(s2, s3)));
}

// DotInline of a with two rows at once: each sum is DotInline's to the
// bit (the same operations per row), but the two rows' FMA chains and
// reductions interleave, so neither waits on the other's latency, and a is
// loaded once for both.
template <typename T>
HWY_INLINE void DotInline2(const float* HWY_RESTRICT a, const T* HWY_RESTRICT b0,
                           const T* HWY_RESTRICT b1, size_t n, float* HWY_RESTRICT out0,
                           float* HWY_RESTRICT out1) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  auto s0 = hn::Zero(d), s1 = hn::Zero(d), s2 = hn::Zero(d), s3 = hn::Zero(d);
  auto t0 = hn::Zero(d), t1 = hn::Zero(d), t2 = hn::Zero(d), t3 = hn::Zero(d);
  size_t i = 0;
  for (; i + 4 * N <= n; i += 4 * N) {
    const auto a0 = hn::LoadU(d, a + i), a1 = hn::LoadU(d, a + i + N);
    const auto a2 = hn::LoadU(d, a + i + 2 * N), a3 = hn::LoadU(d, a + i + 3 * N);
    s0 = hn::MulAdd(a0, LoadRow(b0 + i), s0);
    t0 = hn::MulAdd(a0, LoadRow(b1 + i), t0);
    s1 = hn::MulAdd(a1, LoadRow(b0 + i + N), s1);
    t1 = hn::MulAdd(a1, LoadRow(b1 + i + N), t1);
    s2 = hn::MulAdd(a2, LoadRow(b0 + i + 2 * N), s2);
    t2 = hn::MulAdd(a2, LoadRow(b1 + i + 2 * N), t2);
    s3 = hn::MulAdd(a3, LoadRow(b0 + i + 3 * N), s3);
    t3 = hn::MulAdd(a3, LoadRow(b1 + i + 3 * N), t3);
  }
  for (; i + N <= n; i += N) {
    const auto ai = hn::LoadU(d, a + i);
    s0 = hn::MulAdd(ai, LoadRow(b0 + i), s0);
    t0 = hn::MulAdd(ai, LoadRow(b1 + i), t0);
  }
  if (i < n) {
    const auto ai = hn::LoadN(d, a + i, n - i);
    s1 = hn::MulAdd(ai, LoadRowN(b0 + i, n - i), s1);
    t1 = hn::MulAdd(ai, LoadRowN(b1 + i, n - i), t1);
  }
  *out0 = hn::ReduceSum(d, hn::Add(hn::Add(s0, s1), hn::Add(s2, s3)));
  *out1 = hn::ReduceSum(d, hn::Add(hn::Add(t0, t1), hn::Add(t2, t3)));
}

}  // namespace HWY_NAMESPACE
}  // namespace llmk
HWY_AFTER_NAMESPACE();

#endif  // LLMK_OPS_DOT_INL_H_ toggle
