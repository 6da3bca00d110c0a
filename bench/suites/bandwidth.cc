// Memory bandwidth probes: the roof for memory-bound kernels such as the
// 4096×4096 matvec and a large model's generation, whose weights stream from
// DRAM once per token. Buffers are far larger than any L3 so every pass
// streams from DRAM. STREAM's convention: triad moves 3 arrays (write-allocate
// traffic not counted).
//
// The read probe is a roof only if no reader beats it: a model streaming its
// weights faster than the probe reads would make a share of the roof above
// 100% meaningless. So it reads at least as well as the weight kernels do
// (suites/read_probe.h): the widest vectors of this CPU under the best target
// whatever --target says, from 2 MiB pages like the weights' (with 4 KiB pages
// every 4 KiB costs a TLB miss that the weights never pay), and in the way
// that is fastest on this machine: which one that is differs between CPUs
// (one stream per thread or several side by side, software prefetch or not;
// docs/performance.md), so the probe times each at setup and keeps the
// fastest, and names it in the run's context. With --read-methods each way is
// also an entry of its own.
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>

#include "absl/strings/str_cat.h"
#include "llmk/bench.h"
#include "llmk/thread_pool.h"
#include "suites/read_probe.h"
#include "suites/suite_util.h"

namespace llmk::bench {
namespace {

constexpr size_t kReadBytes = size_t{256} << 20;
constexpr size_t kTriadBytesPerArray = size_t{64} << 20;

// The ways the roof chooses from: one stream per thread as the weight
// kernels read a matvec's, eight side by side as they read a batch's tiles,
// with and without software prefetch.
constexpr ReadMethod kReadMethods[] = {
    {1, ReadPrefetch::kNone, 0},  {1, ReadPrefetch::kT0, 2048},  {8, ReadPrefetch::kNone, 0},
    {8, ReadPrefetch::kT0, 1024}, {8, ReadPrefetch::kT0, 2048},  {8, ReadPrefetch::kT0, 4096},
    {8, ReadPrefetch::kNta, 2048},
};
// Timed passes per way at setup: the median of 3 is not fooled by one pass
// that another process slowed.
constexpr int kChoicePasses = 3;

// The probe's buffer: in 2 MiB pages where the kernel offers them, as the
// model's weights are; each thread's part written first by the pool that
// reads it.
struct ReadBuffer {
  ReadBuffer(size_t bytes, ThreadPool* pool, size_t parts)
      : n(bytes / sizeof(uint64_t)), data(allocate_huge_pages<uint64_t>(bytes)) {
    const auto fill = [this, parts](size_t t, size_t) {
      const size_t part = n / parts;
      for (size_t i = t * part; i < (t + 1 == parts ? n : (t + 1) * part); ++i) {
        data.get()[i] = i * 0x9E3779B97F4A7C15ull;
      }
    };
    if (pool) {
      pool->parallel_for(0, parts, fill);
    } else {
      fill(0, 0);
    }
  }
  size_t n;
  std::unique_ptr<uint64_t, FreeDeleter> data;
};

// One pass over the buffer with `method`: one thread reads it all; with
// threads > 1 each of them reads a contiguous 1/threads of it (the roof for
// a multi-threaded matvec).
void read_pass(const ReadBuffer& buf, ThreadPool* pool, size_t threads, const ReadMethod& method) {
  const size_t part = buf.n / threads;
  const auto read = [&](size_t t, size_t) {
    const size_t begin = t * part;
    const size_t n = t + 1 == threads ? buf.n - begin : part;
    do_not_optimize(read_words({buf.data.get() + begin, n}, method));
  };
  if (pool) {
    pool->parallel_for(0, threads, read);
  } else {
    read(0, 0);
  }
}

// The way of reading that took the least time here: one untimed pass, then
// the median of kChoicePasses, for each.
ReadMethod fastest_method(const ReadBuffer& buf, ThreadPool* pool, size_t threads) {
  ReadMethod best = kReadMethods[0];
  double best_ns = 0;
  for (const ReadMethod& m : kReadMethods) {
    read_pass(buf, pool, threads, m);
    std::array<double, kChoicePasses> ns;
    for (double& t : ns) {
      const auto start = std::chrono::steady_clock::now();
      read_pass(buf, pool, threads, m);
      t = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start)
              .count();
    }
    std::sort(ns.begin(), ns.end());
    if (best_ns == 0 || ns[kChoicePasses / 2] < best_ns) {
      best = m;
      best_ns = ns[kChoicePasses / 2];
    }
  }
  return best;
}

// `method`: a fixed way of reading, named in the entry's name; none: the
// roof, which reads in the fastest way (fastest_method).
BenchmarkSpec read_spec(size_t threads, std::optional<ReadMethod> method) {
  BenchmarkSpec s;
  s.name = absl::StrCat("memory/bandwidth/read/", kReadBytes >> 20, "MiB",
                        method ? absl::StrCat("/", method_name(*method)) : "",
                        threads > 1 ? absl::StrCat("/threads:", threads) : "");
  // The roof is the machine's, whatever --target says: always the best target.
  s.per_target = false;
  s.fixed_target = "best";
  s.threads = threads;
  s.bytes_per_op = static_cast<double>(kReadBytes);
  s.setup = [threads, method, name = s.name](const BenchmarkConfig&) -> absl::StatusOr<BatchFn> {
    std::shared_ptr<ThreadPool> pool;
    if (threads > 1) pool = std::make_shared<ThreadPool>(threads);
    auto buf = std::make_shared<ReadBuffer>(kReadBytes, pool.get(), threads);
    ReadMethod chosen;
    if (method) {
      chosen = *method;
    } else {
      chosen = fastest_method(*buf, pool.get(), threads);
      set_run_context(absl::StrCat(name, " reads as"), method_name(chosen));
    }
    return BatchFn([buf, pool, threads, chosen](uint64_t count) -> absl::Status {
      for (uint64_t c = 0; c < count; ++c) read_pass(*buf, pool.get(), threads, chosen);
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
  std::vector<size_t> thread_counts = {1};
  if (config.threads > 1) thread_counts.push_back(config.threads);
  for (size_t t : thread_counts) {
    out.push_back(read_spec(t, std::nullopt));
    if (!config.suite_option("read-methods").empty()) {
      for (const ReadMethod& m : kReadMethods) out.push_back(read_spec(t, m));
    }
  }
  out.push_back(triad_spec());
}

const bool registered = register_suite("bandwidth", add_bandwidth);
const bool methods_option = register_suite_option(
    {"read-methods", "", "also time each way of reading that the read probe chooses from", "", {}});

}  // namespace
}  // namespace llmk::bench
