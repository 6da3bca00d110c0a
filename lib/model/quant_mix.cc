#include "model/quant_mix.h"

#include <string_view>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "llmk/kquant.h"
#include "llmk/quant.h"
#include "quant/quant_kernels.h"
#include "util/check.h"

namespace llmk::internal {
namespace {

bool is_float(TensorType t) {
  return t == TensorType::kF32 || t == TensorType::kF16 || t == TensorType::kBF16;
}

// llama.cpp gives more bits to the first and last eighth of the layers and
// to every third layer in between.
bool use_more_bits(size_t i_layer, size_t n_layer) {
  const size_t eighth = n_layer / 8;
  return i_layer < eighth || i_layer >= 7 * n_layer / 8 ||
         (i_layer >= eighth && (i_layer - eighth) % 3 == 2);
}

bool contains(std::string_view name, std::string_view part) {
  return name.find(part) != std::string_view::npos;
}

}  // namespace


TensorType main_type(QuantFileType file_type) {
  switch (file_type) {
    case QuantFileType::kF32: return TensorType::kF32;
    case QuantFileType::kF16: return TensorType::kF16;
    case QuantFileType::kBF16: return TensorType::kBF16;
    case QuantFileType::kQ4_0: return TensorType::kQ4_0;
    case QuantFileType::kQ8_0: return TensorType::kQ8_0;
    case QuantFileType::kQ2_K: return TensorType::kQ2_K;
    case QuantFileType::kQ3_K_S:
    case QuantFileType::kQ3_K_M:
    case QuantFileType::kQ3_K_L: return TensorType::kQ3_K;
    case QuantFileType::kQ4_K_S:
    case QuantFileType::kQ4_K_M: return TensorType::kQ4_K;
    case QuantFileType::kQ5_K_S:
    case QuantFileType::kQ5_K_M: return TensorType::kQ5_K;
    case QuantFileType::kQ6_K: return TensorType::kQ6_K;
  }
  return TensorType::kF32;
}

absl::StatusOr<QuantMixPlanner> QuantMixPlanner::create(const GgufFile& model,
                                                        QuantFileType file_type, bool pure) {
  QuantMixPlanner p;
  p.file_type_ = file_type;
  p.pure_ = pure;
  LLMK_ASSIGN_OR_RETURN(const std::string arch, model.get_string("general.architecture"));
  const std::string prefix = arch + ".";
  LLMK_ASSIGN_OR_RETURN(const uint64_t layers, model.get_uint(prefix + "block_count"));
  LLMK_ASSIGN_OR_RETURN(const uint64_t heads, model.get_uint(prefix + "attention.head_count"));
  uint64_t kv_heads = heads;
  if (model.find(prefix + "attention.head_count_kv") != nullptr) {
    LLMK_ASSIGN_OR_RETURN(kv_heads, model.get_uint(prefix + "attention.head_count_kv"));
  }
  if (heads == 0 || kv_heads == 0 || heads % kv_heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "quantize_gguf: ", prefix, "attention.head_count = ", heads, " is not a multiple of ",
        prefix, "attention.head_count_kv = ", kv_heads));
  }
  p.n_layer_ = layers;
  p.n_gqa_ = heads / kv_heads;
  p.is_70b_class_ = arch == "llama" && layers == 80 && heads != kv_heads;
  for (const GgufTensorInfo& t : model.tensors()) {
    if (contains(t.name, "attn_v.weight") || contains(t.name, "attn_qkv.weight")) {
      ++p.n_attention_v_;
    } else if (t.name == "output.weight") {
      p.has_output_ = true;
    }
  }
  return p;
}

TensorType QuantMixPlanner::mixed_type(const std::string& name, size_t cols) {
  using F = QuantFileType;
  using T = TensorType;
  const F f = file_type_;
  T type = main_type(f);
  if (name == "output.weight" || (!has_output_ && name == "token_embd.weight")) {
    // The output matrix decides every token's logits: Q6_K at least, Q8_0
    // where its rows don't fit the main type's blocks.
    if (cols % values_per_block(type) != 0) {
      type = T::kQ8_0;
    } else if (type != T::kQ8_0) {
      type = T::kQ6_K;
    }
  } else if (name == "token_embd.weight") {
    // kept at the main type
  } else if (contains(name, "attn_v.weight")) {
    // The value projection is small under GQA and sensitive: more bits.
    const size_t i = i_attention_v_++;
    if (f == F::kQ2_K) {
      type = n_gqa_ >= 4 ? T::kQ4_K : T::kQ3_K;
    } else if (f == F::kQ3_K_M) {
      type = i < 2 ? T::kQ5_K : T::kQ4_K;
    } else if (f == F::kQ3_K_L) {
      type = T::kQ5_K;
    } else if ((f == F::kQ4_K_M || f == F::kQ5_K_M) && use_more_bits(i, n_attention_v_)) {
      type = T::kQ6_K;
    } else if (f == F::kQ4_K_S && i < 4) {
      type = T::kQ5_K;
    }
    if (is_70b_class_ && (type == T::kQ3_K || type == T::kQ4_K)) type = T::kQ5_K;
  } else if (contains(name, "ffn_down")) {
    const size_t i = i_ffn_down_++;
    const size_t n = n_layer_;
    if (f == F::kQ2_K) {
      type = T::kQ3_K;
    } else if (f == F::kQ3_K_M) {
      type = i < n / 16 ? T::kQ5_K : T::kQ4_K;
    } else if (f == F::kQ3_K_L) {
      type = T::kQ5_K;
    } else if (f == F::kQ4_K_M) {
      if (use_more_bits(i, n)) type = T::kQ6_K;
    } else if (f == F::kQ5_K_M && use_more_bits(i, n)) {
      type = T::kQ6_K;
    } else if (f == F::kQ4_K_S && i < n / 8) {
      type = T::kQ5_K;
    }
  } else if (contains(name, "attn_output.weight")) {
    if (f == F::kQ2_K) {
      type = T::kQ3_K;
    } else if (f == F::kQ3_K_M) {
      type = T::kQ4_K;
    } else if (f == F::kQ3_K_L) {
      type = T::kQ5_K;
    }
  } else if (contains(name, "attn_qkv.weight")) {
    ++i_attention_v_;
    if (f == F::kQ3_K_M || f == F::kQ3_K_L) {
      type = T::kQ4_K;
    } else if (f == F::kQ4_K_M) {
      type = T::kQ5_K;
    } else if (f == F::kQ5_K_M) {
      type = T::kQ6_K;
    }
  }
  return type;
}

absl::StatusOr<std::optional<TensorType>> QuantMixPlanner::next(const GgufTensorInfo& tensor) {
  const std::string& name = tensor.name;
  // What llama-quantize quantizes: matrices named *weight, except norms and
  // the learned position / token-type embeddings.
  const bool quantizable = absl::EndsWith(name, "weight") && tensor.dims.size() >= 2 &&
                           !contains(name, "_norm.weight") &&
                           !contains(name, "ffn_gate_inp.weight") &&
                           name != "position_embd.weight" && name != "token_types.weight";
  // llama.cpp counts these tensors whether or not it quantizes them.
  const bool counted_v = contains(name, "attn_v.weight") || contains(name, "attn_qkv.weight");
  const bool counted_down = contains(name, "ffn_down");
  if (!quantizable || !is_float(tensor.type)) {
    if (quantizable) {
      if (counted_v) ++i_attention_v_;
      if (counted_down) ++i_ffn_down_;
    }
    return std::nullopt;
  }
  const size_t cols = static_cast<size_t>(tensor.dims[0]);
  const TensorType main = main_type(file_type_);
  const bool mix = !pure_ && main != TensorType::kF32 && main != TensorType::kF16 &&
                   main != TensorType::kBF16;
  TensorType type = mix ? mixed_type(name, cols) : main;
  if (cols % values_per_block(type) != 0) {
    if (!mix || !kernels::is_k_quant(type)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "quantize_gguf: tensor '", name, "' has rows of ", cols, " values, not a multiple of ",
          values_per_block(type), " as ", to_absl(tensor_type_name(type)), " needs"));
    }
    // llama.cpp's substitutes for rows that don't fit a K-quant's 256.
    if (type == TensorType::kQ6_K) {
      type = TensorType::kQ8_0;
    } else {
      const char* substitute = type == TensorType::kQ4_K   ? "Q5_0"
                               : type == TensorType::kQ5_K ? "Q5_1"
                                                           : "IQ4_NL";
      return absl::UnimplementedError(absl::StrCat(
          "quantize_gguf: tensor '", name, "' has rows of ", cols,
          " values, not a multiple of 256; llama.cpp would store it as ", substitute,
          ", which llmk does not write (use --pure with Q8_0 or Q4_0, or a model whose "
          "matrices have rows of a multiple of 256)"));
    }
    if (cols % values_per_block(type) != 0) type = TensorType::kF16;
  }
  if (type == tensor.type) return std::nullopt;
  return type;
}

}  // namespace llmk::internal
