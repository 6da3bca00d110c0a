// K-quants and BF16 without ggml at hand: stated round-trip bounds, edge
// blocks (zero, constant, huge, tiny, negative extreme), argument checks, and
// BF16 over every pattern. Byte-identity with ggml is ggml_kquant_test's job.
//
// The round-trip oracle decodes each block's sub-block grids here, from the
// format description in llmk/kquant.h, independently of the library: the
// quantizers' last pass rounds every element to the nearest point of its
// sub-block's *decoded* grid {step·q − offset}, so the bound per element is
//   |x − x̂| ≤ distance from x to the nearest grid point (+ float slack),
// which is step/2 inside the grid's span and the distance to the grid's end
// outside it (where the fit clipped an outlier).
#include "llmk/kquant.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "llmk/quant.h"
#include "test_util.h"

// The expected dequantized values are computed here in ggml's operation
// order and compared bit for bit, so, like the library, no FMA contraction.
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

using llmk::f16_to_f32;
using llmk::kSuperBlock;

namespace {

uint32_t bits_of(float f) {
  uint32_t b;
  std::memcpy(&b, &f, sizeof b);
  return b;
}
float float_of(uint32_t b) {
  float f;
  std::memcpy(&f, &b, sizeof f);
  return f;
}

// One sub-block's decoded grid: value = step·q − offset, q in q_lo…q_hi.
struct Grid {
  float step = 0.0f;
  float offset = 0.0f;
  int q_lo = 0;
  int q_hi = 0;
};

// Q4_K / Q5_K's 6-bit scale and min of sub-block j, read from the format
// description rather than from the library.
void scale_min_6bit(const uint8_t* s, int j, int* scale, int* min) {
  if (j < 4) {
    *scale = s[j] & 63;
    *min = s[j + 4] & 63;
  } else {
    *scale = (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4);
    *min = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

// Per-type traits: the API, the grid of each sub-block and the level q of
// element e (0…255), decoded from the layouts llmk/kquant.h describes: 2-bit
// quants fill each 32-byte run four times over (shifts 0, 2, 4, 6) per half
// of 128 elements, nibbles fill 32 bytes twice per 64 elements, and a high
// bit for element e is bit e / 32 of byte e % 32.
template <class Block>
struct Format;

template <>
struct Format<llmk::Q2_KBlock> {
  static constexpr const char* kName = "Q2_K";
  static constexpr int kSubBlock = 16;
  static constexpr auto quantize = &llmk::quantize_q2_k;
  static constexpr auto dequantize = &llmk::dequantize_q2_k;
  static Grid grid(const llmk::Q2_KBlock& b, int sub) {
    return {f16_to_f32(b.d) * static_cast<float>(b.scales[sub] & 15),
            f16_to_f32(b.dmin) * static_cast<float>(b.scales[sub] >> 4), 0, 3};
  }
  static int level(const llmk::Q2_KBlock& b, int e) {
    return (b.qs[(e / 128) * 32 + e % 32] >> (2 * ((e % 128) / 32))) & 3;
  }
};
template <>
struct Format<llmk::Q3_KBlock> {
  static constexpr const char* kName = "Q3_K";
  static constexpr int kSubBlock = 16;
  static constexpr auto quantize = &llmk::quantize_q3_k;
  static constexpr auto dequantize = &llmk::dequantize_q3_k;
  static Grid grid(const llmk::Q3_KBlock& b, int sub) {
    const int low = sub < 8 ? b.scales[sub] & 15 : b.scales[sub - 8] >> 4;
    const int high = (b.scales[8 + sub % 4] >> (2 * (sub / 4))) & 3;
    return {f16_to_f32(b.d) * static_cast<float>((low | (high << 4)) - 32), 0.0f, -4, 3};
  }
  static int level(const llmk::Q3_KBlock& b, int e) {
    const int low = (b.qs[(e / 128) * 32 + e % 32] >> (2 * ((e % 128) / 32))) & 3;
    return ((b.hmask[e % 32] >> (e / 32)) & 1) ? low : low - 4;
  }
};
template <>
struct Format<llmk::Q4_KBlock> {
  static constexpr const char* kName = "Q4_K";
  static constexpr int kSubBlock = 32;
  static constexpr auto quantize = &llmk::quantize_q4_k;
  static constexpr auto dequantize = &llmk::dequantize_q4_k;
  static Grid grid(const llmk::Q4_KBlock& b, int sub) {
    int scale, min;
    scale_min_6bit(b.scales, sub, &scale, &min);
    return {f16_to_f32(b.d) * static_cast<float>(scale),
            f16_to_f32(b.dmin) * static_cast<float>(min), 0, 15};
  }
  static int level(const llmk::Q4_KBlock& b, int e) {
    return (b.qs[(e / 64) * 32 + e % 32] >> (4 * ((e % 64) / 32))) & 15;
  }
};
template <>
struct Format<llmk::Q5_KBlock> {
  static constexpr const char* kName = "Q5_K";
  static constexpr int kSubBlock = 32;
  static constexpr auto quantize = &llmk::quantize_q5_k;
  static constexpr auto dequantize = &llmk::dequantize_q5_k;
  static Grid grid(const llmk::Q5_KBlock& b, int sub) {
    int scale, min;
    scale_min_6bit(b.scales, sub, &scale, &min);
    return {f16_to_f32(b.d) * static_cast<float>(scale),
            f16_to_f32(b.dmin) * static_cast<float>(min), 0, 31};
  }
  static int level(const llmk::Q5_KBlock& b, int e) {
    const int low = (b.qs[(e / 64) * 32 + e % 32] >> (4 * ((e % 64) / 32))) & 15;
    return low | (((b.qh[e % 32] >> (e / 32)) & 1) << 4);
  }
};
template <>
struct Format<llmk::Q6_KBlock> {
  static constexpr const char* kName = "Q6_K";
  static constexpr int kSubBlock = 16;
  static constexpr auto quantize = &llmk::quantize_q6_k;
  static constexpr auto dequantize = &llmk::dequantize_q6_k;
  static Grid grid(const llmk::Q6_KBlock& b, int sub) {
    return {f16_to_f32(b.d) * static_cast<float>(b.scales[sub]), 0.0f, -32, 31};
  }
  static int level(const llmk::Q6_KBlock& b, int e) {
    const int half = e / 128, run = (e % 128) / 32, l = e % 32;
    const int low = (b.ql[half * 64 + (run % 2) * 32 + l] >> (4 * (run / 2))) & 15;
    const int high = (b.qh[half * 32 + l] >> (2 * run)) & 3;
    return (low | (high << 4)) - 32;
  }
};

template <class Block>
struct RoundTrip {
  std::vector<Block> blocks;
  std::vector<float> values;  // dequantized
};

template <class Block>
RoundTrip<Block> round_trip(const std::vector<float>& x) {
  using F = Format<Block>;
  RoundTrip<Block> r;
  r.blocks.resize(x.size() / kSuperBlock);
  r.values.resize(x.size());
  REQUIRE(F::quantize(x, r.blocks).ok());
  REQUIRE(F::dequantize(r.blocks, r.values).ok());
  return r;
}

// Checks the nearest-grid-point bound on every element, and returns the
// largest |x − x̂| relative to the block's largest |x| (0 for zero blocks).
template <class Block>
double check_nearest_grid_point(const std::vector<float>& x, const RoundTrip<Block>& r) {
  using F = Format<Block>;
  double worst_relative = 0.0;
  for (size_t b = 0; b < r.blocks.size(); ++b) {
    double amax = 0.0;
    for (size_t i = 0; i < kSuperBlock; ++i) {
      amax = std::max(amax, std::fabs(static_cast<double>(x[b * kSuperBlock + i])));
    }
    for (int sub = 0; sub < static_cast<int>(kSuperBlock) / F::kSubBlock; ++sub) {
      const Grid g = F::grid(r.blocks[b], sub);
      for (int k = 0; k < F::kSubBlock; ++k) {
        const size_t i = b * kSuperBlock + static_cast<size_t>(sub * F::kSubBlock + k);
        const double xi = x[i], xq = r.values[i];
        double nearest = std::numeric_limits<double>::infinity();
        double on_grid = std::numeric_limits<double>::infinity();
        for (int q = g.q_lo; q <= g.q_hi; ++q) {
          const double point = static_cast<double>(g.step) * q - g.offset;
          nearest = std::min(nearest, std::fabs(xi - point));
          on_grid = std::min(on_grid, std::fabs(xq - point));
        }
        // Float slack: the quantizer rounds (x + offset)/step in f32 and the
        // dequantizer rounds step·q − offset, each within a few ulps of the
        // magnitudes involved; 2^-20 of them is far above that and far below
        // any wrong level (a step apart).
        const double magnitude = std::fabs(xi) + std::fabs(g.offset) +
                                 std::fabs(static_cast<double>(g.step)) * (g.q_hi - g.q_lo);
        const double slack = std::ldexp(magnitude, -20) + 1e-37;
        INFO(F::kName << " block " << b << " sub-block " << sub << " element " << k << ": x = "
                      << xi << ", x̂ = " << xq << ", step = " << g.step
                      << ", offset = " << g.offset);
        REQUIRE(on_grid <= slack);                          // x̂ is a point of the grid
        REQUIRE(std::fabs(xi - xq) <= nearest + slack);     // and the nearest one to x
      }
    }
    for (size_t i = 0; i < kSuperBlock; ++i) {
      const double err = std::fabs(static_cast<double>(x[b * kSuperBlock + i]) -
                                   r.values[b * kSuperBlock + i]);
      if (amax > 0) worst_relative = std::max(worst_relative, err / amax);
    }
  }
  return worst_relative;
}

// RMS(x − x̂) / RMS(x) over a row.
double relative_rms_error(const std::vector<float>& x, const std::vector<float>& xq) {
  double err = 0.0, sum = 0.0;
  for (size_t i = 0; i < x.size(); ++i) {
    err += (static_cast<double>(x[i]) - xq[i]) * (static_cast<double>(x[i]) - xq[i]);
    sum += static_cast<double>(x[i]) * x[i];
  }
  return std::sqrt(err / sum);
}

// Uniform data on [−1, 1] quantized with a step h has RMS error h/√12;
// over RMS(x) = 1/√3 that is h/2. The offset types span the range with
// levels 0…nmax (h = 2/nmax, error 1/nmax); the symmetric types span it
// with −nmax…nmax−1 (h = 1/nmax, error 1/(2·nmax)). Each bound allows 1.5×
// that for the fits' clipping and the rounding of the sub-block scales.
template <class Block>
double uniform_rms_bound();
template <> double uniform_rms_bound<llmk::Q2_KBlock>() { return 1.5 / 3; }
template <> double uniform_rms_bound<llmk::Q3_KBlock>() { return 1.5 / 8; }
template <> double uniform_rms_bound<llmk::Q4_KBlock>() { return 1.5 / 15; }
template <> double uniform_rms_bound<llmk::Q5_KBlock>() { return 1.5 / 31; }
template <> double uniform_rms_bound<llmk::Q6_KBlock>() { return 1.5 / 64; }

std::vector<float> uniform(size_t blocks, uint32_t seed, float amplitude = 1.0f) {
  std::vector<float> x(blocks * kSuperBlock);
  llmk::test::fill_uniform(x, seed, -amplitude, amplitude);
  return x;
}

#define FOR_EACH_KQUANT(body)            \
  SUBCASE("Q2_K") { body(llmk::Q2_KBlock{}); } \
  SUBCASE("Q3_K") { body(llmk::Q3_KBlock{}); } \
  SUBCASE("Q4_K") { body(llmk::Q4_KBlock{}); } \
  SUBCASE("Q5_K") { body(llmk::Q5_KBlock{}); } \
  SUBCASE("Q6_K") { body(llmk::Q6_KBlock{}); }

}  // namespace

TEST_CASE("kquant: dequantizers decode arbitrary blocks as the format describes") {
  auto body = [](auto tag) {
    using Block = decltype(tag);
    using F = Format<Block>;
    // Random bytes, then finite random fp16 scales in ±2^-8…2^7: every
    // scale, min and level pattern, values that are exact to compare.
    std::vector<Block> blocks(256);
    std::mt19937 rng(31);
    for (Block& b : blocks) {
      auto* bytes = reinterpret_cast<uint8_t*>(&b);
      for (size_t i = 0; i < sizeof b; ++i) bytes[i] = static_cast<uint8_t>(rng());
      auto random_half = [&] {
        const auto exponent = static_cast<uint16_t>(7 + rng() % 16);  // 2^-8 … 2^7
        return static_cast<uint16_t>((rng() & 0x8000u) | (exponent << 10) | (rng() & 0x3FFu));
      };
      b.d = random_half();
      if constexpr (requires { b.dmin; }) b.dmin = random_half();
    }
    std::vector<float> values(blocks.size() * kSuperBlock);
    REQUIRE(F::dequantize(blocks, values).ok());
    for (size_t k = 0; k < blocks.size(); ++k) {
      for (int e = 0; e < static_cast<int>(kSuperBlock); ++e) {
        const Grid g = F::grid(blocks[k], e / F::kSubBlock);
        // ggml's operation order: (d·scale)·q − dmin·min, each in f32.
        const float want = g.step * static_cast<float>(F::level(blocks[k], e)) - g.offset;
        INFO(F::kName << " block " << k << " element " << e);
        REQUIRE(bits_of(values[k * kSuperBlock + static_cast<size_t>(e)]) == bits_of(want));
      }
    }
  };
  FOR_EACH_KQUANT(body);
}

TEST_CASE("kquant: uniform data round-trips to the nearest grid point within the RMS bound") {
  auto body = [](auto tag) {
    using Block = decltype(tag);
    const std::vector<float> x = uniform(64, 21);
    const auto r = round_trip<Block>(x);
    check_nearest_grid_point(x, r);
    const double rms = relative_rms_error(x, r.values);
    INFO(Format<Block>::kName << " relative RMS error " << rms);
    CHECK(rms <= uniform_rms_bound<Block>());
    CHECK(rms > 0.0);  // a 2–6 bit format cannot be lossless on random floats
  };
  FOR_EACH_KQUANT(body);
}

TEST_CASE("kquant: all-zero blocks give zero scales and zero values") {
  auto body = [](auto tag) {
    using Block = decltype(tag);
    const std::vector<float> x(3 * kSuperBlock, 0.0f);
    const auto r = round_trip<Block>(x);
    for (const Block& b : r.blocks) CHECK(f16_to_f32(b.d) == 0.0f);
    for (float v : r.values) REQUIRE(v == 0.0f);
  };
  FOR_EACH_KQUANT(body);
}

TEST_CASE("kquant: constant blocks round-trip within fp16 rounding of the scales") {
  // The block's extreme sub-block scale (and min) quantizes to the top level
  // exactly, so only d and dmin round, to fp16 (relative 2^-11 each while
  // they are normal halves, which these constants keep them: d ≥ |c|/4096);
  // the value is a sum of at most two such terms of the constant's size.
  auto body = [](auto tag) {
    using Block = decltype(tag);
    for (float c : {0.75f, -2.5f, 1000.0f, -0.3f}) {
      CAPTURE(c);
      const std::vector<float> x(2 * kSuperBlock, c);
      const auto r = round_trip<Block>(x);
      check_nearest_grid_point(x, r);
      for (float v : r.values) REQUIRE(std::fabs(v - c) <= std::ldexp(std::fabs(c), -9));
    }
  };
  FOR_EACH_KQUANT(body);
}

TEST_CASE("kquant: huge and tiny magnitudes") {
  auto body = [](auto tag) {
    using Block = decltype(tag);
    // Huge: d and dmin stay inside fp16's range (dmin ≈ amplitude / 15 for
    // Q2_K is the largest, 6.7e3 ≪ 65504), so the relative error is as for
    // unit data. (Beyond that ggml's d overflows to infinity, and so do ours.)
    const std::vector<float> huge = uniform(8, 22, 1e5f);
    const auto rh = round_trip<Block>(huge);
    check_nearest_grid_point(huge, rh);
    CHECK(relative_rms_error(huge, rh.values) <= uniform_rms_bound<Block>());
    // Small: d falls into fp16's subnormal range (steps of 2^-24), where the
    // grid is coarse but every element still goes to its nearest point.
    const std::vector<float> small = uniform(8, 23, 3e-5f);
    check_nearest_grid_point(small, round_trip<Block>(small));
    // Tiny: d and dmin underflow fp16 to zero, so every value decodes to 0,
    // an error of |x| ≤ 1e-10.
    const std::vector<float> tiny = uniform(4, 24, 1e-10f);
    const auto rt = round_trip<Block>(tiny);
    for (const Block& b : rt.blocks) CHECK(f16_to_f32(b.d) == 0.0f);
    for (float v : rt.values) REQUIRE(v == 0.0f);
  };
  FOR_EACH_KQUANT(body);
}

TEST_CASE("kquant: a block whose extreme is negative keeps its sign and bound") {
  auto body = [](auto tag) {
    using Block = decltype(tag);
    // Values in [−1, 0.2] with −4 at one spot: the symmetric types map the
    // extreme to their most negative level, the offset types to level 0.
    std::vector<float> x = uniform(4, 25);
    for (float& v : x) v = v * 0.6f - 0.4f;
    for (size_t b = 0; b < 4; ++b) x[b * kSuperBlock + 37 * b + 5] = -4.0f;
    const auto r = round_trip<Block>(x);
    check_nearest_grid_point(x, r);
    for (size_t b = 0; b < 4; ++b) {
      const float extreme = r.values[b * kSuperBlock + 37 * b + 5];
      CHECK(extreme < -2.0f);  // not clipped toward zero by more than half
    }
    // Data in [−2.5, −1.5]: every value must come back negative (a sign flip
    // would need an error above 1.5, far beyond any grid step here).
    std::vector<float> negative = uniform(4, 26);
    for (float& v : negative) v = -1.5f - std::fabs(v);
    const auto rn = round_trip<Block>(negative);
    check_nearest_grid_point(negative, rn);
    for (float v : rn.values) REQUIRE(v < 0.0f);
  };
  FOR_EACH_KQUANT(body);
}

TEST_CASE("kquant: lengths that are not whole super-blocks are clear errors") {
  std::vector<float> x(300, 1.0f);
  std::vector<llmk::Q4_KBlock> q4(2);
  absl::Status st = llmk::quantize_q4_k(std::span<const float>(x.data(), 255), q4);
  CHECK(st.code() == absl::StatusCode::kInvalidArgument);
  CHECK(st.message().find("quantize_q4_k") != std::string::npos);
  CHECK(st.message().find("x has 255") != std::string::npos);
  CHECK(st.message().find("multiple of 256") != std::string::npos);
  st = llmk::quantize_q2_k(std::span<const float>(x.data(), 257), std::span<llmk::Q2_KBlock>());
  CHECK(st.message().find("multiple of 256") != std::string::npos);
  std::vector<llmk::Q6_KBlock> q6(1);
  CHECK(llmk::quantize_q6_k(std::span<const float>(x.data(), 256), q6).ok());
  // 256 values but two output blocks: the out span is named.
  std::vector<llmk::Q3_KBlock> q3(2);
  st = llmk::quantize_q3_k(std::span<const float>(x.data(), 256), q3);
  CHECK(st.code() == absl::StatusCode::kInvalidArgument);
  CHECK(st.message().find("quantize_q3_k: out has 2 elements, expected 1") != std::string::npos);
  std::vector<llmk::Q5_KBlock> q5(1);
  CHECK(llmk::quantize_q5_k(std::span<const float>(), std::span<llmk::Q5_KBlock>()).ok());
  CHECK(!llmk::quantize_q5_k(std::span<const float>(), q5).ok());

  std::vector<float> out(300);
  st = llmk::dequantize_q4_k(q4, std::span<float>(out.data(), 256));
  CHECK(st.code() == absl::StatusCode::kInvalidArgument);
  CHECK(st.message().find("dequantize_q4_k: out has 256 elements, expected 512") !=
        std::string::npos);
  CHECK(!llmk::dequantize_q2_k(std::span<const llmk::Q2_KBlock>(), std::span<float>(out.data(), 1)).ok());
  CHECK(!llmk::dequantize_q3_k(q3, out).ok());
  CHECK(!llmk::dequantize_q5_k(q5, out).ok());
  CHECK(llmk::dequantize_q5_k(q5, std::span<float>(out.data(), 256)).ok());
  CHECK(!llmk::dequantize_q6_k(q6, std::span<float>(out.data(), 255)).ok());
}

// ---------------------------------------------------------------- BF16

TEST_CASE("bf16: every pattern converts to f32 exactly and back") {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const auto bf = static_cast<uint16_t>(h);
    const float f = llmk::bf16_to_f32(bf);
    REQUIRE(bits_of(f) == h << 16);  // bf16 is the high half of a binary32
    const bool nan = (h & 0x7F80) == 0x7F80 && (h & 0x7F) != 0;
    if (nan) {
      // NaN stays NaN, sign and payload kept, forced quiet.
      REQUIRE(llmk::f32_to_bf16(f) == (bf | 0x40));
    } else {
      REQUIRE(llmk::f32_to_bf16(f) == bf);
    }
  }
}

TEST_CASE("bf16: rounding to nearest, ties to even, on every exponent") {
  std::mt19937 rng(5);
  for (uint32_t high = 0; high < 0x10000; ++high) {
    if ((high & 0x7F80) == 0x7F80) continue;  // infinities and NaN: below
    const double lo = llmk::bf16_to_f32(static_cast<uint16_t>(high));
    const uint32_t next = (high & 0x7FFF) == 0x7F7F ? high : high + 1;  // below infinity
    for (uint32_t low : {0x7FFFu, 0x8000u, 0x8001u, static_cast<uint32_t>(rng() & 0xFFFFu)}) {
      const float f = float_of((high << 16) | low);
      const uint16_t got = llmk::f32_to_bf16(f);
      INFO("f32 bits 0x" << std::hex << ((high << 16) | low));
      if (low == 0x8000u) {
        // A tie: the even neighbour (the kept bits' last bit clear).
        REQUIRE((got & 1) == 0);
        REQUIRE((got == high || got == ((high + 1) & 0xFFFF)));
      } else if (next != high) {
        // Otherwise the nearer of the two neighbours, by exact arithmetic.
        const double hi = llmk::bf16_to_f32(static_cast<uint16_t>(next));
        const double x = f;
        const uint16_t want = std::fabs(x - lo) < std::fabs(x - hi) ? high : next;
        REQUIRE(got == want);
      }
    }
  }
  // Worked examples: 1 + 2^-8 is the midpoint of 1 and 1 + 2^-7 (→ 1, even);
  // 1 + 3·2^-8 lies between 1 + 2^-7 (odd) and 1 + 2^-6 (→ the latter).
  CHECK(llmk::f32_to_bf16(1.0f + 0x1p-8f) == 0x3F80);
  CHECK(llmk::f32_to_bf16(1.0f + 3 * 0x1p-8f) == 0x3F82);
  CHECK(llmk::f32_to_bf16(-(1.0f + 3 * 0x1p-8f)) == 0xBF82);
  // Past the largest bf16 by half an ulp or more: infinity.
  CHECK(llmk::f32_to_bf16(std::numeric_limits<float>::max()) == 0x7F80);
  CHECK(llmk::f32_to_bf16(float_of(0x7F7F7FFFu)) == 0x7F7F);
  CHECK(llmk::f32_to_bf16(float_of(0x7F7F8000u)) == 0x7F80);
  CHECK(llmk::f32_to_bf16(-std::numeric_limits<float>::infinity()) == 0xFF80);
  // Subnormals are rounded, not flushed.
  CHECK(llmk::f32_to_bf16(float_of(0x00010000u)) == 0x0001);
  CHECK(llmk::f32_to_bf16(float_of(0x00008000u)) == 0x0000);  // tie → even 0
  CHECK(llmk::f32_to_bf16(float_of(0x00018000u)) == 0x0002);  // tie → even 2
  CHECK(llmk::f32_to_bf16(float_of(0x00008001u)) == 0x0001);
  CHECK(llmk::f32_to_bf16(float_of(0x80000001u)) == 0x8000);
}

TEST_CASE("bf16: NaN is forced quiet, never rounded into infinity") {
  // A signalling NaN whose payload is only in the dropped bits would become
  // infinity under plain rounding or truncation.
  CHECK(llmk::f32_to_bf16(float_of(0x7F800001u)) == 0x7FC0);
  CHECK(llmk::f32_to_bf16(float_of(0xFF800001u)) == 0xFFC0);
  CHECK(llmk::f32_to_bf16(float_of(0x7FBFFFFFu)) == 0x7FFF);  // truncated, not rounded up
  CHECK(llmk::f32_to_bf16(std::numeric_limits<float>::quiet_NaN()) == 0x7FC0);
  CHECK(std::isnan(llmk::bf16_to_f32(llmk::f32_to_bf16(float_of(0x7F800001u)))));
}
