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

struct ModelStorage {
  std::shared_ptr<const GgufFile> gguf;
  std::unique_ptr<Llama2cCheckpoint> llama2c;
  std::vector<AlignedBytes> buffers;  // converted or synthetic tensors

  // A zeroed, 64-byte aligned buffer owned by this storage (nullptr when the
  // allocation fails).
  uint8_t* allocate(size_t bytes);
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
