#include "alloc_counter.h"

#include <malloc.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdlib>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define LLMK_TEST_SANITIZER_ALLOCATOR 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define LLMK_TEST_SANITIZER_ALLOCATOR 1
#endif
#endif

namespace {

// Constant-initialized: the dynamic loader and libc's start-up allocate
// before any constructor runs. Live bytes are signed: under a sanitizer,
// blocks allocated before the hooks were installed are freed with them, so
// the count may go below zero; only differences mean anything.
std::atomic<size_t> g_allocations{0};
std::atomic<int64_t> g_live_bytes{0};
std::atomic<int64_t> g_peak_bytes{0};

void note_allocation(size_t size) {
  const auto bytes = static_cast<int64_t>(size);
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  const int64_t live = g_live_bytes.fetch_add(bytes, std::memory_order_relaxed) + bytes;
  int64_t peak = g_peak_bytes.load(std::memory_order_relaxed);
  while (live > peak &&
         !g_peak_bytes.compare_exchange_weak(peak, live, std::memory_order_relaxed)) {
  }
}

void note_free(size_t size) {
  g_live_bytes.fetch_sub(static_cast<int64_t>(size), std::memory_order_relaxed);
}

}  // namespace

#ifdef LLMK_TEST_SANITIZER_ALLOCATOR

// The sanitizer runtimes' hook API (sanitizer/allocator_interface.h, which
// GCC does not install). GCC 12's ThreadSanitizer runs no hooks for
// posix_memalign and aligned_alloc, so under it those blocks go uncounted;
// plain and AddressSanitizer builds count them.
extern "C" {
int __sanitizer_install_malloc_and_free_hooks(void (*malloc_hook)(const volatile void*, size_t),
                                              void (*free_hook)(const volatile void*));
size_t __sanitizer_get_allocated_size(const volatile void* p);
}

namespace {

void malloc_hook(const volatile void*, size_t size) { note_allocation(size); }
// Runs before the block is released, so its size can still be asked.
void free_hook(const volatile void* p) {
  if (p) note_free(__sanitizer_get_allocated_size(p));
}

// Installed before main, so every test sees the hooks.
[[maybe_unused]] const int g_hooks_installed = __sanitizer_install_malloc_and_free_hooks(malloc_hook, free_hook);

}  // namespace

#else  // glibc's allocator, replaced by forwarding functions

extern "C" {
void* __libc_malloc(size_t size);
void* __libc_calloc(size_t count, size_t size);
void* __libc_realloc(void* p, size_t size);
void* __libc_memalign(size_t alignment, size_t size);
void* __libc_valloc(size_t size);
void* __libc_pvalloc(size_t size);
void __libc_free(void* p);

namespace {
void* noted(void* p) {
  if (p) note_allocation(malloc_usable_size(p));
  return p;
}
}  // namespace

void* malloc(size_t size) noexcept { return noted(__libc_malloc(size)); }
void* calloc(size_t count, size_t size) noexcept { return noted(__libc_calloc(count, size)); }
void free(void* p) noexcept {
  if (p) note_free(malloc_usable_size(p));
  __libc_free(p);
}
void* realloc(void* p, size_t size) noexcept {
  const size_t old_bytes = p ? malloc_usable_size(p) : 0;
  void* q = __libc_realloc(p, size);
  // realloc(p, 0) frees p and may return null; a failed realloc keeps p.
  if (q || size == 0) note_free(old_bytes);
  return noted(q);
}
void* reallocarray(void* p, size_t count, size_t size) noexcept {
  size_t bytes;
  if (__builtin_mul_overflow(count, size, &bytes)) {
    errno = ENOMEM;
    return nullptr;
  }
  return realloc(p, bytes);
}
void* memalign(size_t alignment, size_t size) noexcept { return noted(__libc_memalign(alignment, size)); }
void* aligned_alloc(size_t alignment, size_t size) noexcept { return memalign(alignment, size); }
int posix_memalign(void** out, size_t alignment, size_t size) noexcept {
  if (alignment % sizeof(void*) != 0 || (alignment & (alignment - 1)) != 0) return EINVAL;
  void* p = memalign(alignment, size);
  if (!p) return ENOMEM;
  *out = p;
  return 0;
}
void* valloc(size_t size) noexcept { return noted(__libc_valloc(size)); }
void* pvalloc(size_t size) noexcept { return noted(__libc_pvalloc(size)); }
}  // extern "C"

#endif  // LLMK_TEST_SANITIZER_ALLOCATOR

namespace llmk::test {

size_t heap_allocations() { return g_allocations.load(std::memory_order_relaxed); }
int64_t live_heap_bytes() { return g_live_bytes.load(std::memory_order_relaxed); }
int64_t peak_heap_bytes() { return g_peak_bytes.load(std::memory_order_relaxed); }
void reset_peak_heap_bytes() { g_peak_bytes.store(live_heap_bytes(), std::memory_order_relaxed); }

}  // namespace llmk::test
