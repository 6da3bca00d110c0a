// Facts about the GGUF byte layout shared by the reader and the writer, and
// the validation rules both apply (so the writer never produces a file the
// reader would reject).
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "llmk/gguf.h"

namespace llmk::gguf_internal {

// The reader copies little-endian fields with memcpy.
static_assert(std::endian::native == std::endian::little,
              "the GGUF reader assumes a little-endian host");

inline constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian u32
inline constexpr size_t kHeaderBytes = 4 + 4 + 8 + 8;
inline constexpr uint32_t kMaxDims = 4;
inline constexpr char kAlignmentKey[] = "general.alignment";

// The smallest record of each kind, used to bound a declared count by the
// bytes left before anything is reserved:
//   key/value: key length u64 + ≥1 key byte + type u32 + ≥1 value byte;
//   tensor info: name length u64 + ≥1 name byte + n_dims u32 + one dim u64 +
//   type u32 + offset u64.
inline constexpr uint64_t kMinKeyValueBytes = 8 + 1 + 4 + 1;
inline constexpr uint64_t kMinTensorInfoBytes = 8 + 1 + 4 + 8 + 4 + 8;

// True when `raw` is one of the 13 value types the spec defines.
inline bool is_known_value_type(uint32_t raw) {
  return raw <= static_cast<uint32_t>(GgufType::kFloat64);
}

// Bytes one scalar of `type` takes in the file; 0 for STRING and ARRAY.
uint64_t scalar_file_bytes(GgufType type);

// Index into GgufArray::values holding elements of `type` (ARRAY has none).
std::optional<size_t> array_variant_index(GgufType type);

// The supported tensor type with this raw ggml number, or nullopt.
std::optional<TensorType> supported_tensor_type(uint32_t raw);

// ggml's name for a raw tensor type number, for error messages ("Q4_1",
// "Q6_K", or "#1000" for numbers ggml does not define).
std::string raw_tensor_type_name(uint32_t raw);

// Text safe to embed in an error message: non-printable bytes escaped and
// long text cut, so a hostile key cannot flood or corrupt the log.
std::string printable(std::string_view text);

// A key the spec allows: 1..kMaxKeyBytes ASCII bytes without NUL. `what`
// names the record in the error ("GGUF key #3").
absl::Status check_key(std::string_view key, std::string_view what);

// A tensor name: 1..kMaxNameBytes bytes without NUL.
absl::Status check_tensor_name(std::string_view name, std::string_view what);

// Dimensions, type and sizes of a tensor: 1..4 dims, each ≥ 1, element count
// ≤ INT64_MAX in checked arithmetic, a supported type, quantized rows a whole
// number of blocks. On success fills info->type, elements and bytes.
absl::Status check_tensor_shape(std::string_view what, uint32_t raw_type,
                                GgufTensorInfo* info);

// general.alignment's rule: a power of two, 1..kMaxAlignment.
absl::Status check_alignment(uint64_t alignment, std::string_view what);

// x rounded up to a multiple of `alignment` (a power of two), or nullopt on
// overflow.
inline std::optional<uint64_t> align_up(uint64_t x, uint64_t alignment) {
  uint64_t sum;
  if (__builtin_add_overflow(x, alignment - 1, &sum)) return std::nullopt;
  return sum & ~(alignment - 1);
}

}  // namespace llmk::gguf_internal
