// A barrier for the threads of one parallel region (hwy::ThreadPool::Run with
// exactly one task per thread), so a token's whole forward pass can run as
// one region: a fork/join costs microseconds, crossing this a few hundred
// nanoseconds.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <thread>

#include "hwy/cache_control.h"

namespace llmk::internal {

class SpinBarrier {
 public:
  // Blocks until `parties` threads (all of the region's) have arrived.
  void arrive_and_wait(size_t parties) {
    if (parties <= 1) return;
    const uint32_t phase = phase_.load(std::memory_order_acquire);
    if (arrived_.fetch_add(1, std::memory_order_acq_rel) + 1 == parties) {
      arrived_.store(0, std::memory_order_relaxed);
      phase_.store(phase + 1, std::memory_order_release);
      return;
    }
    // Spin briefly (the usual wait is well under a microsecond), then yield
    // so that an oversubscribed machine still makes progress.
    for (uint32_t spins = 0; phase_.load(std::memory_order_acquire) == phase; ++spins) {
      if (spins < 4096) {
        hwy::Pause();
      } else {
        std::this_thread::yield();
      }
    }
  }

 private:
  alignas(64) std::atomic<size_t> arrived_{0};
  alignas(64) std::atomic<uint32_t> phase_{0};
};

}  // namespace llmk::internal
