// A fixed pool of worker threads for data-parallel loops (matvec rows,
// attention heads). Wraps hwy::ThreadPool without exposing Highway types.
#pragma once

#include "llmk/export.h"

#include <cstddef>
#include <functional>
#include <memory>

namespace hwy {
class ThreadPool;
}

namespace llmk LLMK_API {

class ThreadPool {
 public:
  // num_threads counts the calling thread: 1 runs everything inline.
  explicit ThreadPool(size_t num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  size_t num_threads() const;

  // Runs fn(task, thread) for every task in [begin, end); returns when all
  // are done. thread < num_threads(). Not re-entrant.
  void parallel_for(size_t begin, size_t end,
                    const std::function<void(size_t task, size_t thread)>& fn);

  // The underlying pool, for library internals that avoid std::function.
  hwy::ThreadPool& hwy_pool();

 private:
  std::unique_ptr<hwy::ThreadPool> pool_;
};

}  // namespace llmk
