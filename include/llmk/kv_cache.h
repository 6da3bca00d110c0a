// Key/value cache for attention. Per sequence and layer, keys (and values)
// of positions 0…max_ctx−1 lie contiguously: [seq][layer][max_ctx][kv_dim],
// so attention reads them as one span without copying.
//
// Elements are f32 or IEEE binary16 (KvType): F16 halves the memory and the
// bytes attention reads per token, which dominate a token's time at long
// contexts; writes round to nearest even, as llama.cpp's F16 cache does.
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
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace llmk LLMK_API {

// Element type of cached keys and values.
enum class KvType : uint8_t {
  kF32,  // 4 bytes an element
  kF16,  // IEEE binary16, 2 bytes (llama.cpp's default, -ctk f16 -ctv f16)
};
// "f32" / "f16".
const char* kv_type_name(KvType type);
// The inverse of kv_type_name; InvalidArgumentError quoting `name` otherwise.
absl::StatusOr<KvType> parse_kv_type(std::string_view name);

class KVCache {
 public:
  // InvalidArgumentError for zero sizes or a total size that overflows.
  static absl::StatusOr<KVCache> create(size_t n_layers, size_t max_ctx, size_t kv_dim,
                                        size_t n_seqs = 1, KvType type = KvType::kF32);
  KVCache(KVCache&&) noexcept;
  KVCache& operator=(KVCache&&) noexcept;
  ~KVCache();

  // Writes k and v (kv_dim each) at the sequence's current position,
  // converted to the cache's type.
  absl::Status update(size_t layer, std::span<const float> k, std::span<const float> v,
                      size_t seq = 0);
  // Unchecked fast path of update() for the forward pass: elements
  // [first, first + k.size()) of position `pos`'s key and value rows (k and
  // v the same size), converted to the cache's type. layer, seq, pos <
  // max_ctx and the range must be valid.
  void write_rows(size_t layer, size_t pos, size_t seq, size_t first, std::span<const float> k,
                  std::span<const float> v);
  // Moves the sequence to the next position (OutOfRangeError at max_ctx).
  absl::Status advance(size_t seq = 0);

  // Copies position `pos` (< max_ctx) of a layer out as f32, whatever the
  // cache's type; OutOfRangeError / InvalidArgumentError as update().
  absl::Status read(size_t layer, size_t pos, std::span<float> k, std::span<float> v,
                    size_t seq = 0) const;

  // The f32 views and rows below exist for an F32 cache only: on an F16 one
  // get() is empty, at() a FailedPreconditionError and the row pointers null
  // (key_data/value_data reach its elements).
  struct LayerView {
    std::span<const float> keys;    // pos() × kv_dim, position-major
    std::span<const float> values;  // pos() × kv_dim
  };
  // Positions [0, pos()) of a layer; no copy. Unchecked fast path: layer and
  // seq must be valid (use at() for a checked version).
  LayerView get(size_t layer, size_t seq = 0) const {
    if (type_ != KvType::kF32) return {};
    const size_t offset = ((seq * n_layers_ + layer) * layer_elements_) * sizeof(float);
    const size_t n = pos_[seq] * kv_dim_;
    return LayerView{{reinterpret_cast<const float*>(keys_ + offset), n},
                     {reinterpret_cast<const float*>(values_ + offset), n}};
  }
  absl::StatusOr<LayerView> at(size_t layer, size_t seq = 0) const;

  // Writable rows for position `pos` (pos < max_ctx) — the forward pass
  // writes k and v there directly instead of copying (then calls advance()).
  // nullptr when layer, pos or seq is out of range.
  float* key_row(size_t layer, size_t pos, size_t seq = 0);
  float* value_row(size_t layer, size_t pos, size_t seq = 0);
  const float* key_rows(size_t layer, size_t seq = 0) const;    // position 0
  const float* value_rows(size_t layer, size_t seq = 0) const;  // position 0
  // The row of `pos` in the cache's own type (element_bytes() × kv_dim
  // bytes, rows of one layer and sequence contiguous), for any type; nullptr
  // when out of range.
  std::byte* key_data(size_t layer, size_t pos, size_t seq = 0);
  std::byte* value_data(size_t layer, size_t pos, size_t seq = 0);

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
  KvType type() const { return type_; }
  size_t element_bytes() const { return type_ == KvType::kF32 ? 4 : 2; }
  size_t bytes() const;  // bytes of key and value storage

 private:
  KVCache() = default;
  size_t n_layers_ = 0, max_ctx_ = 0, kv_dim_ = 0;
  KvType type_ = KvType::kF32;
  std::vector<size_t> pos_;
  size_t layer_elements_ = 0;  // max_ctx × kv_dim: one layer of one sequence
  std::byte* keys_ = nullptr;  // one aligned block holding keys then values
  std::byte* values_ = nullptr;
  size_t total_elements_ = 0;  // keys and values together
  size_t mapped_bytes_ = 0;    // length of the mapping that starts at keys_

  absl::Status check_index(const char* fn, size_t layer, size_t seq) const;
  size_t row_offset(size_t layer, size_t pos, size_t seq) const;  // in bytes
};

}  // namespace llmk
