// Attention for one query (over f32 or f16 key/value rows) and RoPE: the kernels that move data between
// heads rather than along one vector. Per-target code, included by
// ops/kernels.cc; include after hwy/highway.h inside a foreach_target
// translation unit.
#if defined(LLMK_OPS_ATTENTION_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef LLMK_OPS_ATTENTION_INL_H_
#undef LLMK_OPS_ATTENTION_INL_H_
#else
#define LLMK_OPS_ATTENTION_INL_H_
#endif

#include "hwy/highway.h"
#include "llmk/ops.h"  // RopeLayout
#include "ops/dot-inl.h"
#include "ops/elementwise-inl.h"

HWY_BEFORE_NAMESPACE();
namespace llmk {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// out[0, kVecs·N) (the last vector only `last` lanes) = Σ_t f[t]·v_t, held
// in registers while the value rows (f32 or f16 bits, LoadRow) stream past.
template <size_t kVecs, typename T>
HWY_INLINE void WeightedSum(const T* HWY_RESTRICT values, size_t kv_stride, size_t len,
                            const float* HWY_RESTRICT f, size_t last, float* HWY_RESTRICT out) {
  const DF d;
  const size_t N = hn::Lanes(d);
  hn::Vec<DF> acc[kVecs];
  for (size_t k = 0; k < kVecs; ++k) acc[k] = hn::Zero(d);
  for (size_t t = 0; t < len; ++t) {
    const T* v = values + t * kv_stride;
    const auto ft = hn::Set(d, f[t]);
    for (size_t k = 0; k + 1 < kVecs; ++k) acc[k] = hn::MulAdd(LoadRow(v + k * N), ft, acc[k]);
    acc[kVecs - 1] = hn::MulAdd(LoadRowN(v + (kVecs - 1) * N, last), ft, acc[kVecs - 1]);
  }
  for (size_t k = 0; k + 1 < kVecs; ++k) hn::StoreU(acc[k], d, out + k * N);
  hn::StoreN(acc[kVecs - 1], d, out + (kVecs - 1) * N, last);
}

// One head of attention for one query: scores[t] = q·k_t·scale for t < len,
// softmax, then out = Σ scores[t]·v_t. Key/value rows are kv_stride elements
// apart, f32 or f16 bits (T). For f32 rows: the same operations in the same
// order as dot, softmax and a chain of add_scaled calls into a zeroed `out`
// (so results are bit-identical to them), but in one dispatched call. For
// f16 rows: exactly that arithmetic on the rows widened to f32, so the
// result equals the f32 instantiation's on the widened rows bit for bit.
template <typename T>
void AttendHead(const float* HWY_RESTRICT q, const T* HWY_RESTRICT keys,
                const T* HWY_RESTRICT values, size_t kv_stride, size_t len, size_t hd,
                float scale, float* HWY_RESTRICT scores, float* HWY_RESTRICT out) {
  const DF d;
  const size_t N = hn::Lanes(d);
  size_t t = 0;
  for (; t + 2 <= len; t += 2) {
    float s0, s1;  // locals: written to scores and read back, they stalled the stores
    DotInline2(q, keys + t * kv_stride, keys + (t + 1) * kv_stride, hd, &s0, &s1);
    scores[t] = s0 * scale;
    scores[t + 1] = s1 * scale;
  }
  if (t < len) scores[t] = DotInline(q, keys + t * kv_stride, hd) * scale;
  Softmax(scores, len, scores);
  // Up to 8 vectors per pass over the rows: each holds one FMA chain per
  // row, and 4 chains left half of two FMA units idle waiting on latency
  // (a 64-wide head on 8-lane targets took two passes of 4). Each output
  // lane sums over the rows in order whatever the split, so the bits do not
  // depend on it.
  for (size_t j = 0; j < hd; j += 8 * N) {
    const size_t chunk = HWY_MIN(8 * N, hd - j);
    const size_t vecs = (chunk + N - 1) / N, last = chunk - (vecs - 1) * N;
    const T* v = values + j;
    switch (vecs) {
      case 1: WeightedSum<1>(v, kv_stride, len, scores, last, out + j); break;
      case 2: WeightedSum<2>(v, kv_stride, len, scores, last, out + j); break;
      case 3: WeightedSum<3>(v, kv_stride, len, scores, last, out + j); break;
      case 4: WeightedSum<4>(v, kv_stride, len, scores, last, out + j); break;
      case 5: WeightedSum<5>(v, kv_stride, len, scores, last, out + j); break;
      case 6: WeightedSum<6>(v, kv_stride, len, scores, last, out + j); break;
      case 7: WeightedSum<7>(v, kv_stride, len, scores, last, out + j); break;
      default: WeightedSum<8>(v, kv_stride, len, scores, last, out + j); break;
    }
  }
}

// x[j]·cos_dup[j] + x[j^1]·sin_alt[j] for interleaved pairs; the split-halves
// layout rotates x[i] with x[i + rot_dims/2]. Only the first rot_dims
// elements of a head turn; the rest pass through (partial RoPE). Each output
// fuses the product ggml's compiled rope fuses, x0·cos − x1·sin as
// fma(x0, cos, −(x1·sin)) and x0·sin + x1·cos as fma(x1, cos, x0·sin), so
// rotated queries and keys carry llama.cpp's bits.
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
        Store(hn::MulAdd(a, vc, hn::Neg(hn::Mul(b, vs))), lo + i, c);
        Store(hn::MulAdd(b, vc, hn::Mul(a, vs)), hi + i, c);
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
        const auto r = hn::MulAdd(v, hn::Load(d, cos_dup + j),
                                  hn::Mul(swapped, hn::Load(d, sin_alt + j)));
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
