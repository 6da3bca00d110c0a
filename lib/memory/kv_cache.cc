// KVCache: one anonymous mapping laid out as keys[seq][layer][max_ctx][kv_dim]
// followed by values in the same layout, elements f32 or binary16.
#include "llmk/kv_cache.h"

#include <sys/mman.h>

#include <cstring>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "ops/kernels.h"
#include "quant/fp16.h"
#include "util/check.h"

namespace llmk {

const char* kv_type_name(KvType type) { return type == KvType::kF16 ? "f16" : "f32"; }

absl::StatusOr<KvType> parse_kv_type(std::string_view name) {
  if (name == "f32") return KvType::kF32;
  if (name == "f16") return KvType::kF16;
  return absl::InvalidArgumentError(
      absl::StrCat("KV cache type '", std::string(name), "' is not one of f32, f16"));
}

absl::StatusOr<KVCache> KVCache::create(size_t n_layers, size_t max_ctx, size_t kv_dim,
                                        size_t n_seqs, KvType type) {
  if (n_layers == 0 || max_ctx == 0 || kv_dim == 0 || n_seqs == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "KVCache::create: every size must be positive (n_layers = ", n_layers,
        ", max_ctx = ", max_ctx, ", kv_dim = ", kv_dim, ", n_seqs = ", n_seqs, ")"));
  }
  if (type != KvType::kF32 && type != KvType::kF16) {
    return absl::InvalidArgumentError(absl::StrCat("KVCache::create: unknown KvType ",
                                                   static_cast<int>(type)));
  }
  const size_t element_bytes = type == KvType::kF32 ? 4 : 2;
  // Values start on a 64-byte boundary after the keys.
  constexpr size_t kValuesAlignBytes = 64;
  size_t layer_elements = 0, seq_elements = 0, half_elements = 0, half_bytes = 0,
         padded_half = 0, bytes = 0;
  if (!internal::checked_mul(max_ctx, kv_dim, &layer_elements) ||
      !internal::checked_mul(layer_elements, n_layers, &seq_elements) ||
      !internal::checked_mul(seq_elements, n_seqs, &half_elements) ||
      !internal::checked_mul(half_elements, element_bytes, &half_bytes) ||
      !internal::checked_add(half_bytes, kValuesAlignBytes - 1, &padded_half) ||
      !internal::checked_add(padded_half & ~(kValuesAlignBytes - 1), half_bytes, &bytes)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "KVCache::create: n_layers × max_ctx × kv_dim × n_seqs × 2 elements overflows "
        "(n_layers = ", n_layers, ", max_ctx = ", max_ctx, ", kv_dim = ", kv_dim,
        ", n_seqs = ", n_seqs, ")"));
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
  cache.type_ = type;
  cache.pos_.assign(n_seqs, 0);
  cache.layer_elements_ = layer_elements;
  cache.keys_ = static_cast<std::byte*>(block);
  cache.values_ = cache.keys_ + (padded_half & ~(kValuesAlignBytes - 1));
  cache.total_elements_ = 2 * half_elements;  // cannot overflow: bytes did not
  cache.mapped_bytes_ = bytes;
  return cache;
}

KVCache::KVCache(KVCache&& other) noexcept
    : n_layers_(std::exchange(other.n_layers_, 0)),
      max_ctx_(std::exchange(other.max_ctx_, 0)),
      kv_dim_(std::exchange(other.kv_dim_, 0)),
      type_(other.type_),
      pos_(std::move(other.pos_)),
      layer_elements_(std::exchange(other.layer_elements_, 0)),
      keys_(std::exchange(other.keys_, nullptr)),
      values_(std::exchange(other.values_, nullptr)),
      total_elements_(std::exchange(other.total_elements_, 0)),
      mapped_bytes_(std::exchange(other.mapped_bytes_, 0)) {
  other.pos_.clear();
}

KVCache& KVCache::operator=(KVCache&& other) noexcept {
  if (this != &other) {
    if (keys_ != nullptr) munmap(keys_, mapped_bytes_);
    n_layers_ = std::exchange(other.n_layers_, 0);
    max_ctx_ = std::exchange(other.max_ctx_, 0);
    kv_dim_ = std::exchange(other.kv_dim_, 0);
    type_ = other.type_;
    pos_ = std::move(other.pos_);
    other.pos_.clear();
    layer_elements_ = std::exchange(other.layer_elements_, 0);
    keys_ = std::exchange(other.keys_, nullptr);
    values_ = std::exchange(other.values_, nullptr);
    total_elements_ = std::exchange(other.total_elements_, 0);
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
  write_rows(layer, pos, seq, 0, k, v);
  return absl::OkStatus();
}

void KVCache::write_rows(size_t layer, size_t pos, size_t seq, size_t first,
                         std::span<const float> k, std::span<const float> v) {
  const size_t offset = row_offset(layer, pos, seq) + first * element_bytes();
  if (type_ == KvType::kF32) {
    // memmove: k or v may already be the row itself (written via key_row()).
    std::memmove(keys_ + offset, k.data(), k.size() * sizeof(float));
    std::memmove(values_ + offset, v.data(), v.size() * sizeof(float));
    return;
  }
  // Round to nearest even, as ggml's f32 → f16 (F16C) does.
  if (const auto convert = kernels::f32().f32_to_f16) {
    convert(k.data(), k.size(), reinterpret_cast<uint16_t*>(keys_ + offset));
    convert(v.data(), v.size(), reinterpret_cast<uint16_t*>(values_ + offset));
    return;
  }
  for (size_t i = 0; i < k.size(); ++i) {
    const uint16_t kh = internal::float_to_half(k[i]), vh = internal::float_to_half(v[i]);
    std::memcpy(keys_ + offset + 2 * i, &kh, 2);
    std::memcpy(values_ + offset + 2 * i, &vh, 2);
  }
}

absl::Status KVCache::read(size_t layer, size_t pos, std::span<float> k, std::span<float> v,
                           size_t seq) const {
  LLMK_RETURN_IF_ERROR(check_index("read", layer, seq));
  if (k.size() != kv_dim_) return internal::size_error("KVCache::read", "k", k.size(), kv_dim_);
  if (v.size() != kv_dim_) return internal::size_error("KVCache::read", "v", v.size(), kv_dim_);
  if (pos >= max_ctx_) {
    return absl::OutOfRangeError(
        absl::StrCat("KVCache::read: pos = ", pos, " but max_ctx = ", max_ctx_));
  }
  const size_t offset = row_offset(layer, pos, seq);
  if (type_ == KvType::kF32) {
    std::memcpy(k.data(), keys_ + offset, kv_dim_ * sizeof(float));
    std::memcpy(v.data(), values_ + offset, kv_dim_ * sizeof(float));
    return absl::OkStatus();
  }
  for (size_t i = 0; i < kv_dim_; ++i) {
    uint16_t kh, vh;
    std::memcpy(&kh, keys_ + offset + 2 * i, 2);
    std::memcpy(&vh, values_ + offset + 2 * i, 2);
    k[i] = internal::half_to_float(kh);
    v[i] = internal::half_to_float(vh);
  }
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
  if (type_ != KvType::kF32) {
    return absl::FailedPreconditionError(absl::StrCat(
        "KVCache::at: the f32 view of a ", kv_type_name(type_), " cache (use read())"));
  }
  return get(layer, seq);
}

size_t KVCache::row_offset(size_t layer, size_t pos, size_t seq) const {
  return ((seq * n_layers_ + layer) * layer_elements_ + pos * kv_dim_) * element_bytes();
}

std::byte* KVCache::key_data(size_t layer, size_t pos, size_t seq) {
  if (seq >= pos_.size() || layer >= n_layers_ || pos >= max_ctx_) return nullptr;
  return keys_ + row_offset(layer, pos, seq);
}

std::byte* KVCache::value_data(size_t layer, size_t pos, size_t seq) {
  if (seq >= pos_.size() || layer >= n_layers_ || pos >= max_ctx_) return nullptr;
  return values_ + row_offset(layer, pos, seq);
}

float* KVCache::key_row(size_t layer, size_t pos, size_t seq) {
  return type_ == KvType::kF32 ? reinterpret_cast<float*>(key_data(layer, pos, seq)) : nullptr;
}

float* KVCache::value_row(size_t layer, size_t pos, size_t seq) {
  return type_ == KvType::kF32 ? reinterpret_cast<float*>(value_data(layer, pos, seq)) : nullptr;
}

const float* KVCache::key_rows(size_t layer, size_t seq) const {
  if (type_ != KvType::kF32 || seq >= pos_.size() || layer >= n_layers_) return nullptr;
  return reinterpret_cast<const float*>(keys_ + row_offset(layer, 0, seq));
}

const float* KVCache::value_rows(size_t layer, size_t seq) const {
  if (type_ != KvType::kF32 || seq >= pos_.size() || layer >= n_layers_) return nullptr;
  return reinterpret_cast<const float*>(values_ + row_offset(layer, 0, seq));
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

size_t KVCache::bytes() const { return total_elements_ * element_bytes(); }

}  // namespace llmk
