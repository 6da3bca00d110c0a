// KVCache: one anonymous mapping laid out as keys[seq][layer][max_ctx][kv_dim]
// followed by values in the same layout.
#include "llmk/kv_cache.h"

#include <sys/mman.h>

#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "util/check.h"

namespace llmk {

absl::StatusOr<KVCache> KVCache::create(size_t n_layers, size_t max_ctx, size_t kv_dim,
                                        size_t n_seqs) {
  if (n_layers == 0 || max_ctx == 0 || kv_dim == 0 || n_seqs == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "KVCache::create: every size must be positive (n_layers = ", n_layers,
        ", max_ctx = ", max_ctx, ", kv_dim = ", kv_dim, ", n_seqs = ", n_seqs, ")"));
  }
  // Values start on a 64-byte boundary after the keys (kValuesAlignFloats).
  constexpr size_t kValuesAlignFloats = 16;
  size_t layer_floats = 0, seq_floats = 0, half_floats = 0, padded_half = 0, mapped_floats = 0,
         bytes = 0;
  if (!internal::checked_mul(max_ctx, kv_dim, &layer_floats) ||
      !internal::checked_mul(layer_floats, n_layers, &seq_floats) ||
      !internal::checked_mul(seq_floats, n_seqs, &half_floats) ||
      !internal::checked_add(half_floats, kValuesAlignFloats - 1, &padded_half) ||
      !internal::checked_add(padded_half & ~(kValuesAlignFloats - 1), half_floats,
                             &mapped_floats) ||
      !internal::checked_mul(mapped_floats, sizeof(float), &bytes)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "KVCache::create: n_layers × max_ctx × kv_dim × n_seqs × 2 floats overflows (n_layers = ",
        n_layers, ", max_ctx = ", max_ctx, ", kv_dim = ", kv_dim, ", n_seqs = ", n_seqs, ")"));
  }
  // mmap rather than an aligned heap block: the pages start zeroed and are
  // committed lazily, so a long max_ctx costs only what is written.
  void* block = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (block == MAP_FAILED) {
    return absl::ResourceExhaustedError(
        absl::StrCat("KVCache::create: cannot reserve ", bytes, " bytes"));
  }
  KVCache cache;
  cache.n_layers_ = n_layers;
  cache.max_ctx_ = max_ctx;
  cache.kv_dim_ = kv_dim;
  cache.pos_.assign(n_seqs, 0);
  cache.layer_floats_ = layer_floats;
  cache.keys_ = static_cast<float*>(block);
  cache.values_ = cache.keys_ + (padded_half & ~(kValuesAlignFloats - 1));
  cache.total_floats_ = 2 * half_floats;  // cannot overflow: mapped_floats did not
  cache.mapped_bytes_ = bytes;
  return cache;
}

KVCache::KVCache(KVCache&& other) noexcept
    : n_layers_(std::exchange(other.n_layers_, 0)),
      max_ctx_(std::exchange(other.max_ctx_, 0)),
      kv_dim_(std::exchange(other.kv_dim_, 0)),
      pos_(std::move(other.pos_)),
      layer_floats_(std::exchange(other.layer_floats_, 0)),
      keys_(std::exchange(other.keys_, nullptr)),
      values_(std::exchange(other.values_, nullptr)),
      total_floats_(std::exchange(other.total_floats_, 0)),
      mapped_bytes_(std::exchange(other.mapped_bytes_, 0)) {
  other.pos_.clear();
}

KVCache& KVCache::operator=(KVCache&& other) noexcept {
  if (this != &other) {
    if (keys_ != nullptr) munmap(keys_, mapped_bytes_);
    n_layers_ = std::exchange(other.n_layers_, 0);
    max_ctx_ = std::exchange(other.max_ctx_, 0);
    kv_dim_ = std::exchange(other.kv_dim_, 0);
    pos_ = std::move(other.pos_);
    other.pos_.clear();
    layer_floats_ = std::exchange(other.layer_floats_, 0);
    keys_ = std::exchange(other.keys_, nullptr);
    values_ = std::exchange(other.values_, nullptr);
    total_floats_ = std::exchange(other.total_floats_, 0);
    mapped_bytes_ = std::exchange(other.mapped_bytes_, 0);
  }
  return *this;
}

KVCache::~KVCache() {
  if (keys_ != nullptr) munmap(keys_, mapped_bytes_);
}

absl::Status KVCache::check_index(const char* fn, size_t layer, size_t seq) const {
  if (seq >= pos_.size()) {
    return absl::OutOfRangeError(
        absl::StrCat("KVCache::", fn, ": seq = ", seq, " but n_seqs = ", pos_.size()));
  }
  if (layer >= n_layers_) {
    return absl::OutOfRangeError(
        absl::StrCat("KVCache::", fn, ": layer = ", layer, " but n_layers = ", n_layers_));
  }
  return absl::OkStatus();
}

absl::Status KVCache::update(size_t layer, std::span<const float> k, std::span<const float> v,
                             size_t seq) {
  LLMK_RETURN_IF_ERROR(check_index("update", layer, seq));
  if (k.size() != kv_dim_) return internal::size_error("KVCache::update", "k", k.size(), kv_dim_);
  if (v.size() != kv_dim_) return internal::size_error("KVCache::update", "v", v.size(), kv_dim_);
  const size_t pos = pos_[seq];
  if (pos >= max_ctx_) {
    return absl::OutOfRangeError(absl::StrCat("KVCache::update: sequence ", seq,
                                              " is full (pos = max_ctx = ", max_ctx_, ")"));
  }
  const size_t offset = (seq * n_layers_ + layer) * layer_floats_ + pos * kv_dim_;
  // memmove: k or v may already be the row itself (written via key_row()).
  std::memmove(keys_ + offset, k.data(), kv_dim_ * sizeof(float));
  std::memmove(values_ + offset, v.data(), kv_dim_ * sizeof(float));
  return absl::OkStatus();
}

absl::Status KVCache::advance(size_t seq) {
  if (seq >= pos_.size()) {
    return absl::OutOfRangeError(
        absl::StrCat("KVCache::advance: seq = ", seq, " but n_seqs = ", pos_.size()));
  }
  if (pos_[seq] >= max_ctx_) {
    return absl::OutOfRangeError(absl::StrCat("KVCache::advance: sequence ", seq,
                                              " is already at max_ctx = ", max_ctx_));
  }
  ++pos_[seq];
  return absl::OkStatus();
}

absl::StatusOr<KVCache::LayerView> KVCache::at(size_t layer, size_t seq) const {
  LLMK_RETURN_IF_ERROR(check_index("at", layer, seq));
  return get(layer, seq);
}

float* KVCache::key_row(size_t layer, size_t pos, size_t seq) {
  if (seq >= pos_.size() || layer >= n_layers_ || pos >= max_ctx_) return nullptr;
  return keys_ + (seq * n_layers_ + layer) * layer_floats_ + pos * kv_dim_;
}

float* KVCache::value_row(size_t layer, size_t pos, size_t seq) {
  if (seq >= pos_.size() || layer >= n_layers_ || pos >= max_ctx_) return nullptr;
  return values_ + (seq * n_layers_ + layer) * layer_floats_ + pos * kv_dim_;
}

const float* KVCache::key_rows(size_t layer, size_t seq) const {
  if (seq >= pos_.size() || layer >= n_layers_) return nullptr;
  return keys_ + (seq * n_layers_ + layer) * layer_floats_;
}

const float* KVCache::value_rows(size_t layer, size_t seq) const {
  if (seq >= pos_.size() || layer >= n_layers_) return nullptr;
  return values_ + (seq * n_layers_ + layer) * layer_floats_;
}

absl::Status KVCache::set_pos(size_t pos, size_t seq) {
  if (seq >= pos_.size()) {
    return absl::OutOfRangeError(
        absl::StrCat("KVCache::set_pos: seq = ", seq, " but n_seqs = ", pos_.size()));
  }
  if (pos > max_ctx_) {
    return absl::OutOfRangeError(
        absl::StrCat("KVCache::set_pos: pos = ", pos, " exceeds max_ctx = ", max_ctx_));
  }
  pos_[seq] = pos;
  return absl::OkStatus();
}

void KVCache::clear() {
  for (size_t& p : pos_) p = 0;
}

void KVCache::clear(size_t seq) {
  if (seq < pos_.size()) pos_[seq] = 0;
}

absl::Status KVCache::truncate(size_t n, size_t seq) {
  if (seq >= pos_.size()) {
    return absl::OutOfRangeError(
        absl::StrCat("KVCache::truncate: seq = ", seq, " but n_seqs = ", pos_.size()));
  }
  if (n > pos_[seq]) {
    return absl::OutOfRangeError(absl::StrCat("KVCache::truncate: n = ", n,
                                              " exceeds the current pos = ", pos_[seq]));
  }
  pos_[seq] = n;
  return absl::OkStatus();
}

size_t KVCache::bytes() const { return total_floats_ * sizeof(float); }

}  // namespace llmk
