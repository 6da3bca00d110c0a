// Helpers shared by the doctest suites.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "doctest/doctest.h"
#include "llmk/target.h"

namespace llmk::test {

// Marks the running test case as skipped (counted apart from passed) and
// prints why. The caller returns right after.
void skip(const std::string& reason);

// Runs body(target_name) once under every Highway target this CPU supports,
// the scalar one included, with the target's name in any failure message.
template <class Body>
void for_each_target(Body&& body) {
  for (const std::string& target : llmk::supported_targets()) {
    REQUIRE(llmk::force_target(target).ok());
    INFO("target = " << target);
    body(target);
  }
  llmk::reset_target();
}

// The shared reference data folder: $LLMK_SHARED, else ../shared relative to
// the source tree or the working directory. nullopt when absent.
std::optional<std::filesystem::path> shared_dir();

// shared_dir()/relative if it exists; otherwise marks the test skipped with
// the reason and returns nullopt.
std::optional<std::filesystem::path> shared_file_or_skip(const std::string& relative);

// Reads a whole file; empty optional when it cannot be read.
std::optional<std::vector<uint8_t>> read_file(const std::filesystem::path& path);

// A teacher-forced logits file (../shared/ref/logits, tools/peer/llama_logits):
// int32 n, int32 vocab, n int32 tokens, n × vocab f32 logits.
struct LogitsFile {
  size_t n = 0, vocab = 0;
  std::vector<int32_t> tokens;
  std::vector<float> logits;
};
// Fails the test (REQUIRE) when the file is unreadable or its size is wrong.
LogitsFile read_logits(const std::filesystem::path& path);

// Largest |a_i − b_i| (REQUIRE equal sizes) and largest |a_i|.
float max_abs_diff(std::span<const float> a, std::span<const float> b);
float max_abs(std::span<const float> a);

// Lengths every element-wise kernel is tested on.
inline const std::vector<size_t> kTestLengths = {1,  3,  7,   15,  16,  17,
                                                 31, 33, 63, 384, 385, 4097};

// A buffer whose data() is deliberately misaligned by `offset_floats`
// elements from a 64-byte boundary, to catch aligned-load assumptions.
class UnalignedFloats {
 public:
  UnalignedFloats(size_t n, size_t offset_floats = 1)
      : storage_(n + offset_floats + 16), offset_(offset_floats + 16 -
          (reinterpret_cast<uintptr_t>(storage_.data()) / sizeof(float)) % 16), n_(n) {}
  float* data() { return storage_.data() + offset_; }
  const float* data() const { return storage_.data() + offset_; }
  size_t size() const { return n_; }
  float& operator[](size_t i) { return data()[i]; }
  float operator[](size_t i) const { return data()[i]; }
  std::span<float> span() { return {data(), n_}; }
  std::span<const float> cspan() const { return {data(), n_}; }

 private:
  std::vector<float> storage_;
  size_t offset_;
  size_t n_;
};

inline void fill_uniform(std::span<float> out, uint32_t seed, float lo = -1.0f,
                         float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  for (float& v : out) v = dist(rng);
}

// |a − b| ≤ abs_tol + rel_tol·|b|
inline bool near(float a, float b, float rel_tol, float abs_tol) {
  return std::fabs(a - b) <= abs_tol + rel_tol * std::fabs(b);
}

}  // namespace llmk::test
