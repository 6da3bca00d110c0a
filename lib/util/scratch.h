// A grow-only aligned buffer for per-call scratch space (packed or
// re-laid-out activations): kept between calls, so once it has grown to a
// call's size the kernels allocate nothing more.
#pragma once

#include <cstddef>

#include "hwy/aligned_allocator.h"

namespace llmk::internal {

template <class T>
class ScratchBuffer {
 public:
  // Room for at least n elements (contents not kept when it grows), or null
  // if they cannot be allocated.
  T* get(size_t n) {
    if (n > capacity_) {
      data_ = hwy::AllocateAligned<T>(n);
      capacity_ = data_ ? n : 0;
    }
    return data_.get();
  }

 private:
  hwy::AlignedFreeUniquePtr<T[]> data_;
  size_t capacity_ = 0;
};

}  // namespace llmk::internal
