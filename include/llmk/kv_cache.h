// Key/value cache for attention. Per sequence and layer, keys (and values)
// of positions 0…max_ctx−1 lie contiguously: [seq][layer][max_ctx][kv_dim],
// so attention reads them as one span without copying.
//
// Several independent sequences (batched generation) share one allocation;
// each has its own position. Writing past max_ctx is an error
// (OutOfRangeError): the generation loop stops there (it does not slide).
//
// The block is reserved with mmap, so it starts zeroed and pages are
// committed only as positions are written. Errors: a layer or seq index out
// of range and a position past max_ctx are OutOfRangeError; vectors of the
// wrong size and bad sizes at create() are InvalidArgumentError.
#pragma once

#include "llmk/export.h"

#include <cstddef>
#include <memory>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace llmk LLMK_API {

class KVCache {
 public:
  // InvalidArgumentError for zero sizes or a total size that overflows.
  static absl::StatusOr<KVCache> create(size_t n_layers, size_t max_ctx, size_t kv_dim,
                                        size_t n_seqs = 1);
  KVCache(KVCache&&) noexcept;
  KVCache& operator=(KVCache&&) noexcept;
  ~KVCache();

  // Writes k and v (kv_dim each) at the sequence's current position.
  absl::Status update(size_t layer, std::span<const float> k, std::span<const float> v,
                      size_t seq = 0);
  // Moves the sequence to the next position (OutOfRangeError at max_ctx).
  absl::Status advance(size_t seq = 0);

  struct LayerView {
    std::span<const float> keys;    // pos() × kv_dim, position-major
    std::span<const float> values;  // pos() × kv_dim
  };
  // Positions [0, pos()) of a layer; no copy. Unchecked fast path: layer and
  // seq must be valid (use at() for a checked version).
  LayerView get(size_t layer, size_t seq = 0) const {
    const size_t offset = (seq * n_layers_ + layer) * layer_floats_;
    const size_t n = pos_[seq] * kv_dim_;
    return LayerView{{keys_ + offset, n}, {values_ + offset, n}};
  }
  absl::StatusOr<LayerView> at(size_t layer, size_t seq = 0) const;

  // Writable rows for position `pos` (pos < max_ctx) — the forward pass
  // writes k and v there directly instead of copying (then calls advance()).
  // nullptr when layer, pos or seq is out of range.
  float* key_row(size_t layer, size_t pos, size_t seq = 0);
  float* value_row(size_t layer, size_t pos, size_t seq = 0);
  const float* key_rows(size_t layer, size_t seq = 0) const;    // position 0
  const float* value_rows(size_t layer, size_t seq = 0) const;  // position 0

  size_t pos(size_t seq = 0) const { return pos_[seq]; }  // unchecked seq
  absl::Status set_pos(size_t pos, size_t seq = 0);  // pos ≤ max_ctx
  void clear();                                      // every sequence to 0
  void clear(size_t seq);                            // ignores seq ≥ n_seqs()
  // Keeps the first n positions (n ≤ pos(), else OutOfRangeError), e.g. to
  // rewind a conversation; the rows beyond are overwritten by later updates.
  absl::Status truncate(size_t n, size_t seq = 0);

  size_t n_layers() const { return n_layers_; }
  size_t max_ctx() const { return max_ctx_; }
  size_t kv_dim() const { return kv_dim_; }
  size_t n_seqs() const { return pos_.size(); }
  size_t bytes() const;  // bytes of key and value storage

 private:
  KVCache() = default;
  size_t n_layers_ = 0, max_ctx_ = 0, kv_dim_ = 0;
  std::vector<size_t> pos_;
  size_t layer_floats_ = 0;  // max_ctx × kv_dim: one layer of one sequence
  float* keys_ = nullptr;    // one aligned block holding keys then values
  float* values_ = nullptr;
  size_t total_floats_ = 0;  // keys and values together
  size_t mapped_bytes_ = 0;  // length of the mapping that starts at keys_

  absl::Status check_index(const char* fn, size_t layer, size_t seq) const;
};

}  // namespace llmk
