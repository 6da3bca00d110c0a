// The seed's arena allocation (1 KiB + reset) and KV cache access (6 layers ×
// 256 positions × 384, pre-filled with 100 positions), plus one position's
// update + advance over all layers.
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "llmk/arena.h"
#include "llmk/bench.h"
#include "llmk/kv_cache.h"
#include "suites/suite_util.h"

namespace llmk::bench {
namespace {

constexpr size_t kLayers = 6, kCtx = 256, kDim = 384, kPrefilled = 100;

BenchmarkSpec arena_spec() {
  BenchmarkSpec s;
  s.name = "memory/arena/alloc_1KiB_reset";
  s.targets = {{"seed", 1000, 0}, {"ours", 5, 0}};
  s.setup = [](const BenchmarkConfig&) -> absl::StatusOr<BatchFn> {
    auto arena = std::make_shared<Arena>(size_t{1} << 20);
    return BatchFn([arena](uint64_t count) -> absl::Status {
      for (uint64_t i = 0; i < count; ++i) {
        const absl::StatusOr<void*> p = arena->alloc(1024, 64);
        if (!p.ok()) [[unlikely]] return p.status();
        do_not_optimize(*p);
        arena->reset();
      }
      return absl::OkStatus();
    });
  };
  return s;
}

absl::StatusOr<std::shared_ptr<KVCache>> prefilled_cache() {
  auto cache = KVCache::create(kLayers, kCtx, kDim);
  if (!cache.ok()) return cache.status();
  auto shared = std::make_shared<KVCache>(*std::move(cache));
  FloatBuffer k(kDim, 31), v(kDim, 32);
  for (size_t p = 0; p < kPrefilled; ++p) {
    for (size_t l = 0; l < kLayers; ++l) {
      if (absl::Status st = shared->update(l, k.cspan(), v.cspan()); !st.ok()) return st;
    }
    if (absl::Status st = shared->advance(); !st.ok()) return st;
  }
  return shared;
}

BenchmarkSpec kv_get_spec() {
  BenchmarkSpec s;
  s.name = "memory/kv_cache/get/6x256x384";
  s.targets = {{"seed", 1000, 0}, {"ours", 5, 0}};
  s.setup = [](const BenchmarkConfig&) -> absl::StatusOr<BatchFn> {
    auto cache = prefilled_cache();
    if (!cache.ok()) return cache.status();
    return BatchFn([cache = *cache](uint64_t count) -> absl::Status {
      for (uint64_t i = 0; i < count; ++i) {
        const KVCache::LayerView view = cache->get(i % kLayers);  // unchecked: nothing to fail
        do_not_optimize(view.keys.data());
        do_not_optimize(view.values.size());
      }
      return absl::OkStatus();
    });
  };
  return s;
}

BenchmarkSpec kv_update_spec() {
  BenchmarkSpec s;
  s.name = "memory/kv_cache/update_advance/6x384";
  s.bytes_per_op = 2.0 * kLayers * kDim * sizeof(float);
  s.setup = [](const BenchmarkConfig&) -> absl::StatusOr<BatchFn> {
    auto cache = prefilled_cache();
    if (!cache.ok()) return cache.status();
    auto k = std::make_shared<FloatBuffer>(kDim, 33), v = std::make_shared<FloatBuffer>(kDim, 34);
    return BatchFn([cache = *cache, k, v](uint64_t count) -> absl::Status {
      for (uint64_t i = 0; i < count; ++i) {
        if (cache->pos() + 1 >= kCtx) {  // stay in bounds
          const absl::Status st = cache->set_pos(kPrefilled);
          if (!st.ok()) [[unlikely]] return st;
        }
        for (size_t l = 0; l < kLayers; ++l) {
          const absl::Status st = cache->update(l, k->cspan(), v->cspan());
          if (!st.ok()) [[unlikely]] {
            return in_context(st, absl::StrCat("at position ", cache->pos()));
          }
        }
        const absl::Status st = cache->advance();
        if (!st.ok()) [[unlikely]] return st;
      }
      return absl::OkStatus();
    });
  };
  return s;
}

void add_memory(const BenchmarkConfig&, std::vector<BenchmarkSpec>& out) {
  out.push_back(arena_spec());
  out.push_back(kv_get_spec());
  out.push_back(kv_update_spec());
}

const bool registered = register_suite("memory", add_memory);

}  // namespace
}  // namespace llmk::bench
