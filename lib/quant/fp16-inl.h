// f16 → f32 conversion inside the per-target namespace: one block scale, a
// vector of halves, a whole F16 row, and the F16 row · f32 dot product.
// Per-target code: include after hwy/highway.h inside a foreach_target
// translation unit (quant/quant_targets.cc).
#if defined(LLMK_QUANT_FP16_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef LLMK_QUANT_FP16_INL_H_
#undef LLMK_QUANT_FP16_INL_H_
#else
#define LLMK_QUANT_FP16_INL_H_
#endif

#include <cstddef>
#include <cstdint>

#include "hwy/highway.h"
#include "quant/fp16.h"

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

using DF = hn::ScalableTag<float>;
using DI32 = hn::RebindToSigned<DF>;

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

void ConvertF16(const uint16_t* HWY_RESTRICT in, size_t n, float* HWY_RESTRICT out) {
  const DF df;
  const size_t N = hn::Lanes(df);
  size_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(LoadHalves(in + i), df, out + i);
  for (; i < n; ++i) out[i] = internal::half_to_float(in[i]);
}

}  // namespace HWY_NAMESPACE
}  // namespace llmk
HWY_AFTER_NAMESPACE();

#endif  // LLMK_QUANT_FP16_INL_H_ toggle
