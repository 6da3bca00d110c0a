// Heap accounting for the tests that assert "allocates nothing" or "allocates
// at most this much": every block from operator new, malloc, calloc, realloc
// and the aligned forms (posix_memalign, aligned_alloc, memalign — Highway's
// AllocateAligned and the arena use these), from any thread and any library
// in the process. Link tests/alloc_counter.cc into the test binary.
//
// Plain builds replace the C allocation functions in the executable (glibc
// lets a program do so), forwarding to glibc's own (__libc_malloc …); the
// C++ operators reach them through libstdc++. Under AddressSanitizer and
// ThreadSanitizer, which own malloc and must not be replaced, the counts come
// from the sanitizer's malloc and free hooks, which see every block too.
#pragma once

#include <cstddef>
#include <cstdint>

namespace llmk::test {

// Blocks allocated since the program started (a realloc counts as one).
size_t heap_allocations();

// Bytes in blocks currently allocated (each block's usable size) above a
// baseline, and the most there have been since the last
// reset_peak_heap_bytes(); only differences between them mean anything.
int64_t live_heap_bytes();
int64_t peak_heap_bytes();
void reset_peak_heap_bytes();

// Blocks allocated while one of these is alive.
class AllocationCount {
 public:
  AllocationCount() : start_(heap_allocations()) {}
  size_t count() const { return heap_allocations() - start_; }

 private:
  size_t start_;
};

}  // namespace llmk::test
