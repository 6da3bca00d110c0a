// K-quant and BF16 kernels: Q8_K activation quantization against a scalar
// transcription of ggml's reference (equal bytes on every target), the fused
// Q2_K…Q6_K · Q8_K dots against exact double references, and matvec / matmul
// over K-quant and BF16 weights in both activation modes.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "llmk/kquant.h"
#include "llmk/quant.h"
#include "llmk/thread_pool.h"
#include "quant/quant_kernels.h"
#include "quant/quant_reference.h"
#include "test_util.h"

using llmk::kSuperBlock;
using llmk::Q8_KBlock;
using llmk::TensorType;
using llmk::WeightView;
using llmk::test::fill_uniform;
using llmk::test::for_each_target;

namespace {

// Error allowance of a fused K dot: each super-block's exact integer sums
// are converted and scaled with about 3 roundings per term (ε = 2^-24 of the
// terms' magnitude, ref::DotResult), then `terms` partial sums are added in
// some order. 2^-22·(terms + 16) of the magnitude is 4× that bound, and far
// below what a wrong lane, group or block changes (≥ 1/256 of a block).
double k_tolerance(const llmk::ref::DotResult& r, size_t terms) {
  return std::ldexp(1.0, -22) * static_cast<double>(terms + 16) * r.magnitude + 1e-30;
}

// Storage whose payload starts `offset` bytes past a 64-byte boundary.
class UnalignedBytes {
 public:
  UnalignedBytes(size_t size, size_t offset) : bytes_(size + 128), size_(size) {
    const auto base = reinterpret_cast<uintptr_t>(bytes_.data());
    offset_ = (64 - base % 64) % 64 + offset;
  }
  // The offset must keep T's own alignment (a misaligned T* is undefined
  // behaviour); what it breaks is the 64-byte alignment SIMD loads may assume.
  template <class T>
  T* as() {
    REQUIRE(offset_ % alignof(T) == 0);
    return reinterpret_cast<T*>(bytes_.data() + offset_);
  }
  size_t size() const { return size_; }

 private:
  std::vector<unsigned char> bytes_;
  size_t size_;
  size_t offset_ = 0;
};

// One K type: its block, tags and entry points.
template <class Block, TensorType kType>
struct KType {
  using BlockType = Block;
  static constexpr TensorType type = kType;
};
using Q2K = KType<llmk::Q2_KBlock, TensorType::kQ2_K>;
using Q3K = KType<llmk::Q3_KBlock, TensorType::kQ3_K>;
using Q4K = KType<llmk::Q4_KBlock, TensorType::kQ4_K>;
using Q5K = KType<llmk::Q5_KBlock, TensorType::kQ5_K>;
using Q6K = KType<llmk::Q6_KBlock, TensorType::kQ6_K>;

template <class Body>
void for_each_k_type(Body&& body) {
  body(Q2K{});
  body(Q3K{});
  body(Q4K{});
  body(Q5K{});
  body(Q6K{});
}

const char* name_of(TensorType t) {
  switch (t) {
    case TensorType::kQ2_K:
      return "Q2_K";
    case TensorType::kQ3_K:
      return "Q3_K";
    case TensorType::kQ4_K:
      return "Q4_K";
    case TensorType::kQ5_K:
      return "Q5_K";
    case TensorType::kQ6_K:
      return "Q6_K";
    case TensorType::kBF16:
      return "BF16";
    default:
      return "?";
  }
}

float kernel_dot(const llmk::Q2_KBlock* a, const Q8_KBlock* b, size_t n) {
  return llmk::kernels::dot_q2_k_q8_k(a, b, n);
}
float kernel_dot(const llmk::Q3_KBlock* a, const Q8_KBlock* b, size_t n) {
  return llmk::kernels::dot_q3_k_q8_k(a, b, n);
}
float kernel_dot(const llmk::Q4_KBlock* a, const Q8_KBlock* b, size_t n) {
  return llmk::kernels::dot_q4_k_q8_k(a, b, n);
}
float kernel_dot(const llmk::Q5_KBlock* a, const Q8_KBlock* b, size_t n) {
  return llmk::kernels::dot_q5_k_q8_k(a, b, n);
}
float kernel_dot(const llmk::Q6_KBlock* a, const Q8_KBlock* b, size_t n) {
  return llmk::kernels::dot_q6_k_q8_k(a, b, n);
}

// The block's fp16 scale(s) set to d (and dmin where the format has one).
void set_scales(llmk::Q2_KBlock& b, float d, float dmin) {
  b.d = llmk::f32_to_f16(d);
  b.dmin = llmk::f32_to_f16(dmin);
}
void set_scales(llmk::Q3_KBlock& b, float d, float) { b.d = llmk::f32_to_f16(d); }
void set_scales(llmk::Q4_KBlock& b, float d, float dmin) {
  b.d = llmk::f32_to_f16(d);
  b.dmin = llmk::f32_to_f16(dmin);
}
void set_scales(llmk::Q5_KBlock& b, float d, float dmin) {
  b.d = llmk::f32_to_f16(d);
  b.dmin = llmk::f32_to_f16(dmin);
}
void set_scales(llmk::Q6_KBlock& b, float d, float) { b.d = llmk::f32_to_f16(d); }

// Random blocks: any bytes are a valid block once d / dmin are finite.
template <class Block>
void fill_k_blocks(Block* blocks, size_t count, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_real_distribution<float> scale(-0.05f, 0.05f);
  auto* bytes = reinterpret_cast<unsigned char*>(blocks);
  for (size_t i = 0; i < count * sizeof(Block); ++i)
    bytes[i] = static_cast<unsigned char>(byte(rng));
  for (size_t k = 0; k < count; ++k) set_scales(blocks[k], scale(rng), scale(rng));
}

// Q8_K activations of random x (through the scalar transcription).
std::vector<Q8_KBlock> random_q8_k(size_t count, uint32_t seed, float range = 1.0f) {
  std::vector<float> x(count * kSuperBlock);
  fill_uniform(x, seed, -range, range);
  std::vector<Q8_KBlock> out(count);
  llmk::ref::quantize_q8_k(x.data(), x.size(), out.data());
  return out;
}

void set_bsums(Q8_KBlock& b) {
  for (size_t g = 0; g < 16; ++g) {
    int sum = 0;
    for (size_t l = 0; l < 16; ++l) sum += b.qs[16 * g + l];
    b.bsums[g] = static_cast<int16_t>(sum);
  }
}

bool same_block(const Q8_KBlock& a, const Q8_KBlock& b) {
  return std::memcmp(&a, &b, sizeof a) == 0;
}

}  // namespace

// ------------------------------------------------ Q8_K activations

TEST_CASE("quantize_q8_k: every target writes the bytes of the scalar ggml transcription") {
  constexpr size_t kBlocks = 10;
  std::vector<float> x(kBlocks * kSuperBlock, 0.0f);
  auto block = [&](size_t k) { return std::span<float>(x).subspan(k * kSuperBlock, kSuperBlock); };
  // 0: max = −127 makes iscale exactly 1, so the other values are exact
  // ties of x·iscale (round half to even) and just-below-halves.
  {
    auto b = block(0);
    const float ties[] = {
        -127.0f, 2.5f, -2.5f, 3.5f, 0.5f, -0.5f, 126.5f, std::nextafter(0.5f, 0.0f), 1.5f, -126.5f};
    std::copy(std::begin(ties), std::end(ties), b.begin());
  }
  // 1, 2: random at two scales, a negative extreme in 2.
  fill_uniform(block(1), 11, -1.0f, 1.0f);
  fill_uniform(block(2), 12, -1e-3f, 1e-3f);
  block(2)[200] = -2e-3f;
  // 3: all zero. 4: equal magnitudes of both signs, the first (+) wins.
  block(4)[3] = 2.0f;
  block(4)[9] = -2.0f;
  block(4)[100] = 0.75f;
  // 5: a lone negative value in the last element.
  block(5)[255] = -7.0f;
  // 6: tiny values, some subnormal, with the largest (2^-120) just big
  // enough for a finite iscale. 7: large values. 8: NaN and 9: infinity
  // (defined only).
  for (size_t j = 0; j < kSuperBlock; ++j)
    block(6)[j] = std::ldexp(static_cast<float>(j) - 128, -127);
  fill_uniform(block(7), 17, -1e30f, 1e30f);
  fill_uniform(block(8), 18, -1.0f, 1.0f);
  block(8)[77] = std::numeric_limits<float>::quiet_NaN();
  fill_uniform(block(9), 19, -1.0f, 1.0f);
  block(9)[5] = -std::numeric_limits<float>::infinity();

  std::vector<Q8_KBlock> want(kBlocks);
  llmk::ref::quantize_q8_k(x.data(), x.size(), want.data());
  // The transcription itself, on values whose result is known.
  CHECK(want[0].d == 1.0f);
  const int8_t expected0[] = {-127, 2, -2, 4, 0, 0, 126, 0, 2, -126};
  for (size_t j = 0; j < std::size(expected0); ++j) CHECK(want[0].qs[j] == expected0[j]);
  CHECK(want[3].d == 0.0f);
  CHECK(want[4].qs[3] == -127);  // +2 came first: iscale = −63.5
  CHECK(want[4].qs[9] == 127);
  CHECK(want[4].d == 1.0f / (-127.0f / 2.0f));
  CHECK(want[5].qs[255] == -127);
  for (size_t k = 0; k < 8; ++k) {
    for (size_t g = 0; g < 16; ++g) {
      int sum = 0;
      for (size_t l = 0; l < 16; ++l) sum += want[k].qs[16 * g + l];
      CHECK(want[k].bsums[g] == sum);
    }
  }

  for_each_target([&](const std::string&) {
    for (size_t offset : {size_t{0}, size_t{1}, size_t{3}}) {
      INFO("offset = " << offset);
      llmk::test::UnalignedFloats xs(x.size(), offset);
      std::copy(x.begin(), x.end(), xs.data());
      UnalignedBytes out_bytes(kBlocks * sizeof(Q8_KBlock), offset * alignof(Q8_KBlock));
      auto* got = out_bytes.as<Q8_KBlock>();
      std::memset(got, 0x5A, kBlocks * sizeof(Q8_KBlock));
      REQUIRE(llmk::quantize_q8_k(xs.cspan(), {got, kBlocks}).ok());
      for (size_t k = 0; k < 8; ++k) {
        INFO("block " << k);
        CHECK(same_block(got[k], want[k]));
      }
      // Non-finite blocks: the NaN element becomes 0; the rest as ggml.
      CHECK(got[8].qs[77] == 0);
      CHECK(got[8].d == want[8].d);
      for (size_t j = 0; j < kSuperBlock; ++j) {
        if (j != 77 && got[8].qs[j] != want[8].qs[j]) FAIL_CHECK("NaN block: q[" << j << "]");
      }
      CHECK(got[9].qs[5] == 0);
      CHECK(std::isinf(got[9].d));
    }
  });
}

TEST_CASE("quantize_q8_k: bad lengths are clear errors") {
  std::vector<float> x(300);
  std::vector<Q8_KBlock> out(2);
  auto st = llmk::quantize_q8_k(x, out);
  CHECK(st.code() == absl::StatusCode::kInvalidArgument);
  CHECK(st.message().find("256") != std::string::npos);
  st = llmk::quantize_q8_k(std::span<const float>(x).first(256), out);
  CHECK(st.code() == absl::StatusCode::kInvalidArgument);
  CHECK(st.message().find("out") != std::string::npos);
  CHECK(
      llmk::quantize_q8_k(std::span<const float>(x).first(256), std::span<Q8_KBlock>(out).first(1))
          .ok());
}

// ------------------------------------------------ fused dots

TEST_CASE("dot: Q2_K…Q6_K · Q8_K on every target vs the double reference") {
  for_each_k_type([&](auto k) {
    using Block = typename decltype(k)::BlockType;
    INFO("type = " << name_of(k.type));
    for (size_t blocks : {size_t{1}, size_t{3}, size_t{17}}) {
      for (size_t offset : {size_t{0}, size_t{1}, size_t{5}}) {
        INFO("blocks = " << blocks << ", offset = " << offset);
        UnalignedBytes a_bytes(blocks * sizeof(Block), offset * alignof(Block));
        UnalignedBytes b_bytes(blocks * sizeof(Q8_KBlock), (offset + 2) * alignof(Q8_KBlock));
        Block* a = a_bytes.as<Block>();
        Q8_KBlock* b = b_bytes.as<Q8_KBlock>();
        fill_k_blocks(a, blocks, static_cast<uint32_t>(blocks * 7 + offset));
        const auto xq = random_q8_k(blocks, static_cast<uint32_t>(blocks + 100 * offset));
        std::memcpy(b, xq.data(), blocks * sizeof(Q8_KBlock));
        const auto want = llmk::ref::dot_k(k.type, a, blocks, b);
        REQUIRE(want.magnitude > 0);
        for_each_target([&](const std::string&) {
          const float got = kernel_dot(a, b, blocks);
          CHECK(std::fabs(got - want.value) <= k_tolerance(want, blocks));
        });
      }
    }
  });
}

TEST_CASE("dot: extreme quants, scales and Q8_K values on every target") {
  // Every quant at its minimum or maximum (all bytes 0x00 or 0xFF, which
  // also sets every scale and min to its extreme), Q6_K's int8 scales at
  // −128 / 127, against Q8_K quants of −127, 127, alternating, and −128 (a
  // file need not come from our quantizer). The integer sums are exact, so
  // only the float tolerance applies.
  for_each_k_type([&](auto k) {
    using Block = typename decltype(k)::BlockType;
    INFO("type = " << name_of(k.type));
    for (int fill : {0x00, 0xFF, 0xAA}) {
      for (int pattern = 0; pattern < 4; ++pattern) {
        constexpr size_t kBlocks = 3;
        std::vector<Block> a(kBlocks);
        std::memset(a.data(), fill, sizeof(Block) * kBlocks);
        for (size_t i = 0; i < kBlocks; ++i) set_scales(a[i], 1.0f + i, 0.5f);
        if constexpr (decltype(k)::type == TensorType::kQ6_K) {
          for (size_t i = 0; i < kBlocks; ++i) {
            for (size_t g = 0; g < 16; ++g)
              a[i].scales[g] = static_cast<int8_t>(g % 2 ? 127 : -128);
          }
        }
        std::vector<Q8_KBlock> b(kBlocks);
        for (size_t i = 0; i < kBlocks; ++i) {
          b[i].d = 1.0f / 127;
          for (size_t j = 0; j < kSuperBlock; ++j) {
            const int q = pattern == 0   ? -127
                          : pattern == 1 ? 127
                          : pattern == 2 ? (j % 2 ? 127 : -127)
                                         : -128;
            b[i].qs[j] = static_cast<int8_t>(q);
          }
          set_bsums(b[i]);
        }
        INFO("fill = " << fill << ", pattern = " << pattern);
        const auto want = llmk::ref::dot_k(k.type, a.data(), kBlocks, b.data());
        for_each_target([&](const std::string&) {
          const float got = kernel_dot(a.data(), b.data(), kBlocks);
          CHECK(std::fabs(got - want.value) <= k_tolerance(want, kBlocks));
        });
      }
    }
  });
}

TEST_CASE("dot: a kernel that skipped the last super-block would fail") {
  // The last of 3 blocks gets scales 8× the others', so leaving it out moves
  // the result far beyond the tolerance; the kernels must match the full sum.
  for_each_k_type([&](auto k) {
    using Block = typename decltype(k)::BlockType;
    INFO("type = " << name_of(k.type));
    constexpr size_t kBlocks = 3;
    std::vector<Block> a(kBlocks);
    fill_k_blocks(a.data(), kBlocks, 41);
    set_scales(a[kBlocks - 1], 0.4f, 0.3f);
    const auto b = random_q8_k(kBlocks, 42);
    const auto full = llmk::ref::dot_k(k.type, a.data(), kBlocks, b.data());
    const auto dropped = llmk::ref::dot_k(k.type, a.data(), kBlocks - 1, b.data());
    REQUIRE(std::fabs(full.value - dropped.value) > 100 * k_tolerance(full, kBlocks));
    for_each_target([&](const std::string&) {
      const float got = kernel_dot(a.data(), b.data(), kBlocks);
      CHECK(std::fabs(got - full.value) <= k_tolerance(full, kBlocks));
      CHECK(std::fabs(got - dropped.value) > k_tolerance(full, kBlocks));
    });
  });
}

TEST_CASE("dot: the public K dots check their lengths and agree with the kernels") {
  std::vector<llmk::Q4_KBlock> a(2);
  fill_k_blocks(a.data(), a.size(), 3);
  const auto b = random_q8_k(2, 4);
  auto r = llmk::dot_q4_k_q8_k(a, b);
  REQUIRE(r.ok());
  CHECK(*r == llmk::kernels::dot_q4_k_q8_k(a.data(), b.data(), 2));
  auto bad = llmk::dot_q4_k_q8_k(a, std::span<const Q8_KBlock>(b).first(1));
  CHECK(bad.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(bad.status().message().find("b") != std::string::npos);
  std::vector<llmk::Q2_KBlock> a2(1);
  CHECK(!llmk::dot_q2_k_q8_k(a2, b).ok());
  std::vector<llmk::Q3_KBlock> a3(1);
  CHECK(!llmk::dot_q3_k_q8_k(a3, b).ok());
  std::vector<llmk::Q5_KBlock> a5(1);
  CHECK(!llmk::dot_q5_k_q8_k(a5, b).ok());
  std::vector<llmk::Q6_KBlock> a6(1);
  CHECK(!llmk::dot_q6_k_q8_k(a6, b).ok());
}

// ------------------------------------------------ matvec / matmul

namespace {

// A rows × cols weight matrix of a K type or BF16, random.
struct KWeights {
  TensorType type;
  size_t rows, cols;
  std::vector<unsigned char> bytes;
  WeightView view() const { return {type, bytes.data(), rows, cols}; }
};

KWeights make_k_weights(TensorType type, size_t rows, size_t cols, uint32_t seed) {
  KWeights w{type, rows, cols, {}};
  const size_t row_bytes = WeightView{type, nullptr, rows, cols}.row_bytes();
  w.bytes.resize(rows * row_bytes);
  const size_t blocks = rows * cols / kSuperBlock;
  auto* p = w.bytes.data();
  switch (type) {
    case TensorType::kQ2_K:
      fill_k_blocks(reinterpret_cast<llmk::Q2_KBlock*>(p), blocks, seed);
      break;
    case TensorType::kQ3_K:
      fill_k_blocks(reinterpret_cast<llmk::Q3_KBlock*>(p), blocks, seed);
      break;
    case TensorType::kQ4_K:
      fill_k_blocks(reinterpret_cast<llmk::Q4_KBlock*>(p), blocks, seed);
      break;
    case TensorType::kQ5_K:
      fill_k_blocks(reinterpret_cast<llmk::Q5_KBlock*>(p), blocks, seed);
      break;
    case TensorType::kQ6_K:
      fill_k_blocks(reinterpret_cast<llmk::Q6_KBlock*>(p), blocks, seed);
      break;
    default: {
      std::vector<float> f(rows * cols);
      fill_uniform(f, seed, -1.0f, 1.0f);
      auto* h = reinterpret_cast<uint16_t*>(p);
      for (size_t i = 0; i < f.size(); ++i) h[i] = llmk::f32_to_bf16(f[i]);
      h[0] = llmk::f32_to_bf16(-0.0f);
    }
  }
  return w;
}

const TensorType kAllTypes[] = {TensorType::kQ2_K, TensorType::kQ3_K, TensorType::kQ4_K,
                                TensorType::kQ5_K, TensorType::kQ6_K, TensorType::kBF16};

// Reference y of row r against vector v, and its tolerance.
struct RefY {
  double value, tolerance;
};
RefY reference_y(const WeightView& w, size_t r, const float* x, const Q8_KBlock* xq) {
  const auto* row = static_cast<const unsigned char*>(w.data) + r * w.row_bytes();
  if (w.type == TensorType::kBF16) {
    const auto d = llmk::ref::dot(llmk::ref::dequantize_row(w, r), x);
    return {d.value, k_tolerance(d, w.cols)};
  }
  if (xq != nullptr) {
    const auto d = llmk::ref::dot_k(w.type, row, w.cols / kSuperBlock, xq);
    return {d.value, k_tolerance(d, w.cols / kSuperBlock)};
  }
  // f32 activations: the row is dequantized to f32 (one or two roundings
  // per element) and dotted in f32 over cols terms.
  const auto d = llmk::ref::dot_k(w.type, row, w.cols / kSuperBlock, x);
  return {d.value, k_tolerance(d, w.cols)};
}

}  // namespace

TEST_CASE("matvec/matmul: K types and BF16, both activation modes, every target, threaded or not") {
  // 67 rows (no multiple of 4 or 8) × 3 super-blocks; batches 1…9 (the pool
  // takes over from batch 6 on, by work size), and a 347-row matrix whose
  // matvec alone is split over the pool.
  llmk::ThreadPool pool(3);
  struct Shape {
    size_t rows, cols, max_batch;
  };
  for (const Shape shape : {Shape{67, 768, 9}, Shape{347, 768, 2}}) {
    llmk::test::UnalignedFloats x(shape.max_batch * shape.cols, 1);
    fill_uniform(x.span(), 7, -1.0f, 1.0f);
    std::vector<Q8_KBlock> xq(shape.max_batch * shape.cols / kSuperBlock);
    llmk::ref::quantize_q8_k(x.data(), x.size(), xq.data());
    // BF16 weights in the integer mode meet x rounded to BF16, as in ggml.
    std::vector<float> x_bf16(x.size());
    for (size_t i = 0; i < x.size(); ++i) {
      x_bf16[i] = llmk::bf16_to_f32(llmk::f32_to_bf16(x.data()[i]));
    }
    for (TensorType type : kAllTypes) {
      INFO("type = " << name_of(type) << ", rows = " << shape.rows);
      const KWeights w = make_k_weights(type, shape.rows, shape.cols, 5);
      const WeightView view = w.view();
      const size_t blocks = shape.cols / kSuperBlock;
      for (auto mode : {llmk::ActivationMode::kQuantizeQ8_0, llmk::ActivationMode::kFloat}) {
        const bool integer =
            mode == llmk::ActivationMode::kQuantizeQ8_0 && type != TensorType::kBF16;
        const bool bf16_rounded =
            mode == llmk::ActivationMode::kQuantizeQ8_0 && type == TensorType::kBF16;
        const float* x_ref = bf16_rounded ? x_bf16.data() : x.data();
        INFO("integer = " << integer << ", x rounded to BF16 = " << bf16_rounded);
        // Reference per (vector, row), computed once for every target.
        std::vector<RefY> want(shape.max_batch * shape.rows);
        for (size_t v = 0; v < shape.max_batch; ++v) {
          for (size_t r = 0; r < shape.rows; ++r) {
            want[v * shape.rows + r] = reference_y(view, r, x_ref + v * shape.cols,
                                                   integer ? xq.data() + v * blocks : nullptr);
          }
        }
        for_each_target([&](const std::string&) {
          for (size_t batch = 1; batch <= shape.max_batch; ++batch) {
            INFO("batch = " << batch);
            const auto xs = x.cspan().first(batch * shape.cols);
            std::vector<float> single(batch * shape.rows), pooled(batch * shape.rows);
            if (batch == 1) {
              REQUIRE(llmk::matvec(view, xs, single, nullptr, mode).ok());
              REQUIRE(llmk::matvec(view, xs, pooled, &pool, mode).ok());
            } else {
              REQUIRE(llmk::matmul(view, xs, batch, single, nullptr, mode).ok());
              REQUIRE(llmk::matmul(view, xs, batch, pooled, &pool, mode).ok());
            }
            CHECK(std::memcmp(single.data(), pooled.data(), single.size() * 4) == 0);
            for (size_t i = 0; i < single.size(); ++i) {
              const size_t v = i / shape.rows, r = i % shape.rows;
              if (!(std::fabs(single[i] - want[i].value) <= want[i].tolerance)) {
                FAIL_CHECK("y[" << v << "][" << r << "] = " << single[i] << ", want "
                                << want[i].value);
                break;
              }
              if (integer) {
                // The row driver runs the public dot's kernel, bit for bit.
                const auto* row = w.bytes.data() + r * view.row_bytes();
                float dot = 0;
                switch (type) {
                  case TensorType::kQ2_K:
                    dot = kernel_dot(reinterpret_cast<const llmk::Q2_KBlock*>(row), &xq[v * blocks],
                                     blocks);
                    break;
                  case TensorType::kQ3_K:
                    dot = kernel_dot(reinterpret_cast<const llmk::Q3_KBlock*>(row), &xq[v * blocks],
                                     blocks);
                    break;
                  case TensorType::kQ4_K:
                    dot = kernel_dot(reinterpret_cast<const llmk::Q4_KBlock*>(row), &xq[v * blocks],
                                     blocks);
                    break;
                  case TensorType::kQ5_K:
                    dot = kernel_dot(reinterpret_cast<const llmk::Q5_KBlock*>(row), &xq[v * blocks],
                                     blocks);
                    break;
                  default:
                    dot = kernel_dot(reinterpret_cast<const llmk::Q6_KBlock*>(row), &xq[v * blocks],
                                     blocks);
                }
                if (std::memcmp(&dot, &single[i], 4) != 0) {
                  FAIL_CHECK("y[" << v << "][" << r << "] = " << single[i] << ", dot " << dot);
                  break;
                }
              }
            }
          }
        });
      }
    }
  }
}

TEST_CASE("kernels: K-type weights read x and quantize it themselves, whatever x_q8 holds") {
  // The forward pass passes x and, for the integer path, a non-null x_q8 of
  // Q8_0 blocks; K types must use x (as Q8_K) and only take x_q8 as the flag.
  const size_t rows = 9, cols = 512;
  std::vector<float> x(2 * cols), other(2 * cols);
  fill_uniform(x, 1, -1.0f, 1.0f);
  fill_uniform(other, 2, -1.0f, 1.0f);
  std::vector<llmk::Q8_0Block> other_q8(other.size() / llmk::kQuantBlock);
  llmk::kernels::quantize_q8_0_ties_even(other.data(), other.size(), other_q8.data());
  for_each_target([&](const std::string&) {
    for (TensorType type : kAllTypes) {
      INFO("type = " << name_of(type));
      const KWeights w = make_k_weights(type, rows, cols, 3);
      std::vector<float> want(2 * rows), got(2 * rows), flagged(2 * rows), as_float(2 * rows);
      REQUIRE(llmk::matmul(w.view(), x, 2, want).ok());
      llmk::kernels::matmul_weights(w.view(), x.data(), other_q8.data(), 2, got.data(), nullptr);
      llmk::kernels::matmul_weights(w.view(), x.data(), llmk::kernels::kIntegerActivations, 2,
                                    flagged.data(), nullptr);
      llmk::kernels::matvec_weights(w.view(), x.data(), other_q8.data(), got.data(), nullptr);
      CHECK(std::memcmp(want.data(), got.data(), want.size() * 4) == 0);
      CHECK(std::memcmp(want.data(), flagged.data(), want.size() * 4) == 0);
      // Rows straight from weight_rows_direct, and the f32 path with x_q8 null.
      std::vector<float> direct(2 * rows);
      llmk::kernels::weight_rows_direct(w.view(), x.data(), other_q8.data(), 2, direct.data(), rows,
                                        0, rows);
      CHECK(std::memcmp(want.data(), direct.data(), want.size() * 4) == 0);
      REQUIRE(llmk::matmul(w.view(), x, 2, want, nullptr, llmk::ActivationMode::kFloat).ok());
      llmk::kernels::matmul_weights(w.view(), x.data(), nullptr, 2, as_float.data(), nullptr);
      CHECK(std::memcmp(want.data(), as_float.data(), want.size() * 4) == 0);
    }
  });
}

TEST_CASE("dequantize_row: K types within f32 rounding of the reference, BF16 exact") {
  const size_t rows = 3, cols = 512;
  for (TensorType type : kAllTypes) {
    INFO("type = " << name_of(type));
    const KWeights w = make_k_weights(type, rows, cols, 9);
    // Per element, the magnitude of its terms (|d·sc·q| + |dmin·m|): ggml
    // rounds d·sc, the product and dmin·m in f32 and subtracts, at most
    // 3 roundings of that magnitude; 2^-22 of it is above them.
    std::vector<std::vector<double>> want(rows), tolerance(rows);
    std::vector<float> one_hot(cols, 0.0f);
    for (size_t r = 0; r < rows; ++r) {
      want[r] = llmk::ref::dequantize_row(w.view(), r);
      tolerance[r].resize(cols);
      if (type == TensorType::kBF16) continue;  // exact
      const auto* row = w.bytes.data() + r * w.view().row_bytes();
      for (size_t j = 0; j < cols; ++j) {
        one_hot[j] = 1.0f;
        const auto d = llmk::ref::dot_k(type, row, cols / kSuperBlock, one_hot.data());
        one_hot[j] = 0.0f;
        REQUIRE(d.value == want[r][j]);
        tolerance[r][j] = std::ldexp(d.magnitude, -22);
      }
    }
    for_each_target([&](const std::string&) {
      std::vector<float> got(cols);
      for (size_t r = 0; r < rows; ++r) {
        llmk::kernels::dequantize_row(w.view(), r, got.data());
        for (size_t j = 0; j < cols; ++j) {
          if (!(std::fabs(got[j] - want[r][j]) <= tolerance[r][j])) {
            FAIL_CHECK("row " << r << " [" << j << "] = " << got[j] << ", want " << want[r][j]);
            break;
          }
        }
      }
    });
  }
}

TEST_CASE("matvec: K-type and BF16 shapes are clear errors") {
  std::vector<unsigned char> bytes(4096);
  std::vector<float> x(384), y(1);
  auto st = llmk::matvec({TensorType::kQ4_K, bytes.data(), 1, 384}, x, y);
  CHECK(st.code() == absl::StatusCode::kInvalidArgument);
  CHECK(st.message().find("256") != std::string::npos);
  CHECK(st.message().find("w.cols") != std::string::npos);
  st = llmk::matvec({TensorType::kQ6_K, bytes.data(), 1, 256}, x, y);
  CHECK(st.message().find("x") != std::string::npos);
  CHECK(llmk::matvec({TensorType::kQ6_K, bytes.data(), 1, 256},
                     std::span<const float>(x).first(256), y)
            .ok());
  CHECK(llmk::matvec({TensorType::kBF16, bytes.data(), 1, 384}, x, y).ok());
  st = llmk::matvec({TensorType::kQ8_K, bytes.data(), 1, 256}, std::span<const float>(x).first(256),
                    y);
  CHECK(st.code() == absl::StatusCode::kInvalidArgument);  // activations only
  llmk::WeightView packed{TensorType::kQ4_K, bytes.data(), 1, 256};
  packed.layout = llmk::WeightLayout::kInterleaved8;
  CHECK(llmk::matvec(packed, std::span<const float>(x).first(256), y).code() ==
        absl::StatusCode::kInvalidArgument);
}
