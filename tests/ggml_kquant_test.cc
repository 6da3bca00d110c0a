// Cross-check of the K-quant formats against ggml itself: libggml-base.so,
// built from the peer llama.cpp source, is loaded at run time from the
// directory named by $LLMK_LLAMA_CPP_LIB, and our bytes and floats are
// compared with its reference quantizers and dequantizers bit for bit.
// Without the library the tests are skipped, saying why.
#include <dlfcn.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "llmk/kquant.h"
#include "test_util.h"

namespace {

using llmk::kSuperBlock;

// ggml_init's argument, laid out as in ggml.h.
struct GgmlInitParams {
  size_t mem_size;
  void* mem_buffer;
  bool no_alloc;
};

using QuantizeRow = void (*)(const float* x, void* blocks, int64_t count);
using DequantizeRow = void (*)(const void* blocks, float* y, int64_t count);

// The entry points of one K-quant type in ggml.
struct GgmlFormat {
  QuantizeRow quantize = nullptr;
  DequantizeRow dequantize = nullptr;
};

// libggml-base.so, opened once for the whole run. ggml's dequantizers read
// fp16 through a table that ggml_init fills on its first call, so the
// constructor makes (and frees) one context before anything is compared.
class GgmlLibrary {
 public:
  static const GgmlLibrary& get() {
    static const GgmlLibrary library;
    return library;
  }
  bool loaded() const { return handle_ != nullptr && unavailable_.empty(); }
  const std::string& unavailable_reason() const { return unavailable_; }
  const GgmlFormat& format(int bits) const { return formats_[bits - 2]; }
  void (*fp32_to_bf16_row)(const float*, uint16_t*, int64_t) = nullptr;

 private:
  GgmlLibrary() {
    const char* dir = std::getenv("LLMK_LLAMA_CPP_LIB");
    if (dir == nullptr || *dir == '\0') {
      unavailable_ = "LLMK_LLAMA_CPP_LIB is not set (the directory holding llama.cpp's "
                     "libggml-base.so)";
      return;
    }
    const std::filesystem::path path = std::filesystem::path(dir) / "libggml-base.so";
    if (!std::filesystem::exists(path)) {
      unavailable_ = "no libggml-base.so in LLMK_LLAMA_CPP_LIB=" + std::string(dir);
      return;
    }
    handle_ = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle_ == nullptr) {
      unavailable_ = "dlopen(" + path.string() + ") failed: " + dlerror();
      return;
    }
    const char* names[5][2] = {{"quantize_row_q2_K_ref", "dequantize_row_q2_K"},
                               {"quantize_row_q3_K_ref", "dequantize_row_q3_K"},
                               {"quantize_row_q4_K_ref", "dequantize_row_q4_K"},
                               {"quantize_row_q5_K_ref", "dequantize_row_q5_K"},
                               {"quantize_row_q6_K_ref", "dequantize_row_q6_K"}};
    for (int t = 0; t < 5; ++t) {
      formats_[t].quantize = reinterpret_cast<QuantizeRow>(symbol(names[t][0]));
      formats_[t].dequantize = reinterpret_cast<DequantizeRow>(symbol(names[t][1]));
    }
    fp32_to_bf16_row =
        reinterpret_cast<void (*)(const float*, uint16_t*, int64_t)>(symbol("ggml_fp32_to_bf16_row_ref"));
    auto init = reinterpret_cast<void* (*)(GgmlInitParams)>(symbol("ggml_init"));
    auto free_context = reinterpret_cast<void (*)(void*)>(symbol("ggml_free"));
    if (!unavailable_.empty()) return;
    void* context = init(GgmlInitParams{0, nullptr, true});
    if (context == nullptr) {
      unavailable_ = "ggml_init returned null";
      return;
    }
    free_context(context);
  }
  ~GgmlLibrary() {
    if (handle_ != nullptr) dlclose(handle_);
  }

  void* symbol(const char* name) {
    void* address = dlsym(handle_, name);
    if (address == nullptr && unavailable_.empty()) {
      unavailable_ = std::string("libggml-base.so has no symbol ") + name;
    }
    return address;
  }

  void* handle_ = nullptr;
  std::string unavailable_;
  GgmlFormat formats_[5];
};

// The library, or nullptr after marking the test skipped with the reason.
const GgmlLibrary* ggml_or_skip() {
  const GgmlLibrary& library = GgmlLibrary::get();
  if (!library.loaded()) {
    llmk::test::skip("ggml cross-check: " + library.unavailable_reason());
    return nullptr;
  }
  return &library;
}

uint32_t bits_of(float f) {
  uint32_t b;
  std::memcpy(&b, &f, sizeof b);
  return b;
}

// Inputs: the shared mixed reference row (when present) followed by seeded
// random rows of kRandomBlocks blocks each: uniform, gaussian with a random
// scale per block (1e-6 … 1e4, so d ranges over fp16's subnormals and
// normals), sparse blocks (mostly zero, a few outliers) and exact ties.
constexpr size_t kRandomBlocks = 1024;

std::vector<float> uniform_row(uint32_t seed) {
  std::vector<float> x(kRandomBlocks * kSuperBlock);
  llmk::test::fill_uniform(x, seed);
  return x;
}

std::vector<float> gaussian_row(uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> log_scale(-6.0f, 4.0f);
  std::vector<float> x(kRandomBlocks * kSuperBlock);
  for (size_t b = 0; b < kRandomBlocks; ++b) {
    const float scale = std::pow(10.0f, log_scale(rng));
    const float shift = (b % 3 == 0) ? scale * normal(rng) : 0.0f;  // some blocks off-centre
    for (size_t i = 0; i < kSuperBlock; ++i) x[b * kSuperBlock + i] = shift + scale * normal(rng);
  }
  return x;
}

std::vector<float> sparse_row(uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(kRandomBlocks * kSuperBlock, 0.0f);
  for (float& v : x) {
    const float pick = unit(rng);
    if (pick < 0.01f) {
      v = 100.0f * normal(rng);  // outlier
    } else if (pick < 0.2f) {
      v = 0.01f * normal(rng);
    }
  }
  return x;
}

// Blocks of small multiples of a power of two, and blocks with long runs
// of one value: many quotients land exactly on .5, so round-half-to-even
// and the searches' tie-breaking (first best kept) are exercised.
std::vector<float> ties_row(uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> half_steps(-16, 16), exponent(-12, 8), run(1, 64);
  std::vector<float> x(kRandomBlocks * kSuperBlock);
  for (size_t b = 0; b < kRandomBlocks; ++b) {
    const float unit = std::ldexp(1.0f, exponent(rng));
    float* block = x.data() + b * kSuperBlock;
    if (b % 2 == 0) {
      for (size_t i = 0; i < kSuperBlock; ++i) block[i] = unit * 0.5f * static_cast<float>(half_steps(rng));
    } else {
      for (size_t i = 0; i < kSuperBlock;) {
        const float value = unit * static_cast<float>(half_steps(rng));
        for (int n = run(rng); n > 0 && i < kSuperBlock; --n) block[i++] = value;
      }
    }
  }
  return x;
}

struct NamedRow {
  std::string name;
  std::vector<float> values;
};

std::vector<NamedRow> test_rows() {
  std::vector<NamedRow> rows;
  if (auto dir = llmk::test::shared_dir()) {
    if (auto bytes = llmk::test::read_file(*dir / "ref/quant/mixed.f32");
        bytes && bytes->size() % (kSuperBlock * sizeof(float)) == 0 && !bytes->empty()) {
      std::vector<float> mixed(bytes->size() / sizeof(float));
      std::memcpy(mixed.data(), bytes->data(), bytes->size());
      rows.push_back({"mixed.f32", std::move(mixed)});
    }
  }
  if (rows.empty()) MESSAGE("ref/quant/mixed.f32 not found (LLMK_SHARED); random rows only");
  rows.push_back({"uniform", uniform_row(11)});
  rows.push_back({"gaussian", gaussian_row(12)});
  rows.push_back({"sparse", sparse_row(13)});
  rows.push_back({"ties", ties_row(14)});
  return rows;
}

// Our quantizer and dequantizer of one type, over raw bytes.
struct OurFormat {
  size_t block_bytes;
  std::function<void(std::span<const float>, uint8_t*, size_t)> quantize;
  std::function<void(const uint8_t*, size_t, std::span<float>)> dequantize;
};

template <class Block>
OurFormat our_format(absl::Status (*quantize)(std::span<const float>, std::span<Block>),
                     absl::Status (*dequantize)(std::span<const Block>, std::span<float>)) {
  return OurFormat{
      sizeof(Block),
      [quantize](std::span<const float> x, uint8_t* out, size_t blocks) {
        REQUIRE(quantize(x, {reinterpret_cast<Block*>(out), blocks}).ok());
      },
      [dequantize](const uint8_t* in, size_t blocks, std::span<float> out) {
        REQUIRE(dequantize({reinterpret_cast<const Block*>(in), blocks}, out).ok());
      }};
}

OurFormat our_format_for(int bits) {
  switch (bits) {
    case 2: return our_format(&llmk::quantize_q2_k, &llmk::dequantize_q2_k);
    case 3: return our_format(&llmk::quantize_q3_k, &llmk::dequantize_q3_k);
    case 4: return our_format(&llmk::quantize_q4_k, &llmk::dequantize_q4_k);
    case 5: return our_format(&llmk::quantize_q5_k, &llmk::dequantize_q5_k);
    default: return our_format(&llmk::quantize_q6_k, &llmk::dequantize_q6_k);
  }
}

// Number of floats whose bits differ; the first one goes into the failure message.
size_t count_bit_differences(const std::vector<float>& ours, const std::vector<float>& theirs) {
  size_t differences = 0;
  for (size_t i = 0; i < ours.size(); ++i) {
    if (bits_of(ours[i]) != bits_of(theirs[i])) {
      if (differences == 0) {
        FAIL_CHECK("first difference at value " << i << " (block " << i / kSuperBlock
                                                << "): ours " << ours[i] << ", ggml " << theirs[i]);
      }
      ++differences;
    }
  }
  return differences;
}

}  // namespace

TEST_CASE("ggml_kquant: dequantizers are bit-identical to ggml's on arbitrary block bytes") {
  const GgmlLibrary* ggml = ggml_or_skip();
  if (ggml == nullptr) return;
  for (int bits = 2; bits <= 6; ++bits) {
    CAPTURE(bits);
    const OurFormat ours = our_format_for(bits);
    const size_t blocks = 4096;
    // Random bytes reach every scale, min and quant pattern, including
    // negative, subnormal, infinite and NaN fp16 scales.
    std::vector<uint8_t> bytes(blocks * ours.block_bytes);
    std::mt19937 rng(100 + bits);
    for (uint8_t& b : bytes) b = static_cast<uint8_t>(rng());
    std::vector<float> our_values(blocks * kSuperBlock), ggml_values(blocks * kSuperBlock);
    ours.dequantize(bytes.data(), blocks, our_values);
    ggml->format(bits).dequantize(bytes.data(), ggml_values.data(),
                                  static_cast<int64_t>(our_values.size()));
    CHECK(count_bit_differences(our_values, ggml_values) == 0);
  }
}

TEST_CASE("ggml_kquant: quantizers are byte-identical to ggml's reference quantizers") {
  const GgmlLibrary* ggml = ggml_or_skip();
  if (ggml == nullptr) return;
  const std::vector<NamedRow> rows = test_rows();
  for (int bits = 2; bits <= 6; ++bits) {
    const OurFormat ours = our_format_for(bits);
    size_t blocks_compared = 0;
    for (const NamedRow& row : rows) {
      CAPTURE(bits);
      CAPTURE(row.name);
      const size_t blocks = row.values.size() / kSuperBlock;
      std::vector<uint8_t> our_bytes(blocks * ours.block_bytes, 0xAA);
      std::vector<uint8_t> ggml_bytes(blocks * ours.block_bytes, 0x55);
      ours.quantize(row.values, our_bytes.data(), blocks);
      ggml->format(bits).quantize(row.values.data(), ggml_bytes.data(),
                                  static_cast<int64_t>(row.values.size()));
      size_t differing_blocks = 0;
      for (size_t b = 0; b < blocks; ++b) {
        const size_t offset = b * ours.block_bytes;
        if (std::memcmp(our_bytes.data() + offset, ggml_bytes.data() + offset,
                        ours.block_bytes) != 0) {
          if (differing_blocks == 0) {
            size_t byte = 0;
            while (our_bytes[offset + byte] == ggml_bytes[offset + byte]) ++byte;
            FAIL_CHECK("first differing block " << b << ", byte " << byte << ": ours "
                       << int{our_bytes[offset + byte]} << ", ggml "
                       << int{ggml_bytes[offset + byte]});
          }
          ++differing_blocks;
        }
      }
      CHECK(differing_blocks == 0);
      blocks_compared += blocks;

      // Both dequantizers on the same bytes, bit for bit.
      std::vector<float> our_values(row.values.size()), ggml_values(row.values.size());
      ours.dequantize(our_bytes.data(), blocks, our_values);
      ggml->format(bits).dequantize(our_bytes.data(), ggml_values.data(),
                                    static_cast<int64_t>(our_values.size()));
      CHECK(count_bit_differences(our_values, ggml_values) == 0);
    }
    MESSAGE("Q" << bits << "_K: " << blocks_compared << " blocks compared with ggml");
  }
}

TEST_CASE("ggml_kquant: f32_to_bf16 matches ggml_fp32_to_bf16_row_ref") {
  const GgmlLibrary* ggml = ggml_or_skip();
  if (ggml == nullptr) return;
  // Every 2^16-th pattern around each bf16 value: both neighbours of every
  // midpoint, plus random patterns covering NaN payloads and subnormals.
  std::vector<float> values;
  std::mt19937 rng(7);
  for (uint32_t high = 0; high < 0x10000u; ++high) {
    for (uint32_t low : {0x0000u, 0x7FFFu, 0x8000u, 0x8001u, 0xFFFFu,
                         static_cast<uint32_t>(rng() & 0xFFFFu)}) {
      const uint32_t pattern = (high << 16) | low;
      float f;
      std::memcpy(&f, &pattern, sizeof f);
      values.push_back(f);
    }
  }
  std::vector<uint16_t> theirs(values.size());
  ggml->fp32_to_bf16_row(values.data(), theirs.data(), static_cast<int64_t>(values.size()));
  size_t differences = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    if (llmk::f32_to_bf16(values[i]) != theirs[i]) {
      if (differences == 0) {
        FAIL_CHECK("first difference for f32 bits 0x" << std::hex << bits_of(values[i]) << ": ours 0x"
                   << llmk::f32_to_bf16(values[i]) << ", ggml 0x" << theirs[i]);
      }
      ++differences;
    }
  }
  CHECK(differences == 0);
}
