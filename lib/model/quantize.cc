// quantize_gguf: llama.cpp --pure style re-quantization of a GGUF file.
#include <cstring>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "llmk/gguf.h"
#include "llmk/model.h"
#include "llmk/model_tools.h"
#include "llmk/quant.h"
#include "quant/quant_kernels.h"
#include "util/check.h"

namespace llmk {

absl::Status quantize_gguf(const GgufFile& in, TensorType to, GgufWriter& out) {
  if (to != TensorType::kQ8_0 && to != TensorType::kQ4_0) {
    return absl::InvalidArgumentError(absl::StrCat("quantize_gguf: target type ",
                                                   internal::to_absl(tensor_type_name(to)),
                                                   " is not Q8_0 or Q4_0"));
  }
  // llama_ftype numbers: 7 = MOSTLY_Q8_0, 2 = MOSTLY_Q4_0.
  const uint32_t file_type = to == TensorType::kQ8_0 ? 7 : 2;
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
  std::vector<uint8_t> packed;
  for (const GgufTensorInfo& t : in.tensors()) {
    const auto data = in.tensor_data(t);
    const bool convert = t.dims.size() == 2 && t.dims[0] % kQuantBlock == 0 &&
                         (t.type == TensorType::kF32 || t.type == TensorType::kF16);
    if (!convert) {
      LLMK_RETURN_IF_ERROR(out.add_tensor(t.name, t.dims, t.type, data));
      continue;
    }
    const size_t cols = static_cast<size_t>(t.dims[0]), rows = static_cast<size_t>(t.dims[1]);
    const WeightView src{t.type, data.data(), rows, cols};
    const WeightView dst{to, nullptr, rows, cols};
    size_t bytes;
    if (!internal::checked_mul(dst.row_bytes(), rows, &bytes)) {
      return absl::InvalidArgumentError(absl::StrCat("quantize_gguf: tensor '", t.name,
                                                     "' is too large"));
    }
    packed.assign(bytes, 0);
    row.resize(cols);
    for (size_t r = 0; r < rows; ++r) {
      kernels::dequantize_row(src, r, row.data());
      uint8_t* o = packed.data() + r * dst.row_bytes();
      if (to == TensorType::kQ8_0) {
        LLMK_RETURN_IF_ERROR(
            quantize_q8_0(row, {reinterpret_cast<Q8_0Block*>(o), cols / kQuantBlock}));
      } else {
        LLMK_RETURN_IF_ERROR(
            quantize_q4_0(row, {reinterpret_cast<Q4_0Block*>(o), cols / kQuantBlock}));
      }
    }
    LLMK_RETURN_IF_ERROR(out.add_tensor(t.name, t.dims, to, packed));
  }
  return absl::OkStatus();
}

}  // namespace llmk
