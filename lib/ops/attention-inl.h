// Attention for one query over an F32 or F16 KV cache, the cache's f32 → f16
// conversion, and RoPE: the kernels that move data between heads rather than
// along one vector. Per-target code, included by
// ops/kernels.cc; include after hwy/highway.h inside a foreach_target
// translation unit.
#if defined(LLMK_OPS_ATTENTION_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef LLMK_OPS_ATTENTION_INL_H_
#undef LLMK_OPS_ATTENTION_INL_H_
#else
#define LLMK_OPS_ATTENTION_INL_H_
#endif

#include <cstdint>

#include "hwy/highway.h"
#include "llmk/ops.h"  // RopeLayout
#include "ops/elementwise-inl.h"

HWY_BEFORE_NAMESPACE();
namespace llmk {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// A KV cache's rows as f32 vectors: F32 rows load as they are, F16 rows
// (IEEE half bits) widen exactly through PromoteTo (F16C / AVX-512 on x86).
// LoadN: the first n < N elements, zeros after.
struct F32Rows {
  using T = float;
  static HWY_INLINE hn::Vec<DF> Load(const float* HWY_RESTRICT p) { return hn::LoadU(DF(), p); }
  static HWY_INLINE hn::Vec<DF> LoadN(const float* HWY_RESTRICT p, size_t n) {
    return hn::LoadN(DF(), p, n);
  }
};
struct F16Rows {
  using T = uint16_t;
  using DU16 = hn::Rebind<uint16_t, DF>;
  using DH = hn::Rebind<hwy::float16_t, DF>;
  static HWY_INLINE hn::Vec<DF> Load(const uint16_t* HWY_RESTRICT p) {
    return hn::PromoteTo(DF(), hn::BitCast(DH(), hn::LoadU(DU16(), p)));
  }
  static HWY_INLINE hn::Vec<DF> LoadN(const uint16_t* HWY_RESTRICT p, size_t n) {
    return hn::PromoteTo(DF(), hn::BitCast(DH(), hn::LoadN(DU16(), p, n)));
  }
};

// Attention scores are computed kScoreRows key rows at a time: one
// accumulator per row over head_dim, so q is loaded once for all of them and
// the rows' multiply-add chains are independent, then the accumulators are
// reduced together (SumLanes4) instead of one horizontal sum per row.
constexpr size_t kScoreRows = 8;

#if HWY_TARGET != HWY_SCALAR && !HWY_HAVE_SCALABLE
// Adds the 128-bit blocks of v: lanes 0–3 of the result.
template <class D>
HWY_INLINE hn::Vec<hn::Full128<float>> FoldBlocks(D /*d*/, hn::Vec<D> v) {
  if constexpr (HWY_MAX_LANES_D(D) <= 4) {
    return v;
  } else {
    const hn::Half<D> dh;
    return FoldBlocks(dh, hn::Add(hn::LowerHalf(dh, v), hn::UpperHalf(dh, v)));
  }
}

// [Σa, Σb, Σc, Σe]: within each 128-bit block, two levels of interleaving
// add lanes 0+2 and 1+3 and then those pairs; the blocks are folded last.
HWY_INLINE hn::Vec<hn::Full128<float>> SumLanes4(hn::Vec<DF> a, hn::Vec<DF> b, hn::Vec<DF> c,
                                                 hn::Vec<DF> e) {
  const DF d;
  const hn::Repartition<uint64_t, DF> d64;
  const auto ab = hn::BitCast(d64, hn::Add(hn::InterleaveLower(d, a, b), hn::InterleaveUpper(d, a, b)));
  const auto ce = hn::BitCast(d64, hn::Add(hn::InterleaveLower(d, c, e), hn::InterleaveUpper(d, c, e)));
  return FoldBlocks(d, hn::Add(hn::BitCast(d, hn::InterleaveLower(d64, ab, ce)),
                               hn::BitCast(d, hn::InterleaveUpper(d64, ab, ce))));
}
#endif

// scores[t] = (q·k_t)·scale for t < len; key rows kv_stride elements apart.
template <class Rows>
HWY_INLINE void Scores(const float* HWY_RESTRICT q, const typename Rows::T* HWY_RESTRICT keys,
                       size_t kv_stride, size_t len, size_t hd, float scale,
                       float* HWY_RESTRICT scores) {
  const DF d;
  const size_t N = hn::Lanes(d);
  const size_t whole = hd / N * N, tail = hd - whole;
  size_t t = 0;
#if HWY_TARGET != HWY_SCALAR && !HWY_HAVE_SCALABLE
  const hn::Full128<float> d4;
  const auto vscale = hn::Set(d4, scale);
  for (; t + kScoreRows <= len; t += kScoreRows) {
    const typename Rows::T* k = keys + t * kv_stride;
    hn::Vec<DF> acc[kScoreRows];
    for (size_t r = 0; r < kScoreRows; ++r) acc[r] = hn::Zero(d);
    for (size_t j = 0; j < whole; j += N) {
      const auto qv = hn::LoadU(d, q + j);
      for (size_t r = 0; r < kScoreRows; ++r) {
        acc[r] = hn::MulAdd(qv, Rows::Load(k + r * kv_stride + j), acc[r]);
      }
    }
    if (tail != 0) {
      const auto qv = hn::LoadN(d, q + whole, tail);
      for (size_t r = 0; r < kScoreRows; ++r) {
        acc[r] = hn::MulAdd(qv, Rows::LoadN(k + r * kv_stride + whole, tail), acc[r]);
      }
    }
    for (size_t r = 0; r < kScoreRows; r += 4) {
      const auto sums = SumLanes4(acc[r], acc[r + 1], acc[r + 2], acc[r + 3]);
      hn::StoreU(hn::Mul(sums, vscale), d4, scores + t + r);
    }
  }
#endif
  // The last rows (all of them on the SCALAR target) one at a time, with
  // the same single accumulator per row.
  for (; t < len; ++t) {
    const typename Rows::T* k = keys + t * kv_stride;
    auto acc = hn::Zero(d);
    for (size_t j = 0; j < whole; j += N) acc = hn::MulAdd(hn::LoadU(d, q + j), Rows::Load(k + j), acc);
    if (tail != 0) acc = hn::MulAdd(hn::LoadN(d, q + whole, tail), Rows::LoadN(k + whole, tail), acc);
    scores[t] = hn::ReduceSum(d, acc) * scale;
  }
}

// out[0, kVecs·N) (the last vector only `last` lanes) = Σ_t f[t]·v_t, held
// in registers while the value rows stream past: even and odd positions in
// two sets of accumulators (twice the independent multiply-add chains),
// added at the end.
template <class Rows, size_t kVecs>
HWY_INLINE void WeightedSum(const typename Rows::T* HWY_RESTRICT values, size_t kv_stride,
                            size_t len, const float* HWY_RESTRICT f, size_t last,
                            float* HWY_RESTRICT out) {
  const DF d;
  const size_t N = hn::Lanes(d);
  hn::Vec<DF> even[kVecs], odd[kVecs];
  for (size_t k = 0; k < kVecs; ++k) even[k] = odd[k] = hn::Zero(d);
  auto accumulate = [&](hn::Vec<DF>* acc, const typename Rows::T* v, float ft) HWY_ATTR {
    const auto vf = hn::Set(d, ft);
    for (size_t k = 0; k + 1 < kVecs; ++k) acc[k] = hn::MulAdd(Rows::Load(v + k * N), vf, acc[k]);
    acc[kVecs - 1] = hn::MulAdd(Rows::LoadN(v + (kVecs - 1) * N, last), vf, acc[kVecs - 1]);
  };
  size_t t = 0;
  for (; t + 2 <= len; t += 2) {
    accumulate(even, values + t * kv_stride, f[t]);
    accumulate(odd, values + (t + 1) * kv_stride, f[t + 1]);
  }
  if (t < len) accumulate(even, values + t * kv_stride, f[t]);
  for (size_t k = 0; k + 1 < kVecs; ++k) hn::StoreU(hn::Add(even[k], odd[k]), d, out + k * N);
  hn::StoreN(hn::Add(even[kVecs - 1], odd[kVecs - 1]), d, out + (kVecs - 1) * N, last);
}

// One head of attention for one query: scores[t] = q·k_t·scale for t < len,
// softmax, then out = Σ scores[t]·v_t. Key/value rows are kv_stride elements
// apart.
template <class Rows>
HWY_INLINE void AttendHeadRows(const float* HWY_RESTRICT q,
                               const typename Rows::T* HWY_RESTRICT keys,
                               const typename Rows::T* HWY_RESTRICT values, size_t kv_stride,
                               size_t len, size_t hd, float scale, float* HWY_RESTRICT scores,
                               float* HWY_RESTRICT out) {
  const DF d;
  const size_t N = hn::Lanes(d);
  Scores<Rows>(q, keys, kv_stride, len, hd, scale, scores);
  Softmax(scores, len, scores);
  for (size_t j = 0; j < hd; j += 4 * N) {
    const size_t chunk = HWY_MIN(4 * N, hd - j);
    const size_t vecs = (chunk + N - 1) / N, last = chunk - (vecs - 1) * N;
    const typename Rows::T* v = values + j;
    switch (vecs) {
      case 1: WeightedSum<Rows, 1>(v, kv_stride, len, scores, last, out + j); break;
      case 2: WeightedSum<Rows, 2>(v, kv_stride, len, scores, last, out + j); break;
      case 3: WeightedSum<Rows, 3>(v, kv_stride, len, scores, last, out + j); break;
      default: WeightedSum<Rows, 4>(v, kv_stride, len, scores, last, out + j); break;
    }
  }
}

void AttendHead(const float* HWY_RESTRICT q, const float* HWY_RESTRICT keys,
                const float* HWY_RESTRICT values, size_t kv_stride, size_t len, size_t hd,
                float scale, float* HWY_RESTRICT scores, float* HWY_RESTRICT out) {
  AttendHeadRows<F32Rows>(q, keys, values, kv_stride, len, hd, scale, scores, out);
}

void AttendHeadF16(const float* HWY_RESTRICT q, const uint16_t* HWY_RESTRICT keys,
                   const uint16_t* HWY_RESTRICT values, size_t kv_stride, size_t len, size_t hd,
                   float scale, float* HWY_RESTRICT scores, float* HWY_RESTRICT out) {
  AttendHeadRows<F16Rows>(q, keys, values, kv_stride, len, hd, scale, scores, out);
}

// out[i] = x[i] as IEEE half bits, rounded to nearest even.
void F32ToF16(const float* HWY_RESTRICT x, size_t n, uint16_t* HWY_RESTRICT out) {
  const DF d;
  const F16Rows::DU16 du;
  const F16Rows::DH dh;
  const size_t N = hn::Lanes(d);
  size_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(hn::BitCast(du, hn::DemoteTo(dh, hn::LoadU(d, x + i))), du, out + i);
  if (i < n) {
    const auto half = hn::BitCast(du, hn::DemoteTo(dh, hn::LoadN(d, x + i, n - i)));
    hn::StoreN(half, du, out + i, n - i);
  }
}

// x[j]·cos_dup[j] + x[j^1]·sin_alt[j] for interleaved pairs; the split-halves
// layout rotates x[i] with x[i + rot_dims/2]. Only the first rot_dims
// elements of a head turn; the rest pass through (partial RoPE).
void RopeApply(float* x, size_t n, size_t head_dim, size_t rot_dims, const float* cos_sin,
               RopeLayout layout) {
  const DF d;
  const size_t N = hn::Lanes(d);
  const size_t half = rot_dims / 2;
  const float* cos = cos_sin;
  const float* sin = cos_sin + half;
  if (layout == RopeLayout::kSplitHalves) {
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
  // on-stack buffer (rot_dims ≤ head_dim ≤ 1024 is checked by the caller).
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
      for (; j + N <= rot_dims; j += N) {
        const auto v = hn::LoadU(d, head + j);
        const auto swapped = hn::Reverse2(d, v);
        const auto r = hn::MulAdd(swapped, hn::Load(d, sin_alt + j),
                                  hn::Mul(v, hn::Load(d, cos_dup + j)));
        hn::StoreU(r, d, head + j);
      }
    }
    for (; j < rot_dims; j += 2) {
      const float a = head[j], b = head[j + 1];
      head[j] = a * cos_dup[j] - b * sin[j / 2];
      head[j + 1] = b * cos_dup[j] + a * sin[j / 2];
    }
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace llmk
HWY_AFTER_NAMESPACE();

#endif  // LLMK_OPS_ATTENTION_INL_H_ toggle
