// Element-wise and row kernels: norms, softmax, activations, RoPE, argmax.
// Compiled once per Highway target (foreach_target) and dispatched at run time.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "ops/elementwise.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include <cmath>

#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"
#include "llmk/ops.h"
#include "llmk/quant.h"
#include "ops/dot-inl.h"

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

// sigmoid(x) = (1 + tanh(x/2)) / 2: tanh saturates cleanly, where exp(−x)
// would overflow for large negative x.
HWY_INLINE hn::Vec<DF> Sigmoid(hn::Vec<DF> x) {
  const DF d;
  const auto half = hn::Set(d, 0.5f);
  return hn::MulAdd(hn::Tanh(d, hn::Mul(x, half)), half, half);
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
        const auto v = Load(x + i, c);
        return hn::Mul(v, Sigmoid(v));
      },
      [&](hn::Vec<DF> v, size_t i, size_t c) { Store(v, out + i, c); });
}

void Swiglu(const float* gate, const float* up, size_t n, float* out) {
  ForEachVector(
      n,
      [&](size_t i, size_t c) {
        const auto g = Load(gate + i, c);
        return hn::Mul(hn::Mul(g, Sigmoid(g)), Load(up + i, c));
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

// out[0, kVecs·N) (the last vector only `last` lanes) = Σ_t f[t]·v_t, held
// in registers while the value rows stream past.
template <size_t kVecs>
HWY_INLINE void WeightedSum(const float* HWY_RESTRICT values, size_t kv_stride, size_t len,
                            const float* HWY_RESTRICT f, size_t last, float* HWY_RESTRICT out) {
  static_assert(kVecs >= 1 && kVecs <= 4, "up to four accumulators");
  const DF d;
  const size_t N = hn::Lanes(d);
  // Named accumulators, not an array: SVE vectors are sizeless types, which
  // cannot be array elements.
  auto acc0 = hn::Zero(d), acc1 = acc0, acc2 = acc0, acc3 = acc0;
  const auto load = [&](const float* v, size_t k) {
    return k + 1 < kVecs ? hn::LoadU(d, v + k * N) : hn::LoadN(d, v + k * N, last);
  };
  const auto store = [&](hn::Vec<DF> acc, size_t k) {
    if (k + 1 < kVecs) {
      hn::StoreU(acc, d, out + k * N);
    } else {
      hn::StoreN(acc, d, out + k * N, last);
    }
  };
  for (size_t t = 0; t < len; ++t) {
    const float* v = values + t * kv_stride;
    const auto ft = hn::Set(d, f[t]);
    acc0 = hn::MulAdd(load(v, 0), ft, acc0);
    if constexpr (kVecs > 1) acc1 = hn::MulAdd(load(v, 1), ft, acc1);
    if constexpr (kVecs > 2) acc2 = hn::MulAdd(load(v, 2), ft, acc2);
    if constexpr (kVecs > 3) acc3 = hn::MulAdd(load(v, 3), ft, acc3);
  }
  store(acc0, 0);
  if constexpr (kVecs > 1) store(acc1, 1);
  if constexpr (kVecs > 2) store(acc2, 2);
  if constexpr (kVecs > 3) store(acc3, 3);
}

// One head of attention for one query: scores[t] = q·k_t·scale for t < len,
// softmax, then out = Σ scores[t]·v_t. Key/value rows are kv_stride floats
// apart. The same operations in the same order as dot, softmax and a chain of
// add_scaled calls into a zeroed `out` (so results are bit-identical to
// them), but in one dispatched call.
void AttendHead(const float* HWY_RESTRICT q, const float* HWY_RESTRICT keys,
                const float* HWY_RESTRICT values, size_t kv_stride, size_t len, size_t hd,
                float scale, float* HWY_RESTRICT scores, float* HWY_RESTRICT out) {
  const DF d;
  const size_t N = hn::Lanes(d);
  for (size_t t = 0; t < len; ++t) scores[t] = DotInline(q, keys + t * kv_stride, hd) * scale;
  Softmax(scores, len, scores);
  for (size_t j = 0; j < hd; j += 4 * N) {
    const size_t chunk = HWY_MIN(4 * N, hd - j);
    const size_t vecs = (chunk + N - 1) / N, last = chunk - (vecs - 1) * N;
    const float* v = values + j;
    switch (vecs) {
      case 1: WeightedSum<1>(v, kv_stride, len, scores, last, out + j); break;
      case 2: WeightedSum<2>(v, kv_stride, len, scores, last, out + j); break;
      case 3: WeightedSum<3>(v, kv_stride, len, scores, last, out + j); break;
      default: WeightedSum<4>(v, kv_stride, len, scores, last, out + j); break;
    }
  }
}

// x[0, n) → n/32 Q8_0 blocks the way ggml-cpu's x86 quantize_row_q8_0 does
// it: multiplier 127/amax, round to nearest even, scale amax/127 as f16. A
// NaN or out-of-range value (never from a finite model) becomes 0. Every
// step is exact or a single IEEE operation, so all targets give the same bytes.
void QuantizeActivationQ8_0(const float* HWY_RESTRICT x, size_t n, Q8_0Block* HWY_RESTRICT out) {
  const hn::CappedTag<float, kQuantBlock> d;
  const hn::Rebind<int32_t, decltype(d)> di;
  const hn::Rebind<int8_t, decltype(d)> d8;
  const size_t N = hn::Lanes(d);
  const auto limit = hn::Set(d, 127.0f);
  for (size_t b = 0; b < n / kQuantBlock; ++b) {
    const float* xs = x + b * kQuantBlock;
    auto vmax = hn::Zero(d);
    for (size_t j = 0; j < kQuantBlock; j += N) vmax = hn::Max(vmax, hn::Abs(hn::LoadU(d, xs + j)));
    const float amax = hn::ReduceMax(d, vmax);
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    out[b].d = f32_to_f16(amax / 127.0f);
    const auto vid = hn::Set(d, id);
    for (size_t j = 0; j < kQuantBlock; j += N) {
      const auto v = hn::Round(hn::Mul(hn::LoadU(d, xs + j), vid));
      const auto in_range = hn::Le(hn::Abs(v), limit);  // false for NaN
      const auto q = hn::ConvertTo(di, hn::IfThenElseZero(in_range, v));
      hn::StoreU(hn::DemoteTo(d8, q), d8, out[b].qs + j);
    }
  }
}

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

// x[j]·cos_dup[j] + x[j^1]·sin_alt[j] for interleaved pairs; the split-halves
// layout rotates x[i] with x[i + half].
void RopeApply(float* x, size_t n, size_t head_dim, const float* cos_sin, int layout) {
  const DF d;
  const size_t N = hn::Lanes(d);
  const size_t half = head_dim / 2;
  const float* cos = cos_sin;
  const float* sin = cos_sin + half;
  if (layout == static_cast<int>(RopeLayout::kSplitHalves)) {
    for (size_t h = 0; h < n; h += head_dim) {
      float* lo = x + h;
      float* hi = x + h + half;
      for (size_t i = 0; i < half; i += N) {
        const size_t c = HWY_MIN(N, half - i);
        const auto a = Load(lo + i, c), b = Load(hi + i, c);
        const auto vc = Load(cos + i, c), vs = Load(sin + i, c);
        Store(hn::NegMulAdd(b, vs, hn::Mul(a, vc)), lo + i, c);
        Store(hn::MulAdd(a, vs, hn::Mul(b, vc)), hi + i, c);
      }
    }
    return;
  }
  // Interleaved: expand the tables to one value per element in a small
  // on-stack buffer (head_dim ≤ 1024 is checked by the caller).
  HWY_ALIGN float cos_dup[1024];
  HWY_ALIGN float sin_alt[1024];
  for (size_t i = 0; i < half; ++i) {
    cos_dup[2 * i] = cos_dup[2 * i + 1] = cos[i];
    sin_alt[2 * i] = -sin[i];
    sin_alt[2 * i + 1] = sin[i];
  }
  for (size_t h = 0; h < n; h += head_dim) {
    float* head = x + h;
    // Whole vectors hold whole pairs (N is even, except N = 1 on the SCALAR
    // target, which takes the pairwise loop for the entire head).
    size_t j = 0;
    if (N >= 2) {
      for (; j + N <= head_dim; j += N) {
        const auto v = hn::LoadU(d, head + j);
        const auto swapped = hn::Reverse2(d, v);
        const auto r = hn::MulAdd(swapped, hn::Load(d, sin_alt + j),
                                  hn::Mul(v, hn::Load(d, cos_dup + j)));
        hn::StoreU(r, d, head + j);
      }
    }
    for (; j < head_dim; j += 2) {
      const float a = head[j], b = head[j + 1];
      head[j] = a * cos_dup[j] - b * sin[j / 2];
      head[j + 1] = b * cos_dup[j] + a * sin[j / 2];
    }
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace llmk
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "ops/kernels.h"

namespace llmk::kernels {

HWY_EXPORT(RmsNorm);
HWY_EXPORT(LayerNorm);
HWY_EXPORT(Softmax);
HWY_EXPORT(Gelu);
HWY_EXPORT(Silu);
HWY_EXPORT(Swiglu);
HWY_EXPORT(Add);
HWY_EXPORT(Mul);
HWY_EXPORT(Scale);
HWY_EXPORT(AddScaled);
HWY_EXPORT(Argmax);
HWY_EXPORT(RopeApply);
HWY_EXPORT(AttendHead);
HWY_EXPORT(QuantizeActivationQ8_0);

void attend_head(const float* q, const float* keys, const float* values, size_t kv_stride,
                 size_t len, size_t head_dim, float scale, float* scores, float* out) {
  HWY_DYNAMIC_DISPATCH(AttendHead)(q, keys, values, kv_stride, len, head_dim, scale, scores,
                                   out);
}
void quantize_activation_q8_0(const float* x, size_t n, Q8_0Block* out) {
  HWY_DYNAMIC_DISPATCH(QuantizeActivationQ8_0)(x, n, out);
}

void rms_norm(const float* x, const float* weight, float eps, size_t n, float* out) {
  HWY_DYNAMIC_DISPATCH(RmsNorm)(x, weight, eps, n, out);
}
void layer_norm(const float* x, const float* weight, const float* bias, float eps,
                size_t n, float* out) {
  HWY_DYNAMIC_DISPATCH(LayerNorm)(x, weight, bias, eps, n, out);
}
void softmax(const float* x, size_t n, float* out) { HWY_DYNAMIC_DISPATCH(Softmax)(x, n, out); }
void gelu(const float* x, size_t n, float* out) { HWY_DYNAMIC_DISPATCH(Gelu)(x, n, out); }
void silu(const float* x, size_t n, float* out) { HWY_DYNAMIC_DISPATCH(Silu)(x, n, out); }
void swiglu(const float* gate, const float* up, size_t n, float* out) {
  HWY_DYNAMIC_DISPATCH(Swiglu)(gate, up, n, out);
}
void add(const float* a, const float* b, size_t n, float* out) {
  HWY_DYNAMIC_DISPATCH(Add)(a, b, n, out);
}
void mul(const float* a, const float* b, size_t n, float* out) {
  HWY_DYNAMIC_DISPATCH(Mul)(a, b, n, out);
}
void scale(const float* x, float factor, size_t n, float* out) {
  HWY_DYNAMIC_DISPATCH(Scale)(x, factor, n, out);
}
void add_scaled(const float* x, float factor, size_t n, float* out) {
  HWY_DYNAMIC_DISPATCH(AddScaled)(x, factor, n, out);
}
size_t argmax(const float* x, size_t n) { return HWY_DYNAMIC_DISPATCH(Argmax)(x, n); }

void rope_angles(size_t head_dim, size_t pos, float theta_base, float* cos_sin) {
  // Same float arithmetic as llama2.c's run.c, so logits match it closely.
  const size_t half = head_dim / 2;
  for (size_t i = 0; i < half; ++i) {
    const float freq =
        1.0f / std::pow(theta_base, static_cast<float>(2 * i) / static_cast<float>(head_dim));
    const float angle = static_cast<float>(pos) * freq;
    cos_sin[i] = std::cos(angle);
    cos_sin[half + i] = std::sin(angle);
  }
}

void rope_apply(float* x, size_t n, size_t head_dim, const float* cos_sin, RopeLayout layout) {
  HWY_DYNAMIC_DISPATCH(RopeApply)(x, n, head_dim, cos_sin, static_cast<int>(layout));
}

}  // namespace llmk::kernels
#endif  // HWY_ONCE
