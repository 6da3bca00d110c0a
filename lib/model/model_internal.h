// Internals of lib/model shared by the loaders, the synthetic builder and the
// forward pass.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "llmk/gguf.h"
#include "llmk/llama2c.h"
#include "llmk/model.h"

namespace llmk {

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
using AlignedBytes = std::unique_ptr<uint8_t, FreeDeleter>;

// Weights are streamed from DRAM once per token, so a buffer of at least
// 2 MiB is 2 MiB aligned and advised for transparent huge pages: a matrix
// then costs the TLB one entry per 2 MiB rather than one per 4 KiB. Smaller
// ones are 64-byte aligned. Null when out of memory (or when the size
// overflows). Not zeroed.
AlignedBytes allocate_weight_buffer(size_t bytes);

struct ModelStorage {
  std::shared_ptr<const GgufFile> gguf;
  std::unique_ptr<Llama2cCheckpoint> llama2c;
  std::vector<AlignedBytes> buffers;  // slabs of converted or synthetic tensors

  // A zeroed, 64-byte aligned buffer owned by this storage (nullptr when the
  // allocation fails), carved from a slab made by allocate_weight_buffer: a
  // model's many small matrices (a stories15M layer's are 0.3–0.9 MB) then
  // share huge pages too, which saves TLB misses on every token (stories15M
  // F32 tg64 +4.5% against a buffer per tensor; docs/performance.md).
  uint8_t* allocate(size_t bytes);
  static constexpr size_t kMinSlabBytes = size_t{64} << 10;
  static constexpr size_t kMaxSlabBytes = size_t{32} << 20;

 private:
  uint8_t* slab_next_ = nullptr;  // the unused tail of the newest slab
  size_t slab_left_ = 0;
  size_t slab_bytes_ = 0;  // all slabs so far
};

namespace internal {

// Applies LoadConfig's type rules to one weight matrix, allocating the
// converted copy in `storage` when needed.
absl::StatusOr<WeightView> convert_matrix(const WeightView& w, const LoadConfig& config,
                                          ModelStorage& storage);

// Checks a config's sizes against the kMaxModel* bounds and divisibility.
absl::Status validate_config(const ModelConfig& c);

}  // namespace internal
}  // namespace llmk
