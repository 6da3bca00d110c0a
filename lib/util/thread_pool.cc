#include "llmk/thread_pool.h"

#include <algorithm>

#include "hwy/contrib/thread_pool/thread_pool.h"

namespace llmk {

ThreadPool::ThreadPool(size_t num_threads)
    : pool_(std::make_unique<hwy::ThreadPool>(std::max<size_t>(num_threads, 1))) {
  // One empty run wakes every worker, so each thread's one-time start-up
  // (its stack, TLS and the runtime's per-thread state) is over when the pool
  // is constructed rather than during whatever runs first.
  pool_->Run(0, pool_->NumWorkers(), [](uint64_t, size_t) {});
}

ThreadPool::~ThreadPool() = default;

size_t ThreadPool::num_threads() const { return pool_->NumWorkers(); }

void ThreadPool::parallel_for(size_t begin, size_t end,
                              const std::function<void(size_t, size_t)>& fn) {
  if (begin >= end) return;
  pool_->Run(begin, end, [&fn](uint64_t task, size_t thread) {
    fn(static_cast<size_t>(task), thread);
  });
}

hwy::ThreadPool& ThreadPool::hwy_pool() { return *pool_; }

}  // namespace llmk
