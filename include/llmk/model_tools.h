// Tooling over models, apart from the runtime API of model.h: synthetic
// models of named shapes, GGUF export with llama.cpp's names, and
// llama-quantize-style re-encoding of GGUF files.
#pragma once

#include <cstdint>
#include <string>
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

// Re-encodes a GGUF model like llama.cpp's `llama-quantize --pure`: every 2-D
// F32/F16 tensor whose rows are a multiple of 32 becomes `to` (Q8_0 or
// Q4_0, quantized exactly as quantize_q8_0 / quantize_q4_0 do); 1-D tensors
// (norms, biases) and everything else are copied unchanged, as is the
// metadata (general.file_type updated).
absl::Status quantize_gguf(const GgufFile& in, TensorType to, GgufWriter& out);

}  // namespace llmk
