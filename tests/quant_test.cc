// Q4_0 / Q8_0 quantization and the quantized kernels: byte-exactness against
// ggml's reference output, fp16 edge cases, stated round-trip error bounds,
// every Highway target against the scalar reference, and argument checks.
#include "llmk/quant.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <iterator>
#include <limits>
#include <vector>

#include "llmk/thread_pool.h"
#include "quant/quant_kernels.h"
#include "quant/quant_reference.h"
#include "test_util.h"

using llmk::f16_to_f32;
using llmk::f32_to_f16;
using llmk::kQuantBlock;
using llmk::Q4_0Block;
using llmk::Q8_0Block;
using llmk::TensorType;
using llmk::WeightView;
using llmk::test::fill_uniform;
using llmk::test::for_each_target;

namespace {

uint32_t bits_of(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}

bool is_half_nan(uint16_t h) { return (h & 0x7C00) == 0x7C00 && (h & 0x3FF) != 0; }

// The value of a half, computed independently of the library (by ldexp).
double half_value(uint16_t h) {
  const int sign = (h & 0x8000) ? -1 : 1;
  const int exponent = (h >> 10) & 0x1F;
  const int mantissa = h & 0x3FF;
  if (exponent == 0x1F) {
    return mantissa ? std::numeric_limits<double>::quiet_NaN()
                    : sign * std::numeric_limits<double>::infinity();
  }
  if (exponent == 0) return sign * std::ldexp(mantissa, -24);
  return sign * std::ldexp(1024 + mantissa, exponent - 25);
}

// Float error allowance of a float kernel's sum: reassociation over `terms`
// partial sums, each product rounded once. 2^-22·(terms + 16) of Σ|products|
// is far above the typical error and far below a wrong block or lane.
double dot_tolerance(const llmk::ref::DotResult& r, size_t terms) {
  return std::ldexp(1.0, -22) * static_cast<double>(terms + 16) * r.magnitude + 1e-30;
}

// Row r of Q4_0/Q8_0 `w` times Q8_0 x in the interleaved batch kernels'
// order (lib/quant/interleaved-inl.h): each block's exact integer sum, then
// acc = fma(float(sum), d_w·d_x, acc) block after block.
float block_sum_order_dot(const WeightView& w, size_t r, const Q8_0Block* x) {
  const size_t blocks = w.cols / kQuantBlock;
  float acc = 0.0f;
  for (size_t k = 0; k < blocks; ++k) {
    int32_t sum = 0;
    uint16_t scale = 0;
    if (w.type == TensorType::kQ4_0) {
      const Q4_0Block& b = static_cast<const Q4_0Block*>(w.data)[r * blocks + k];
      scale = b.d;
      for (size_t j = 0; j < 16; ++j) {
        sum += ((b.qs[j] & 0x0F) - 8) * x[k].qs[j] + ((b.qs[j] >> 4) - 8) * x[k].qs[16 + j];
      }
    } else {
      const Q8_0Block& b = static_cast<const Q8_0Block*>(w.data)[r * blocks + k];
      scale = b.d;
      for (size_t j = 0; j < 32; ++j) sum += b.qs[j] * x[k].qs[j];
    }
    acc = std::fma(static_cast<float>(sum), f16_to_f32(scale) * f16_to_f32(x[k].d), acc);
  }
  return acc;
}

// Storage whose payload starts `offset` bytes past a 64-byte boundary, so
// kernels see blocks that are not vector-aligned.
template <class T>
class Unaligned {
 public:
  explicit Unaligned(size_t count, size_t offset = 2)
      : bytes_(count * sizeof(T) + 128), count_(count) {
    const auto base = reinterpret_cast<uintptr_t>(bytes_.data());
    offset_ = (64 - base % 64) % 64 + offset;
  }
  T* data() { return reinterpret_cast<T*>(bytes_.data() + offset_); }
  std::span<T> span() { return {data(), count_}; }

 private:
  std::vector<unsigned char> bytes_;
  size_t offset_ = 0;
  size_t count_;
};

// Random blocks with scales from a wide but finite range; Q8_0 quants cover
// the whole int8 range, −128 included (a file may hold it).
template <class Block>
void fill_blocks(std::span<Block> blocks, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_real_distribution<float> scale(-0.02f, 0.02f);
  for (Block& b : blocks) {
    b.d = f32_to_f16(scale(rng));
    for (auto& q : b.qs) q = static_cast<std::remove_reference_t<decltype(q)>>(byte(rng));
  }
}

std::vector<double> to_double(std::span<const float> x) { return {x.begin(), x.end()}; }

const std::vector<size_t> kBlockCounts = {0, 1, 2, 3, 4, 5, 7, 8, 9, 31, 33, 128, 129};

}  // namespace

// ---------------------------------------------------------------- fp16

TEST_CASE("fp16: every half converts to its exact value and back") {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const auto half = static_cast<uint16_t>(h);
    const float f = f16_to_f32(half);
    if (is_half_nan(half)) {
      REQUIRE(std::isnan(f));
      REQUIRE(std::signbit(f) == ((half & 0x8000) != 0));
      REQUIRE(is_half_nan(f32_to_f16(f)));
      continue;
    }
    REQUIRE(static_cast<double>(f) == half_value(half));
    REQUIRE(std::signbit(f) == ((half & 0x8000) != 0));
    REQUIRE(f32_to_f16(f) == half);
  }
}

TEST_CASE("fp16: midpoints round to even, neighbours to nearest, subnormals included") {
  for (uint16_t sign : {uint16_t{0}, uint16_t{0x8000}}) {
    for (uint16_t h = 0; h < 0x7BFF; ++h) {  // consecutive finite halves h, h + 1
      const double lo = half_value(h), hi = half_value(static_cast<uint16_t>(h + 1));
      const float mid = static_cast<float>((lo + hi) / 2);  // exact: 12 significant bits
      REQUIRE(static_cast<double>(mid) == (lo + hi) / 2);
      const float s = sign ? -1.0f : 1.0f;
      const uint16_t even = (h & 1) ? static_cast<uint16_t>(h + 1) : h;
      INFO("h = " << h);
      REQUIRE(f32_to_f16(s * mid) == (even | sign));
      REQUIRE(f32_to_f16(s * std::nextafter(mid, 1e9f)) == ((h + 1) | sign));
      REQUIRE(f32_to_f16(s * std::nextafter(mid, 0.0f)) == (h | sign));
    }
  }
}

TEST_CASE("fp16: overflow, infinities, NaN and underflow") {
  CHECK(f32_to_f16(65504.0f) == 0x7BFF);
  CHECK(f32_to_f16(65520.0f) == 0x7C00);  // the tie above the largest half goes to inf
  CHECK(f32_to_f16(std::nextafter(65520.0f, 0.0f)) == 0x7BFF);
  CHECK(f32_to_f16(-65520.0f) == 0xFC00);
  CHECK(f32_to_f16(1e10f) == 0x7C00);
  CHECK(f32_to_f16(std::numeric_limits<float>::max()) == 0x7C00);
  CHECK(f32_to_f16(std::numeric_limits<float>::infinity()) == 0x7C00);
  CHECK(f32_to_f16(-std::numeric_limits<float>::infinity()) == 0xFC00);
  CHECK(std::isinf(f16_to_f32(0x7C00)));
  CHECK(is_half_nan(f32_to_f16(std::numeric_limits<float>::quiet_NaN())));
  CHECK(is_half_nan(f32_to_f16(-std::numeric_limits<float>::quiet_NaN())));
  CHECK((f32_to_f16(-std::numeric_limits<float>::quiet_NaN()) & 0x8000) != 0);
  // A NaN whose payload lies only in the low 13 bits must still be a NaN.
  float low_payload_nan;
  const uint32_t nan_bits = 0x7F800001u;
  std::memcpy(&low_payload_nan, &nan_bits, 4);
  CHECK(is_half_nan(f32_to_f16(low_payload_nan)));
  // Smallest subnormal half is 2^-24; 2^-25 is the tie with 0 (even).
  CHECK(f32_to_f16(std::ldexp(1.0f, -24)) == 0x0001);
  CHECK(f32_to_f16(std::ldexp(1.0f, -25)) == 0x0000);
  CHECK(f32_to_f16(std::nextafter(std::ldexp(1.0f, -25), 1.0f)) == 0x0001);
  CHECK(f32_to_f16(-std::ldexp(1.0f, -26)) == 0x8000);
  CHECK(f32_to_f16(std::numeric_limits<float>::denorm_min()) == 0x0000);
  CHECK(f32_to_f16(std::ldexp(3.0f, -25)) == 0x0002);  // 1.5 ulp ties to 2
  CHECK(f32_to_f16(std::ldexp(1.0f, -14)) == 0x0400);  // smallest normal
  CHECK(f32_to_f16(std::nextafter(std::ldexp(1.0f, -14), 0.0f)) == 0x0400);
  CHECK(f32_to_f16(-0.0f) == 0x8000);
  CHECK(bits_of(f16_to_f32(0x8000)) == 0x80000000u);
}

TEST_CASE("fp16: bulk conversion (F16 rows) matches the scalar one on every target") {
  std::vector<uint16_t> halves(0x10000);
  for (uint32_t h = 0; h < 0x10000; ++h) halves[h] = static_cast<uint16_t>(h);
  const WeightView w{TensorType::kF16, halves.data(), 1, halves.size()};
  std::vector<float> out(halves.size());
  for_each_target([&](const std::string&) {
    std::fill(out.begin(), out.end(), 0.0f);
    llmk::kernels::dequantize_row(w, 0, out.data());
    for (uint32_t h = 0; h < 0x10000; ++h) {
      const float want = f16_to_f32(static_cast<uint16_t>(h));
      if (std::isnan(want)) {
        REQUIRE(std::isnan(out[h]));
      } else {
        INFO("half = " << h);
        REQUIRE(bits_of(out[h]) == bits_of(want));
      }
    }
  });
}

// ------------------------------------------------ ggml reference bytes

TEST_CASE("quantize: byte-identical to ggml on ../shared/ref/quant/mixed.f32") {
  const auto in_path = llmk::test::shared_file_or_skip("ref/quant/mixed.f32");
  if (!in_path) return;
  const auto q4_path = llmk::test::shared_file_or_skip("ref/quant/mixed.q4_0");
  const auto q8_path = llmk::test::shared_file_or_skip("ref/quant/mixed.q8_0");
  const auto dq4_path = llmk::test::shared_file_or_skip("ref/quant/mixed.q4_0.dequant.f32");
  const auto dq8_path = llmk::test::shared_file_or_skip("ref/quant/mixed.q8_0.dequant.f32");
  if (!q4_path || !q8_path || !dq4_path || !dq8_path) return;
  const auto in_bytes = llmk::test::read_file(*in_path);
  const auto q4_bytes = llmk::test::read_file(*q4_path);
  const auto q8_bytes = llmk::test::read_file(*q8_path);
  const auto dq4_bytes = llmk::test::read_file(*dq4_path);
  const auto dq8_bytes = llmk::test::read_file(*dq8_path);
  REQUIRE(in_bytes);
  REQUIRE(q4_bytes);
  REQUIRE(q8_bytes);
  REQUIRE(dq4_bytes);
  REQUIRE(dq8_bytes);
  const size_t n = in_bytes->size() / sizeof(float);
  REQUIRE(n == 4096);
  const size_t blocks = n / kQuantBlock;
  REQUIRE(q4_bytes->size() == blocks * sizeof(Q4_0Block));
  REQUIRE(q8_bytes->size() == blocks * sizeof(Q8_0Block));
  REQUIRE(dq4_bytes->size() == n * sizeof(float));
  REQUIRE(dq8_bytes->size() == n * sizeof(float));
  std::vector<float> x(n);
  std::memcpy(x.data(), in_bytes->data(), in_bytes->size());

  std::vector<Q4_0Block> q4(blocks);
  REQUIRE(llmk::quantize_q4_0(x, q4).ok());
  for (size_t k = 0; k < blocks; ++k) {
    INFO("block " << k);
    CHECK(std::memcmp(&q4[k], q4_bytes->data() + k * sizeof(Q4_0Block), sizeof(Q4_0Block)) == 0);
  }
  // The Q8_0 quantizer is a dispatched kernel: every target must match.
  for_each_target([&](const std::string&) {
    std::vector<Q8_0Block> q8(blocks), q8_row(blocks);
    REQUIRE(llmk::quantize_q8_0(x, q8).ok());
    for (size_t k = 0; k < blocks; ++k) {
      INFO("block " << k);
      CHECK(std::memcmp(&q8[k], q8_bytes->data() + k * sizeof(Q8_0Block), sizeof(Q8_0Block)) == 0);
    }
    llmk::kernels::quantize_q8_0_ties_away(x.data(), n, q8_row.data());
    CHECK(std::memcmp(q8_row.data(), q8.data(), blocks * sizeof(Q8_0Block)) == 0);
  });

  // Dequantize ggml's own blocks on every target, bit for bit as ggml's
  // formula: (nibble − 8)·d and q·d are exact in f32 (≤ 19 significant bits),
  // so the exact double reference rounded to f32 is the only correct answer,
  // sign of zero included.
  std::vector<Q4_0Block> ref_q4(blocks);
  std::vector<Q8_0Block> ref_q8(blocks);
  std::memcpy(ref_q4.data(), q4_bytes->data(), q4_bytes->size());
  std::memcpy(ref_q8.data(), q8_bytes->data(), q8_bytes->size());
  std::vector<float> want4(n), want8(n);
  const auto exact4 = llmk::ref::dequantize_q4_0(ref_q4.data(), blocks);
  const auto exact8 = llmk::ref::dequantize_q8_0(ref_q8.data(), blocks);
  for (size_t i = 0; i < n; ++i) {
    want4[i] = static_cast<float>(exact4[i]);
    want8[i] = static_cast<float>(exact8[i]);
  }
  const WeightView w4{TensorType::kQ4_0, ref_q4.data(), 4, n / 4};
  const WeightView w8{TensorType::kQ8_0, ref_q8.data(), 4, n / 4};
  for_each_target([&](const std::string&) {
    std::vector<float> d4(n, -1.0f), d8(n, -1.0f), row(n / 4);
    REQUIRE(llmk::dequantize_q4_0(ref_q4, d4).ok());
    REQUIRE(llmk::dequantize_q8_0(ref_q8, d8).ok());
    CHECK(std::memcmp(d4.data(), want4.data(), n * sizeof(float)) == 0);
    CHECK(std::memcmp(d8.data(), want8.data(), n * sizeof(float)) == 0);
    for (size_t r = 0; r < 4; ++r) {
      llmk::kernels::dequantize_row(w4, r, row.data());
      CHECK(std::memcmp(row.data(), want4.data() + r * row.size(), row.size() * 4) == 0);
      llmk::kernels::dequantize_row(w8, r, row.data());
      CHECK(std::memcmp(row.data(), want8.data() + r * row.size(), row.size() * 4) == 0);
    }
  });
}

// The shared dequantization files, when they are sound. The copies seen so
// far hold only ±0 (the sign of each quant, as if d had been read as an f32
// denormal and flushed), so they are checked for plausibility first and the
// comparison is skipped, with the reason, when they cannot be right.
TEST_CASE("dequantize: bit-identical to ../shared/ref/quant/mixed.q*.dequant.f32") {
  for (const char* name : {"q4_0", "q8_0"}) {
    const auto blocks_path =
        llmk::test::shared_file_or_skip(std::string("ref/quant/mixed.") + name);
    const auto deq_path =
        llmk::test::shared_file_or_skip(std::string("ref/quant/mixed.") + name + ".dequant.f32");
    if (!blocks_path || !deq_path) return;
    const auto block_bytes = llmk::test::read_file(*blocks_path);
    const auto deq_bytes = llmk::test::read_file(*deq_path);
    REQUIRE(block_bytes);
    REQUIRE(deq_bytes);
    const bool q4 = std::string(name) == "q4_0";
    const size_t block_size = q4 ? sizeof(Q4_0Block) : sizeof(Q8_0Block);
    const size_t blocks = block_bytes->size() / block_size;
    REQUIRE(deq_bytes->size() == blocks * kQuantBlock * sizeof(float));
    std::vector<float> want(blocks * kQuantBlock), got(blocks * kQuantBlock);
    std::memcpy(want.data(), deq_bytes->data(), deq_bytes->size());
    if (std::all_of(want.begin(), want.end(), [](float v) { return v == 0.0f; })) {
      llmk::test::skip(std::string("ref/quant/mixed.") + name +
                       ".dequant.f32 is defective: all values are ±0 although the blocks "
                       "have nonzero scales and quants (bit-exactness is checked against "
                       "ggml's formula instead)");
      return;
    }
    if (q4) {
      std::vector<Q4_0Block> b(blocks);
      std::memcpy(b.data(), block_bytes->data(), block_bytes->size());
      REQUIRE(llmk::dequantize_q4_0(b, got).ok());
    } else {
      std::vector<Q8_0Block> b(blocks);
      std::memcpy(b.data(), block_bytes->data(), block_bytes->size());
      REQUIRE(llmk::dequantize_q8_0(b, got).ok());
    }
    CHECK(std::memcmp(got.data(), want.data(), want.size() * sizeof(float)) == 0);
  }
}

TEST_CASE("quantize: Q8_0 on every target equals the scalar ggml transcription") {
  // One block with amax = 127, so id = 1 and x·id is x itself: exact ties
  // (round away from zero) and values just below a half (round down).
  std::vector<float> x(6 * kQuantBlock, 0.0f);
  const float just_below_half = std::nextafter(0.5f, 0.0f);
  const std::vector<float> ties = {
      127.0f,           2.5f, -2.5f,   0.5f,   -0.5f,      just_below_half,
      -just_below_half, 1.5f, -126.5f, 126.5f, 3.4999998f, -0.0f};
  std::copy(ties.begin(), ties.end(), x.begin());
  fill_uniform(std::span<float>(x).subspan(32, 64), 99, -3.0f, 3.0f);
  x[96 + 5] = std::numeric_limits<float>::infinity();  // non-finite rows: defined, no UB
  x[128 + 7] = std::numeric_limits<float>::quiet_NaN();
  for (size_t j = 160; j < 192; ++j) x[j] = std::ldexp(static_cast<float>(j), -140);  // subnormal
  std::vector<Q8_0Block> want(x.size() / kQuantBlock);
  llmk::ref::quantize_q8_0(x.data(), x.size(), want.data());
  CHECK(want[0].qs[1] == 3);
  CHECK(want[0].qs[2] == -3);
  CHECK(want[0].qs[3] == 1);
  CHECK(want[0].qs[4] == -1);
  CHECK(want[0].qs[5] == 0);
  CHECK(want[0].qs[8] == -127);
  for_each_target([&](const std::string&) {
    std::vector<Q8_0Block> got(want.size());
    REQUIRE(llmk::quantize_q8_0(x, got).ok());
    for (size_t k = 0; k < got.size(); ++k) {
      INFO("block " << k);
      // A NaN element makes the block meaningless (ggml: undefined); it
      // must only be defined: the NaN itself quantizes to 0.
      if (k == 4) {
        CHECK(got[k].qs[7] == 0);
        continue;
      }
      CHECK(got[k].d == want[k].d);
      CHECK(std::memcmp(got[k].qs, want[k].qs, sizeof got[k].qs) == 0);
    }
  });
}

// ------------------------------------------------ round-trip error bounds
//
// Let d be the f32 scale the quantizer computes and d_h = f16(d) the stored
// one, and let the rounding of x/d give the integer q (|q| ≤ 127 for Q8_0,
// q ∈ [−8, 7] for Q4_0). Then x − q·d_h = (x − q·d) + q·(d − d_h), so:
//   Q8_0: |x − deq| ≤ d/2 + |q|·|d − d_h|                  for every element.
//   Q4_0: d = max/−8, so x/d ∈ [−8, 8] and the extreme itself is exactly
//         −8·d_h. For x/d ≤ 7.5:  |x − deq| ≤ |d|/2 + 8·|d − d_h|;
//         on the clamped side (x/d > 7.5, values opposite in sign to the
//         extreme and almost as large) q is clamped to 7, so
//         |x − deq| ≤ |d| + 8·|d − d_h| (reached at x = −max).
// Each bound gets a relative 1e-5 slack for the f32 rounding of x·(1/d).

namespace {

std::vector<std::vector<float>> adversarial_blocks() {
  std::vector<std::vector<float>> rows;
  auto block = [](float v) { return std::vector<float>(kQuantBlock, v); };
  rows.push_back(block(0.0f));
  rows.push_back(block(1.0f));
  rows.push_back(block(-3.5f));
  std::vector<float> tie(kQuantBlock, 0.25f);
  tie[3] = 2.0f;
  tie[9] = -2.0f;  // same magnitude, opposite sign: the first one wins
  rows.push_back(tie);
  std::vector<float> tie_neg = tie;
  std::swap(tie_neg[3], tie_neg[9]);
  rows.push_back(tie_neg);
  std::vector<float> one_hot(kQuantBlock, 0.0f);
  one_hot[31] = -7.0f;
  rows.push_back(one_hot);
  for (float scale : {1e-8f, 1e-3f, 1.0f, 1e4f}) {
    for (uint32_t seed = 0; seed < 8; ++seed) {
      std::vector<float> r(kQuantBlock);
      fill_uniform(r, seed * 31 + 7, -scale, scale);
      if (seed & 1) r[seed] = -1.5f * scale;  // extreme negative
      rows.push_back(r);
    }
  }
  std::vector<float> subnormal(kQuantBlock);
  for (size_t j = 0; j < kQuantBlock; ++j)
    subnormal[j] = std::ldexp(static_cast<float>(j) - 16, -140);
  rows.push_back(subnormal);
  return rows;
}

}  // namespace

TEST_CASE("quantize: Q8_0 round trip within d/2 + |q|·|d − d_h|") {
  for (const auto& x : adversarial_blocks()) {
    Q8_0Block q;
    REQUIRE(llmk::quantize_q8_0(x, std::span<Q8_0Block>(&q, 1)).ok());
    std::vector<float> deq(kQuantBlock);
    REQUIRE(llmk::dequantize_q8_0(std::span<const Q8_0Block>(&q, 1), deq).ok());
    float amax = 0;
    for (float v : x) amax = std::max(amax, std::fabs(v));
    const double d = amax / 127.0f, d_h = f16_to_f32(q.d);
    for (size_t j = 0; j < kQuantBlock; ++j) {
      const double bound = d / 2 * (1 + 1e-5) + std::abs(q.qs[j]) * std::fabs(d - d_h);
      INFO("x = " << x[j] << ", deq = " << deq[j] << ", d = " << d);
      REQUIRE(std::fabs(x[j] - deq[j]) <= bound);
      REQUIRE(std::abs(q.qs[j]) <= 127);
    }
  }
}

TEST_CASE("quantize: Q4_0 round trip within |d|/2 (|d| on the clamped side) + 8·|d − d_h|") {
  for (const auto& x : adversarial_blocks()) {
    Q4_0Block q;
    REQUIRE(llmk::quantize_q4_0(x, std::span<Q4_0Block>(&q, 1)).ok());
    std::vector<float> deq(kQuantBlock);
    REQUIRE(llmk::dequantize_q4_0(std::span<const Q4_0Block>(&q, 1), deq).ok());
    float amax = 0, max = 0;
    for (float v : x) {
      if (amax < std::fabs(v)) {
        amax = std::fabs(v);
        max = v;
      }
    }
    const double d = max / -8.0f, d_h = f16_to_f32(q.d);
    for (size_t j = 0; j < kQuantBlock; ++j) {
      const double t = d != 0 ? x[j] / d : 0.0;
      const double base = t > 7.5 ? std::fabs(d) : std::fabs(d) / 2;
      const double bound = base * (1 + 1e-5) + 8 * std::fabs(d - d_h);
      INFO("x = " << x[j] << ", deq = " << deq[j] << ", d = " << d);
      REQUIRE(std::fabs(x[j] - deq[j]) <= bound);
      if (x[j] == max && max != 0) REQUIRE(deq[j] == static_cast<float>(-8.0 * d_h));
    }
  }
}

// ------------------------------------------------ dot products, every target

TEST_CASE("dot: Q4_0·Q8_0, Q8_0·Q8_0, Q4_0·f32, Q8_0·f32 on every target vs the reference") {
  for (size_t blocks : kBlockCounts) {
    Unaligned<Q4_0Block> a4(blocks);
    Unaligned<Q8_0Block> a8(blocks), b8(blocks);
    fill_blocks(a4.span(), 11 + blocks);
    fill_blocks(a8.span(), 23 + blocks);
    fill_blocks(b8.span(), 37 + blocks);
    llmk::test::UnalignedFloats x(blocks * kQuantBlock, 3);
    fill_uniform(x.span(), 41 + blocks, -2.0f, 2.0f);
    const auto r4 = llmk::ref::dequantize_q4_0(a4.data(), blocks);
    const auto r8 = llmk::ref::dequantize_q8_0(a8.data(), blocks);
    const auto rb = llmk::ref::dequantize_q8_0(b8.data(), blocks);
    const auto want_q4q8 = llmk::ref::dot(r4, rb);
    const auto want_q8q8 = llmk::ref::dot(r8, rb);
    const auto want_q4f = llmk::ref::dot(r4, x.data());
    const auto want_q8f = llmk::ref::dot(r8, x.data());
    for_each_target([&](const std::string&) {
      INFO("blocks = " << blocks);
      const auto q4q8 = llmk::dot_q4_0_q8_0(a4.span(), b8.span());
      const auto q8q8 = llmk::dot_q8_0_q8_0(a8.span(), b8.span());
      const auto q4f = llmk::dot_q4_0_f32(a4.span(), x.cspan());
      const auto q8f = llmk::dot_q8_0_f32(a8.span(), x.cspan());
      REQUIRE(q4q8.ok());
      REQUIRE(q8q8.ok());
      REQUIRE(q4f.ok());
      REQUIRE(q8f.ok());
      CHECK(std::fabs(*q4q8 - want_q4q8.value) <= dot_tolerance(want_q4q8, blocks));
      CHECK(std::fabs(*q8q8 - want_q8q8.value) <= dot_tolerance(want_q8q8, blocks));
      CHECK(std::fabs(*q4f - want_q4f.value) <= dot_tolerance(want_q4f, blocks));
      CHECK(std::fabs(*q8f - want_q8f.value) <= dot_tolerance(want_q8f, blocks));
    });
  }
}

TEST_CASE("dot: extreme int8 values (−128, 127) and nibbles 0/15 are exact on every target") {
  const size_t blocks = 9;
  std::vector<Q4_0Block> a4(blocks);
  std::vector<Q8_0Block> a8(blocks), b8(blocks);
  for (size_t k = 0; k < blocks; ++k) {
    a4[k].d = a8[k].d = b8[k].d = f32_to_f16(1.0f);  // products stay small integers
    for (size_t j = 0; j < 16; ++j) a4[k].qs[j] = (k + j) & 1 ? 0xF0 : 0x0F;
    for (size_t j = 0; j < 32; ++j) {
      a8[k].qs[j] = (k + j) % 3 ? -128 : 127;
      b8[k].qs[j] = (k * j) % 2 ? -128 : 127;
    }
  }
  const auto want44 = llmk::ref::dot(llmk::ref::dequantize_q4_0(a4.data(), blocks),
                                     llmk::ref::dequantize_q8_0(b8.data(), blocks));
  const auto want88 = llmk::ref::dot(llmk::ref::dequantize_q8_0(a8.data(), blocks),
                                     llmk::ref::dequantize_q8_0(b8.data(), blocks));
  for_each_target([&](const std::string&) {
    // Integer sums below 2^24 and scale 1: the float result is exact.
    CHECK(*llmk::dot_q4_0_q8_0(a4, b8) == static_cast<float>(want44.value));
    CHECK(*llmk::dot_q8_0_q8_0(a8, b8) == static_cast<float>(want88.value));
  });
}

// ------------------------------------------------ matvec / matmul, every type

namespace {

struct WeightBuffer {
  TensorType type;
  size_t rows, cols;
  Unaligned<unsigned char> bytes;
  WeightView view() { return {type, bytes.data(), rows, cols}; }
};

WeightBuffer make_weights(TensorType type, size_t rows, size_t cols, uint32_t seed) {
  const WeightView shape{type, nullptr, rows, cols};
  WeightBuffer w{type, rows, cols, Unaligned<unsigned char>(rows * shape.row_bytes(), 4)};
  std::vector<float> values(rows * cols);
  fill_uniform(values, seed, -0.5f, 0.5f);
  unsigned char* out = w.bytes.data();
  switch (type) {
    case TensorType::kF32:
      std::memcpy(out, values.data(), values.size() * 4);
      break;
    case TensorType::kF16:
      for (size_t i = 0; i < values.size(); ++i) {
        const uint16_t h = f32_to_f16(values[i]);
        std::memcpy(out + 2 * i, &h, 2);
      }
      break;
    case TensorType::kQ4_0: {
      std::vector<Q4_0Block> q(values.size() / kQuantBlock);
      REQUIRE(llmk::quantize_q4_0(values, q).ok());
      std::memcpy(out, q.data(), q.size() * sizeof(Q4_0Block));
      break;
    }
    case TensorType::kQ8_0: {
      std::vector<Q8_0Block> q(values.size() / kQuantBlock);
      REQUIRE(llmk::quantize_q8_0(values, q).ok());
      std::memcpy(out, q.data(), q.size() * sizeof(Q8_0Block));
      break;
    }
    default:
      FAIL("make_weights: no quantizer for type ", static_cast<uint32_t>(type));
  }
  return w;
}

const char* type_name(TensorType t) {
  switch (t) {
    case TensorType::kF32:
      return "F32";
    case TensorType::kF16:
      return "F16";
    case TensorType::kQ4_0:
      return "Q4_0";
    case TensorType::kQ8_0:
      return "Q8_0";
    default:
      return "?";
  }
}

}  // namespace

TEST_CASE("matvec/matmul: every weight type and activation mode, every target, threaded or not") {
  struct Shape {
    size_t rows, cols;
  };
  // The last shape is large enough (rows·cols ≥ 2^18) for the pool to split rows.
  const std::vector<Shape> shapes = {{1, 32}, {5, 96}, {37, 160}, {13, 288}, {517, 544}};
  llmk::ThreadPool pool(3);
  for (TensorType type :
       {TensorType::kF32, TensorType::kF16, TensorType::kQ8_0, TensorType::kQ4_0}) {
    for (const Shape& s : shapes) {
      WeightBuffer w =
          make_weights(type, s.rows, s.cols, static_cast<uint32_t>(s.rows * 7 + s.cols));
      const WeightView view = w.view();
      for (size_t batch : {size_t{1}, size_t{3}}) {
        llmk::test::UnalignedFloats x(batch * s.cols, 1);
        fill_uniform(x.span(), static_cast<uint32_t>(batch + s.cols), -1.0f, 1.0f);
        for (auto mode : {llmk::ActivationMode::kQuantizeQ8_0, llmk::ActivationMode::kFloat}) {
          const bool int_path = mode == llmk::ActivationMode::kQuantizeQ8_0 &&
                                (type == TensorType::kQ4_0 || type == TensorType::kQ8_0);
          // F16 weights in that mode meet x rounded to F16, as in ggml.
          const bool f16_rounded =
              mode == llmk::ActivationMode::kQuantizeQ8_0 && type == TensorType::kF16;
          // Reference: exact weights · (x, or x as quantized to Q8_0 / rounded to F16).
          std::vector<double> want(batch * s.rows), tol(batch * s.rows);
          for (size_t b = 0; b < batch; ++b) {
            std::vector<double> xb = to_double(x.cspan().subspan(b * s.cols, s.cols));
            if (int_path) {
              std::vector<Q8_0Block> xq(s.cols / kQuantBlock);
              REQUIRE(llmk::quantize_q8_0(x.cspan().subspan(b * s.cols, s.cols), xq).ok());
              xb = llmk::ref::dequantize_q8_0(xq.data(), xq.size());
            }
            if (f16_rounded) {
              for (double& v : xb) v = f16_to_f32(f32_to_f16(static_cast<float>(v)));
            }
            for (size_t r = 0; r < s.rows; ++r) {
              const auto d = llmk::ref::dot(llmk::ref::dequantize_row(view, r), xb);
              want[b * s.rows + r] = d.value;
              tol[b * s.rows + r] = dot_tolerance(d, s.cols);
            }
          }
          for_each_target([&](const std::string&) {
            INFO(type_name(type) << " " << s.rows << "×" << s.cols << " batch " << batch
                                 << (int_path ? " Q8_0 activations" : " f32 activations"));
            std::vector<float> y_single(batch * s.rows, -7.0f), y_pool(batch * s.rows, -9.0f);
            if (batch == 1) {
              REQUIRE(llmk::matvec(view, x.cspan(), y_single, nullptr, mode).ok());
              REQUIRE(llmk::matvec(view, x.cspan(), y_pool, &pool, mode).ok());
            } else {
              REQUIRE(llmk::matmul(view, x.cspan(), batch, y_single, nullptr, mode).ok());
              REQUIRE(llmk::matmul(view, x.cspan(), batch, y_pool, &pool, mode).ok());
            }
            for (size_t i = 0; i < want.size(); ++i) {
              if (!(std::fabs(y_single[i] - want[i]) <= tol[i])) {
                FAIL_CHECK("y[" << i << "] = " << y_single[i] << ", reference " << want[i]);
                break;
              }
            }
            // Rows are computed the same way whichever thread runs them.
            CHECK(std::memcmp(y_single.data(), y_pool.data(), y_pool.size() * 4) == 0);
          });
        }
      }
    }
  }
}

TEST_CASE("matvec/matmul: integer kernels' row groups, batch tiles and block tails") {
  // Rows around the 4-row groups, blocks around the 2-block pairs and 4-block
  // scale quads (1…3 leftover blocks; 9 and 24 are stories15M's rows), batch
  // sizes around the 4-vector tiles. Every result is checked against the
  // reference; and because each (row, vector) is computed in one fixed order,
  // matmul column v must equal matvec of x_v and the public dot of row r,
  // bit for bit, on every target.
  const std::vector<size_t> row_counts = {1, 3, 4, 5, 8, 11};
  const std::vector<size_t> block_counts = {1, 2, 3, 4, 5, 6, 7, 9, 24};
  const std::vector<size_t> batches = {1, 2, 3, 4, 5, 7, 9};
  for (TensorType type : {TensorType::kQ4_0, TensorType::kQ8_0}) {
    for (size_t rows : row_counts) {
      for (size_t blocks : block_counts) {
        const size_t cols = blocks * kQuantBlock;
        WeightBuffer w = make_weights(type, rows, cols, static_cast<uint32_t>(rows * 31 + blocks));
        const WeightView view = w.view();
        const size_t max_batch = batches.back();
        llmk::test::UnalignedFloats x(max_batch * cols, 3);
        fill_uniform(x.span(), static_cast<uint32_t>(rows + 17 * blocks), -1.0f, 1.0f);
        Unaligned<Q8_0Block> xq(max_batch * blocks, 6);
        llmk::kernels::quantize_q8_0_ties_away(x.data(), max_batch * cols, xq.data());
        std::vector<double> want(max_batch * rows), tol(max_batch * rows);
        for (size_t v = 0; v < max_batch; ++v) {
          const auto xv = llmk::ref::dequantize_q8_0(xq.data() + v * blocks, blocks);
          for (size_t r = 0; r < rows; ++r) {
            const auto d = llmk::ref::dot(llmk::ref::dequantize_row(view, r), xv);
            want[v * rows + r] = d.value;
            tol[v * rows + r] = dot_tolerance(d, cols);
          }
        }
        for_each_target([&](const std::string&) {
          INFO(type_name(type) << " " << rows << "×" << cols);
          // Per vector alone (matvec), and the row-wise public dot.
          std::vector<float> single(max_batch * rows), dots(max_batch * rows);
          for (size_t v = 0; v < max_batch; ++v) {
            llmk::kernels::matvec_weights(view, nullptr, xq.data() + v * blocks,
                                          single.data() + v * rows, nullptr);
            for (size_t r = 0; r < rows; ++r) {
              const auto* row = w.bytes.data() + r * view.row_bytes();
              const Q8_0Block* xb = xq.data() + v * blocks;
              dots[v * rows + r] =
                  type == TensorType::kQ4_0
                      ? llmk::kernels::dot_q4_0_q8_0(reinterpret_cast<const Q4_0Block*>(row), xb,
                                                     blocks)
                      : llmk::kernels::dot_q8_0_q8_0(reinterpret_cast<const Q8_0Block*>(row), xb,
                                                     blocks);
            }
          }
          for (size_t i = 0; i < single.size(); ++i) {
            if (!(std::fabs(single[i] - want[i]) <= tol[i])) {
              FAIL_CHECK("y[" << i << "] = " << single[i] << ", reference " << want[i]);
              break;
            }
          }
          CHECK(std::memcmp(single.data(), dots.data(), single.size() * 4) == 0);
          for (size_t batch : batches) {
            INFO("batch " << batch);
            std::vector<float> y(batch * rows, -3.0f);
            llmk::kernels::matmul_weights(view, nullptr, xq.data(), batch, y.data(), nullptr);
            CHECK(std::memcmp(y.data(), single.data(), y.size() * 4) == 0);
          }
        });
      }
    }
  }
}

TEST_CASE("pack_weights: kInterleaved8 matvec/matmul on every target vs the reference") {
  // Rows around the 8-row groups (tails of 1…7 row-major rows), blocks from
  // 1 to stories15M's 24, batches around the 4-vector tiles. Packed results
  // are checked against the reference, and bit for bit against the order
  // each path promises, with or without the pool: where the target has the
  // interleaved kernels, a batch's grouped rows follow the block-sum order
  // (block_sum_order_dot) and so does a Q4_0 matvec; everything else equals
  // matvec of x_v.
  const std::vector<size_t> row_counts = {8, 9, 15, 16, 29, 64};
  const std::vector<size_t> block_counts = {1, 2, 3, 9, 24};
  const std::vector<size_t> batches = {1, 2, 3, 4, 5, 9};
  llmk::ThreadPool pool(3);
  for (TensorType type : {TensorType::kQ4_0, TensorType::kQ8_0}) {
    for (size_t rows : row_counts) {
      for (size_t blocks : block_counts) {
        const size_t cols = blocks * kQuantBlock;
        WeightBuffer w = make_weights(type, rows, cols, static_cast<uint32_t>(rows * 13 + blocks));
        const WeightView plain = w.view();
        Unaligned<unsigned char> packed_bytes(rows * plain.row_bytes(), 2);  // blocks need 2-byte alignment
        auto packed =
            llmk::pack_weights(plain, {packed_bytes.data(), rows * plain.row_bytes()});
        REQUIRE(packed.ok());
        CHECK(packed->layout == llmk::WeightLayout::kInterleaved8);
        // Rows come back unchanged, as blocks and as floats.
        for (size_t r = 0; r < rows; ++r) {
          std::vector<float> a(cols), b(cols);
          llmk::kernels::dequantize_row(plain, r, a.data());
          llmk::kernels::dequantize_row(*packed, r, b.data());
          REQUIRE(std::memcmp(a.data(), b.data(), cols * 4) == 0);
        }
        const size_t max_batch = batches.back();
        llmk::test::UnalignedFloats x(max_batch * cols, 3);
        fill_uniform(x.span(), static_cast<uint32_t>(rows + 19 * blocks), -1.0f, 1.0f);
        Unaligned<Q8_0Block> xq(max_batch * blocks, 6);
        llmk::kernels::quantize_q8_0_ties_away(x.data(), max_batch * cols, xq.data());
        std::vector<double> want(max_batch * rows), tol(max_batch * rows);
        std::vector<double> want_f(max_batch * rows), tol_f(max_batch * rows);
        for (size_t v = 0; v < max_batch; ++v) {
          const auto xv = llmk::ref::dequantize_q8_0(xq.data() + v * blocks, blocks);
          const auto xf = to_double(x.cspan().subspan(v * cols, cols));
          for (size_t r = 0; r < rows; ++r) {
            const auto d = llmk::ref::dot(llmk::ref::dequantize_row(plain, r), xv);
            want[v * rows + r] = d.value;
            tol[v * rows + r] = dot_tolerance(d, cols);
            const auto f = llmk::ref::dot(llmk::ref::dequantize_row(plain, r), xf);
            want_f[v * rows + r] = f.value;
            tol_f[v * rows + r] = dot_tolerance(f, cols);
          }
        }
        auto check_all = [](const std::vector<float>& y, const std::vector<double>& ref,
                            const std::vector<double>& tolerance) {
          for (size_t i = 0; i < y.size(); ++i) {
            if (!(std::fabs(y[i] - ref[i]) <= tolerance[i])) {
              FAIL_CHECK("y[" << i << "] = " << y[i] << ", reference " << ref[i]);
              return;
            }
          }
        };
        for_each_target([&](const std::string&) {
          INFO(type_name(type) << " " << rows << "×" << cols << " packed");
          std::vector<float> single(max_batch * rows, -5.0f);
          for (size_t v = 0; v < max_batch; ++v) {
            llmk::kernels::matvec_weights(*packed, nullptr, xq.data() + v * blocks,
                                          single.data() + v * rows, nullptr);
          }
          check_all(single, want, tol);
          const bool interleaved = llmk::kernels::quant_targets().interleaved_supported;
          const size_t grouped = rows / 8 * 8;
          std::vector<float> block_order(max_batch * rows);
          for (size_t v = 0; v < max_batch; ++v) {
            for (size_t r = 0; r < rows; ++r) {
              block_order[v * rows + r] =
                  interleaved && r < grouped
                      ? block_sum_order_dot(plain, r, xq.data() + v * blocks)
                      : single[v * rows + r];
            }
          }
          if (type == TensorType::kQ4_0) {
            CHECK(std::memcmp(single.data(), block_order.data(), single.size() * 4) == 0);
          }
          for (size_t batch : batches) {
            INFO("batch " << batch);
            std::vector<float> y(batch * rows, -3.0f), y_pool(batch * rows, -4.0f);
            llmk::kernels::matmul_weights(*packed, nullptr, xq.data(), batch, y.data(), nullptr);
            llmk::kernels::matmul_weights(*packed, nullptr, xq.data(), batch, y_pool.data(),
                                          &pool);
            const std::vector<float>& expect = batch == 1 ? single : block_order;
            CHECK(std::memcmp(y.data(), expect.data(), y.size() * 4) == 0);
            CHECK(std::memcmp(y_pool.data(), expect.data(), y.size() * 4) == 0);
            check_all(y, want, tol);
          }
          // f32 activations meet packed weights through the row-major kernels.
          std::vector<float> yf(max_batch * rows, -6.0f);
          llmk::kernels::matmul_weights(*packed, x.data(), nullptr, max_batch, yf.data(), nullptr);
          check_all(yf, want_f, tol_f);
        });
      }
    }
  }
}

TEST_CASE("pack_weights: large matrices split over the pool give the single-thread bits") {
  // Enough work for for_row_blocks to split: 517 rows (64 groups + 5 tail rows).
  for (TensorType type : {TensorType::kQ4_0, TensorType::kQ8_0}) {
    const size_t rows = 517, cols = 544;
    WeightBuffer w = make_weights(type, rows, cols, 99);
    std::vector<unsigned char> bytes(rows * w.view().row_bytes());
    auto packed = llmk::pack_weights(w.view(), bytes);
    REQUIRE(packed.ok());
    // A batch of 61 has 61 × 17 ≥ kMinParallelPrepare activation blocks, so
    // their preparation is split over the pool too.
    llmk::test::UnalignedFloats x(61 * cols, 2);
    fill_uniform(x.span(), 5, -1.0f, 1.0f);
    llmk::ThreadPool pool(3);
    for_each_target([&](const std::string&) {
      for (size_t batch : {size_t{1}, size_t{3}, size_t{61}}) {
        std::vector<float> a(batch * rows), b(batch * rows), plain(batch * rows);
        REQUIRE(llmk::matmul(*packed, x.cspan().first(batch * cols), batch, a).ok());
        REQUIRE(llmk::matmul(*packed, x.cspan().first(batch * cols), batch, b, &pool).ok());
        REQUIRE(llmk::matmul(w.view(), x.cspan().first(batch * cols), batch, plain).ok());
        CHECK(std::memcmp(a.data(), b.data(), a.size() * 4) == 0);
        for (size_t i = 0; i < a.size(); ++i) {
          // Same exact block sums, different float accumulation order.
          if (!(std::fabs(a[i] - plain[i]) <= 1e-5f * (1.0f + std::fabs(plain[i])))) {
            FAIL_CHECK("packed y[" << i << "] = " << a[i] << ", row-major " << plain[i]);
            break;
          }
        }
      }
    });
  }
}

TEST_CASE("matmul_weights: a shared input is laid out once and again after forget()") {
  // Two products of one input (as q, k and v are) through one
  // SharedActivations: the interleaved kernels' prepared blocks and the f32
  // panels are built by the first and kept for the second; after the input
  // changes, forget() makes the next product lay it out again. Batch 37
  // spans whole and partial f32 panels (16 or 32 vectors), and the pool
  // splits the packing.
  const size_t rows = 72, cols = 96, blocks = cols / kQuantBlock, batch = 37;
  llmk::ThreadPool pool(2);
  for (TensorType type : {TensorType::kQ8_0, TensorType::kQ4_0, TensorType::kF32}) {
    INFO(type_name(type));
    WeightBuffer w1 = make_weights(type, rows, cols, 11), w2 = make_weights(type, rows, cols, 12);
    std::vector<unsigned char> bytes1(rows * w1.view().row_bytes()),
        bytes2(rows * w2.view().row_bytes());
    WeightView v1 = w1.view(), v2 = w2.view();
    if (type != TensorType::kF32) {
      auto p1 = llmk::pack_weights(v1, bytes1), p2 = llmk::pack_weights(v2, bytes2);
      REQUIRE(p1.ok());
      REQUIRE(p2.ok());
      v1 = *p1;
      v2 = *p2;
    }
    llmk::test::UnalignedFloats x(batch * cols, 1);
    Unaligned<Q8_0Block> xq(batch * blocks, 2);
    auto set_input = [&](uint32_t seed) {
      fill_uniform(x.span(), seed, -1.0f, 1.0f);
      llmk::kernels::quantize_q8_0_ties_even(x.data(), batch * cols, xq.data());
    };
    const Q8_0Block* q8 = type == TensorType::kF32 ? nullptr : xq.data();
    auto product = [&](const WeightView& w, llmk::kernels::SharedActivations* shared) {
      std::vector<float> y(batch * rows, -1.0f);
      llmk::kernels::matmul_weights(w, x.data(), q8, batch, y.data(), &pool, true, shared);
      return y;
    };
    for_each_target([&](const std::string&) {
      llmk::kernels::SharedActivations shared;
      set_input(21);
      const std::vector<float> first1 = product(v1, nullptr), first2 = product(v2, nullptr);
      CHECK(product(v1, &shared) == first1);
      CHECK(product(v2, &shared) == first2);
      set_input(22);
      const std::vector<float> second1 = product(v1, nullptr);
      REQUIRE(second1 != first1);
      // Not forgotten: where the target lays the input out at all (packed
      // f32 panels, interleaved kernels), the first input's layout is used.
      const bool lays_out = type == TensorType::kF32
                                ? llmk::kernels::f32().panel_vectors() != 0 &&
                                      batch >= llmk::kernels::f32().panel_vectors()
                                : llmk::kernels::quant_targets().interleaved_supported;
      CHECK(product(v1, &shared) == (lays_out ? first1 : second1));
      shared.forget();
      CHECK(product(v1, &shared) == second1);
      CHECK(product(v2, &shared) == product(v2, nullptr));
    });
  }
}

TEST_CASE("pack_weights: bad input is a clear error") {
  WeightBuffer w = make_weights(TensorType::kQ4_0, 16, 64, 1);
  std::vector<unsigned char> out(16 * w.view().row_bytes());
  WeightBuffer f = make_weights(TensorType::kF32, 16, 64, 1);
  CHECK(llmk::pack_weights(f.view(), out).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(llmk::pack_weights(w.view(), std::span<uint8_t>(out).first(out.size() - 1))
            .status()
            .code() == absl::StatusCode::kInvalidArgument);
  auto packed = llmk::pack_weights(w.view(), out);
  REQUIRE(packed.ok());
  std::vector<unsigned char> again(out.size());
  CHECK(llmk::pack_weights(*packed, again).status().code() ==
        absl::StatusCode::kInvalidArgument);  // already packed
  WeightView self = w.view();
  CHECK(llmk::pack_weights(self, {w.bytes.data(), out.size()}).status().code() ==
        absl::StatusCode::kInvalidArgument);  // in place
  WeightView bad_layout = f.view();
  bad_layout.layout = llmk::WeightLayout::kInterleaved8;  // F32 has no packed form
  std::vector<float> x(64), y(16);
  CHECK(llmk::matvec(bad_layout, x, y).code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("matmul: extreme int8 values and nibbles through every tile shape are exact") {
  // Scale 1 everywhere and small integer sums: every kernel shape must give
  // the exact integer, including −128 activations against 0/15 nibbles.
  const size_t rows = 11, blocks = 5, batch = 6, cols = blocks * kQuantBlock;  // 1 group + 3
  std::vector<Q4_0Block> w4(rows * blocks);
  std::vector<Q8_0Block> w8(rows * blocks), xq(batch * blocks);
  for (size_t i = 0; i < w4.size(); ++i) {
    w4[i].d = w8[i].d = f32_to_f16(1.0f);
    for (size_t j = 0; j < 16; ++j) w4[i].qs[j] = (i + j) % 3 ? 0xF0 : 0x0F;
    for (size_t j = 0; j < 32; ++j) w8[i].qs[j] = (i + j) % 3 ? -128 : 127;
  }
  for (size_t i = 0; i < xq.size(); ++i) {
    xq[i].d = f32_to_f16(1.0f);
    for (size_t j = 0; j < 32; ++j) xq[i].qs[j] = (i * j) % 2 ? -128 : 127;
  }
  const WeightView v4{TensorType::kQ4_0, w4.data(), rows, cols};
  const WeightView v8{TensorType::kQ8_0, w8.data(), rows, cols};
  std::vector<uint8_t> p4_bytes(rows * v4.row_bytes()), p8_bytes(rows * v8.row_bytes());
  const WeightView p4 = *llmk::pack_weights(v4, p4_bytes);
  const WeightView p8 = *llmk::pack_weights(v8, p8_bytes);
  for_each_target([&](const std::string&) {
    for (const WeightView* view : {&v4, &v8, &p4, &p8}) {
      const WeightView& plain = view->type == TensorType::kQ4_0 ? v4 : v8;
      std::vector<float> y(batch * rows);
      llmk::kernels::matmul_weights(*view, nullptr, xq.data(), batch, y.data(), nullptr);
      for (size_t v = 0; v < batch; ++v) {
        const auto xv = llmk::ref::dequantize_q8_0(xq.data() + v * blocks, blocks);
        for (size_t r = 0; r < rows; ++r) {
          const auto want = llmk::ref::dot(llmk::ref::dequantize_row(plain, r), xv);
          CHECK(y[v * rows + r] == static_cast<float>(want.value));
        }
      }
    }
  });
}

TEST_CASE("matvec: F16 rows of any length (partial last vector) on every target") {
  for (size_t cols : {1, 7, 15, 17, 33, 100, 301}) {
    WeightBuffer w = make_weights(TensorType::kF16, 6, cols, static_cast<uint32_t>(cols));
    const WeightView view = w.view();
    llmk::test::UnalignedFloats x(cols, 1);
    fill_uniform(x.span(), static_cast<uint32_t>(cols + 5), -1.0f, 1.0f);
    std::vector<double> want(view.rows), tol(view.rows);
    for (size_t r = 0; r < view.rows; ++r) {
      const auto d = llmk::ref::dot(llmk::ref::dequantize_row(view, r), x.data());
      want[r] = d.value;
      tol[r] = dot_tolerance(d, cols);
    }
    for_each_target([&](const std::string&) {
      INFO("cols = " << cols);
      std::vector<float> y(view.rows);
      // f32 activations: the default mode rounds x to F16 first, as ggml does.
      REQUIRE(llmk::matvec(view, x.cspan(), y, nullptr, llmk::ActivationMode::kFloat).ok());
      for (size_t r = 0; r < view.rows; ++r) CHECK(std::fabs(y[r] - want[r]) <= tol[r]);
    });
  }
}

TEST_CASE("kernels: one Q8_0 quantization of x shared by several projections") {
  WeightBuffer wq = make_weights(TensorType::kQ4_0, 24, 192, 5);
  WeightBuffer wk = make_weights(TensorType::kQ8_0, 16, 192, 6);
  std::vector<float> x(192);
  fill_uniform(x, 77);
  std::vector<Q8_0Block> xq(192 / kQuantBlock);
  llmk::kernels::quantize_q8_0_ties_even(x.data(), x.size(), xq.data());
  for (WeightBuffer* w : {&wq, &wk}) {
    const WeightView view = w->view();
    std::vector<float> got(view.rows), want(view.rows);
    llmk::kernels::matvec_weights(view, x.data(), xq.data(), got.data(), nullptr);
    REQUIRE(llmk::matvec(view, x, want).ok());  // public default: quantize x to Q8_0
    CHECK(std::memcmp(got.data(), want.data(), got.size() * 4) == 0);
    llmk::kernels::matvec_weights(view, x.data(), nullptr, got.data(), nullptr);
    REQUIRE(llmk::matvec(view, x, want, nullptr, llmk::ActivationMode::kFloat).ok());
    CHECK(std::memcmp(got.data(), want.data(), got.size() * 4) == 0);
  }
}

TEST_CASE("matvec: the public API quantizes x exactly as the forward pass does") {
  // The forward pass quantizes activations with quantize_q8_0_ties_even and
  // calls matvec_weights on the blocks (lib/model/transformer.cc); the public
  // matvec must give the same bits. x holds exact ties of x·127/amax (amax =
  // 127 makes the multiplier 1), where the two ggml roundings disagree, so
  // a public matvec that rounded ties away from zero would fail here.
  std::vector<float> x(96);
  fill_uniform(x, 91, -2.0f, 2.0f);
  const float ties[] = {127.0f, 2.5f, -3.5f, 0.5f, -0.5f, 6.5f};
  for (size_t j = 0; j < std::size(ties); ++j) x[kQuantBlock + j] = ties[j];
  std::vector<Q8_0Block> even(x.size() / kQuantBlock), away(x.size() / kQuantBlock);
  llmk::kernels::quantize_q8_0_ties_even(x.data(), x.size(), even.data());
  llmk::kernels::quantize_q8_0_ties_away(x.data(), x.size(), away.data());
  REQUIRE(std::memcmp(even.data(), away.data(), even.size() * sizeof(Q8_0Block)) != 0);
  for (TensorType type : {TensorType::kQ4_0, TensorType::kQ8_0}) {
    WeightBuffer w = make_weights(type, 16, x.size(), 23);
    std::vector<uint8_t> packed_bytes(16 * w.view().row_bytes());
    auto packed = llmk::pack_weights(w.view(), packed_bytes);
    REQUIRE(packed.ok());
    for (const WeightView& view : {w.view(), *packed}) {
      for_each_target([&](const std::string&) {
        INFO(type_name(type) << (view.layout == llmk::WeightLayout::kInterleaved8 ? " interleaved"
                                                                                 : " row-major"));
        std::vector<float> forward(view.rows), rounded_away(view.rows), got(view.rows);
        llmk::kernels::matvec_weights(view, nullptr, even.data(), forward.data(), nullptr);
        llmk::kernels::matvec_weights(view, nullptr, away.data(), rounded_away.data(), nullptr);
        // The weights are random, so some row sees the differing int8 values.
        REQUIRE(std::memcmp(forward.data(), rounded_away.data(), forward.size() * 4) != 0);
        REQUIRE(llmk::matvec(view, x, got).ok());
        CHECK(std::memcmp(got.data(), forward.data(), got.size() * 4) == 0);
        std::vector<float> batch_x(2 * x.size()), batch_got(2 * view.rows);
        std::copy(x.begin(), x.end(), batch_x.begin());
        std::copy(x.begin(), x.end(), batch_x.begin() + static_cast<std::ptrdiff_t>(x.size()));
        REQUIRE(llmk::matmul(view, batch_x, 2, batch_got).ok());
        // A batch may sum in another order than one vector (interleaved
        // Q8_0), so it is compared with the kernel on the ties-even blocks.
        std::vector<Q8_0Block> even_twice(even);
        even_twice.insert(even_twice.end(), even.begin(), even.end());
        std::vector<float> batch_forward(2 * view.rows);
        llmk::kernels::matmul_weights(view, nullptr, even_twice.data(), 2, batch_forward.data(),
                                      nullptr);
        CHECK(std::memcmp(batch_got.data(), batch_forward.data(), batch_got.size() * 4) == 0);
        CHECK(std::memcmp(batch_got.data(), batch_got.data() + view.rows, view.rows * 4) == 0);
      });
    }
  }
}

TEST_CASE("quantize_q8_0_ties_even is ggml's x86 activation quantizer on every target") {
  // ggml-cpu's x86 quantize_row_q8_0: d = amax/127 stored as f16, q =
  // round-half-even(x · 127/amax); an all-zero block has d = 0 and q = 0.
  auto reference = [](const float* x, llmk::Q8_0Block* out) {
    float amax = 0.0f;
    for (size_t j = 0; j < llmk::kQuantBlock; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    out->d = llmk::f32_to_f16(amax / 127.0f);
    for (size_t j = 0; j < llmk::kQuantBlock; ++j) {
      out->qs[j] = static_cast<int8_t>(std::nearbyint(x[j] * id));
    }
  };
  for_each_target([&](const std::string&) {
    for (size_t blocks : {1u, 3u, 9u, 24u}) {
      llmk::test::UnalignedFloats x(blocks * llmk::kQuantBlock, 1);
      fill_uniform(x.span(), blocks, -3.0f, 3.0f);
      for (size_t j = 0; j < llmk::kQuantBlock; ++j) x[j] = 0.0f;  // an all-zero block
      if (blocks > 1) x[llmk::kQuantBlock + 5] = -1e4f;             // a huge negative extreme
      // Exact ties of x·127/amax: amax = 127 makes the multiplier 1.
      if (blocks > 2) {
        float* b2 = x.data() + 2 * llmk::kQuantBlock;
        b2[0] = 127.0f;
        b2[1] = 2.5f;
        b2[2] = -3.5f;
        b2[3] = 0.5f;
      }
      std::vector<llmk::Q8_0Block> got(blocks), want(blocks);
      for (size_t b = 0; b < blocks; ++b) reference(x.data() + b * llmk::kQuantBlock, &want[b]);
      llmk::kernels::quantize_q8_0_ties_even(x.data(), x.size(), got.data());
      REQUIRE(std::memcmp(got.data(), want.data(), blocks * sizeof(llmk::Q8_0Block)) == 0);
    }
  });
}

// ------------------------------------------------ argument checks

TEST_CASE("quant: bad lengths and shapes are clear errors") {
  std::vector<float> x33(33), x64(64);
  std::vector<Q4_0Block> q4(2);
  std::vector<Q8_0Block> q8(2), q8_one(1);
  auto st = llmk::quantize_q4_0(x33, std::span<Q4_0Block>(q4.data(), 1));
  CHECK(st.code() == absl::StatusCode::kInvalidArgument);
  CHECK(st.message().find("multiple of 32") != std::string::npos);
  CHECK(llmk::quantize_q8_0(x33, std::span<Q8_0Block>(q8.data(), 1)).code() ==
        absl::StatusCode::kInvalidArgument);
  st = llmk::quantize_q8_0(x64, q8_one);
  CHECK(st.code() == absl::StatusCode::kInvalidArgument);
  CHECK(st.message().find("out") != std::string::npos);
  CHECK(llmk::quantize_q4_0(x64, q4).ok());
  CHECK(llmk::dequantize_q4_0(q4, x33).code() == absl::StatusCode::kInvalidArgument);
  CHECK(llmk::dequantize_q8_0(q8, x33).code() == absl::StatusCode::kInvalidArgument);
  CHECK(!llmk::dot_q4_0_q8_0(q4, q8_one).ok());
  CHECK(!llmk::dot_q8_0_q8_0(q8, q8_one).ok());
  CHECK(!llmk::dot_q4_0_f32(q4, x33).ok());
  CHECK(!llmk::dot_q8_0_f32(q8, x33).ok());
  CHECK(llmk::dot_q8_0_f32(q8, x64).ok());

  std::vector<float> y(4), xw(64);
  const WeightView good{TensorType::kQ8_0, q8.data(), 1, 64};
  CHECK(llmk::matvec(good, xw, std::span<float>(y.data(), 1)).ok());
  st = llmk::matvec(good, std::span<const float>(xw.data(), 32), std::span<float>(y.data(), 1));
  CHECK(st.message().find("x") != std::string::npos);
  CHECK(st.code() == absl::StatusCode::kInvalidArgument);
  st = llmk::matvec(good, xw, y);
  CHECK(st.code() == absl::StatusCode::kInvalidArgument);
  CHECK(st.message().find("y") != std::string::npos);
  st = llmk::matvec({TensorType::kQ4_0, q4.data(), 1, 48}, std::span<const float>(xw.data(), 48),
                    std::span<float>(y.data(), 1));
  CHECK(st.message().find("multiple of 32") != std::string::npos);
  st = llmk::matvec({static_cast<TensorType>(7), q8.data(), 1, 64}, xw,
                    std::span<float>(y.data(), 1));
  CHECK(st.message().find("w.type") != std::string::npos);
  st = llmk::matvec({TensorType::kQ8_0, nullptr, 1, 64}, xw, std::span<float>(y.data(), 1));
  CHECK(st.message().find("w.data") != std::string::npos);
  st = llmk::matvec({TensorType::kQ8_0, q8.data(), std::numeric_limits<size_t>::max(), 64}, xw,
                    std::span<float>(y.data(), 1));
  CHECK(st.message().find("overflow") != std::string::npos);
  st = llmk::matvec({TensorType::kF32, xw.data(), 1, std::numeric_limits<size_t>::max()}, xw,
                    std::span<float>(y.data(), 1));
  CHECK(st.message().find("overflow") != std::string::npos);
  st = llmk::matmul(good, xw, std::numeric_limits<size_t>::max(), y);
  CHECK(st.message().find("overflow") != std::string::npos);
  st = llmk::matmul(good, xw, 2, y);
  CHECK(st.code() == absl::StatusCode::kInvalidArgument);
  st = llmk::matvec(good, xw, std::span<float>(y.data(), 1), nullptr,
                    static_cast<llmk::ActivationMode>(9));
  CHECK(st.message().find("mode") != std::string::npos);
}

// ------------------------------------------------ tails: the last block, the last row

namespace {

// Blocks whose value is exactly zero (scale 0; random quants, which a kernel
// must still multiply by that 0) but for the last block, which is positive:
// all its quants ≥ 1, or (last_element_only) only its element 31 — the high
// nibble of Q4_0's byte 15 — non-zero. Positive blocks on both sides make
// |dot| equal Σ|products|, so a skipped block is a 100% error.
void zero_but_last(std::span<Q4_0Block> blocks, uint32_t seed, bool last_element_only) {
  fill_blocks(blocks, seed);
  for (Q4_0Block& b : blocks) b.d = f32_to_f16(0.0f);
  Q4_0Block& last = blocks.back();
  last.d = f32_to_f16(0.0125f);
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> nibble(9, 15);  // values 1…7
  for (auto& q : last.qs) {
    q = last_element_only ? 0x88 : static_cast<uint8_t>(nibble(rng) | nibble(rng) << 4);
  }
  if (last_element_only) last.qs[15] = 0xF8;  // element 31 = 7, element 15 = 0
}

void zero_but_last(std::span<Q8_0Block> blocks, uint32_t seed, bool last_element_only) {
  fill_blocks(blocks, seed);
  for (Q8_0Block& b : blocks) b.d = f32_to_f16(0.0f);
  Q8_0Block& last = blocks.back();
  last.d = f32_to_f16(0.0075f);
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> quant(1, 127);
  for (auto& q : last.qs) q = last_element_only ? 0 : static_cast<int8_t>(quant(rng));
  if (last_element_only) last.qs[31] = 127;
}

// Blocks with positive scales and quants in 1…127.
void positive_blocks(std::span<Q8_0Block> blocks, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> quant(1, 127);
  std::uniform_real_distribution<float> scale(0.001f, 0.02f);
  for (Q8_0Block& b : blocks) {
    b.d = f32_to_f16(scale(rng));
    for (auto& q : b.qs) q = static_cast<int8_t>(quant(rng));
  }
}

std::vector<size_t> tail_block_counts() {
  std::vector<size_t> counts;
  for (size_t n = 1; n <= 40; ++n) counts.push_back(n);
  for (size_t n : {63u, 64u, 65u, 129u}) counts.push_back(n);
  return counts;
}

}  // namespace

TEST_CASE("tails: Q4_0/Q8_0 dots see the last block and its last element on every target") {
  for (size_t blocks : tail_block_counts()) {
    for (bool last_element_only : {false, true}) {
      Unaligned<Q4_0Block> a4(blocks);
      Unaligned<Q8_0Block> a8(blocks), b8(blocks), x8(blocks);
      zero_but_last(a4.span(), 3 + blocks, last_element_only);
      zero_but_last(a8.span(), 5 + blocks, last_element_only);
      positive_blocks(b8.span(), 7 + blocks);
      // The activation side carrying the tail instead: only x8's last block.
      zero_but_last(x8.span(), 9 + blocks, last_element_only);
      Unaligned<Q8_0Block> a8_full(blocks);
      positive_blocks(a8_full.span(), 11 + blocks);
      llmk::test::UnalignedFloats x(blocks * kQuantBlock, 3);
      fill_uniform(x.span(), 13 + blocks, 0.5f, 1.0f);
      const auto r4 = llmk::ref::dequantize_q4_0(a4.data(), blocks);
      const auto r8 = llmk::ref::dequantize_q8_0(a8.data(), blocks);
      const auto rb = llmk::ref::dequantize_q8_0(b8.data(), blocks);
      const auto rx = llmk::ref::dequantize_q8_0(x8.data(), blocks);
      const auto rf = llmk::ref::dequantize_q8_0(a8_full.data(), blocks);
      const auto want44 = llmk::ref::dot(r4, rb);
      const auto want88 = llmk::ref::dot(r8, rb);
      const auto want88x = llmk::ref::dot(rf, rx);
      const auto want4f = llmk::ref::dot(r4, x.data());
      const auto want8f = llmk::ref::dot(r8, x.data());
      REQUIRE(want44.value > 0);
      for_each_target([&](const std::string&) {
        INFO("blocks = " << blocks << (last_element_only ? ", last element only" : ""));
        auto check = [&](float got, const llmk::ref::DotResult& want, const char* what) {
          CHECK_MESSAGE(std::fabs(got - want.value) <= dot_tolerance(want, blocks),
                        what << " = " << got << ", reference " << want.value);
        };
        check(*llmk::dot_q4_0_q8_0(a4.span(), b8.span()), want44, "Q4_0·Q8_0");
        check(*llmk::dot_q8_0_q8_0(a8.span(), b8.span()), want88, "Q8_0·Q8_0");
        check(*llmk::dot_q8_0_q8_0(a8_full.span(), x8.span()), want88x, "Q8_0·Q8_0 (x's tail)");
        check(*llmk::dot_q4_0_f32(a4.span(), x.cspan()), want4f, "Q4_0·f32");
        check(*llmk::dot_q8_0_f32(a8.span(), x.cspan()), want8f, "Q8_0·f32");
      });
    }
  }
}

TEST_CASE("tails: Q4_0/Q8_0 matvec/matmul see the last row and each row's last block") {
  // Rows around the 4-row groups and 8-row interleaved groups, blocks around
  // the 2-block pairs and 4-block scale quads (every remainder, past two
  // quads too); both layouts, both activation
  // paths, matvec and a batch of 5 (a 4-vector tile and a single).
  const std::vector<size_t> row_counts = {1, 2, 3, 4, 5, 7, 8, 9, 12, 15, 16, 17, 25};
  const std::vector<size_t> block_counts = {1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 13, 14, 24};
  const size_t batch = 5;
  llmk::ThreadPool pool(2);
  for (TensorType type : {TensorType::kQ4_0, TensorType::kQ8_0}) {
    for (size_t rows : row_counts) {
      for (size_t blocks : block_counts) {
        for (bool last_row_only : {true, false}) {
          const size_t cols = blocks * kQuantBlock;
          const WeightView shape{type, nullptr, rows, cols};
          const size_t row_bytes = shape.row_bytes();
          Unaligned<unsigned char> bytes(rows * row_bytes, 4);
          // last_row_only: every row zero but the last; otherwise every row
          // zero but its own last block.
          for (size_t r = 0; r < rows; ++r) {
            const uint32_t seed = static_cast<uint32_t>(rows * 101 + blocks * 7 + r);
            unsigned char* row = bytes.data() + r * row_bytes;
            const bool zero_row = last_row_only && r + 1 < rows;
            if (type == TensorType::kQ4_0) {
              std::span<Q4_0Block> b(reinterpret_cast<Q4_0Block*>(row), blocks);
              zero_but_last(b, seed, false);
              if (zero_row) b.back().d = f32_to_f16(0.0f);
            } else {
              std::span<Q8_0Block> b(reinterpret_cast<Q8_0Block*>(row), blocks);
              zero_but_last(b, seed, false);
              if (zero_row) b.back().d = f32_to_f16(0.0f);
            }
          }
          const WeightView plain{type, bytes.data(), rows, cols};
          std::vector<unsigned char> packed_bytes(rows * row_bytes);
          const auto packed = llmk::pack_weights(plain, packed_bytes);
          REQUIRE(packed.ok());
          llmk::test::UnalignedFloats x(batch * cols, 1);
          fill_uniform(x.span(), static_cast<uint32_t>(rows + blocks), 0.5f, 1.0f);
          Unaligned<Q8_0Block> xq(batch * blocks, 6);
          llmk::kernels::quantize_q8_0_ties_away(x.data(), batch * cols, xq.data());
          std::vector<double> want(batch * rows), tol(batch * rows);
          std::vector<double> want_f(batch * rows), tol_f(batch * rows);
          for (size_t v = 0; v < batch; ++v) {
            const auto xv = llmk::ref::dequantize_q8_0(xq.data() + v * blocks, blocks);
            for (size_t r = 0; r < rows; ++r) {
              const auto row = llmk::ref::dequantize_row(plain, r);
              const auto d = llmk::ref::dot(row, xv);
              want[v * rows + r] = d.value;
              tol[v * rows + r] = dot_tolerance(d, cols);
              const auto f = llmk::ref::dot(row, x.data() + v * cols);
              want_f[v * rows + r] = f.value;
              tol_f[v * rows + r] = dot_tolerance(f, cols);
            }
          }
          REQUIRE(want[rows - 1] > 0);
          // Zero rows must come out exactly 0; the others within tolerance.
          auto check_all = [&](const std::vector<float>& y, const std::vector<double>& ref,
                               const std::vector<double>& tolerance, const char* what) {
            for (size_t i = 0; i < y.size(); ++i) {
              const bool ok = ref[i] == 0 ? y[i] == 0.0f : std::fabs(y[i] - ref[i]) <= tolerance[i];
              if (!ok) {
                FAIL_CHECK(what << " y[" << i << "] = " << y[i] << ", reference " << ref[i]);
                return;
              }
            }
          };
          for_each_target([&](const std::string&) {
            INFO(type_name(type) << " " << rows << "×" << cols
                                 << (last_row_only ? ", last row only" : ", last blocks only"));
            for (const WeightView& view : {plain, *packed}) {
              for (llmk::ThreadPool* p : {static_cast<llmk::ThreadPool*>(nullptr), &pool}) {
                std::vector<float> y(rows, -5.0f), yf(rows, -5.0f);
                llmk::kernels::matvec_weights(view, nullptr, xq.data(), y.data(), p);
                llmk::kernels::matvec_weights(view, x.data(), nullptr, yf.data(), p);
                check_all(y, {want.begin(), want.begin() + static_cast<ptrdiff_t>(rows)},
                          tol, "matvec Q8_0 activations");
                check_all(yf, {want_f.begin(), want_f.begin() + static_cast<ptrdiff_t>(rows)},
                          tol_f, "matvec f32 activations");
                std::vector<float> yb(batch * rows, -5.0f), ybf(batch * rows, -5.0f);
                llmk::kernels::matmul_weights(view, nullptr, xq.data(), batch, yb.data(), p);
                llmk::kernels::matmul_weights(view, x.data(), nullptr, batch, ybf.data(), p);
                check_all(yb, want, tol, "matmul Q8_0 activations");
                check_all(ybf, want_f, tol_f, "matmul f32 activations");
              }
            }
          });
        }
      }
    }
  }
}
