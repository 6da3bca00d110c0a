// Bump allocators for scratch memory: one aligned block, O(1) allocation,
// reset and rewind to a mark. A full arena or a bad alignment is reported as
// an error (absl::StatusOr), never undefined behaviour.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>

#include "absl/status/statusor.h"

namespace llmk {

class Arena {
 public:
  static constexpr size_t kMaxAlignment = 4096;

  // Reserves `capacity` bytes (aligned to 4096) up front.
  explicit Arena(size_t capacity);
  ~Arena();
  Arena(Arena&&) noexcept;
  Arena& operator=(Arena&&) noexcept;
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  // `bytes` bytes aligned to `align` (a power of two ≤ 4096).
  // ResourceExhaustedError when it does not fit, InvalidArgumentError for a
  // bad alignment. A zero-byte request returns a valid, aligned pointer.
  absl::StatusOr<void*> alloc(size_t bytes, size_t align = alignof(std::max_align_t));
  template <class T>
  absl::StatusOr<T*> alloc_array(size_t count, size_t align = alignof(T));

  struct Mark {
    size_t offset;
  };
  Mark mark() const { return Mark{used_}; }
  void rewind(Mark m);  // frees everything allocated after m
  void reset() { used_ = 0; }

  size_t used() const { return used_; }
  size_t capacity() const { return capacity_; }
  size_t high_water() const { return high_water_; }

 private:
  uint8_t* base_ = nullptr;
  size_t capacity_ = 0;
  size_t used_ = 0;
  size_t high_water_ = 0;
};

// A process-wide arena behind a mutex: `auto g = global_arena().lock();
// g.alloc(...)`; the guard holds the lock for its lifetime.
class LockedArena {
 public:
  explicit LockedArena(size_t capacity);
  class Guard {
   public:
    absl::StatusOr<void*> alloc(size_t bytes, size_t align = alignof(std::max_align_t));
    void reset();
    Arena& arena();
   private:
    friend class LockedArena;
    Guard(std::mutex& m, Arena& a) : lock_(m), arena_(&a) {}
    std::unique_lock<std::mutex> lock_;
    Arena* arena_;
  };
  Guard lock();

 private:
  std::mutex mutex_;
  Arena arena_;
};

// The process-wide instance (64 MiB, created on first use).
LockedArena& global_arena();

}  // namespace llmk
