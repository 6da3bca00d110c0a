// Type tables and the validation rules shared by the GGUF reader and writer.
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gguf/gguf_format.h"
#include "llmk/gguf.h"
#include "llmk/kquant.h"
#include "util/check.h"

namespace llmk {

using internal::to_absl;

namespace {

// Bytes per block of 32 elements.
constexpr uint64_t kQ4_0BlockBytes = 2 + 16;  // f16 scale + 32 nibbles
constexpr uint64_t kQ8_0BlockBytes = 2 + 32;  // f16 scale + 32 int8


}  // namespace

absl::StatusOr<uint64_t> tensor_bytes(TensorType type, uint64_t elements) {
  uint64_t unit_bytes = 0;   // bytes per unit
  uint64_t unit_elements = 1;  // elements per unit (a block for quantized types)
  switch (type) {
    case TensorType::kF32: unit_bytes = 4; break;
    case TensorType::kF16: unit_bytes = 2; break;
    case TensorType::kQ4_0: unit_bytes = kQ4_0BlockBytes; unit_elements = 32; break;
    case TensorType::kQ8_0: unit_bytes = kQ8_0BlockBytes; unit_elements = 32; break;
    case TensorType::kBF16: unit_bytes = 2; break;
    case TensorType::kQ2_K: unit_bytes = sizeof(Q2_KBlock); unit_elements = kSuperBlock; break;
    case TensorType::kQ3_K: unit_bytes = sizeof(Q3_KBlock); unit_elements = kSuperBlock; break;
    case TensorType::kQ4_K: unit_bytes = sizeof(Q4_KBlock); unit_elements = kSuperBlock; break;
    case TensorType::kQ5_K: unit_bytes = sizeof(Q5_KBlock); unit_elements = kSuperBlock; break;
    case TensorType::kQ6_K: unit_bytes = sizeof(Q6_KBlock); unit_elements = kSuperBlock; break;
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          "tensor_bytes: unsupported tensor type ", static_cast<uint32_t>(type)));
  }
  if (elements % unit_elements != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor_bytes: ", elements, " elements of ",
                     to_absl(tensor_type_name(type)), " is not a whole number of ",
                     unit_elements, "-element blocks"));
  }
  uint64_t bytes;
  if (__builtin_mul_overflow(elements / unit_elements, unit_bytes, &bytes)) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor_bytes: ", elements, " elements of ",
                     to_absl(tensor_type_name(type)), " overflow a 64-bit byte size"));
  }
  return bytes;
}

std::string_view tensor_type_name(TensorType type) {
  switch (type) {
    case TensorType::kF32: return "F32";
    case TensorType::kF16: return "F16";
    case TensorType::kQ4_0: return "Q4_0";
    case TensorType::kQ8_0: return "Q8_0";
    case TensorType::kQ2_K: return "Q2_K";
    case TensorType::kQ3_K: return "Q3_K";
    case TensorType::kQ4_K: return "Q4_K";
    case TensorType::kQ5_K: return "Q5_K";
    case TensorType::kQ6_K: return "Q6_K";
    case TensorType::kQ8_K: return "Q8_K";
    case TensorType::kBF16: return "BF16";
  }
  return "unknown";
}

std::string_view gguf_type_name(GgufType type) {
  switch (type) {
    case GgufType::kUint8: return "UINT8";
    case GgufType::kInt8: return "INT8";
    case GgufType::kUint16: return "UINT16";
    case GgufType::kInt16: return "INT16";
    case GgufType::kUint32: return "UINT32";
    case GgufType::kInt32: return "INT32";
    case GgufType::kFloat32: return "FLOAT32";
    case GgufType::kBool: return "BOOL";
    case GgufType::kString: return "STRING";
    case GgufType::kArray: return "ARRAY";
    case GgufType::kUint64: return "UINT64";
    case GgufType::kInt64: return "INT64";
    case GgufType::kFloat64: return "FLOAT64";
  }
  return "unknown";
}

size_t GgufArray::size() const {
  return std::visit([](const auto& v) { return v.size(); }, values);
}

namespace gguf_internal {

uint64_t scalar_file_bytes(GgufType type) {
  switch (type) {
    case GgufType::kUint8:
    case GgufType::kInt8:
    case GgufType::kBool: return 1;
    case GgufType::kUint16:
    case GgufType::kInt16: return 2;
    case GgufType::kUint32:
    case GgufType::kInt32:
    case GgufType::kFloat32: return 4;
    case GgufType::kUint64:
    case GgufType::kInt64:
    case GgufType::kFloat64: return 8;
    case GgufType::kString:
    case GgufType::kArray: return 0;
  }
  return 0;
}

std::optional<size_t> array_variant_index(GgufType type) {
  // GgufArray::values lists the element vectors in type order, minus ARRAY.
  const auto raw = static_cast<uint32_t>(type);
  if (raw < static_cast<uint32_t>(GgufType::kArray)) return raw;
  if (type == GgufType::kArray || !is_known_value_type(raw)) return std::nullopt;
  return raw - 1;
}

std::optional<TensorType> supported_tensor_type(uint32_t raw) {
  switch (raw) {
    case 0: return TensorType::kF32;
    case 1: return TensorType::kF16;
    case 2: return TensorType::kQ4_0;
    case 8: return TensorType::kQ8_0;
    case 10: return TensorType::kQ2_K;
    case 11: return TensorType::kQ3_K;
    case 12: return TensorType::kQ4_K;
    case 13: return TensorType::kQ5_K;
    case 14: return TensorType::kQ6_K;
    case 30: return TensorType::kBF16;
    default: return std::nullopt;
  }
}

std::string raw_tensor_type_name(uint32_t raw) {
  // ggml's type numbering (4 and 5 were removed types).
  static constexpr std::string_view kNames[] = {
      "F32",     "F16",    "Q4_0",    "Q4_1",  "Q4_2", "Q4_3",   "Q5_0",  "Q5_1",
      "Q8_0",    "Q8_1",   "Q2_K",    "Q3_K",  "Q4_K", "Q5_K",   "Q6_K",  "Q8_K",
      "IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S", "IQ4_NL", "IQ3_S", "IQ2_S", "IQ4_XS",
      "I8",      "I16",    "I32",     "I64",   "F64",  "IQ1_M",  "BF16"};
  if (raw < std::size(kNames)) return std::string(kNames[raw]);
  return absl::StrCat("#", raw);
}

std::string printable(std::string_view text) {
  constexpr size_t kMaxShown = 80;
  const bool cut = text.size() > kMaxShown;
  std::string out = absl::CHexEscape(to_absl(text.substr(0, kMaxShown)));
  if (cut) absl::StrAppend(&out, "...");
  return out;
}

absl::Status check_key(std::string_view key, std::string_view what) {
  if (key.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(to_absl(what), ": key is empty"));
  }
  if (key.size() > GgufFile::kMaxKeyBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(to_absl(what), ": key of ", key.size(), " bytes is longer than ",
                     GgufFile::kMaxKeyBytes, " bytes"));
  }
  for (size_t i = 0; i < key.size(); ++i) {
    const auto c = static_cast<unsigned char>(key[i]);
    if (c == 0) {
      return absl::InvalidArgumentError(absl::StrCat(to_absl(what), " ('", printable(key),
                                                      "'): key contains a NUL byte at ", i));
    }
    if (c >= 0x80) {
      return absl::InvalidArgumentError(
          absl::StrCat(to_absl(what), " ('", printable(key), "'): key byte ", i, " = 0x",
                       absl::Hex(c), " is not ASCII"));
    }
  }
  return absl::OkStatus();
}

absl::Status check_tensor_name(std::string_view name, std::string_view what) {
  if (name.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(to_absl(what), ": tensor name is empty"));
  }
  if (name.size() > GgufFile::kMaxNameBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        to_absl(what), " ('", printable(name), "'): tensor name of ", name.size(),
        " bytes is too long (at most ", GgufFile::kMaxNameBytes, ")"));
  }
  if (const size_t nul = name.find('\0'); nul != std::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(to_absl(what), " ('", printable(name),
                                                   "'): tensor name contains a NUL byte at ",
                                                   nul));
  }
  return absl::OkStatus();
}

absl::Status check_tensor_shape(std::string_view what, uint32_t raw_type,
                                GgufTensorInfo* info) {
  const auto where = [&] { return absl::StrCat(to_absl(what), ": "); };
  const size_t n_dims = info->dims.size();
  if (n_dims < 1 || n_dims > kMaxDims) {
    return absl::InvalidArgumentError(absl::StrCat(where(), "n_dims = ", n_dims,
                                                   " must be between 1 and ", kMaxDims));
  }
  uint64_t elements = 1;
  for (size_t i = 0; i < n_dims; ++i) {
    const uint64_t d = info->dims[i];
    if (d < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat(where(), "dims[", i, "] = ", d, " must be ≥ 1"));
    }
    if (__builtin_mul_overflow(elements, d, &elements) ||
        elements > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      std::string dims_text;
      for (size_t j = 0; j < n_dims; ++j) {
        absl::StrAppend(&dims_text, j ? " × " : "", info->dims[j]);
      }
      return absl::InvalidArgumentError(absl::StrCat(
          where(), "element count overflows (dims ", dims_text, " exceed INT64_MAX)"));
    }
  }
  const std::optional<TensorType> type = supported_tensor_type(raw_type);
  if (!type) {
    return absl::InvalidArgumentError(
        absl::StrCat(where(), "tensor type ", raw_type, " (", raw_tensor_type_name(raw_type),
                     ") is not supported (F32, F16, BF16, Q8_0, Q4_0, Q2_K, Q3_K, Q4_K, Q5_K "
                     "and Q6_K are)"));
  }
  if (const uint64_t block = values_per_block(*type); info->dims[0] % block != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        where(), to_absl(tensor_type_name(*type)), " row length dims[0] = ", info->dims[0],
        " is not a multiple of ", block));
  }
  absl::StatusOr<uint64_t> bytes = tensor_bytes(*type, elements);
  if (!bytes.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where(), "byte size overflows: ", bytes.status().message()));
  }
  info->type = *type;
  info->elements = elements;
  info->bytes = *bytes;
  return absl::OkStatus();
}

absl::Status check_alignment(uint64_t alignment, std::string_view what) {
  if (alignment == 0 || !std::has_single_bit(alignment)) {
    return absl::InvalidArgumentError(absl::StrCat(to_absl(what), ": alignment ", alignment,
                                                   " is not a power of two"));
  }
  if (alignment > GgufFile::kMaxAlignment) {
    return absl::InvalidArgumentError(absl::StrCat(to_absl(what), ": alignment ", alignment,
                                                   " exceeds the limit of ",
                                                   GgufFile::kMaxAlignment));
  }
  return absl::OkStatus();
}

}  // namespace gguf_internal
}  // namespace llmk
