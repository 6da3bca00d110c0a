// Helpers shared by the suite files: owned, aligned, filled buffers that a
// BatchFn lambda can capture by shared_ptr, and errors that say which call of
// a timed body failed.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <random>
#include <span>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace llmk::bench {

// `status` with what the body was running put before its message, e.g.
// "token 5 at pos 12: forward: ...", where the library's message names the
// call but not the body's state. Bodies call it only on failure, so the
// timed success path formats nothing.
inline absl::Status in_context(const absl::Status& status, absl::string_view what) {
  return absl::Status(status.code(), absl::StrCat(what, ": ", status.message()));
}

// 64-byte aligned floats, filled with uniform values in [lo, hi).
class FloatBuffer {
 public:
  explicit FloatBuffer(size_t n, uint32_t seed = 1, float lo = -1.0f, float hi = 1.0f)
      : n_(n), data_(static_cast<float*>(std::aligned_alloc(64, round_up(n * sizeof(float))))) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> dist(lo, hi);
    for (size_t i = 0; i < n_; ++i) data_.get()[i] = dist(rng);
  }
  float* data() { return data_.get(); }
  std::span<float> span() { return {data_.get(), n_}; }
  std::span<const float> cspan() const { return {data_.get(), n_}; }
  size_t size() const { return n_; }

 private:
  static size_t round_up(size_t bytes) { return (bytes + 63) / 64 * 64 + 64; }
  struct Free {
    void operator()(float* p) const { std::free(p); }
  };
  size_t n_;
  std::unique_ptr<float, Free> data_;
};

// Memory from std::aligned_alloc.
struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};

inline constexpr size_t kHugePageBytes = size_t{2} << 20;

// `bytes` (a multiple of 2 MiB) in 2 MiB pages where the kernel offers them,
// as a loaded model's weights are; null if it cannot be allocated.
template <class T>
std::unique_ptr<T, FreeDeleter> allocate_huge_pages(size_t bytes) {
  std::unique_ptr<T, FreeDeleter> p(static_cast<T*>(std::aligned_alloc(kHugePageBytes, bytes)));
  // Advice only: without transparent huge pages the memory is still usable.
  if (p) madvise(p.get(), bytes, MADV_HUGEPAGE);
  return p;
}

}  // namespace llmk::bench
