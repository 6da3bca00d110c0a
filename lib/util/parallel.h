// Splitting a matrix's rows over the thread pool, shared by the f32 and the
// quantized matrix products.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "hwy/contrib/thread_pool/thread_pool.h"
#include "llmk/thread_pool.h"

namespace llmk::internal {

// Elements (rows × cols × batch) below which a matrix product stays on the
// calling thread: a fork/join costs more than the work it would share.
inline constexpr size_t kMinParallelElements = size_t{1} << 18;

// Calls fn(begin, end) over [0, rows) in blocks of a multiple of 24 rows (so
// a block splits neither a kInterleaved8 group nor an f32 tile of 6 or 12
// rows), about 8 per thread so work stealing evens out; inline on the
// calling thread when `work` (elements touched) is below
// kMinParallelElements or there is no pool. Each row is computed the same
// way whatever the split. Smaller blocks shorten the wait for the last one
// (docs/performance.md).
template <class Fn>
void for_row_blocks(size_t rows, size_t work, ThreadPool* pool, const Fn& fn) {
  const size_t threads = pool ? pool->num_threads() : 1;
  if (threads <= 1 || work < kMinParallelElements || rows < 8) {
    fn(0, rows);
    return;
  }
  constexpr size_t kRowUnit = 24;
  size_t block = (rows + threads * 8 - 1) / (threads * 8);
  block = (block + kRowUnit - 1) / kRowUnit * kRowUnit;
  const size_t tasks = (rows + block - 1) / block;
  pool->hwy_pool().Run(0, tasks, [&](uint64_t task, size_t) {
    const size_t begin = task * block;
    fn(begin, std::min(rows, begin + block));
  });
}

}  // namespace llmk::internal
