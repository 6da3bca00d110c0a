// f32 → Q8_0 quantizers. Two, because ggml itself rounds two ways and we
// follow each where it is used:
// - QuantizeQ8TiesAway: ggml's reference quantize_row_q8_0_ref (multiplier
//   1/d, ties away from zero). Its bytes are what ggml writes to files; the
//   public quantize_q8_0 reproduces them.
// - QuantizeQ8TiesEven: ggml-cpu's x86 quantize_row_q8_0 (multiplier
//   127/amax, ties to even), what llama.cpp applies to activations before
//   every quantized matrix product. The forward pass and the public matvec
//   use it, so quantized logits follow llama.cpp's.
// They differ in the last bit of some products, hence in some int8 values.
// Per-target code: include after hwy/highway.h inside a foreach_target
// translation unit (quant/quant_targets.cc).
#if defined(LLMK_QUANT_QUANTIZE_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef LLMK_QUANT_QUANTIZE_INL_H_
#undef LLMK_QUANT_QUANTIZE_INL_H_
#else
#define LLMK_QUANT_QUANTIZE_INL_H_
#endif

#include <cstddef>
#include <cstdint>

#include "hwy/highway.h"
#include "llmk/quant.h"
#include "quant/fp16.h"

HWY_BEFORE_NAMESPACE();
namespace llmk {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// x[0, 32·blocks) → Q8_0, bit-identical to ggml's scalar reference: the same
// amax, d = amax/127 and id = 1/d in f32, and roundf(x·id) (ties away from
// zero) computed as trunc(v) ± 1 when |v − trunc(v)| ≥ 0.5, where the
// subtraction is exact. (Adding 0.5 and truncating would round 0.49999997 up.)
// NaN products (only from non-finite rows) become 0 and results are clamped
// to ±127, as the scalar reference does, so no conversion is out of range.
void QuantizeQ8TiesAway(const float* HWY_RESTRICT x, size_t blocks, Q8_0Block* HWY_RESTRICT out) {
  const hn::ScalableTag<float> df;
  const hn::RebindToSigned<decltype(df)> di32;
  const hn::Rebind<int8_t, decltype(df)> di8;
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

// x[0, 32·blocks) → Q8_0 the way ggml-cpu's x86 quantize_row_q8_0 does
// it: multiplier 127/amax, round to nearest even, scale amax/127 as f16. A
// NaN or out-of-range value (never from a finite model) becomes 0. Every
// step is exact or a single IEEE operation, so all targets give the same bytes.
void QuantizeQ8TiesEven(const float* HWY_RESTRICT x, size_t blocks,
                        Q8_0Block* HWY_RESTRICT out) {
  const hn::CappedTag<float, kQuantBlock> d;
  const hn::Rebind<int32_t, decltype(d)> di;
  const hn::Rebind<int8_t, decltype(d)> d8;
  const size_t N = hn::Lanes(d);
  const auto limit = hn::Set(d, 127.0f);
  for (size_t b = 0; b < blocks; ++b) {
    const float* xs = x + b * kQuantBlock;
    auto vmax = hn::Zero(d);
    for (size_t j = 0; j < kQuantBlock; j += N) vmax = hn::Max(vmax, hn::Abs(hn::LoadU(d, xs + j)));
    const float amax = hn::ReduceMax(d, vmax);
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    out[b].d = internal::float_to_half(amax / 127.0f);
    const auto vid = hn::Set(d, id);
    for (size_t j = 0; j < kQuantBlock; j += N) {
      const auto v = hn::Round(hn::Mul(hn::LoadU(d, xs + j), vid));
      const auto in_range = hn::Le(hn::Abs(v), limit);  // false for NaN
      const auto q = hn::ConvertTo(di, hn::IfThenElseZero(in_range, v));
      hn::StoreU(hn::DemoteTo(d8, q), d8, out[b].qs + j);
    }
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace llmk
HWY_AFTER_NAMESPACE();

#endif  // LLMK_QUANT_QUANTIZE_INL_H_ toggle
