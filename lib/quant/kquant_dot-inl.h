// K-quant weights · Q8_K activations, Q8_K activation quantization, and the
// BF16 row · f32 dot product.
//
// Every K-quant weight value is an unsigned integer u (0…3, 0…7, 0…15, 0…31
// or 0…63) times a per-16-values integer scale, shifted by an offset:
//   Q2_K, Q4_K, Q5_K: w = d·sc_g·u − dmin·m_g
//   Q3_K:             w = d·sc_g·(u − 4)     (u = low 2 bits | high bit << 2)
//   Q6_K:             w = d·sc_g·(u − 32)
// where g = value index / 16 (Q4_K / Q5_K repeat each 32-value scale twice).
// Against Q8_K activations (d8, q, and bsum_g = Σ q over group g) one
// super-block's dot is
//   d·d8·Σ_g sc_g·Σ u·q  −  dmin·d8·Σ_g m_g·bsum_g          (mins)
//   d·d8·(Σ_g sc_g·Σ u·q − k·Σ_g sc_g·bsum_g), k = 4 or 32   (offsets)
// so the weights stay unsigned and the offsets come from the bsums, as ggml
// does. Every integer sum is exact in int32 (|Σ| < 2^28 per super-block);
// the float work is two conversions and multiply-adds per super-block.
//
// The products: x86's maddubs (Highway's SatWidenMulPairwiseAdd) multiplies
// an unsigned byte by a signed one and adds pairs into int16 — exact here,
// since u ≤ 63 and |q| ≤ 128 give |pair| ≤ 16128. The int16 pairs then meet
// the group's scale in ReorderWidenMulAccumulate (vpmaddwd + add on AVX2,
// one vpdpwssd on AVX-512 VNNI; NEON multiply-accumulates long).
//
// Vectors: 512 bits on AVX-512 targets (two 32-value chunks, four groups,
// per vector), 256 bits on AVX2 (one chunk, two groups), 128 bits elsewhere
// (a chunk is two vectors); the HWY_SCALAR target runs plain integer C++. A
// super-block's 16 group scales are built in one 128-bit register and
// widened; each vector's scales are then one in-block byte shuffle of them.
//
// Per-target code: include after hwy/highway.h inside a foreach_target
// translation unit (quant/quant_targets.cc).
#if defined(LLMK_QUANT_KQUANT_DOT_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef LLMK_QUANT_KQUANT_DOT_INL_H_
#undef LLMK_QUANT_KQUANT_DOT_INL_H_
#else
#define LLMK_QUANT_KQUANT_DOT_INL_H_
#endif

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "hwy/highway.h"
#include "llmk/kquant.h"
#include "quant/fp16-inl.h"

HWY_BEFORE_NAMESPACE();
namespace llmk {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// ------------------------------------------------ Q8_K activation quantizer

// x[0, 256·blocks) → Q8_K exactly as ggml's quantize_row_q8_K_ref: the
// element of largest magnitude with its sign (the first on ties), iscale =
// −127/max, q = round-half-even(iscale·x) capped at 127, d = 1/iscale, bsums
// per 16. An all-zero block is d = 0 with zero quants and bsums. Each step
// is one IEEE operation, so every target writes the same bytes. Non-finite
// input gives defined blocks: NaN elements are ignored for the maximum and
// quantize to 0.
void QuantizeQ8K(const float* HWY_RESTRICT x, size_t blocks, Q8_KBlock* HWY_RESTRICT out) {
  const hn::CappedTag<float, 16> df;
  const hn::RebindToSigned<decltype(df)> di32;
  const hn::Rebind<int8_t, decltype(df)> di8;
  const size_t N = hn::Lanes(df);
  for (size_t k = 0; k < blocks; ++k, x += kSuperBlock) {
    auto vmax = hn::Zero(df);
    for (size_t j = 0; j < kSuperBlock; j += N) {
      const auto a = hn::Abs(hn::LoadU(df, x + j));
      vmax = hn::Max(vmax, hn::IfThenElseZero(hn::Eq(a, a), a));
    }
    const float amax = hn::ReduceMax(df, vmax);
    Q8_KBlock& b = out[k];
    if (amax == 0.0f) {
      b.d = 0.0f;
      std::memset(b.qs, 0, sizeof b.qs);
      std::memset(b.bsums, 0, sizeof b.bsums);
      continue;
    }
    float max = amax;
    for (size_t j = 0; j < kSuperBlock; j += N) {
      const intptr_t first = hn::FindFirstTrue(df, hn::Eq(hn::Abs(hn::LoadU(df, x + j)),
                                                          hn::Set(df, amax)));
      if (first >= 0) {
        max = x[j + static_cast<size_t>(first)];
        break;
      }
    }
    const float iscale = -127.0f / max;
    const auto vscale = hn::Set(df, iscale);
    const auto hi = hn::Set(df, 127.0f), lo = hn::Set(df, -128.0f);
    auto group_sum = hn::Zero(di32);
    for (size_t j = 0; j < kSuperBlock; j += N) {
      auto v = hn::Round(hn::Mul(hn::LoadU(df, x + j), vscale));
      v = hn::Min(hn::Max(hn::IfThenElseZero(hn::Eq(v, v), v), lo), hi);
      const auto q = hn::ConvertTo(di32, v);
      hn::StoreU(hn::DemoteTo(di8, q), di8, b.qs + j);
      group_sum = hn::Add(group_sum, q);
      if ((j + N) % 16 == 0) {
        b.bsums[j / 16] = static_cast<int16_t>(hn::ReduceSum(di32, group_sum));
        group_sum = hn::Zero(di32);
      }
    }
    b.d = 1.0f / iscale;
  }
}

// ------------------------------------------------ formats, element by element
//
// Each format's scalar decoding: U(block, i) is element i's unsigned value,
// Scales() the per-group scales and mins, kOffset the k of the offset
// formats. The HWY_SCALAR path runs on these; the vector unpackers below
// (Q2KVec…) derive from them and must agree (the tests compare both).

// A super-block's integer scales per group of 16 values, and (formats with
// mins) its integer mins per group.
struct GroupScales {
  int16_t scale[16];
  int16_t min[16];
};

// Q4_K / Q5_K: 8 scales and 8 mins of 6 bits in 12 bytes; entries 0–3 are
// the low 6 bits of bytes 0–3 (mins 4–7), entries 4–7 take their low nibble
// from bytes 8–11 and their top 2 bits from the top of bytes 0–3 (4–7).
HWY_INLINE void UnpackScaleMin6(const uint8_t* s, GroupScales& g) {
  for (size_t j = 0; j < 8; ++j) {
    int sc, m;
    if (j < 4) {
      sc = s[j] & 63;
      m = s[j + 4] & 63;
    } else {
      sc = (s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4);
      m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
    g.scale[2 * j] = g.scale[2 * j + 1] = static_cast<int16_t>(sc);
    g.min[2 * j] = g.min[2 * j + 1] = static_cast<int16_t>(m);
  }
}

struct Q2KFormat {
  using Block = Q2_KBlock;
  static constexpr bool kHasMins = true;
  static constexpr int kOffset = 0;
  static void Scales(const Block& b, GroupScales& g) {
    for (size_t j = 0; j < 16; ++j) {
      g.scale[j] = static_cast<int16_t>(b.scales[j] & 0x0F);
      g.min[j] = static_cast<int16_t>(b.scales[j] >> 4);
    }
  }
  static float D(const Block& b) { return HalfToF32(b.d); }
  static float Dmin(const Block& b) { return HalfToF32(b.dmin); }
  // Value i: 2 bits of qs[32·(i / 128) + i % 32] at shift 2·((i / 32) % 4).
  static int U(const Block& b, size_t i) {
    return (b.qs[32 * (i / 128) + i % 32] >> (2 * ((i / 32) % 4))) & 3;
  }
};

struct Q3KFormat {
  using Block = Q3_KBlock;
  static constexpr bool kHasMins = false;
  static constexpr int kOffset = 4;
  // 16 signed 6-bit scales (stored + 32): low nibbles in bytes 0–7 (groups
  // 0–7 low halves, 8–15 high halves), top 2 bits in bytes 8–11.
  static void Scales(const Block& b, GroupScales& g) {
    for (size_t j = 0; j < 16; ++j) {
      const int low = j < 8 ? b.scales[j] & 0x0F : b.scales[j - 8] >> 4;
      const int high = (b.scales[8 + j % 4] >> (2 * (j / 4))) & 3;
      g.scale[j] = static_cast<int16_t>((low | (high << 4)) - 32);
    }
  }
  static float D(const Block& b) { return HalfToF32(b.d); }
  static float Dmin(const Block&) { return 0.0f; }
  // Low 2 bits as Q2_K's; bit (i / 32) of hmask[i % 32] adds 4.
  static int U(const Block& b, size_t i) {
    const int low = (b.qs[32 * (i / 128) + i % 32] >> (2 * ((i / 32) % 4))) & 3;
    const int high = (b.hmask[i % 32] >> (i / 32)) & 1;
    return low | (high << 2);
  }
};

struct Q4KFormat {
  using Block = Q4_KBlock;
  static constexpr bool kHasMins = true;
  static constexpr int kOffset = 0;
  static void Scales(const Block& b, GroupScales& g) { UnpackScaleMin6(b.scales, g); }
  static float D(const Block& b) { return HalfToF32(b.d); }
  static float Dmin(const Block& b) { return HalfToF32(b.dmin); }
  // Chunk c = i / 32 is the low (even c) or high (odd c) nibbles of
  // qs[32·(c / 2), +32).
  static int U(const Block& b, size_t i) {
    const size_t c = i / 32;
    return (b.qs[32 * (c / 2) + i % 32] >> (4 * (c % 2))) & 0x0F;
  }
};

struct Q5KFormat {
  using Block = Q5_KBlock;
  static constexpr bool kHasMins = true;
  static constexpr int kOffset = 0;
  static void Scales(const Block& b, GroupScales& g) { UnpackScaleMin6(b.scales, g); }
  static float D(const Block& b) { return HalfToF32(b.d); }
  static float Dmin(const Block& b) { return HalfToF32(b.dmin); }
  // Q4_K's nibble, plus 16 where bit (i / 32) of qh[i % 32] is set.
  static int U(const Block& b, size_t i) {
    const size_t c = i / 32;
    const int low = (b.qs[32 * (c / 2) + i % 32] >> (4 * (c % 2))) & 0x0F;
    return low | (((b.qh[i % 32] >> c) & 1) << 4);
  }
};

struct Q6KFormat {
  using Block = Q6_KBlock;
  static constexpr bool kHasMins = false;
  static constexpr int kOffset = 32;
  static void Scales(const Block& b, GroupScales& g) {
    for (size_t j = 0; j < 16; ++j) g.scale[j] = b.scales[j];
  }
  static float D(const Block& b) { return HalfToF32(b.d); }
  static float Dmin(const Block&) { return 0.0f; }
  // Chunk c = i / 32, half h = c / 4, k = c % 4: the low (k < 2) or high
  // nibble of ql[64·h + 32·(k % 2) + i % 32], and bits 2k, 2k+1 of
  // qh[32·h + i % 32] on top.
  static int U(const Block& b, size_t i) {
    const size_t c = i / 32, h = c / 4, k = c % 4, l = i % 32;
    const int low = (b.ql[64 * h + 32 * (k % 2) + l] >> (4 * (k / 2))) & 0x0F;
    const int high = (b.qh[32 * h + l] >> (2 * k)) & 3;
    return low | (high << 4);
  }
};

// ------------------------------------------------ scalar path

// Integer sums of one super-block: Σ_g sc_g·Σ u·q (minus the offset term)
// and Σ_g m_g·bsum_g.
template <class F>
HWY_INLINE void ScalarSuperBlock(const typename F::Block& a, const Q8_KBlock& b, int32_t* isum,
                                 int32_t* msum) {
  GroupScales g;
  F::Scales(a, g);
  int32_t sum = 0, mins = 0;
  for (size_t grp = 0; grp < 16; ++grp) {
    int32_t s = 0;
    for (size_t l = 0; l < 16; ++l) {
      const size_t i = 16 * grp + l;
      s += F::U(a, i) * b.qs[i];
    }
    sum += g.scale[grp] * (s - F::kOffset * b.bsums[grp]);
    if constexpr (F::kHasMins) mins += g.min[grp] * b.bsums[grp];
  }
  *isum = sum;
  *msum = mins;
}

template <class F>
HWY_INLINE float ScalarKDot(const typename F::Block* HWY_RESTRICT a,
                            const Q8_KBlock* HWY_RESTRICT b, size_t blocks) {
  float sum = 0.0f;
  for (size_t k = 0; k < blocks; ++k) {
    int32_t isum, msum;
    ScalarSuperBlock<F>(a[k], b[k], &isum, &msum);
    sum += F::D(a[k]) * b[k].d * static_cast<float>(isum);
    if constexpr (F::kHasMins) sum -= F::Dmin(a[k]) * b[k].d * static_cast<float>(msum);
  }
  return sum;
}

#if HWY_TARGET != HWY_SCALAR

// ------------------------------------------------ vector path
//
// A step is one vector of weight values: 64 on AVX-512 targets, 32 on AVX2,
// 16 elsewhere. Formats unpack 32-value chunks in vectors of at most 32
// bytes (DC8); an AVX-512 step joins two chunks.

#if HWY_TARGET <= HWY_AVX3
using DK8 = hn::Full512<uint8_t>;
#elif HWY_TARGET <= HWY_AVX2
using DK8 = hn::Full256<uint8_t>;
#else
using DK8 = hn::Full128<uint8_t>;
#endif
using DKI8 = hn::RebindToSigned<DK8>;
using DK16 = hn::RepartitionToWide<DKI8>;
using DK32 = hn::RepartitionToWide<DK16>;
using DKF = hn::Repartition<float, DK32>;
constexpr size_t kStepBytes = hn::MaxLanes(DK8());  // 64, 32 or 16 values
constexpr size_t kSteps = kSuperBlock / kStepBytes;

using DC8 = hn::CappedTag<uint8_t, 32>;
using DCU16 = hn::Repartition<uint16_t, DC8>;
constexpr size_t kChunkLanes = hn::MaxLanes(DC8());  // 32 or 16 bytes
constexpr size_t kParts = 32 / kChunkLanes;          // vectors per 32-value chunk

// The 16 group scales (or mins, or bsums) as int16: one vector of 16 lanes,
// or two of 8 on 128-bit targets.
using DG16 = hn::CappedTag<int16_t, 16>;
using DG32 = hn::RepartitionToWide<DG16>;
constexpr size_t kGroupParts = 16 / hn::MaxLanes(DG16());

// The bytes of u16 lanes shifted right by `bits`, masked to `mask`: a per-byte
// shift (bits that cross a byte boundary are masked away).
HWY_INLINE hn::Vec<DC8> ShiftBytes(hn::Vec<DC8> v, int bits, uint8_t mask) {
  const DC8 du8;
  return hn::And(hn::BitCast(du8, hn::ShiftRightSame(hn::BitCast(DCU16(), v), bits)),
                 hn::Set(du8, mask));
}

// Group scales and mins as vectors, built in registers: 16 int8 (one per
// group of 16 values) in a 128-bit vector. (Writing them to a stack array
// and reloading it as vectors would stall on store-to-load forwarding.)
using D128I8 = hn::Full128<int8_t>;
using D128U8 = hn::Full128<uint8_t>;
using V128I8 = hn::Vec<D128I8>;

HWY_INLINE uint32_t Load32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// Q4_K / Q5_K: UnpackScaleMin6 four sub-blocks at a time, each sub-block's
// scale (min) repeated for its two groups.
HWY_INLINE void ScaleMin6Vectors(const uint8_t* s, V128I8& scales, V128I8& mins) {
  const uint32_t a0 = Load32(s), a1 = Load32(s + 4), a2 = Load32(s + 8);
  const uint32_t sc_lo = a0 & 0x3F3F3F3Fu, m_lo = a1 & 0x3F3F3F3Fu;
  const uint32_t sc_hi = (a2 & 0x0F0F0F0Fu) | (((a0 >> 6) & 0x03030303u) << 4);
  const uint32_t m_hi = ((a2 >> 4) & 0x0F0F0F0Fu) | (((a1 >> 6) & 0x03030303u) << 4);
  const hn::Full128<uint64_t> d64;
  const auto both = hn::BitCast(D128U8(), hn::Dup128VecFromValues(
                                              d64, sc_lo | (uint64_t{sc_hi} << 32),
                                              m_lo | (uint64_t{m_hi} << 32)));
  scales = hn::BitCast(D128I8(), hn::InterleaveLower(both, both));
  mins = hn::BitCast(D128I8(), hn::InterleaveUpper(D128U8(), both, both));
}

// Bit `from` of each byte moved to bit `to`, all other bits cleared (two ops
// where TestBit and a select take three on AVX2).
HWY_INLINE hn::Vec<DC8> MoveBit(hn::Vec<DC8> v, int from, int to) {
  const DC8 du8;
  const DCU16 du16;
  const auto bit = hn::Set(du8, static_cast<uint8_t>(1u << to));
  if (from >= to) {
    return hn::And(hn::BitCast(du8, hn::ShiftRightSame(hn::BitCast(du16, v), from - to)), bit);
  }
  return hn::And(hn::BitCast(du8, hn::ShiftLeftSame(hn::BitCast(du16, v), to - from)), bit);
}

// Vector unpackers: the unsigned values u of chunk c (values 32c…32c+31),
// part p (bytes kChunkLanes·p on); and the group scales (and mins).
struct Q2KVec : Q2KFormat {
  static hn::Vec<DC8> Unpack(const Block& b, size_t c, size_t p) {
    const auto q = hn::LoadU(DC8(), b.qs + 32 * (c / 4) + kChunkLanes * p);
    return ShiftBytes(q, static_cast<int>(2 * (c % 4)), 3);
  }
  static void VecScales(const Block& b, V128I8& scales, V128I8& mins) {
    const auto packed = hn::LoadU(D128U8(), b.scales);
    scales = hn::BitCast(D128I8(), hn::And(packed, hn::Set(D128U8(), 0x0F)));
    mins = hn::BitCast(D128I8(), hn::ShiftRight<4>(packed));
  }
};
struct Q3KVec : Q3KFormat {
  static hn::Vec<DC8> Unpack(const Block& b, size_t c, size_t p) {
    const DC8 du8;
    const auto q = hn::LoadU(du8, b.qs + 32 * (c / 4) + kChunkLanes * p);
    const auto hm = hn::LoadU(du8, b.hmask + kChunkLanes * p);
    const auto high = MoveBit(hm, static_cast<int>(c), 2);  // 4 where hmask's bit c is set
    return hn::Or(ShiftBytes(q, static_cast<int>(2 * (c % 4)), 3), high);
  }
  // Q3KFormat::Scales four groups at a time: low nibbles from bytes 0–7 (low
  // halves for groups 0–7, high halves for 8–15), top bits from bytes 8–11.
  static void VecScales(const Block& b, V128I8& scales, V128I8&) {
    const uint32_t a0 = Load32(b.scales), a1 = Load32(b.scales + 4), top = Load32(b.scales + 8);
    const uint32_t m4 = 0x0F0F0F0Fu, m2 = 0x03030303u;
    const auto biased = hn::Dup128VecFromValues(
        hn::Full128<uint32_t>(), (a0 & m4) | ((top & m2) << 4),
        (a1 & m4) | (((top >> 2) & m2) << 4), ((a0 >> 4) & m4) | (((top >> 4) & m2) << 4),
        ((a1 >> 4) & m4) | (((top >> 6) & m2) << 4));
    scales = hn::Sub(hn::BitCast(D128I8(), biased), hn::Set(D128I8(), 32));
  }
};
struct Q4KVec : Q4KFormat {
  static hn::Vec<DC8> Unpack(const Block& b, size_t c, size_t p) {
    const auto q = hn::LoadU(DC8(), b.qs + 32 * (c / 2) + kChunkLanes * p);
    return ShiftBytes(q, static_cast<int>(4 * (c % 2)), 0x0F);
  }
  static void VecScales(const Block& b, V128I8& scales, V128I8& mins) {
    ScaleMin6Vectors(b.scales, scales, mins);
  }
};
struct Q5KVec : Q5KFormat {
  static hn::Vec<DC8> Unpack(const Block& b, size_t c, size_t p) {
    const DC8 du8;
    const auto q = hn::LoadU(du8, b.qs + 32 * (c / 2) + kChunkLanes * p);
    const auto qh = hn::LoadU(du8, b.qh + kChunkLanes * p);
    const auto high = MoveBit(qh, static_cast<int>(c), 4);  // 16 where qh's bit c is set
    return hn::Or(ShiftBytes(q, static_cast<int>(4 * (c % 2)), 0x0F), high);
  }
  static void VecScales(const Block& b, V128I8& scales, V128I8& mins) {
    ScaleMin6Vectors(b.scales, scales, mins);
  }
};
struct Q6KVec : Q6KFormat {
  static hn::Vec<DC8> Unpack(const Block& b, size_t c, size_t p) {
    const DC8 du8;
    const size_t h = c / 4, k = c % 4;
    const auto ql = hn::LoadU(du8, b.ql + 64 * h + 32 * (k % 2) + kChunkLanes * p);
    const auto qh = hn::LoadU(du8, b.qh + 32 * h + kChunkLanes * p);
    const auto high = hn::ShiftLeft<4>(ShiftBytes(qh, static_cast<int>(2 * k), 3));
    return hn::Or(ShiftBytes(ql, static_cast<int>(4 * (k / 2)), 0x0F), high);
  }
  static void VecScales(const Block& b, V128I8& scales, V128I8&) {
    scales = hn::LoadU(D128I8(), b.scales);
  }
};

#if HWY_TARGET <= HWY_AVX3
// AVX-512 steps: chunks 2s and 2s+1 take their bits from the same bytes of
// qs (hmask, qh) at shifts that differ per chunk, so one load into both
// 256-bit halves and one per-lane variable shift unpack both chunks.
using DKU16 = hn::RebindToUnsigned<DK16>;

// The 32 bytes at p in both halves (one vbroadcasti64x4).
HWY_INLINE hn::Vec<DK8> LoadBothHalves(const uint8_t* p) {
  const auto* half = reinterpret_cast<const __m256i*>(p);
  return hn::Vec<DK8>{_mm512_broadcast_i64x4(_mm256_loadu_si256(half))};
}

// u16 lanes shifted by `lo` bits in the lower half and `hi` in the upper,
// right when kRight, else left; bytes then masked to `mask`.
template <bool kRight>
HWY_INLINE hn::Vec<DK8> ShiftHalves(hn::Vec<DK8> v, int lo, int hi, uint8_t mask) {
  const DKU16 du16;
  const hn::Half<DKU16> dh;
  const auto counts = hn::Combine(du16, hn::Set(dh, static_cast<uint16_t>(hi)),
                                  hn::Set(dh, static_cast<uint16_t>(lo)));
  const auto v16 = hn::BitCast(du16, v);
  const auto shifted = kRight ? hn::Shr(v16, counts) : hn::Shl(v16, counts);
  return hn::And(hn::BitCast(DK8(), shifted), hn::Set(DK8(), mask));
}

// Bits `from` (lower half) and from + 1 (upper half) of each byte moved to
// bit `to`, all other bits cleared.
HWY_INLINE hn::Vec<DK8> MoveBitHalves(hn::Vec<DK8> v, int from, int to) {
  const auto bit = static_cast<uint8_t>(1u << to);
  if (from >= to) return ShiftHalves<true>(v, from - to, from + 1 - to, bit);
  return ShiftHalves<false>(v, to - from, to - from - 1, bit);
}

HWY_INLINE hn::Vec<DK8> UnpackWide(const Q2KVec::Block& b, size_t s) {
  const auto q = LoadBothHalves(b.qs + 32 * (s / 2));
  const int shift = static_cast<int>(4 * (s % 2));
  return ShiftHalves<true>(q, shift, shift + 2, 3);
}
HWY_INLINE hn::Vec<DK8> UnpackWide(const Q3KVec::Block& b, size_t s) {
  const auto q = LoadBothHalves(b.qs + 32 * (s / 2));
  const int shift = static_cast<int>(4 * (s % 2));
  const auto high = MoveBitHalves(LoadBothHalves(b.hmask), static_cast<int>(2 * s), 2);
  return hn::Or(ShiftHalves<true>(q, shift, shift + 2, 3), high);
}
HWY_INLINE hn::Vec<DK8> UnpackWide(const Q4KVec::Block& b, size_t s) {
  return ShiftHalves<true>(LoadBothHalves(b.qs + 32 * s), 0, 4, 0x0F);
}
HWY_INLINE hn::Vec<DK8> UnpackWide(const Q5KVec::Block& b, size_t s) {
  const auto low = ShiftHalves<true>(LoadBothHalves(b.qs + 32 * s), 0, 4, 0x0F);
  return hn::Or(low, MoveBitHalves(LoadBothHalves(b.qh), static_cast<int>(2 * s), 4));
}
HWY_INLINE hn::Vec<DK8> UnpackWide(const Q6KVec::Block& b, size_t s) {
  // Chunks 2s, 2s+1 are the low (even s) or high nibbles of ql[64·(s/2), +64)
  // and bit pairs 4·(s%2) and 4·(s%2)+2 of qh[32·(s/2), +32).
  const DKU16 du16;
  const auto ql = hn::LoadU(DK8(), b.ql + 64 * (s / 2));
  const auto low = hn::And(
      hn::BitCast(DK8(), hn::ShiftRightSame(hn::BitCast(du16, ql), static_cast<int>(4 * (s % 2)))),
      hn::Set(DK8(), 0x0F));
  const auto qh = LoadBothHalves(b.qh + 32 * (s / 2));
  const auto high =
      s % 2 == 0 ? ShiftHalves<false>(qh, 4, 2, 0x30) : ShiftHalves<true>(qh, 0, 2, 0x30);
  return hn::Or(low, high);
}
#endif

// The values of step s (values kStepBytes·s on).
template <class V>
HWY_INLINE hn::Vec<DK8> UnpackStep(const typename V::Block& b, size_t s) {
#if HWY_TARGET <= HWY_AVX3
  return UnpackWide(b, s);
#else
  return V::Unpack(b, s / kParts, s % kParts);
#endif
}

// 16 int8 group values widened to int16.
struct Groups16 {
  hn::Vec<DG16> part[kGroupParts];
  HWY_INLINE explicit Groups16(V128I8 v) {
#if HWY_TARGET <= HWY_AVX2
    part[0] = hn::PromoteTo(DG16(), v);
#else
    part[0] = hn::PromoteLowerTo(DG16(), v);
    part[kGroupParts - 1] = hn::PromoteUpperTo(DG16(), v);
#endif
  }
};

// A DG32 sum as a DK32 vector (zero above on AVX-512 targets).
HWY_INLINE hn::Vec<DK32> ToStepWidth(hn::Vec<DG32> v) {
#if HWY_TARGET <= HWY_AVX3
  return hn::ZeroExtendVector(DK32(), v);
#else
  return v;
#endif
}

// Byte indices that give each 128-bit block of step s the int16 lane of its
// group (block j of step s holds group kStepBytes·s/16 + j, lane (group % 8)
// of a block holding groups 0–7 or 8–15).
struct StepIndexTable {
  uint8_t bytes[kSteps][kStepBytes];
};
constexpr StepIndexTable MakeStepIndices() {
  StepIndexTable t{};
  for (size_t s = 0; s < kSteps; ++s) {
    for (size_t i = 0; i < kStepBytes; ++i) {
      const size_t group = (kStepBytes * s + i) / 16;
      t.bytes[s][i] = static_cast<uint8_t>(2 * (group % 8) + i % 2);
    }
  }
  return t;
}
alignas(64) constexpr StepIndexTable kStepIndices = MakeStepIndices();

// The int16 scale of each maddubs lane of step s. `dup` holds groups 0–7
// (dup[0]) and 8–15 (dup[1]) repeated in every 128-bit block, so one
// in-block byte shuffle gives each block its group.
struct StepScaler {
  hn::Vec<DK16> dup[2];
  HWY_INLINE explicit StepScaler(const Groups16& g) {
#if HWY_TARGET <= HWY_AVX3
    const auto both = hn::Combine(DK16(), g.part[0], g.part[0]);
    dup[0] = hn::BroadcastBlock<0>(both);
    dup[1] = hn::BroadcastBlock<1>(both);
#elif HWY_TARGET <= HWY_AVX2
    dup[0] = hn::ConcatLowerLower(DK16(), g.part[0], g.part[0]);
    dup[1] = hn::ConcatUpperUpper(DK16(), g.part[0], g.part[0]);
#else
    dup[0] = g.part[0];
    dup[1] = g.part[kGroupParts - 1];
#endif
  }
  HWY_INLINE hn::Vec<DK16> operator()(size_t s) const {
    const size_t first_group = kStepBytes * s / 16;
    const auto indices = hn::Load(DKI8(), reinterpret_cast<const int8_t*>(kStepIndices.bytes[s]));
    return hn::TableLookupBytes(dup[first_group / 8], hn::BitCast(DK16(), indices));
  }
};

// One weight row against B activation vectors (b + v·stride, v < B): each
// step is unpacked once for all B. Every vector's sums run in the same
// order whatever B is, so a tile's results equal the single dot's bits.
template <class F, size_t B>
HWY_INLINE void VectorKTile(const typename F::Block* HWY_RESTRICT a,
                            const Q8_KBlock* HWY_RESTRICT b, size_t stride, size_t blocks,
                            float* HWY_RESTRICT out, size_t out_stride) {
  const DK16 d16;
  const DK32 d32;
  const DKF df;
  const DG16 dg16;
  const DG32 dg32;
  hn::Vec<DKF> facc[B];
  for (size_t v = 0; v < B; ++v) facc[v] = hn::Zero(df);
  for (size_t k = 0; k < blocks; ++k) {
    V128I8 scales8, mins8 = hn::Zero(D128I8());
    F::VecScales(a[k], scales8, mins8);
    const Groups16 scales(scales8);
    const StepScaler step_scale(scales);
    hn::Vec<DK32> sum0[B], sum1[B];
    for (size_t v = 0; v < B; ++v) sum0[v] = sum1[v] = hn::Zero(d32);
    // Unrolled, so the per-step shifts, bit masks and indices are constants.
    HWY_UNROLL(16)
    for (size_t s = 0; s < kSteps; ++s) {
      const auto u = UnpackStep<F>(a[k], s);
      const auto scale = step_scale(s);
      for (size_t v = 0; v < B; ++v) {
        const auto q = hn::LoadU(DKI8(), b[v * stride + k].qs + kStepBytes * s);
        const auto pairs = hn::SatWidenMulPairwiseAdd(d16, u, q);
        sum0[v] = hn::ReorderWidenMulAccumulate(d32, pairs, scale, sum0[v], sum1[v]);
      }
    }
    // Offsets and mins over the 16 bsums.
    const Groups16 mins(mins8);
    const float d = F::D(a[k]), dmin = F::Dmin(a[k]);
    for (size_t v = 0; v < B; ++v) {
      const Q8_KBlock& bk = b[v * stride + k];
      auto osum0 = hn::Zero(dg32), osum1 = hn::Zero(dg32);
      auto msum0 = hn::Zero(dg32), msum1 = hn::Zero(dg32);
      for (size_t p = 0; p < kGroupParts; ++p) {
        const auto bsums = hn::LoadU(dg16, bk.bsums + p * hn::MaxLanes(dg16));
        if constexpr (F::kOffset != 0) {
          const auto scaled = hn::Mul(scales.part[p], hn::Set(dg16, -F::kOffset));
          osum0 = hn::ReorderWidenMulAccumulate(dg32, bsums, scaled, osum0, osum1);
        }
        if constexpr (F::kHasMins) {
          msum0 = hn::ReorderWidenMulAccumulate(dg32, bsums, mins.part[p], msum0, msum1);
        }
      }
      auto isum = hn::RearrangeToOddPlusEven(sum0[v], sum1[v]);
      if constexpr (F::kOffset != 0) {
        isum = hn::Add(isum, ToStepWidth(hn::RearrangeToOddPlusEven(osum0, osum1)));
      }
      facc[v] = hn::MulAdd(hn::ConvertTo(df, isum), hn::Set(df, d * bk.d), facc[v]);
      if constexpr (F::kHasMins) {
        const auto msum = ToStepWidth(hn::RearrangeToOddPlusEven(msum0, msum1));
        facc[v] = hn::MulAdd(hn::ConvertTo(df, msum), hn::Set(df, -(dmin * bk.d)), facc[v]);
      }
    }
  }
  for (size_t v = 0; v < B; ++v) out[v * out_stride] = hn::ReduceSum(df, facc[v]);
}

template <class F, class V>
HWY_INLINE float KDot(const typename F::Block* HWY_RESTRICT a, const Q8_KBlock* HWY_RESTRICT b,
                      size_t blocks) {
  float out;
  VectorKTile<V, 1>(a, b, 0, blocks, &out, 0);
  return out;
}

// One row against `batch` vectors, in tiles of up to 4.
template <class F, class V>
HWY_INLINE void KRowTiles(const typename F::Block* HWY_RESTRICT a,
                          const Q8_KBlock* HWY_RESTRICT xk, size_t blocks, size_t batch,
                          float* HWY_RESTRICT y, size_t y_stride) {
  size_t v = 0;
  for (; v + 4 <= batch; v += 4) {
    VectorKTile<V, 4>(a, xk + v * blocks, blocks, blocks, y + v * y_stride, y_stride);
  }
  const Q8_KBlock* rest = xk + v * blocks;
  float* out = y + v * y_stride;
  switch (batch - v) {
    case 3:
      return VectorKTile<V, 3>(a, rest, blocks, blocks, out, y_stride);
    case 2:
      return VectorKTile<V, 2>(a, rest, blocks, blocks, out, y_stride);
    case 1:
      return VectorKTile<V, 1>(a, rest, blocks, blocks, out, y_stride);
    default:
      return;
  }
}
#else
template <class F, class V>
HWY_INLINE float KDot(const typename F::Block* HWY_RESTRICT a, const Q8_KBlock* HWY_RESTRICT b,
                      size_t blocks) {
  return ScalarKDot<F>(a, b, blocks);
}

template <class F, class V>
HWY_INLINE void KRowTiles(const typename F::Block* HWY_RESTRICT a,
                          const Q8_KBlock* HWY_RESTRICT xk, size_t blocks, size_t batch,
                          float* HWY_RESTRICT y, size_t y_stride) {
  for (size_t v = 0; v < batch; ++v) y[v * y_stride] = ScalarKDot<F>(a, xk + v * blocks, blocks);
}
#endif  // HWY_TARGET != HWY_SCALAR

#if HWY_TARGET == HWY_SCALAR
using Q2KVec = Q2KFormat;
using Q3KVec = Q3KFormat;
using Q4KVec = Q4KFormat;
using Q5KVec = Q5KFormat;
using Q6KVec = Q6KFormat;
#endif

float DotQ2KQ8K(const Q2_KBlock* HWY_RESTRICT a, const Q8_KBlock* HWY_RESTRICT b, size_t blocks) {
  return KDot<Q2KFormat, Q2KVec>(a, b, blocks);
}
float DotQ3KQ8K(const Q3_KBlock* HWY_RESTRICT a, const Q8_KBlock* HWY_RESTRICT b, size_t blocks) {
  return KDot<Q3KFormat, Q3KVec>(a, b, blocks);
}
float DotQ4KQ8K(const Q4_KBlock* HWY_RESTRICT a, const Q8_KBlock* HWY_RESTRICT b, size_t blocks) {
  return KDot<Q4KFormat, Q4KVec>(a, b, blocks);
}
float DotQ5KQ8K(const Q5_KBlock* HWY_RESTRICT a, const Q8_KBlock* HWY_RESTRICT b, size_t blocks) {
  return KDot<Q5KFormat, Q5KVec>(a, b, blocks);
}
float DotQ6KQ8K(const Q6_KBlock* HWY_RESTRICT a, const Q8_KBlock* HWY_RESTRICT b, size_t blocks) {
  return KDot<Q6KFormat, Q6KVec>(a, b, blocks);
}

// ------------------------------------------------ BF16

// bf16 → f32 is the 16 bits moved to the top of a binary32: exact, NaN and
// infinities included, on every target.
using DBF16F = hn::ScalableTag<float>;
HWY_INLINE hn::Vec<DBF16F> LoadBF16(const uint16_t* p) {
  const DBF16F df;
  const hn::RebindToUnsigned<DBF16F> du32;
  const hn::Rebind<uint16_t, DBF16F> du16;
  return hn::BitCast(df, hn::ShiftLeft<16>(hn::PromoteTo(du32, hn::LoadU(du16, p))));
}

HWY_INLINE float BF16ToF32(uint16_t h) {
  const uint32_t bits = uint32_t{h} << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

float DotBF16F32(const uint16_t* HWY_RESTRICT w, const float* HWY_RESTRICT x, size_t n) {
  const DBF16F df;
  const size_t N = hn::Lanes(df);
  auto acc0 = hn::Zero(df), acc1 = hn::Zero(df);
  size_t i = 0;
  for (; i + 2 * N <= n; i += 2 * N) {
    acc0 = hn::MulAdd(LoadBF16(w + i), hn::LoadU(df, x + i), acc0);
    acc1 = hn::MulAdd(LoadBF16(w + i + N), hn::LoadU(df, x + i + N), acc1);
  }
  for (; i + N <= n; i += N) acc0 = hn::MulAdd(LoadBF16(w + i), hn::LoadU(df, x + i), acc0);
  float tail = 0.0f;
  for (; i < n; ++i) tail += BF16ToF32(w[i]) * x[i];
  return hn::ReduceSum(df, hn::Add(acc0, acc1)) + tail;
}

void ConvertBF16(const uint16_t* HWY_RESTRICT in, size_t n, float* HWY_RESTRICT out) {
  const DBF16F df;
  const size_t N = hn::Lanes(df);
  size_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(LoadBF16(in + i), df, out + i);
  for (; i < n; ++i) out[i] = BF16ToF32(in[i]);
}

// ------------------------------------------------ row driver

// Rows [row_begin, row_end) of Y = X·Wᵀ for K-quant weights of `type`
// against `batch` Q8_K vectors of cols / 256 blocks each; row r of vector v
// goes to y[v · y_stride + r]. Each row is read once for the whole batch
// and unpacked once per tile of 4 vectors.
template <class F, class V>
HWY_INLINE void KRows(const uint8_t* HWY_RESTRICT w, size_t row_bytes, size_t blocks,
                      const Q8_KBlock* HWY_RESTRICT xk, size_t batch, float* HWY_RESTRICT y,
                      size_t y_stride, size_t row_begin, size_t row_end) {
  for (size_t r = row_begin; r < row_end; ++r) {
    const auto* row = reinterpret_cast<const typename F::Block*>(w + r * row_bytes);
    KRowTiles<F, V>(row, xk, blocks, batch, y + r, y_stride);
  }
}

void KQuantRows(TensorType type, const uint8_t* HWY_RESTRICT w, size_t row_bytes, size_t cols,
                const Q8_KBlock* HWY_RESTRICT xk, size_t batch, float* HWY_RESTRICT y,
                size_t y_stride, size_t row_begin, size_t row_end) {
  const size_t blocks = cols / kSuperBlock;
  switch (type) {
    case TensorType::kQ2_K:
      return KRows<Q2KFormat, Q2KVec>(w, row_bytes, blocks, xk, batch, y, y_stride, row_begin,
                                      row_end);
    case TensorType::kQ3_K:
      return KRows<Q3KFormat, Q3KVec>(w, row_bytes, blocks, xk, batch, y, y_stride, row_begin,
                                      row_end);
    case TensorType::kQ4_K:
      return KRows<Q4KFormat, Q4KVec>(w, row_bytes, blocks, xk, batch, y, y_stride, row_begin,
                                      row_end);
    case TensorType::kQ5_K:
      return KRows<Q5KFormat, Q5KVec>(w, row_bytes, blocks, xk, batch, y, y_stride, row_begin,
                                      row_end);
    case TensorType::kQ6_K:
      return KRows<Q6KFormat, Q6KVec>(w, row_bytes, blocks, xk, batch, y, y_stride, row_begin,
                                      row_end);
    default:
      return;  // the caller passes K-quant types only
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace llmk
HWY_AFTER_NAMESPACE();

#endif  // LLMK_QUANT_KQUANT_DOT_INL_H_ toggle
