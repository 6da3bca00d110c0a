// Arena and LockedArena: alignment, exhaustion, reuse after reset/rewind,
// no overlap, misuse errors, and concurrent use of the locked instance.
#include "llmk/arena.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <thread>
#include <utility>
#include <vector>

#include "doctest/doctest.h"

namespace llmk {
namespace {

uintptr_t addr(const void* p) { return reinterpret_cast<uintptr_t>(p); }

struct Block {
  uint8_t* p;
  size_t bytes;
};

// Every block lies inside [lo, lo + capacity) and no two intersect.
void check_disjoint_within(std::vector<Block> blocks, uintptr_t lo, size_t capacity) {
  std::sort(blocks.begin(), blocks.end(),
            [](const Block& a, const Block& b) { return a.p < b.p; });
  for (size_t i = 0; i < blocks.size(); ++i) {
    CHECK(addr(blocks[i].p) >= lo);
    CHECK(addr(blocks[i].p) + blocks[i].bytes <= lo + capacity);
    if (i > 0) CHECK(addr(blocks[i - 1].p) + blocks[i - 1].bytes <= addr(blocks[i].p));
  }
}

TEST_CASE("arena: every pointer is aligned, inside the block and disjoint") {
  Arena arena(1 << 20);
  REQUIRE(arena.capacity() == (1u << 20));
  REQUIRE(arena.used() == 0);
  auto first = arena.alloc(1, 1);
  REQUIRE(first.ok());
  const uintptr_t base = addr(*first);
  CHECK(base % Arena::kMaxAlignment == 0);

  std::vector<Block> blocks{{static_cast<uint8_t*>(*first), 1}};
  const size_t sizes[] = {1, 3, 7, 16, 17, 100, 1000, 4095};
  uint8_t tag = 1;
  for (size_t align = 1; align <= Arena::kMaxAlignment; align *= 2) {
    for (size_t bytes : sizes) {
      auto p = arena.alloc(bytes, align);
      REQUIRE(p.ok());
      INFO("bytes = " << bytes << ", align = " << align);
      CHECK(addr(*p) % align == 0);
      std::memset(*p, tag, bytes);
      blocks.push_back({static_cast<uint8_t*>(*p), bytes});
      ++tag;
    }
  }
  check_disjoint_within(blocks, base, arena.capacity());
  // No later allocation overwrote an earlier one.
  for (size_t i = 1; i < blocks.size(); ++i) {
    const uint8_t want = static_cast<uint8_t>(i);
    CHECK(std::all_of(blocks[i].p, blocks[i].p + blocks[i].bytes,
                      [want](uint8_t b) { return b == want; }));
  }
  CHECK(arena.used() <= arena.capacity());
  CHECK(arena.high_water() == arena.used());
}

TEST_CASE("arena: default alignment and typed arrays") {
  Arena arena(4096);
  auto p = arena.alloc(3);
  REQUIRE(p.ok());
  auto q = arena.alloc(5);
  REQUIRE(q.ok());
  CHECK(addr(*q) % alignof(std::max_align_t) == 0);
  auto d = arena.alloc_array<double>(10);
  REQUIRE(d.ok());
  CHECK(addr(*d) % alignof(double) == 0);
  auto f = arena.alloc_array<float>(16, 64);
  REQUIRE(f.ok());
  CHECK(addr(*f) % 64 == 0);
  CHECK(addr(*f) >= addr(*d) + 10 * sizeof(double));
}

TEST_CASE("arena: zero-byte requests give a valid aligned pointer") {
  Arena arena(256);
  auto a = arena.alloc(0, 64);
  REQUIRE(a.ok());
  CHECK(*a != nullptr);
  CHECK(addr(*a) % 64 == 0);
  Arena empty(0);
  auto b = empty.alloc(0, 16);
  REQUIRE(b.ok());
  CHECK(*b != nullptr);
  CHECK(empty.alloc(1, 1).status().code() == absl::StatusCode::kResourceExhausted);
}

TEST_CASE("arena: exhaustion is an error and leaves the arena usable") {
  Arena arena(1000);
  REQUIRE(arena.alloc(600, 8).ok());
  const size_t used = arena.used();
  auto too_big = arena.alloc(401, 8);
  CHECK(too_big.status().code() == absl::StatusCode::kResourceExhausted);
  CHECK(arena.used() == used);
  // Exactly the rest fits.
  auto rest = arena.alloc(arena.capacity() - arena.used(), 1);
  REQUIRE(rest.ok());
  CHECK(arena.used() == arena.capacity());
  CHECK(arena.alloc(1, 1).status().code() == absl::StatusCode::kResourceExhausted);

  // Sizes near SIZE_MAX must not wrap around into a "fit".
  arena.reset();
  REQUIRE(arena.alloc(8, 8).ok());
  for (size_t huge : {SIZE_MAX, SIZE_MAX - 7, SIZE_MAX - 4096, SIZE_MAX / 2}) {
    CHECK(arena.alloc(huge, 8).status().code() == absl::StatusCode::kResourceExhausted);
    CHECK(arena.alloc(huge, 4096).status().code() == absl::StatusCode::kResourceExhausted);
  }
  CHECK(arena.used() == 8);
  // Alignment padding that no longer fits is also exhaustion.
  Arena small(100);
  REQUIRE(small.alloc(1, 1).ok());
  CHECK(small.alloc(0, 128).status().code() == absl::StatusCode::kResourceExhausted);
}

TEST_CASE("arena: bad alignment is InvalidArgument") {
  Arena arena(8192);
  for (size_t align : {size_t{0}, size_t{3}, size_t{6}, size_t{48}, size_t{4097}, size_t{8192},
                       SIZE_MAX, size_t{1} << 63}) {
    INFO("align = " << align);
    auto r = arena.alloc(16, align);
    CHECK(r.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(arena.try_alloc(16, align) == nullptr);
    CHECK(arena.last_error().code() == absl::StatusCode::kInvalidArgument);
  }
  CHECK(arena.used() == 0);
}

TEST_CASE("arena: try_alloc reports the reason through last_error") {
  Arena arena(128);
  CHECK(arena.last_error().ok());
  void* p = arena.try_alloc(64, 64);
  REQUIRE(p != nullptr);
  CHECK(addr(p) % 64 == 0);
  CHECK(arena.try_alloc(100, 8) == nullptr);
  CHECK(arena.last_error().code() == absl::StatusCode::kResourceExhausted);
  CHECK(arena.try_alloc(8, 5) == nullptr);
  CHECK(arena.last_error().code() == absl::StatusCode::kInvalidArgument);
  CHECK(arena.last_error().message().find("align = 5") != std::string::npos);
}

TEST_CASE("arena: alloc_array misuse") {
  Arena arena(4096);
  CHECK(arena.alloc_array<uint64_t>(SIZE_MAX / 4).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(arena.alloc_array<double>(4, 4).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(arena.alloc_array<float>(4, 3).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(arena.alloc_array<float>(2000).status().code() == absl::StatusCode::kResourceExhausted);
  CHECK(arena.used() == 0);
}

TEST_CASE("arena: reset and rewind reuse the same addresses") {
  Arena arena(1 << 16);
  auto run = [&arena] {
    std::vector<void*> out;
    for (size_t i = 1; i <= 20; ++i) {
      auto p = arena.alloc(i * 13, size_t{1} << (i % 8));
      REQUIRE(p.ok());
      out.push_back(*p);
    }
    return out;
  };
  const std::vector<void*> first = run();
  const size_t used_first = arena.used();
  arena.reset();
  CHECK(arena.used() == 0);
  CHECK(run() == first);

  arena.reset();
  REQUIRE(arena.alloc(100, 8).ok());
  const Arena::Mark m = arena.mark();
  const std::vector<void*> after_mark = run();
  const size_t used_after = arena.used();
  arena.rewind(m);
  CHECK(arena.used() == m.offset);
  CHECK(run() == after_mark);
  CHECK(arena.used() == used_after);
  CHECK(arena.high_water() >= std::max(used_first, used_after));

  // A mark above used() is ignored: rewind never hands out freed memory again
  // as if it were still allocated.
  const Arena::Mark high = arena.mark();
  arena.rewind(m);
  arena.rewind(high);
  CHECK(arena.used() == m.offset);
}

TEST_CASE("arena: high water survives reset") {
  Arena arena(4096);
  REQUIRE(arena.alloc(1000, 1).ok());
  arena.reset();
  REQUIRE(arena.alloc(10, 1).ok());
  CHECK(arena.high_water() == 1000);
  REQUIRE(arena.alloc(2000, 1).ok());
  CHECK(arena.high_water() == 2010);
}

TEST_CASE("arena: Scope rewinds on exit") {
  Arena arena(4096);
  REQUIRE(arena.alloc(64, 8).ok());
  void* inside = nullptr;
  {
    Arena::Scope scope(arena);
    auto p = arena.alloc(128, 8);
    REQUIRE(p.ok());
    inside = *p;
    CHECK(arena.used() == 192);
  }
  CHECK(arena.used() == 64);
  auto again = arena.alloc(128, 8);
  REQUIRE(again.ok());
  CHECK(*again == inside);
}

TEST_CASE("arena: create, move and a block that cannot be reserved") {
  auto created = Arena::create(1024);
  REQUIRE(created.ok());
  Arena a = std::move(*created);
  REQUIRE(a.alloc(100, 4).ok());
  Arena b = std::move(a);
  CHECK(b.used() == 100);
  CHECK(b.capacity() == 1024);
  CHECK(a.capacity() == 0);  // NOLINT(bugprone-use-after-move): documented empty state
  CHECK(a.alloc(0, 1).status().code() == absl::StatusCode::kResourceExhausted);
  Arena c(16);
  c = std::move(b);
  CHECK(c.used() == 100);

  CHECK(Arena::create(SIZE_MAX).status().code() == absl::StatusCode::kResourceExhausted);
  Arena none(SIZE_MAX);
  CHECK(none.capacity() == 0);
  auto r = none.alloc(8, 8);
  CHECK(r.status().code() == absl::StatusCode::kResourceExhausted);
}

TEST_CASE("locked arena: concurrent allocations from several threads never overlap") {
  constexpr size_t kThreads = 4, kPerThread = 500, kBytes = 40;
  LockedArena locked(kThreads * kPerThread * 64);
  std::vector<std::vector<Block>> got(kThreads);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < kThreads; ++t) {
    threads.emplace_back([&locked, &got, t] {
      for (size_t i = 0; i < kPerThread; ++i) {
        void* p = nullptr;
        {
          auto guard = locked.lock();
          auto r = guard.alloc(kBytes, 64);
          if (!r.ok()) return;
          p = *r;
        }
        // Written outside the lock: the block belongs to this thread alone.
        std::memset(p, static_cast<int>(t + 1), kBytes);
        got[t].push_back({static_cast<uint8_t*>(p), kBytes});
      }
    });
  }
  for (auto& th : threads) th.join();

  std::vector<Block> all;
  for (size_t t = 0; t < kThreads; ++t) {
    REQUIRE(got[t].size() == kPerThread);
    for (const Block& b : got[t]) {
      CHECK(addr(b.p) % 64 == 0);
      const uint8_t want = static_cast<uint8_t>(t + 1);
      CHECK(std::all_of(b.p, b.p + b.bytes, [want](uint8_t x) { return x == want; }));
      all.push_back(b);
    }
  }
  auto guard = locked.lock();
  CHECK(guard.arena().used() == kThreads * kPerThread * 64 - (64 - kBytes));
  const uintptr_t lo = addr(std::min_element(all.begin(), all.end(), [](auto& x, auto& y) {
                              return x.p < y.p;
                            })->p);
  check_disjoint_within(all, lo, guard.arena().capacity());
  guard.reset();
  CHECK(guard.arena().used() == 0);
}

TEST_CASE("global arena: lock, allocate, reset from several threads") {
  LockedArena& g1 = global_arena();
  CHECK(&g1 == &global_arena());
  {
    auto guard = g1.lock();
    CHECK(guard.arena().capacity() == (size_t{64} << 20));
  }
  constexpr int kThreads = 4, kRounds = 200;
  std::vector<int> failures(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&failures, t] {
      for (int i = 0; i < kRounds; ++i) {
        auto guard = global_arena().lock();
        guard.reset();
        auto r = guard.alloc(256, 32);
        if (!r.ok()) {
          ++failures[t];
          continue;
        }
        // While the lock is held nobody else may touch the arena: the
        // pattern must survive until we check it.
        std::memset(*r, t + 1, 256);
        std::this_thread::yield();
        const auto* bytes = static_cast<const uint8_t*>(*r);
        if (!std::all_of(bytes, bytes + 256, [t](uint8_t b) { return b == t + 1; }) ||
            guard.arena().used() != 256) {
          ++failures[t];
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) CHECK(failures[t] == 0);
  global_arena().lock().reset();
}

}  // namespace
}  // namespace llmk
