// Element-wise and row kernels: norms, softmax, activations, add / mul /
// scale, argmax. Per-target code, included by ops/kernels.cc (the table) and
// by other -inl.h files that call these (attention's softmax); include after
// hwy/highway.h inside a foreach_target translation unit.
#if defined(LLMK_OPS_ELEMENTWISE_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef LLMK_OPS_ELEMENTWISE_INL_H_
#undef LLMK_OPS_ELEMENTWISE_INL_H_
#else
#define LLMK_OPS_ELEMENTWISE_INL_H_
#endif

#include <cmath>

#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace llmk {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;
using DF = hn::ScalableTag<float>;

// Applies f to full vectors and then once to a zero-padded partial vector.
// f(v, i) returns the output vector for input lanes starting at i.
template <class LoadFn, class StoreFn>
HWY_INLINE void ForEachVector(size_t n, const LoadFn& compute, const StoreFn& store) {
  const DF d;
  const size_t N = hn::Lanes(d);
  size_t i = 0;
  for (; i + N <= n; i += N) store(compute(i, N), i, N);
  if (i < n) store(compute(i, n - i), i, n - i);
}

HWY_INLINE hn::Vec<DF> Load(const float* p, size_t count) {
  const DF d;
  return count == hn::Lanes(d) ? hn::LoadU(d, p) : hn::LoadN(d, p, count);
}
HWY_INLINE void Store(hn::Vec<DF> v, float* p, size_t count) {
  const DF d;
  if (count == hn::Lanes(d)) {
    hn::StoreU(v, d, p);
  } else {
    hn::StoreN(v, d, p, count);
  }
}

HWY_INLINE float SumOfSquares(const float* x, size_t n) {
  const DF d;
  const size_t N = hn::Lanes(d);
  auto s0 = hn::Zero(d), s1 = hn::Zero(d);
  size_t i = 0;
  for (; i + 2 * N <= n; i += 2 * N) {
    const auto a = hn::LoadU(d, x + i), b = hn::LoadU(d, x + i + N);
    s0 = hn::MulAdd(a, a, s0);
    s1 = hn::MulAdd(b, b, s1);
  }
  for (; i < n; i += N) {
    const auto a = Load(x + i, HWY_MIN(N, n - i));
    s0 = hn::MulAdd(a, a, s0);
  }
  return hn::ReduceSum(d, hn::Add(s0, s1));
}

HWY_INLINE float Sum(const float* x, size_t n) {
  const DF d;
  const size_t N = hn::Lanes(d);
  auto s = hn::Zero(d);
  for (size_t i = 0; i < n; i += N) s = hn::Add(s, Load(x + i, HWY_MIN(N, n - i)));
  return hn::ReduceSum(d, s);
}

void RmsNorm(const float* x, const float* weight, float eps, size_t n, float* out) {
  const DF d;
  const float inv = 1.0f / std::sqrt(SumOfSquares(x, n) / static_cast<float>(n) + eps);
  const auto vinv = hn::Set(d, inv);
  ForEachVector(
      n, [&](size_t i, size_t c) { return hn::Mul(hn::Mul(Load(x + i, c), vinv), Load(weight + i, c)); },
      [&](hn::Vec<DF> v, size_t i, size_t c) { Store(v, out + i, c); });
}

void LayerNorm(const float* x, const float* weight, const float* bias, float eps,
               size_t n, float* out) {
  const DF d;
  const size_t N = hn::Lanes(d);
  const float mean = Sum(x, n) / static_cast<float>(n);
  const auto vmean = hn::Set(d, mean);
  // Two passes: variance of the centred values, which stays accurate when the
  // mean is large compared with the spread.
  auto acc = hn::Zero(d);
  for (size_t i = 0; i < n; i += N) {
    const size_t c = HWY_MIN(N, n - i);
    auto centred = hn::Sub(Load(x + i, c), vmean);
    if (c != N) centred = hn::IfThenElseZero(hn::FirstN(d, c), centred);
    acc = hn::MulAdd(centred, centred, acc);
  }
  const float var = hn::ReduceSum(d, acc) / static_cast<float>(n);
  const auto vinv = hn::Set(d, 1.0f / std::sqrt(var + eps));
  ForEachVector(
      n,
      [&](size_t i, size_t c) {
        const auto normed = hn::Mul(hn::Sub(Load(x + i, c), vmean), vinv);
        return hn::MulAdd(normed, Load(weight + i, c), Load(bias + i, c));
      },
      [&](hn::Vec<DF> v, size_t i, size_t c) { Store(v, out + i, c); });
}

void Softmax(const float* x, size_t n, float* out) {
  const DF d;
  const size_t N = hn::Lanes(d);
  auto vmax = hn::Set(d, -HUGE_VALF);
  for (size_t i = 0; i < n; i += N) {
    const size_t c = HWY_MIN(N, n - i);
    vmax = hn::Max(vmax, c == N ? hn::LoadU(d, x + i)
                                : hn::LoadNOr(hn::Set(d, -HUGE_VALF), d, x + i, c));
  }
  const auto max = hn::Set(d, hn::ReduceMax(d, vmax));
  auto sum = hn::Zero(d);
  for (size_t i = 0; i < n; i += N) {
    const size_t c = HWY_MIN(N, n - i);
    auto e = hn::Exp(d, hn::Sub(Load(x + i, c), max));
    if (c != N) e = hn::IfThenElseZero(hn::FirstN(d, c), e);
    sum = hn::Add(sum, e);
    Store(e, out + i, c);
  }
  const auto inv = hn::Set(d, 1.0f / hn::ReduceSum(d, sum));
  ForEachVector(
      n, [&](size_t i, size_t c) { return hn::Mul(Load(out + i, c), inv); },
      [&](hn::Vec<DF> v, size_t i, size_t c) { Store(v, out + i, c); });
}

// e^x by the method of Arm's optimized-routines expf, the one ggml's CPU
// backend vectorises for SiLU: x = n·ln2 + b, e^x = 2^n·p(b) with a
// degree-5 p, |n| > 192 saturating to 0 or ∞. The same operations in the
// same order give the same bits, which keeps quantized models' logits
// llama.cpp's (a last-bit SiLU difference moves whole Q8_0 steps later on).
HWY_INLINE hn::Vec<DF> ExpOptimizedRoutines(hn::Vec<DF> x) {
  const DF d;
  const hn::RebindToSigned<DF> di;
  const auto shift = hn::Set(d, 0x1.8p23f);  // rounds x·log2(e) to an integer
  const auto n = hn::Sub(hn::MulAdd(x, hn::Set(d, 0x1.715476p+0f), shift), shift);
  // ln 2 in two parts, so b = x − n·ln2 keeps its low bits.
  const auto b = hn::NegMulAdd(n, hn::Set(d, 0x1.7f7d1cp-20f),
                               hn::NegMulAdd(n, hn::Set(d, 0x1.62e4p-1f), x));
  const auto u = hn::Mul(b, b);
  const auto p = hn::MulAdd(
      hn::MulAdd(hn::MulAdd(hn::Set(d, 0x1.0e4020p-7f), b, hn::Set(d, 0x1.573e2ep-5f)), u,
                 hn::MulAdd(hn::Set(d, 0x1.555e66p-3f), b, hn::Set(d, 0x1.fffdb6p-2f))),
      u, hn::MulAdd(hn::Set(d, 0x1.ffffecp-1f), b, hn::Set(d, 1.0f)));
  // p·2^n as AVX-512's scalef computes it: two exact powers of two of half
  // the exponent each (each stays a normal float), so only the second
  // product can round, once, exactly where scalef's single product does.
  const auto ni = hn::ConvertTo(di, n);
  const auto n_half = hn::ShiftRight<1>(ni);
  const auto pow2 = [&](hn::Vec<decltype(di)> k) {
    return hn::BitCast(d, hn::ShiftLeft<23>(hn::Add(k, hn::Set(di, 127))));
  };
  const auto scaled = hn::Mul(hn::Mul(p, pow2(n_half)), pow2(hn::Sub(ni, n_half)));
  const auto saturated = hn::IfThenElseZero(hn::Gt(n, hn::Zero(d)), hn::Set(d, HUGE_VALF));
  return hn::IfThenElse(hn::Gt(hn::Abs(n), hn::Set(d, 192.0f)), saturated, scaled);
}

// x·sigmoid(x) as ggml computes it, x / (1 + e^−x).
HWY_INLINE hn::Vec<DF> SiluVector(hn::Vec<DF> x) {
  const DF d;
  return hn::Div(x, hn::Add(hn::Set(d, 1.0f), ExpOptimizedRoutines(hn::Neg(x))));
}

void Gelu(const float* x, size_t n, float* out) {
  const DF d;
  const auto k0 = hn::Set(d, 0.7978845608028654f);  // sqrt(2/pi)
  const auto k1 = hn::Set(d, 0.044715f);
  const auto half = hn::Set(d, 0.5f);
  ForEachVector(
      n,
      [&](size_t i, size_t c) {
        const auto v = Load(x + i, c);
        const auto inner = hn::Mul(k0, hn::MulAdd(hn::Mul(k1, v), hn::Mul(v, v), v));
        const auto t = hn::Tanh(d, inner);
        return hn::Mul(hn::Mul(half, v), hn::Add(hn::Set(d, 1.0f), t));
      },
      [&](hn::Vec<DF> v, size_t i, size_t c) { Store(v, out + i, c); });
}

void Silu(const float* x, size_t n, float* out) {
  ForEachVector(
      n,
      [&](size_t i, size_t c) {
        return SiluVector(Load(x + i, c));
      },
      [&](hn::Vec<DF> v, size_t i, size_t c) { Store(v, out + i, c); });
}

void Swiglu(const float* gate, const float* up, size_t n, float* out) {
  ForEachVector(
      n,
      [&](size_t i, size_t c) {
        return hn::Mul(SiluVector(Load(gate + i, c)), Load(up + i, c));
      },
      [&](hn::Vec<DF> v, size_t i, size_t c) { Store(v, out + i, c); });
}

void Add(const float* a, const float* b, size_t n, float* out) {
  ForEachVector(
      n, [&](size_t i, size_t c) { return hn::Add(Load(a + i, c), Load(b + i, c)); },
      [&](hn::Vec<DF> v, size_t i, size_t c) { Store(v, out + i, c); });
}

void Mul(const float* a, const float* b, size_t n, float* out) {
  ForEachVector(
      n, [&](size_t i, size_t c) { return hn::Mul(Load(a + i, c), Load(b + i, c)); },
      [&](hn::Vec<DF> v, size_t i, size_t c) { Store(v, out + i, c); });
}

void Scale(const float* x, float factor, size_t n, float* out) {
  const DF d;
  const auto f = hn::Set(d, factor);
  ForEachVector(
      n, [&](size_t i, size_t c) { return hn::Mul(Load(x + i, c), f); },
      [&](hn::Vec<DF> v, size_t i, size_t c) { Store(v, out + i, c); });
}

void AddScaled(const float* x, float factor, size_t n, float* out) {
  const DF d;
  const auto f = hn::Set(d, factor);
  ForEachVector(
      n, [&](size_t i, size_t c) { return hn::MulAdd(Load(x + i, c), f, Load(out + i, c)); },
      [&](hn::Vec<DF> v, size_t i, size_t c) { Store(v, out + i, c); });
}

#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2 && HWY_TARGET != HWY_SCALAR
// F16C (and AVX-512) convert with the rounding ggml uses.
void F32ToF16(const float* HWY_RESTRICT x, size_t n, uint16_t* HWY_RESTRICT out) {
  const DF d;
  const hn::Rebind<hwy::float16_t, DF> dh;
  const hn::Rebind<uint16_t, DF> du;
  const size_t N = hn::Lanes(d);
  size_t i = 0;
  for (; i + N <= n; i += N) {
    hn::StoreU(hn::BitCast(du, hn::DemoteTo(dh, hn::LoadU(d, x + i))), du, out + i);
  }
  if (i < n) {
    hn::StoreN(hn::BitCast(du, hn::DemoteTo(dh, hn::LoadN(d, x + i, n - i))), du, out + i, n - i);
  }
}
constexpr auto kF32ToF16 = F32ToF16;
#else
constexpr void (*kF32ToF16)(const float*, size_t, uint16_t*) = nullptr;
#endif

size_t Argmax(const float* x, size_t n) {
  const DF d;
  const size_t N = hn::Lanes(d);
  auto vmax = hn::Set(d, -HUGE_VALF);
  for (size_t i = 0; i < n; i += N) {
    const size_t c = HWY_MIN(N, n - i);
    vmax = hn::Max(vmax, c == N ? hn::LoadU(d, x + i)
                                : hn::LoadNOr(hn::Set(d, -HUGE_VALF), d, x + i, c));
  }
  const float max = hn::ReduceMax(d, vmax);
  for (size_t i = 0; i < n; ++i) {
    if (x[i] == max) return i;
  }
  return 0;  // only when every element is NaN
}

}  // namespace HWY_NAMESPACE
}  // namespace llmk
HWY_AFTER_NAMESPACE();

#endif  // LLMK_OPS_ELEMENTWISE_INL_H_ toggle
