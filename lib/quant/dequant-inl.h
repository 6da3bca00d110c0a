// Q4_0 / Q8_0 blocks decoded to f32: dequantization, and the dot products
// of quantized weights with f32 activations (ActivationMode::kFloat).
// Per-target code: include after hwy/highway.h inside a foreach_target
// translation unit (quant/quant_targets.cc).
#if defined(LLMK_QUANT_DEQUANT_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef LLMK_QUANT_DEQUANT_INL_H_
#undef LLMK_QUANT_DEQUANT_INL_H_
#else
#define LLMK_QUANT_DEQUANT_INL_H_
#endif

#include <cstddef>
#include <cstdint>

#include "hwy/highway.h"
#include "llmk/quant.h"
#include "quant/fp16-inl.h"

HWY_BEFORE_NAMESPACE();
namespace llmk {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// ------------------------------------------------ quantized weights · f32 values
//
// These walk a block in f32 vectors of N ≤ 16 lanes: lanes i… of the low
// nibbles pair with x[i…], the high nibbles with x[16 + i…].

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

}  // namespace HWY_NAMESPACE
}  // namespace llmk
HWY_AFTER_NAMESPACE();

#endif  // LLMK_QUANT_DEQUANT_INL_H_ toggle
