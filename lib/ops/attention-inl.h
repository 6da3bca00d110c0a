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
#include "ops/matvec-inl.h"
#include "util/scratch.h"

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

#if HWY_TARGET <= HWY_AVX2 && HWY_TARGET != HWY_SCALAR && HWY_ARCH_X86
// Causal attention of one head for n queries (q_stride floats apart) at
// positions first_pos, first_pos + 1, …: query i sees keys and values
// [0, first_pos + i]. A prompt's queries share every key and value, so both
// products run as the batch product's register tiles, P = PanelVectors()
// queries at a time: scores with the keys as weight rows and the queries
// packed into a panel; the weighted sum with the scores as weight rows and
// the values, in column groups of P, as panels. Each tile stops at the keys
// its last query sees. Per query it is the arithmetic of AttendHead up to the
// summation order of each dot product and each output element (one running
// FMA sum over the head's elements, resp. the positions). False when the
// scratch space cannot be allocated.
template <typename T>
bool AttendQueries(const float* HWY_RESTRICT q, size_t q_stride, size_t n, size_t first_pos,
                   const T* HWY_RESTRICT keys, const T* HWY_RESTRICT values, size_t kv_stride,
                   size_t hd, float scale, float* HWY_RESTRICT out, size_t out_stride) {
  const DF d;
  const size_t N = hn::Lanes(d), P = PanelVectors();
  const size_t len = first_pos + n;
  const size_t groups = (hd + P - 1) / P, query_panels = (n + P - 1) / P;
  // Four parts, each starting on a whole vector for the panels' aligned loads.
  const auto whole = [](size_t floats) { return (floats + 63) / 64 * 64; };
  const size_t keys_size = whole(len * hd), values_size = whole(groups * len * P);
  const size_t queries_size = whole(query_panels * P * hd);
  thread_local internal::ScratchBuffer<float> scratch;
  float* wide_keys = scratch.get(keys_size + values_size + queries_size + P * len);
  if (wide_keys == nullptr) return false;
  float* value_panels = wide_keys + keys_size;
  float* query_panel = value_panels + values_size;
  float* scores = query_panel + queries_size;
  for (size_t t = 0; t < len; ++t) {
    for (size_t j = 0; j < hd; j += N) {
      const size_t c = HWY_MIN(N, hd - j);
      hn::StoreN(LoadRowN(keys + t * kv_stride + j, c), d, wide_keys + t * hd + j, c);
    }
  }
  // Value panel g holds element gP + j of row t at t·P + j, zero past hd.
  for (size_t g = 0; g < groups; ++g) {
    for (size_t t = 0; t < len; ++t) {
      for (size_t j = 0; j < P; j += N) {
        const size_t col = g * P + j, c = col < hd ? HWY_MIN(N, hd - col) : 0;
        const auto v = c == 0 ? hn::Zero(d) : LoadRowN(values + t * kv_stride + col, c);
        hn::Store(v, d, value_panels + (g * len + t) * P + j);
      }
    }
  }
  PackPanelsStrided(q, q_stride, n, hd, 0, query_panels, query_panel);
  for (size_t p = 0; p < query_panels; ++p) {
    const size_t first = p * P, count = HWY_MIN(P, n - first);
    const size_t seen = first_pos + first + count;  // keys the panel's last query sees
    const float* panel = query_panel + p * P * hd;
    // scores[i·len + t] = q_i·k_t for t < seen.
    size_t t = 0;
    for (; t + kPanelRows <= seen; t += kPanelRows) {
      PanelTileAnyWidth<kPanelRows>(wide_keys + t * hd, hd, hd, panel, count, scores + t, len);
    }
    for (; t + 4 <= seen; t += 4) {
      PanelTileAnyWidth<4>(wide_keys + t * hd, hd, hd, panel, count, scores + t, len);
    }
    for (; t < seen; ++t) {
      PanelTileAnyWidth<1>(wide_keys + t * hd, hd, hd, panel, count, scores + t, len);
    }
    for (size_t i = 0; i < count; ++i) {
      float* row = scores + i * len;
      const size_t visible = first_pos + first + i + 1;
      Scale(row, scale, visible, row);
      Softmax(row, visible, row);
      std::fill(row + visible, row + seen, 0.0f);  // the tile of later queries reads them
    }
    // out[i] = Σ_t scores[i·len + t]·v_t, tiles of queries over the keys
    // their last one sees.
    auto values_of = [&]<size_t kRows>(size_t i) {
      const size_t keys_seen = first_pos + first + i + kRows;
      for (size_t g = 0; g < groups; ++g) {
        PanelTileAnyWidth<kRows, true>(scores + i * len, len, keys_seen,
                                       value_panels + g * len * P, HWY_MIN(P, hd - g * P),
                                       out + (first + i) * out_stride + g * P, out_stride);
      }
    };
    size_t i = 0;
    for (; i + kPanelRows <= count; i += kPanelRows) values_of.template operator()<kPanelRows>(i);
    for (; i + 4 <= count; i += 4) values_of.template operator()<4>(i);
    for (; i < count; ++i) values_of.template operator()<1>(i);
  }
  return true;
}
template <typename T>
constexpr auto kAttendQueries = AttendQueries<T>;
#else
template <typename T>
constexpr bool (*kAttendQueries)(const float*, size_t, size_t, size_t, const T*, const T*, size_t,
                                 size_t, float, float*, size_t) = nullptr;
#endif

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
