// Bump allocators for scratch memory: one aligned block, O(1) allocation,
// reset and rewind to a mark. A full arena or a bad alignment is reported as
// an error (absl::StatusOr, or nullptr plus last_error() from try_alloc),
// never undefined behaviour.
//
// Arena is not thread-safe: use one per thread or per context (the forward
// pass owns one, so a token allocates nothing from the heap), or the
// LockedArena below. Memory handed out is not zeroed.
#pragma once

#include "llmk/export.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace llmk LLMK_API {

class Arena {
 public:
  static constexpr size_t kMaxAlignment = 4096;

  // Reserves `capacity` bytes up front in a block aligned to kMaxAlignment.
  // If the block cannot be reserved the arena is empty (capacity() == 0) and
  // every allocation fails with ResourceExhaustedError; create() reports that
  // failure instead.
  explicit Arena(size_t capacity);
  static absl::StatusOr<Arena> create(size_t capacity);
  ~Arena();
  Arena(Arena&&) noexcept;  // the moved-from arena is empty
  Arena& operator=(Arena&&) noexcept;
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  // `bytes` bytes aligned to `align` (a power of two ≤ 4096).
  // ResourceExhaustedError when it does not fit, InvalidArgumentError for a
  // bad alignment. A zero-byte request returns a valid, aligned pointer.
  absl::StatusOr<void*> alloc(size_t bytes, size_t align = alignof(std::max_align_t));

  // The same without a StatusOr: nullptr on failure, the reason in
  // last_error(). For hot loops; inlined, a few instructions.
  void* try_alloc(size_t bytes, size_t align = alignof(std::max_align_t)) noexcept;

  // Why the most recent failed try_alloc/alloc failed (OK if none has).
  absl::Status last_error() const;

  // `count` objects of T (not constructed). InvalidArgumentError when
  // count·sizeof(T) overflows or `align` is below alignof(T).
  template <class T>
  absl::StatusOr<T*> alloc_array(size_t count, size_t align = alignof(T));

  struct Mark {
    size_t offset;
  };
  Mark mark() const { return Mark{used_}; }
  // Frees everything allocated after `m`; the next allocations reuse the
  // same addresses. A mark above used() (its memory was already released by
  // an earlier rewind or reset) is ignored: rewind never grows the arena.
  void rewind(Mark m) {
    if (m.offset <= used_) {
      note_high_water();
      used_ = m.offset;
    }
  }
  void reset() {
    note_high_water();
    used_ = 0;
  }

  size_t used() const { return used_; }
  size_t capacity() const { return capacity_; }
  // The largest used() ever reached (reset and rewind do not lower it).
  size_t high_water() const { return used_ > high_water_ ? used_ : high_water_; }

  // Rewinds to the mark taken at construction when it goes out of scope:
  // `{ Arena::Scope s(arena); ... scratch allocations ... }`.
  class Scope {
   public:
    explicit Scope(Arena& a) : arena_(a), mark_(a.mark()) {}
    ~Scope() { arena_.rewind(mark_); }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    Arena& arena_;
    Mark mark_;
  };

 private:
  enum class Failure : uint8_t { kNone, kBadAlignment, kExhausted, kNoStorage };

  // The high-water mark is folded in when used() goes down, which keeps the
  // allocation fast path free of it.
  void note_high_water() {
    if (used_ > high_water_) high_water_ = used_;
  }
  // Records why (bytes, align) failed and returns nullptr; kept out of line.
  void* fail(size_t bytes, size_t align) noexcept;
  absl::Status alloc_error() const;

  uint8_t* base_ = nullptr;
  size_t capacity_ = 0;
  size_t used_ = 0;
  size_t high_water_ = 0;
  Failure failure_ = Failure::kNone;
  size_t failed_bytes_ = 0, failed_align_ = 0, failed_used_ = 0;
};

inline void* Arena::try_alloc(size_t bytes, size_t align) noexcept {
  // base_ is aligned to kMaxAlignment, so aligning the offset aligns the
  // pointer. used_ ≤ capacity_ < SIZE_MAX − 4096, so the round-up cannot wrap,
  // and `bytes` is compared against the room left rather than added.
  const bool align_ok = align - 1 < kMaxAlignment && (align & (align - 1)) == 0;
  const size_t start = (used_ + align - 1) & ~(align - 1);
  if (!align_ok || start > capacity_ || bytes > capacity_ - start || base_ == nullptr)
      [[unlikely]] {
    return fail(bytes, align);
  }
  used_ = start + bytes;
  return base_ + start;
}

inline absl::StatusOr<void*> Arena::alloc(size_t bytes, size_t align) {
  if (void* p = try_alloc(bytes, align)) [[likely]] {
    return p;
  }
  return alloc_error();
}

template <class T>
absl::StatusOr<T*> Arena::alloc_array(size_t count, size_t align) {
  size_t bytes = 0;
  if (__builtin_mul_overflow(count, sizeof(T), &bytes)) {
    return absl::InvalidArgumentError("Arena::alloc_array: count × sizeof(T) overflows");
  }
  if (align < alignof(T)) {
    return absl::InvalidArgumentError(
        "Arena::alloc_array: align is below the alignment of the element type");
  }
  absl::StatusOr<void*> p = alloc(bytes, align);
  if (!p.ok()) return p.status();
  return static_cast<T*>(*p);
}

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
