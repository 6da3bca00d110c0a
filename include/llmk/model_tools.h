// Tooling over models, apart from the runtime API of model.h: synthetic
// models of named shapes, GGUF export with llama.cpp's names, and
// llama-quantize-style re-encoding of GGUF files.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "llmk/export.h"
#include "llmk/model.h"
#include "llmk/tensor_type.h"

namespace llmk LLMK_API {

class GgufFile;
class GgufWriter;

// Named shapes (stories15M, stories42M, stories110M, tinyllama-1.1B, gpt2-spec,
// and the tiny test shapes tiny-llama / tiny-gpt2) with vocab 32000 unless
// tiny; the matrices of a Model made by make_synthetic_model.
absl::StatusOr<ModelConfig> synthetic_model_config(const std::string& shape_name);
std::vector<std::string> synthetic_model_shapes();
// Random weights (uniform, scaled by 1/sqrt(cols), norms near 1) of a named
// shape, matrices stored as `type` (F32, F16, Q8_0 or Q4_0), with a separate
// output matrix. Deterministic in `seed`.
absl::StatusOr<Model> make_synthetic_model(const std::string& shape_name, TensorType type,
                                           uint64_t seed);

// Serialises a model as GGUF with llama.cpp's key and tensor names and a
// placeholder tokenizer vocabulary (SentencePiece-style for llama: <unk>,
// <s>, </s>, 256 byte tokens, filler pieces; byte-level BPE with merges for
// gpt2), so llama.cpp loads it. Tensors keep their types.
absl::StatusOr<std::vector<uint8_t>> model_to_gguf(const Model& model,
                                                   const std::string& name = "llmk-synthetic");
absl::Status write_model_gguf(const Model& model, const std::string& path,
                              const std::string& name = "llmk-synthetic");

// llama.cpp's quantized file types (llama_ftype, the number stored in
// general.file_type): the type most weight matrices get and, unless pure,
// llama.cpp's per-tensor choices (docs/quantization.md). _S/_M/_L differ only
// in how many matrices get more bits.
enum class QuantFileType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ8_0 = 7,
  kQ2_K = 10,
  kQ3_K_S = 11,
  kQ3_K_M = 12,
  kQ3_K_L = 13,
  kQ4_K_S = 14,
  kQ4_K_M = 15,
  kQ5_K_S = 16,
  kQ5_K_M = 17,
  kQ6_K = 18,
  kBF16 = 32,
};
// "Q4_K_M", "q8_0", "bf16", … (case-insensitive); the names llama-quantize
// takes. InvalidArgumentError listing the valid names otherwise.
absl::StatusOr<QuantFileType> parse_quant_file_type(std::string_view name);
std::string_view quant_file_type_name(QuantFileType type);
std::vector<QuantFileType> quant_file_types();

struct QuantizeOptions {
  QuantFileType file_type = QuantFileType::kQ8_0;
  // Every matrix gets the file type's main type (llama-quantize --pure).
  bool pure = false;
};

// Re-encodes a GGUF model like llama.cpp's llama-quantize: each weight
// matrix (2-D, named *weight; not norms or learned position embeddings)
// stored as F32, F16 or BF16 becomes the type `options` chooses for it,
// quantized exactly as ggml's reference quantizers do; everything else
// (1-D tensors, already-quantized matrices) and the metadata are copied,
// general.file_type updated. A matrix whose rows don't fit the chosen type's
// blocks is an error, except where llama.cpp substitutes a type llmk writes.
absl::Status quantize_gguf(const GgufFile& in, const QuantizeOptions& options, GgufWriter& out);
// The same with {file type Q8_0 or Q4_0, pure}: every matrix becomes `to`.
absl::Status quantize_gguf(const GgufFile& in, TensorType to, GgufWriter& out);

}  // namespace llmk
