// Arena: the out-of-line parts (construction, error reporting) and the
// process-wide LockedArena. The allocation fast path is inline in arena.h.
#include "llmk/arena.h"

#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"

namespace llmk {
namespace {

// Rounds the block up to whole alignment units (aligned_alloc requires it);
// nullptr when the rounding overflows or the allocation fails.
uint8_t* reserve_block(size_t capacity) {
  const size_t wanted = capacity == 0 ? 1 : capacity;
  if (wanted > SIZE_MAX - Arena::kMaxAlignment) return nullptr;
  const size_t rounded = (wanted + Arena::kMaxAlignment - 1) & ~(Arena::kMaxAlignment - 1);
  return static_cast<uint8_t*>(std::aligned_alloc(Arena::kMaxAlignment, rounded));
}

}  // namespace

Arena::Arena(size_t capacity) : base_(reserve_block(capacity)) {
  capacity_ = base_ != nullptr ? capacity : 0;
}

absl::StatusOr<Arena> Arena::create(size_t capacity) {
  Arena arena(capacity);
  if (arena.base_ == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat("Arena::create: cannot reserve capacity = ", capacity, " bytes"));
  }
  return arena;
}

Arena::~Arena() { std::free(base_); }

Arena::Arena(Arena&& other) noexcept
    : base_(std::exchange(other.base_, nullptr)),
      capacity_(std::exchange(other.capacity_, 0)),
      used_(std::exchange(other.used_, 0)),
      high_water_(std::exchange(other.high_water_, 0)),
      failure_(std::exchange(other.failure_, Failure::kNone)),
      failed_bytes_(other.failed_bytes_),
      failed_align_(other.failed_align_),
      failed_used_(other.failed_used_) {}

Arena& Arena::operator=(Arena&& other) noexcept {
  if (this != &other) {
    std::free(base_);
    base_ = std::exchange(other.base_, nullptr);
    capacity_ = std::exchange(other.capacity_, 0);
    used_ = std::exchange(other.used_, 0);
    high_water_ = std::exchange(other.high_water_, 0);
    failure_ = std::exchange(other.failure_, Failure::kNone);
    failed_bytes_ = other.failed_bytes_;
    failed_align_ = other.failed_align_;
    failed_used_ = other.failed_used_;
  }
  return *this;
}

void* Arena::fail(size_t bytes, size_t align) noexcept {
  if (align == 0 || align > kMaxAlignment || (align & (align - 1)) != 0) {
    failure_ = Failure::kBadAlignment;
  } else if (base_ == nullptr) {
    failure_ = Failure::kNoStorage;
  } else {
    failure_ = Failure::kExhausted;
  }
  failed_bytes_ = bytes;
  failed_align_ = align;
  failed_used_ = used_;
  return nullptr;
}

absl::Status Arena::alloc_error() const {
  switch (failure_) {
    case Failure::kNone:
      return absl::OkStatus();
    case Failure::kBadAlignment:
      return absl::InvalidArgumentError(
          absl::StrCat("Arena::alloc: align = ", failed_align_,
                       " is not a power of two between 1 and ", kMaxAlignment));
    case Failure::kNoStorage:
      return absl::ResourceExhaustedError(absl::StrCat(
          "Arena::alloc: the arena has no storage (its block could not be reserved or it "
          "was moved from); bytes = ",
          failed_bytes_));
    case Failure::kExhausted:
      break;
  }
  return absl::ResourceExhaustedError(
      absl::StrCat("Arena::alloc: bytes = ", failed_bytes_, " (align ", failed_align_,
                   ") does not fit: ", failed_used_, " of ", capacity_, " bytes used"));
}

absl::Status Arena::last_error() const { return alloc_error(); }

LockedArena::LockedArena(size_t capacity) : arena_(capacity) {}

LockedArena::Guard LockedArena::lock() { return Guard(mutex_, arena_); }

absl::StatusOr<void*> LockedArena::Guard::alloc(size_t bytes, size_t align) {
  return arena_->alloc(bytes, align);
}

void LockedArena::Guard::reset() { arena_->reset(); }

Arena& LockedArena::Guard::arena() { return *arena_; }

LockedArena& global_arena() {
  // Constructed on first use (thread-safe static), never destroyed, so
  // threads still running at exit cannot touch a destroyed mutex.
  static LockedArena* const instance = new LockedArena(size_t{64} << 20);
  return *instance;
}

}  // namespace llmk
