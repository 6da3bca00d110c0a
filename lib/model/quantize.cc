// quantize_gguf: llama-quantize-style re-encoding of a GGUF file, with
// llama.cpp's per-tensor type choices (model/quant_mix.h).
#include <cctype>
#include <cstring>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "llmk/gguf.h"
#include "llmk/kquant.h"
#include "llmk/model.h"
#include "llmk/model_tools.h"
#include "llmk/quant.h"
#include "model/quant_mix.h"
#include "quant/quant_kernels.h"
#include "util/check.h"

namespace llmk {
namespace {

struct FileTypeName {
  QuantFileType type;
  std::string_view name;
};
constexpr FileTypeName kFileTypeNames[] = {
    {QuantFileType::kF32, "F32"},       {QuantFileType::kF16, "F16"},
    {QuantFileType::kBF16, "BF16"},     {QuantFileType::kQ8_0, "Q8_0"},
    {QuantFileType::kQ4_0, "Q4_0"},     {QuantFileType::kQ2_K, "Q2_K"},
    {QuantFileType::kQ3_K_S, "Q3_K_S"}, {QuantFileType::kQ3_K_M, "Q3_K_M"},
    {QuantFileType::kQ3_K_L, "Q3_K_L"}, {QuantFileType::kQ4_K_S, "Q4_K_S"},
    {QuantFileType::kQ4_K_M, "Q4_K_M"}, {QuantFileType::kQ5_K_S, "Q5_K_S"},
    {QuantFileType::kQ5_K_M, "Q5_K_M"}, {QuantFileType::kQ6_K, "Q6_K"},
};

template <typename Block, typename Fn>
absl::Status quantize_blocks(Fn fn, std::span<const float> row, uint8_t* out, size_t per_block) {
  return fn(row, std::span<Block>(reinterpret_cast<Block*>(out), row.size() / per_block));
}

}  // namespace

absl::Status internal::encode_weight_row(TensorType type, std::span<const float> row, uint8_t* out) {
  switch (type) {
    case TensorType::kF32:
      std::memcpy(out, row.data(), row.size() * sizeof(float));
      return absl::OkStatus();
    case TensorType::kF16:
      for (size_t i = 0; i < row.size(); ++i) {
        const uint16_t h = f32_to_f16(row[i]);
        std::memcpy(out + 2 * i, &h, 2);
      }
      return absl::OkStatus();
    case TensorType::kBF16:
      for (size_t i = 0; i < row.size(); ++i) {
        const uint16_t h = f32_to_bf16(row[i]);
        std::memcpy(out + 2 * i, &h, 2);
      }
      return absl::OkStatus();
    case TensorType::kQ8_0:
      return quantize_blocks<Q8_0Block>(quantize_q8_0, row, out, kQuantBlock);
    case TensorType::kQ4_0:
      return quantize_blocks<Q4_0Block>(quantize_q4_0, row, out, kQuantBlock);
    case TensorType::kQ2_K:
      return quantize_blocks<Q2_KBlock>(quantize_q2_k, row, out, kSuperBlock);
    case TensorType::kQ3_K:
      return quantize_blocks<Q3_KBlock>(quantize_q3_k, row, out, kSuperBlock);
    case TensorType::kQ4_K:
      return quantize_blocks<Q4_KBlock>(quantize_q4_k, row, out, kSuperBlock);
    case TensorType::kQ5_K:
      return quantize_blocks<Q5_KBlock>(quantize_q5_k, row, out, kSuperBlock);
    case TensorType::kQ6_K:
      return quantize_blocks<Q6_KBlock>(quantize_q6_k, row, out, kSuperBlock);
    case TensorType::kQ8_K:
      break;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "encode_weight_row: ", internal::to_absl(tensor_type_name(type)), " is not a weight type"));
}

absl::StatusOr<QuantFileType> parse_quant_file_type(std::string_view name) {
  const std::string upper = absl::AsciiStrToUpper(internal::to_absl(name));
  std::vector<std::string> names;
  for (const FileTypeName& f : kFileTypeNames) {
    if (f.name == upper) return f.type;
    names.emplace_back(f.name);
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown quantization type '", internal::to_absl(name),
                                                 "' (one of ", absl::StrJoin(names, ", "), ")"));
}

std::string_view quant_file_type_name(QuantFileType type) {
  for (const FileTypeName& f : kFileTypeNames) {
    if (f.type == type) return f.name;
  }
  return "unknown";
}

std::vector<QuantFileType> quant_file_types() {
  std::vector<QuantFileType> out;
  for (const FileTypeName& f : kFileTypeNames) out.push_back(f.type);
  return out;
}

absl::Status quantize_gguf(const GgufFile& in, const QuantizeOptions& options, GgufWriter& out) {
  if (quant_file_type_name(options.file_type) == "unknown") {
    return absl::InvalidArgumentError(absl::StrCat(
        "quantize_gguf: file type ", static_cast<uint32_t>(options.file_type), " is unknown"));
  }
  LLMK_ASSIGN_OR_RETURN(internal::QuantMixPlanner planner,
                        internal::QuantMixPlanner::create(in, options.file_type, options.pure));
  const uint32_t file_type = static_cast<uint32_t>(options.file_type);
  for (const GgufKeyValue& kv : in.metadata()) {
    if (kv.key == "general.alignment") {
      out.set_alignment(in.alignment());
    } else if (kv.key == "general.file_type") {
      out.add_uint32("general.file_type", file_type);
    } else {
      out.add(kv.key, kv.value);
    }
  }
  if (in.find("general.file_type") == nullptr) out.add_uint32("general.file_type", file_type);

  std::vector<float> row;
  std::vector<uint8_t> encoded;
  for (const GgufTensorInfo& t : in.tensors()) {
    const auto data = in.tensor_data(t);
    LLMK_ASSIGN_OR_RETURN(const std::optional<TensorType> to, planner.next(t));
    if (!to) {
      LLMK_RETURN_IF_ERROR(out.add_tensor(t.name, t.dims, t.type, data));
      continue;
    }
    const size_t cols = static_cast<size_t>(t.dims[0]);
    const size_t rows = static_cast<size_t>(t.elements / t.dims[0]);
    const WeightView src{t.type, data.data(), rows, cols};
    const WeightView dst{*to, nullptr, rows, cols};
    size_t bytes;
    if (dst.row_bytes() == 0 || !internal::checked_mul(dst.row_bytes(), rows, &bytes)) {
      return absl::InvalidArgumentError(absl::StrCat("quantize_gguf: tensor '", t.name,
                                                     "' is too large"));
    }
    encoded.assign(bytes, 0);
    row.resize(cols);
    for (size_t r = 0; r < rows; ++r) {
      kernels::dequantize_row(src, r, row.data());
      LLMK_RETURN_IF_ERROR(internal::encode_weight_row(*to, row, encoded.data() + r * dst.row_bytes()));
    }
    LLMK_RETURN_IF_ERROR(out.add_tensor(t.name, t.dims, *to, encoded));
  }
  return absl::OkStatus();
}

absl::Status quantize_gguf(const GgufFile& in, TensorType to, GgufWriter& out) {
  if (to != TensorType::kQ8_0 && to != TensorType::kQ4_0) {
    return absl::InvalidArgumentError(absl::StrCat("quantize_gguf: target type ",
                                                   internal::to_absl(tensor_type_name(to)),
                                                   " is not Q8_0 or Q4_0"));
  }
  return quantize_gguf(
      in, {to == TensorType::kQ8_0 ? QuantFileType::kQ8_0 : QuantFileType::kQ4_0, /*pure=*/true},
      out);
}

}  // namespace llmk
