// Memory bandwidth probes: the roof for memory-bound kernels such as the
// 4096×4096 matvec. Buffers are far larger than any L3 so every pass streams
// from DRAM. STREAM's convention: triad moves 3 arrays (write-allocate
// traffic not counted).
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "absl/strings/str_cat.h"
#include "llmk/bench.h"
#include "llmk/thread_pool.h"
#include "suites/suite_util.h"

namespace llmk::bench {
namespace {

constexpr size_t kReadBytes = size_t{256} << 20;
constexpr size_t kTriadBytesPerArray = size_t{64} << 20;

struct U64Buffer {
  explicit U64Buffer(size_t bytes)
      : n(bytes / sizeof(uint64_t)),
        data(static_cast<uint64_t*>(std::aligned_alloc(64, bytes))) {
    for (size_t i = 0; i < n; ++i) data.get()[i] = i * 0x9E3779B97F4A7C15ull;
  }
  struct Free {
    void operator()(uint64_t* p) const { std::free(p); }
  };
  size_t n;
  std::unique_ptr<uint64_t, Free> data;
};

// Sum of p[0, n) with four independent sums, so the loop is bound by loads,
// not by adds.
uint64_t read_all(const uint64_t* p, size_t n) {
  uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  for (size_t i = 0; i + 4 <= n; i += 4) {
    s0 += p[i];
    s1 += p[i + 1];
    s2 += p[i + 2];
    s3 += p[i + 3];
  }
  return s0 + s1 + s2 + s3;
}

// One thread reads the whole buffer; with threads > 1 each of them reads a
// contiguous 1/threads of it (the roof for a multi-threaded matvec).
BenchmarkSpec read_spec(size_t threads) {
  BenchmarkSpec s;
  s.name = absl::StrCat("memory/bandwidth/read/", kReadBytes >> 20, "MiB",
                        threads > 1 ? absl::StrCat("/threads:", threads) : "");
  s.per_target = false;
  s.threads = threads;
  s.bytes_per_op = static_cast<double>(kReadBytes);
  s.setup = [threads](const BenchmarkConfig&) -> absl::StatusOr<BatchFn> {
    auto buf = std::make_shared<U64Buffer>(kReadBytes);
    std::shared_ptr<ThreadPool> pool;
    if (threads > 1) pool = std::make_shared<ThreadPool>(threads);
    return BatchFn([buf, pool, threads](uint64_t count) -> absl::Status {
      for (uint64_t c = 0; c < count; ++c) {
        if (!pool) {
          do_not_optimize(read_all(buf->data.get(), buf->n));
          continue;
        }
        const size_t part = buf->n / threads / 4 * 4;
        pool->parallel_for(0, threads, [&](size_t t, size_t) {
          const size_t begin = t * part;
          do_not_optimize(read_all(buf->data.get() + begin, t + 1 == threads ? buf->n - begin : part));
        });
      }
      return absl::OkStatus();  // plain loads and adds: nothing here can fail
    });
  };
  return s;
}

BenchmarkSpec triad_spec() {
  BenchmarkSpec s;
  s.name = absl::StrCat("memory/bandwidth/triad/3x", kTriadBytesPerArray >> 20, "MiB");
  s.per_target = false;
  s.bytes_per_op = 3.0 * kTriadBytesPerArray;
  s.flops_per_op = 2.0 * kTriadBytesPerArray / sizeof(float);
  s.setup = [](const BenchmarkConfig&) -> absl::StatusOr<BatchFn> {
    const size_t n = kTriadBytesPerArray / sizeof(float);
    auto a = std::make_shared<FloatBuffer>(n, 1), b = std::make_shared<FloatBuffer>(n, 2);
    auto c = std::make_shared<FloatBuffer>(n, 3);
    return BatchFn([a, b, c, n](uint64_t count) -> absl::Status {
      for (uint64_t k = 0; k < count; ++k) {
        float* __restrict pa = a->data();
        const float* __restrict pb = b->data();
        const float* __restrict pc = c->data();
        for (size_t i = 0; i < n; ++i) pa[i] = pb[i] + 0.5f * pc[i];
        clobber_memory();
      }
      return absl::OkStatus();
    });
  };
  return s;
}

void add_bandwidth(const BenchmarkConfig& config, std::vector<BenchmarkSpec>& out) {
  out.push_back(read_spec(1));
  if (config.threads > 1) out.push_back(read_spec(config.threads));
  out.push_back(triad_spec());
}

const bool registered = register_suite("bandwidth", add_bandwidth);

}  // namespace
}  // namespace llmk::bench
