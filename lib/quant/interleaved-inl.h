// Matrix-vector and matrix products over Q4_0 / Q8_0 weights repacked into
// interleaved rows (WeightLayout::kInterleaved8 in llmk/quant.h; the
// repacking itself is quant/repack.cc).
//
// Why interleave. With row-major blocks, one int8 dot-product instruction
// (VNNI vpdpbusd, Highway's SumOfMulQuadAccumulate) covers 32 bytes of ONE
// row, leaving 8 partial sums that must be converted, scaled and reduced per
// row — more shuffles and conversions than multiplies. Interleaved, 32 bytes
// hold 4 consecutive bytes of each of 8 rows, and the activation's matching
// 4 bytes are broadcast to every lane: lane i accumulates row i's dot
// product directly. Per group of 8 rows and block, 8 instructions give the 8
// exact int32 block sums; then (Q4_0) one convert and one FMA scale all 8
// rows — Q8_0 converts per chunk to keep ggml's order (below). AVX-512
// targets cover two groups per 512-bit vector.
//
// Group layout (8 rows, `blocks` blocks each, block after block):
//   16 bytes: the 8 rows' fp16 scales d, row order;
//   Q4_0: 4 chunks × 32 bytes; chunk c holds bytes 4c…4c+3 of each row's
//         16 nibble bytes, row i at 4i. Low nibbles are elements 4c…4c+3,
//         high nibbles elements 16+4c…16+4c+3.
//   Q8_0: 8 chunks × 32 bytes; chunk c holds elements 4c…4c+3 of each row,
//         stored XOR 0x80 (i.e. + 128, unsigned).
// So 144 resp. 272 bytes per block and group: exactly 8 row-major blocks.
//
// Exact integer sums (vpdpbusd multiplies unsigned by signed bytes): weights
// are the unsigned operand, the activations' int8 x the signed one.
//   Q4_0: Σ (n − 8)·x = Σ_lo n·x + (Σ_hi 16n·x) / 16 − 8·Σx   (high nibbles
//         are used in place as 16n, the / 16 is an exact shift)
//   Q8_0: Σ q·x = Σ (q + 128)·x − 128·Σx
//
// Float order. Single-vector products (a token's matvec) keep the order of
// llama.cpp's x86 CPU kernels, so a quantized model's token-by-token logits
// follow llama.cpp's to the last bit wherever the rest of the forward pass
// does (activation quantization turns any last-bit difference into whole
// int8 steps, and small models amplify those):
//   Q4_0 as ggml's interleaved (repacked) Q4_0 kernels: per row, acc = Σ over
//        blocks k in order of fma(float(S_k), d_w·d_x, acc), S_k the block's
//        exact int sum;
//   Q8_0 as ggml's vec_dot_q8_0_q8_0: per row, 8 partial accumulators, one
//        per 4-element chunk c, acc_c = Σ_k fma(float(S_kc), d_w·d_x, acc_c),
//        then ((acc0 + acc4) + (acc2 + acc6)) + ((acc1 + acc5) + (acc3 + acc7)).
// Batch products (2 or more vectors: prompts, several sequences) sum both
// types in the Q4_0 order. For Q8_0 that is one convert and one FMA per block
// instead of eight, and frees the 8 accumulators per vector for a 4-vector
// tile; without VNNI ggml's order held AVX2 prompts level with llama.cpp's
// (docs/performance.md). The block sums are exact either way, so the two
// orders differ only in float rounding (tests/quant_test.cc bounds it).
// Each order is fixed per row whatever the thread split or the batch size
// (≥ 2), so results do not depend on either.
//
// Per-target code: include after hwy/highway.h inside a foreach_target
// translation unit (quant/quant_targets.cc).
#if defined(LLMK_QUANT_INTERLEAVED_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef LLMK_QUANT_INTERLEAVED_INL_H_
#undef LLMK_QUANT_INTERLEAVED_INL_H_
#else
#define LLMK_QUANT_INTERLEAVED_INL_H_
#endif

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "hwy/cache_control.h"
#include "hwy/highway.h"
#include "llmk/quant.h"
#include "quant/fp16.h"
#include "quant/quant_kernels.h"
#include "util/scratch.h"

HWY_BEFORE_NAMESPACE();
namespace llmk {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

namespace hn = hwy::HWY_NAMESPACE;

#if HWY_TARGET <= HWY_AVX2 && HWY_TARGET != HWY_SCALAR
// Vectors of 8 int32 / float lanes cover one group (its 8 rows); on AVX-512
// targets 16-lane vectors cover two adjacent groups at once (lanes 8…15 the
// second), which halves the instructions on cores with full-width units.
// The per-lane arithmetic is the same, so both widths give identical bits.
using D8F = hn::Full256<float>;
#if HWY_TARGET <= HWY_AVX3
using D16F = hn::Full512<float>;
#endif

template <class DF>
constexpr size_t GroupsPerVector() {
  return hn::MaxLanes(DF()) / interleaved::kGroupRows;
}

// 32 weight bytes at p of each group the vector covers (groups group_bytes apart).
template <class DF>
HWY_INLINE hn::Vec<hn::Repartition<uint8_t, DF>> LoadWeights(const uint8_t* HWY_RESTRICT p,
                                                             size_t group_bytes) {
  const hn::Repartition<uint8_t, DF> du8;
  if constexpr (GroupsPerVector<DF>() == 2) {
    const hn::Full256<uint8_t> half;
    return hn::Combine(du8, hn::LoadU(half, p + group_bytes), hn::LoadU(half, p));
  } else {
    return hn::LoadU(du8, p);
  }
}

// The fp16 row scales at p of each group the vector covers, as f32. Loaded
// as bytes: an interleaved matrix need not be 2-byte aligned.
template <class DF>
HWY_INLINE hn::Vec<DF> LoadScales(const uint8_t* HWY_RESTRICT p, size_t group_bytes) {
  const hn::Full128<uint8_t> d8;
  const hn::Full128<hwy::float16_t> dh;
  const auto lo = hn::BitCast(dh, hn::LoadU(d8, p));
  if constexpr (GroupsPerVector<DF>() == 2) {
    const hn::Full256<hwy::float16_t> dh16;
    const auto hi = hn::BitCast(dh, hn::LoadU(d8, p + group_bytes));
    return hn::PromoteTo(DF(), hn::Combine(dh16, hi, lo));
  } else {
    return hn::PromoteTo(DF(), lo);
  }
}

// A batch's tile reads its groups as parallel streams, one per group, block
// by block (a matvec reads one stream instead: see Groups), and the hardware
// prefetchers alone leave much of one core's bandwidth unused there; each
// block asks for the lines kAheadBytes further on in its stream. Near a
// stream's end that distance reaches into the same stream of the next tile (the
// groups are contiguous, so it starts tile_bytes later), which keeps every
// stream warm from its first block: with short rows a group is only a few
// KiB (stories110M: 3.4 KiB), and prefetching the rest of the current tile
// instead, which is already in flight, left the next tile's starts cold.
// Nothing past `limit` (the end of the caller's rows) is asked for: it
// would cost DRAM traffic that nobody uses. The distance, 2 KiB, was the
// best of those tried when the matvec still read several streams
// (docs/performance.md has the figures).
constexpr size_t kAheadBytes = 2048;
template <class DF, size_t kBlockBytes>
HWY_INLINE void PrefetchAhead(const uint8_t* block, size_t offset, size_t group_bytes,
                              size_t tile_bytes, const uint8_t* limit) {
  uintptr_t p = reinterpret_cast<uintptr_t>(block) + kAheadBytes;
  if (offset + kAheadBytes >= group_bytes) p += tile_bytes - group_bytes;
  constexpr size_t kSpan = GroupsPerVector<DF>();
  if (p + (kSpan - 1) * group_bytes + kBlockBytes > reinterpret_cast<uintptr_t>(limit)) return;
  for (size_t g = 0; g < kSpan; ++g) {
    for (size_t i = 0; i < kBlockBytes; i += 64) {
      hwy::Prefetch(reinterpret_cast<const uint8_t*>(p + g * group_bytes + i));
    }
  }
}

// Without VNNI (the AVX2 and AVX3 targets) Highway emulates the u8·i8 quad
// sum with two 16-bit multiply-adds and four shifts or masks. These kernels
// use vpmaddubsw instead (u8·i8 pairs into saturating i16), arranged so no
// pair can saturate, then one vpmaddwd against ones for the 32-bit lane
// sums; the integer sums, and so every float, are the same as VNNI's.
#if HWY_TARGET <= HWY_AVX3_DL
constexpr bool kVnni = true;
#else
constexpr bool kVnni = false;
#endif

// x bytes 4m…4m+3 in every 32-bit lane.
template <class DF>
HWY_INLINE hn::Vec<hn::Repartition<int8_t, DF>> Broadcast4(const int8_t* HWY_RESTRICT x) {
  int32_t word;
  std::memcpy(&word, x, sizeof word);
  return hn::BitCast(hn::Repartition<int8_t, DF>(), hn::Set(hn::RebindToSigned<DF>(), word));
}

// A tile: G vectors' worth of consecutive groups (G · GroupsPerVector groups,
// group_bytes apart) × B activation vectors. Each weight chunk is loaded
// once for the B vectors, each activation broadcast once for all groups.
// Row i of the tile's group g, vector v goes to y[v · y_stride + 8g + i].
// kPrefetch: each block asks for the lines ahead of its streams
// (PrefetchAhead).

// Q8_0 for single vectors, in ggml's order (above).
template <class DF, size_t G, size_t B, bool kPrefetch>
HWY_INLINE void TileQ8(const uint8_t* HWY_RESTRICT group, size_t group_bytes, size_t blocks,
                       const interleaved::PreparedBlock* HWY_RESTRICT xs, size_t x_stride,
                       float* HWY_RESTRICT y, size_t y_stride, const uint8_t* limit) {
  constexpr size_t kBlockBytes = interleaved::kGroupRows * sizeof(Q8_0Block);
  constexpr size_t kSpan = GroupsPerVector<DF>();  // groups per vector
  const DF df;
  const hn::RebindToSigned<DF> di32;
  const hn::Repartition<int16_t, DF> di16;
  const hn::Repartition<int8_t, DF> di8;
  const hn::Repartition<uint8_t, DF> du8;
  hn::Vec<DF> acc[G][B][8];
  for (size_t g = 0; g < G; ++g) {
    for (size_t v = 0; v < B; ++v) {
      for (size_t c = 0; c < 8; ++c) acc[g][v][c] = hn::Zero(df);
    }
  }
  for (size_t k = 0; k < blocks; ++k) {
    hn::Vec<DF> d[G][B];
    for (size_t g = 0; g < G; ++g) {
      if constexpr (kPrefetch) {
        PrefetchAhead<DF, kBlockBytes>(group + g * kSpan * group_bytes + k * kBlockBytes,
                                       k * kBlockBytes, group_bytes, G * kSpan * group_bytes,
                                       limit);
      }
      const auto dw = LoadScales<DF>(group + g * kSpan * group_bytes + k * kBlockBytes, group_bytes);
      for (size_t v = 0; v < B; ++v) d[g][v] = hn::Mul(dw, hn::Set(df, xs[v * x_stride + k].d));
    }
    // Without VNNI: q's sign moves onto x and |q| (≤ 128) is the unsigned
    // operand, so each pair is within 2·128·127 < 2¹⁵ — unless x holds −128,
    // whose negation wraps: such a block (no quantizer writes one, but the
    // kernels take any bytes) splits q + 128 into its low 7 bits and its top
    // bit instead, each of whose pairs is within 2·127·128.
    bool has_min[B] = {};
    if constexpr (!kVnni) {
      for (size_t v = 0; v < B; ++v) has_min[v] = xs[v * x_stride + k].holds_min != 0;
    }
    for (size_t c = 0; c < 8; ++c) {
      hn::Vec<hn::Repartition<uint8_t, DF>> w[G];
      hn::Vec<hn::Repartition<int8_t, DF>> w_signed[G];
      for (size_t g = 0; g < G; ++g) {
        w[g] = LoadWeights<DF>(group + g * kSpan * group_bytes + k * kBlockBytes +
                                   interleaved::kScaleBytes + 32 * c,
                               group_bytes);
        if constexpr (!kVnni) w_signed[g] = hn::BitCast(di8, hn::Xor(w[g], hn::Set(du8, 0x80)));
      }
      for (size_t v = 0; v < B; ++v) {
        const interleaved::PreparedBlock& x = xs[v * x_stride + k];
        const auto xc = Broadcast4<DF>(x.qs + 4 * c);
        const auto bias = hn::Set(di32, x.chunk_bias[c]);
        for (size_t g = 0; g < G; ++g) {
          hn::Vec<decltype(di32)> sum;
          if constexpr (kVnni) {
            sum = hn::SumOfMulQuadAccumulate(di32, w[g], xc, bias);
          } else if (!has_min[v]) {
            const auto pairs = hn::SatWidenMulPairwiseAdd(
                di16, hn::BitCast(du8, hn::Abs(w_signed[g])),
                hn::IfNegativeThenNegOrUndefIfZero(w_signed[g], xc));
            sum = hn::WidenMulPairwiseAdd(di32, pairs, hn::Set(di16, 1));
          } else {
            const hn::Repartition<uint16_t, DF> du16;
            const auto top = hn::And(hn::BitCast(du8, hn::ShiftRight<7>(hn::BitCast(du16, w[g]))),
                                     hn::Set(du8, 1));
            const auto low = hn::And(w[g], hn::Set(du8, 0x7F));
            sum = hn::Add(
                hn::Add(hn::WidenMulPairwiseAdd(di32, hn::SatWidenMulPairwiseAdd(di16, low, xc),
                                                hn::Set(di16, 1)),
                        hn::WidenMulPairwiseAdd(di32, hn::SatWidenMulPairwiseAdd(di16, top, xc),
                                                hn::Set(di16, 128))),
                bias);
          }
          acc[g][v][c] = hn::MulAdd(hn::ConvertTo(df, sum), d[g][v], acc[g][v][c]);
        }
      }
    }
  }
  for (size_t g = 0; g < G; ++g) {
    for (size_t v = 0; v < B; ++v) {
      const auto* a = acc[g][v];
      const auto sum = hn::Add(hn::Add(hn::Add(a[0], a[4]), hn::Add(a[2], a[6])),
                               hn::Add(hn::Add(a[1], a[5]), hn::Add(a[3], a[7])));
      hn::StoreU(sum, df, y + v * y_stride + g * kSpan * interleaved::kGroupRows);
    }
  }
}

// A tile's G × B accumulators: zeroed, and stored with row i of group g,
// vector v at y[v · y_stride + 8g + i] (8 · kSpan rows per vector).
template <class DF, size_t G, size_t B>
HWY_INLINE void ZeroTile(hn::Vec<DF> (&acc)[G][B]) {
  for (size_t g = 0; g < G; ++g) {
    for (size_t v = 0; v < B; ++v) acc[g][v] = hn::Zero(DF());
  }
}

template <class DF, size_t G, size_t B>
HWY_INLINE void StoreTile(const hn::Vec<DF> (&acc)[G][B], float* HWY_RESTRICT y,
                          size_t y_stride) {
  constexpr size_t kRowsPerVector = GroupsPerVector<DF>() * interleaved::kGroupRows;
  for (size_t g = 0; g < G; ++g) {
    for (size_t v = 0; v < B; ++v) hn::StoreU(acc[g][v], DF(), y + v * y_stride + g * kRowsPerVector);
  }
}

// Q8_0 over a batch, in the Q4_0 order (above): the 8 chunks of a block
// sum in int32, then one convert and one FMA per block.
template <class DF, size_t G, size_t B, bool kPrefetch>
HWY_INLINE void TileQ8Sums(const uint8_t* HWY_RESTRICT group, size_t group_bytes, size_t blocks,
                           const interleaved::PreparedBlock* HWY_RESTRICT xs, size_t x_stride,
                           float* HWY_RESTRICT y, size_t y_stride, const uint8_t* limit) {
  constexpr size_t kBlockBytes = interleaved::kGroupRows * sizeof(Q8_0Block);
  constexpr size_t kSpan = GroupsPerVector<DF>();
  const DF df;
  const hn::RebindToSigned<DF> di32;
  const hn::Repartition<int16_t, DF> di16;
  const hn::Repartition<int8_t, DF> di8;
  const hn::Repartition<uint8_t, DF> du8;
  using VI = hn::Vec<decltype(di32)>;
  hn::Vec<DF> acc[G][B];
  ZeroTile<DF, G, B>(acc);
  for (size_t k = 0; k < blocks; ++k) {
    const uint8_t* block[G];
    for (size_t g = 0; g < G; ++g) {
      block[g] = group + g * kSpan * group_bytes + k * kBlockBytes;
      if constexpr (kPrefetch) {
        PrefetchAhead<DF, kBlockBytes>(block[g], k * kBlockBytes, group_bytes,
                                       G * kSpan * group_bytes, limit);
      }
    }
    const interleaved::PreparedBlock* x[B];
    for (size_t v = 0; v < B; ++v) x[v] = &xs[v * x_stride + k];
    VI sum[G][B];
    if constexpr (kVnni) {
      // Two independent chains per vector (chunks 0–3, 4–7); the weights are
      // q + 128, undone by −128·Σx (16 × the Q4_0 bias −8·Σx).
      VI hi[G][B];
      for (size_t g = 0; g < G; ++g) {
        for (size_t v = 0; v < B; ++v) {
          sum[g][v] = hn::Set(di32, 16 * x[v]->bias);
          hi[g][v] = hn::Zero(di32);
        }
      }
      for (size_t c = 0; c < 4; ++c) {
        hn::Vec<decltype(du8)> w_lo[G], w_hi[G];
        for (size_t g = 0; g < G; ++g) {
          w_lo[g] = LoadWeights<DF>(block[g] + interleaved::kScaleBytes + 32 * c, group_bytes);
          w_hi[g] =
              LoadWeights<DF>(block[g] + interleaved::kScaleBytes + 32 * (4 + c), group_bytes);
        }
        for (size_t v = 0; v < B; ++v) {
          const auto x_lo = Broadcast4<DF>(x[v]->qs + 4 * c);
          const auto x_hi = Broadcast4<DF>(x[v]->qs + 16 + 4 * c);
          for (size_t g = 0; g < G; ++g) {
            sum[g][v] = hn::SumOfMulQuadAccumulate(di32, w_lo[g], x_lo, sum[g][v]);
            hi[g][v] = hn::SumOfMulQuadAccumulate(di32, w_hi[g], x_hi, hi[g][v]);
          }
        }
      }
      for (size_t g = 0; g < G; ++g) {
        for (size_t v = 0; v < B; ++v) sum[g][v] = hn::Add(sum[g][v], hi[g][v]);
      }
    } else {
      bool holds_min = false;
      for (size_t v = 0; v < B; ++v) holds_min |= x[v]->holds_min != 0;
      const auto ones = hn::Set(di16, 1);
      if (!holds_min) {
        // q's sign moves onto x and |q| (≤ 128) is the unsigned operand:
        // each pair is within 2·128·127 < 2¹⁵.
        for (size_t g = 0; g < G; ++g) {
          for (size_t v = 0; v < B; ++v) sum[g][v] = hn::Zero(di32);
        }
        // Not unrolled: GCC hoisted the 8 chunks' weights and spilled them.
        HWY_UNROLL(1)
        for (size_t c = 0; c < 8; ++c) {
          hn::Vec<decltype(di8)> w_signed[G];
          hn::Vec<decltype(du8)> w_abs[G];
          for (size_t g = 0; g < G; ++g) {
            const auto w =
                LoadWeights<DF>(block[g] + interleaved::kScaleBytes + 32 * c, group_bytes);
            w_signed[g] = hn::BitCast(di8, hn::Xor(w, hn::Set(du8, 0x80)));
            w_abs[g] = hn::BitCast(du8, hn::Abs(w_signed[g]));
          }
          for (size_t v = 0; v < B; ++v) {
            const auto xc = Broadcast4<DF>(x[v]->qs + 4 * c);
            for (size_t g = 0; g < G; ++g) {
              const auto pairs = hn::SatWidenMulPairwiseAdd(
                  di16, w_abs[g], hn::IfNegativeThenNegOrUndefIfZero(w_signed[g], xc));
              sum[g][v] = hn::Add(sum[g][v], hn::WidenMulPairwiseAdd(di32, pairs, ones));
            }
          }
        }
      } else {
        // An x of −128 cannot take q's sign (its negation wraps; no
        // quantizer writes one, but the kernels take any bytes): q + 128
        // splits into its low 7 bits and its top bit, each of whose pairs is
        // within 2·127·128.
        const hn::Repartition<uint16_t, DF> du16;
        for (size_t g = 0; g < G; ++g) {
          for (size_t v = 0; v < B; ++v) sum[g][v] = hn::Set(di32, 16 * x[v]->bias);
        }
        for (size_t c = 0; c < 8; ++c) {
          for (size_t g = 0; g < G; ++g) {
            const auto w =
                LoadWeights<DF>(block[g] + interleaved::kScaleBytes + 32 * c, group_bytes);
            const auto top = hn::And(hn::BitCast(du8, hn::ShiftRight<7>(hn::BitCast(du16, w))),
                                     hn::Set(du8, 1));
            const auto low = hn::And(w, hn::Set(du8, 0x7F));
            for (size_t v = 0; v < B; ++v) {
              const auto xc = Broadcast4<DF>(x[v]->qs + 4 * c);
              sum[g][v] = hn::Add(
                  sum[g][v],
                  hn::Add(hn::WidenMulPairwiseAdd(di32, hn::SatWidenMulPairwiseAdd(di16, low, xc),
                                                  ones),
                          hn::WidenMulPairwiseAdd(di32, hn::SatWidenMulPairwiseAdd(di16, top, xc),
                                                  hn::Set(di16, 128))));
            }
          }
        }
      }
    }
    for (size_t g = 0; g < G; ++g) {
      const auto dw = LoadScales<DF>(block[g], group_bytes);
      for (size_t v = 0; v < B; ++v) {
        acc[g][v] = hn::MulAdd(hn::ConvertTo(df, sum[g][v]), hn::Mul(dw, hn::Set(df, x[v]->d)),
                               acc[g][v]);
      }
    }
  }
  StoreTile<DF, G, B>(acc, y, y_stride);
}

// Q4_0. XBlock: PreparedBlock, or MatvecBlock (its qs, bias and d only).
template <class DF, size_t G, size_t B, bool kPrefetch, class XBlock = interleaved::PreparedBlock>
HWY_INLINE void TileQ4(const uint8_t* HWY_RESTRICT group, size_t group_bytes, size_t blocks,
                       const XBlock* HWY_RESTRICT xs, size_t x_stride,
                       float* HWY_RESTRICT y, size_t y_stride, const uint8_t* limit) {
  constexpr size_t kBlockBytes = interleaved::kGroupRows * sizeof(Q4_0Block);
  constexpr size_t kSpan = GroupsPerVector<DF>();
  const DF df;
  const hn::RebindToSigned<DF> di32;
  const hn::Repartition<int16_t, DF> di16;
  const hn::Repartition<uint8_t, DF> du8;
  hn::Vec<DF> acc[G][B];
  ZeroTile<DF, G, B>(acc);
  for (size_t k = 0; k < blocks; ++k) {
    hn::Vec<DF> dw[G];
    hn::Vec<hn::Repartition<uint8_t, DF>> w[G][8];
    for (size_t g = 0; g < G; ++g) {
      const uint8_t* block = group + g * kSpan * group_bytes + k * kBlockBytes;
      if constexpr (kPrefetch) {
        PrefetchAhead<DF, kBlockBytes>(block, k * kBlockBytes, group_bytes,
                                       G * kSpan * group_bytes, limit);
      }
      dw[g] = LoadScales<DF>(block, group_bytes);
      for (size_t c = 0; c < 4; ++c) {
        const auto bytes = LoadWeights<DF>(block + interleaved::kScaleBytes + 32 * c, group_bytes);
        w[g][c] = hn::And(bytes, hn::Set(du8, 0x0F));
        if constexpr (kVnni) {
          w[g][4 + c] = hn::And(bytes, hn::Set(du8, 0xF0));  // 16·n, undone by the shift below
        } else {
          const hn::Repartition<uint16_t, DF> du16;
          w[g][4 + c] = hn::And(hn::BitCast(du8, hn::ShiftRight<4>(hn::BitCast(du16, bytes))),
                                hn::Set(du8, 0x0F));
        }
      }
    }
    for (size_t v = 0; v < B; ++v) {
      const XBlock& x = xs[v * x_stride + k];
      if constexpr (!kVnni) {
        // Nibbles (≤ 15) times x (|x| ≤ 128): every i16 lane of the 8
        // pairwise products stays within 8·2·15·128 < 2¹⁵, so they add up in
        // 16 bits and widen once.
        hn::Vec<decltype(di16)> pairs[G];
        for (size_t g = 0; g < G; ++g) pairs[g] = hn::Zero(di16);
        for (size_t c = 0; c < 4; ++c) {
          const auto x_lo = Broadcast4<DF>(x.qs + 4 * c);
          const auto x_hi = Broadcast4<DF>(x.qs + 16 + 4 * c);
          for (size_t g = 0; g < G; ++g) {
            pairs[g] = hn::Add(pairs[g], hn::SatWidenMulPairwiseAdd(di16, w[g][c], x_lo));
            pairs[g] = hn::Add(pairs[g], hn::SatWidenMulPairwiseAdd(di16, w[g][4 + c], x_hi));
          }
        }
        const auto dx = hn::Set(df, x.d);
        for (size_t g = 0; g < G; ++g) {
          const auto sum = hn::Add(hn::WidenMulPairwiseAdd(di32, pairs[g], hn::Set(di16, 1)),
                                   hn::Set(di32, x.bias));
          acc[g][v] = hn::MulAdd(hn::ConvertTo(df, sum), hn::Mul(dw[g], dx), acc[g][v]);
        }
        continue;
      }
      // Two independent chains per group (elements 0–15, 16–31).
      hn::Vec<hn::RebindToSigned<DF>> lo[G], hi[G];
      for (size_t g = 0; g < G; ++g) {
        lo[g] = hn::Set(di32, x.bias);
        hi[g] = hn::Zero(di32);
      }
      for (size_t c = 0; c < 4; ++c) {
        const auto x_lo = Broadcast4<DF>(x.qs + 4 * c);
        const auto x_hi = Broadcast4<DF>(x.qs + 16 + 4 * c);
        for (size_t g = 0; g < G; ++g) {
          lo[g] = hn::SumOfMulQuadAccumulate(di32, w[g][c], x_lo, lo[g]);
          hi[g] = hn::SumOfMulQuadAccumulate(di32, w[g][4 + c], x_hi, hi[g]);
        }
      }
      const auto dx = hn::Set(df, x.d);
      for (size_t g = 0; g < G; ++g) {
        const auto sum = hn::Add(lo[g], hn::ShiftRight<4>(hi[g]));
        acc[g][v] = hn::MulAdd(hn::ConvertTo(df, sum), hn::Mul(dw[g], dx), acc[g][v]);
      }
    }
  }
  StoreTile<DF, G, B>(acc, y, y_stride);
}

template <bool kQ4, class DF, size_t G, size_t B, bool kPrefetch = true>
HWY_INLINE void Tile(const uint8_t* group, size_t group_bytes, size_t blocks,
                     const interleaved::PreparedBlock* xs, float* y, size_t y_stride,
                     const uint8_t* limit) {
  if constexpr (kQ4) {
    TileQ4<DF, G, B, kPrefetch>(group, group_bytes, blocks, xs, blocks, y, y_stride, limit);
  } else {
    TileQ8Sums<DF, G, B, kPrefetch>(group, group_bytes, blocks, xs, blocks, y, y_stride, limit);
  }
}

// One vector's worth of groups over all `batch` vectors, 4 at a time.
template <bool kQ4, class DF>
HWY_INLINE void GroupBatch(const uint8_t* group, size_t group_bytes, size_t blocks,
                           const interleaved::PreparedBlock* xs, size_t batch, float* out,
                           size_t y_stride, const uint8_t* limit) {
  size_t v = 0;
  for (; v + 4 <= batch; v += 4) {
    Tile<kQ4, DF, 1, 4>(group, group_bytes, blocks, xs + v * blocks, out + v * y_stride, y_stride,
                        limit);
  }
  switch (batch - v) {
    case 3:
      Tile<kQ4, DF, 1, 3>(group, group_bytes, blocks, xs + v * blocks, out + v * y_stride,
                          y_stride, limit);
      break;
    case 2:
      Tile<kQ4, DF, 1, 2>(group, group_bytes, blocks, xs + v * blocks, out + v * y_stride,
                          y_stride, limit);
      break;
    case 1:
      Tile<kQ4, DF, 1, 1>(group, group_bytes, blocks, xs + v * blocks, out + v * y_stride,
                          y_stride, limit);
      break;
    default:
      break;
  }
}

// A matvec's activation block: the part of a PreparedBlock the Q4_0 kernel
// reads. A matvec re-reads x for every group of rows while its weights
// stream through L1 once; at 76 bytes a block, x for a 5632-column row
// (tinyllama's down projection) no longer stayed in L1 beside a group's
// 25 KiB of weights, and reloading it from L2 cut the speed at which the
// weights came from DRAM by 40% (docs/performance.md). At 40 bytes it
// stays. (The Q8_0 kernel reads 68 of the 76 bytes, so it keeps them.)
struct MatvecBlock {
  int8_t qs[32];
  int32_t bias;
  float d;
};

// x's blocks as MatvecBlocks, in a buffer of the calling thread kept between
// calls; null if it cannot be allocated.
HWY_INLINE const MatvecBlock* CompactBlocks(const interleaved::PreparedBlock* HWY_RESTRICT xs,
                                            size_t blocks) {
  thread_local internal::ScratchBuffer<MatvecBlock> buffer;
  MatvecBlock* out = buffer.get(blocks);
  if (out == nullptr) return nullptr;
  for (size_t k = 0; k < blocks; ++k) {
    std::memcpy(out[k].qs, xs[k].qs, sizeof out[k].qs);
    out[k].bias = xs[k].bias;
    out[k].d = xs[k].d;
  }
  return out;
}

template <bool kQ4>
HWY_INLINE void Groups(const uint8_t* HWY_RESTRICT w, size_t row_bytes, size_t blocks,
                       const interleaved::PreparedBlock* HWY_RESTRICT xs, size_t batch,
                       float* HWY_RESTRICT y, size_t y_stride, size_t group_begin,
                       size_t group_end) {
  const size_t group_bytes = interleaved::kGroupRows * row_bytes;
  const uint8_t* limit = w + group_end * group_bytes;
  size_t g = group_begin;
  if (batch == 1) {
    // A matvec is bound by reading its weights once, and one sequential
    // stream per thread, left to the hardware prefetchers, reads fastest:
    // tiles of several groups read as many streams side by side, which took
    // twice as long per token on a Zen 4 (docs/performance.md). So one group
    // at a time, in 8-lane vectors, without software prefetch.
    const MatvecBlock* compact = nullptr;
    if constexpr (kQ4) compact = CompactBlocks(xs, blocks);
    for (; g < group_end; ++g) {
      if (kQ4 && compact != nullptr) {
        TileQ4<D8F, 1, 1, /*kPrefetch=*/false>(w + g * group_bytes, group_bytes, blocks, compact,
                                               blocks, y + g * interleaved::kGroupRows, y_stride,
                                               limit);
      } else if constexpr (kQ4) {
        TileQ4<D8F, 1, 1, /*kPrefetch=*/false>(w + g * group_bytes, group_bytes, blocks, xs,
                                               blocks, y + g * interleaved::kGroupRows, y_stride,
                                               limit);
      } else {
        TileQ8<D8F, 1, 1, /*kPrefetch=*/false>(w + g * group_bytes, group_bytes, blocks, xs,
                                               blocks, y + g * interleaved::kGroupRows, y_stride,
                                               limit);
      }
    }
    return;
  }
  while (g < group_end) {
    const size_t left = group_end - g;
    // Tile height in groups: 2 on AVX-512 (one 16-lane vector), else 1.
    const size_t step = HWY_TARGET <= HWY_AVX3 && left >= 2 ? 2 : 1;
    const uint8_t* group = w + g * group_bytes;
    float* out = y + g * interleaved::kGroupRows;
#if HWY_TARGET <= HWY_AVX3
    if (step == 2) {
      GroupBatch<kQ4, D16F>(group, group_bytes, blocks, xs, batch, out, y_stride, limit);
    } else {
      GroupBatch<kQ4, D8F>(group, group_bytes, blocks, xs, batch, out, y_stride, limit);
    }
#else
    GroupBatch<kQ4, D8F>(group, group_bytes, blocks, xs, batch, out, y_stride, limit);
#endif
    g += step;
  }
}
#endif  // HWY_TARGET <= HWY_AVX2

// Blocks [begin, end) of xq prepared for the kernels above (see
// PreparedBlock). One VNNI instruction against a vector of ones gives the
// 8 chunk sums. Only AVX2 and better use prepared blocks (kInterleavedSupported).
void PrepareInterleavedBlocks(const Q8_0Block* HWY_RESTRICT xq, size_t begin, size_t end,
                              interleaved::PreparedBlock* HWY_RESTRICT out) {
#if HWY_TARGET <= HWY_AVX2 && HWY_TARGET != HWY_SCALAR
  const hn::Full256<int8_t> d8;
  const hn::Full256<int32_t> d32;
  const auto ones = hn::Set(hn::Full256<uint8_t>(), 1);
  const auto minus_128 = hn::Set(d32, -128);
  for (size_t b = begin; b < end; ++b) {
    const auto q = hn::LoadU(d8, xq[b].qs);
    hn::StoreU(q, d8, out[b].qs);
    const auto sums = hn::SumOfMulQuadAccumulate(d32, ones, q, hn::Zero(d32));
    hn::StoreU(hn::Mul(sums, minus_128), d32, out[b].chunk_bias);
    out[b].bias = -8 * hn::ReduceSum(d32, sums);
    out[b].d = internal::half_to_float(xq[b].d);
    out[b].holds_min = !hn::AllFalse(d8, hn::Eq(q, hn::Set(d8, int8_t{-128})));
  }
#else
  (void)xq, (void)begin, (void)end, (void)out;
#endif
}

// Whether this target has the interleaved kernels (else the caller unpacks).
constexpr bool kInterleavedSupported = HWY_TARGET <= HWY_AVX2 && HWY_TARGET != HWY_SCALAR;

// Groups [group_begin, group_end) of Y = X·Wᵀ (rows 8g…8g+7 of y[v·y_stride]).
// `xs` holds `batch` × `blocks` prepared blocks.
void InterleavedGroups(bool q4, const uint8_t* HWY_RESTRICT w, size_t row_bytes, size_t blocks,
                       const interleaved::PreparedBlock* HWY_RESTRICT xs, size_t batch,
                       float* HWY_RESTRICT y, size_t y_stride, size_t group_begin,
                       size_t group_end) {
#if HWY_TARGET <= HWY_AVX2 && HWY_TARGET != HWY_SCALAR
  if (q4) {
    Groups<true>(w, row_bytes, blocks, xs, batch, y, y_stride, group_begin, group_end);
  } else {
    Groups<false>(w, row_bytes, blocks, xs, batch, y, y_stride, group_begin, group_end);
  }
#else
  (void)q4, (void)w, (void)row_bytes, (void)blocks, (void)xs, (void)batch, (void)y;
  (void)y_stride, (void)group_begin, (void)group_end;
#endif
}

}  // namespace HWY_NAMESPACE
}  // namespace llmk
HWY_AFTER_NAMESPACE();

#endif  // LLMK_QUANT_INTERLEAVED_INL_H_ toggle
