// The f32 dot product as an inline per-target function, shared by the
// kernels that call it in their inner loops (matvec-inl.h's Dot, attention in
// attention-inl.h) so every caller gets bit-identical sums without paying a
// dynamic dispatch per call. Include after hwy/highway.h inside a
// foreach_target translation unit.
#if defined(LLMK_OPS_DOT_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef LLMK_OPS_DOT_INL_H_
#undef LLMK_OPS_DOT_INL_H_
#else
#define LLMK_OPS_DOT_INL_H_
#endif

#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace llmk {
namespace HWY_NAMESPACE {

// Sum of a[i]·b[i]: four accumulators over whole groups of four vectors,
// then single vectors into the first, then a masked tail into the second.
HWY_INLINE float DotInline(const float* HWY_RESTRICT a, const float* HWY_RESTRICT b, size_t n) {
  namespace hn = hwy::HWY_NAMESPACE;
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  auto s0 = hn::Zero(d), s1 = hn::Zero(d), s2 = hn::Zero(d), s3 = hn::Zero(d);
  size_t i = 0;
  for (; i + 4 * N <= n; i += 4 * N) {
    s0 = hn::MulAdd(hn::LoadU(d, a + i), hn::LoadU(d, b + i), s0);
    s1 = hn::MulAdd(hn::LoadU(d, a + i + N), hn::LoadU(d, b + i + N), s1);
    s2 = hn::MulAdd(hn::LoadU(d, a + i + 2 * N), hn::LoadU(d, b + i + 2 * N), s2);
    s3 = hn::MulAdd(hn::LoadU(d, a + i + 3 * N), hn::LoadU(d, b + i + 3 * N), s3);
  }
  for (; i + N <= n; i += N) s0 = hn::MulAdd(hn::LoadU(d, a + i), hn::LoadU(d, b + i), s0);
  if (i < n) s1 = hn::MulAdd(hn::LoadN(d, a + i, n - i), hn::LoadN(d, b + i, n - i), s1);
  return hn::ReduceSum(d, hn::Add(hn::Add(s0, s1), hn::Add(s2, s3)));
}

}  // namespace HWY_NAMESPACE
}  // namespace llmk
HWY_AFTER_NAMESPACE();

#endif  // LLMK_OPS_DOT_INL_H_ toggle
