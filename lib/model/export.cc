// GGUF export of any Model with llama.cpp's key and tensor names (from the
// architecture table) and a placeholder tokenizer vocabulary.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "llmk/gguf.h"
#include "llmk/model.h"
#include "llmk/model_tools.h"
#include "model/arch.h"
#include "util/check.h"
#include "util/utf8.h"

namespace llmk {
namespace {

GgufArray string_array(std::vector<std::string> v) {
  GgufArray a;
  a.element_type = GgufType::kString;
  a.values = std::move(v);
  return a;
}

// Filler piece i as lower-case letters (bijective base 26).
std::string letters(size_t i) {
  std::string s;
  for (++i; i > 0; i = (i - 1) / 26) s.insert(s.begin(), static_cast<char>('a' + (i - 1) % 26));
  return s;
}

// SentencePiece-style placeholder: <unk>, <s>, </s>, <0x00>…<0xFF>, ▁a, ▁b …
absl::Status add_llama_vocab(GgufWriter& w, size_t vocab) {
  if (vocab < 259) return absl::InvalidArgumentError("model_to_gguf: llama vocab < 259");
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int32_t> types;
  tokens = {"<unk>", "<s>", "</s>"};
  types = {2, 3, 3};
  for (int b = 0; b < 256; ++b) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "<0x%02X>", b);
    tokens.emplace_back(buf);
    types.push_back(6);
  }
  for (size_t i = 0; tokens.size() < vocab; ++i) {
    tokens.push_back("\xE2\x96\x81" + letters(i));  // U+2581 then letters
    types.push_back(1);
  }
  scores.resize(vocab);
  for (size_t i = 0; i < vocab; ++i) scores[i] = i < 259 ? 0.0f : -static_cast<float>(i - 259);
  w.add_string("tokenizer.ggml.model", "llama");
  w.add_array("tokenizer.ggml.tokens", string_array(std::move(tokens)));
  GgufArray sa;
  sa.element_type = GgufType::kFloat32;
  sa.values = std::move(scores);
  w.add_array("tokenizer.ggml.scores", std::move(sa));
  GgufArray ta;
  ta.element_type = GgufType::kInt32;
  ta.values = std::move(types);
  w.add_array("tokenizer.ggml.token_type", std::move(ta));
  w.add_uint32("tokenizer.ggml.bos_token_id", 1);
  w.add_uint32("tokenizer.ggml.eos_token_id", 2);
  w.add_uint32("tokenizer.ggml.unknown_token_id", 0);
  return absl::OkStatus();
}

// Byte-level BPE placeholder: the 256 byte symbols, merged pairs of them
// (each with its merge rule), and <|endoftext|> last.
absl::Status add_gpt2_vocab(GgufWriter& w, size_t vocab) {
  if (vocab < 258) return absl::InvalidArgumentError("model_to_gguf: gpt2 vocab < 258");
  std::vector<std::string> symbols(256);
  uint32_t extra = 256;
  for (uint32_t b = 0; b < 256; ++b) {
    const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174;
    internal::append_utf8(printable ? b : extra++, &symbols[b]);
  }
  std::vector<std::string> tokens = symbols, merges;
  std::vector<int32_t> types(256, 1);
  for (size_t i = 0; tokens.size() < vocab - 1; ++i) {
    const std::string& a = symbols[(i / 256) % 256];
    const std::string& b = symbols[i % 256];
    tokens.push_back(a + b);
    merges.push_back(a + " " + b);
    types.push_back(1);
  }
  tokens.emplace_back("<|endoftext|>");
  types.push_back(3);
  w.add_string("tokenizer.ggml.model", "gpt2");
  // Without it llama.cpp warns and splits text with its "default" BPE
  // pre-tokenizer, not GPT-2's, so its token ids would differ from ours.
  w.add_string("tokenizer.ggml.pre", "gpt-2");
  w.add_array("tokenizer.ggml.tokens", string_array(std::move(tokens)));
  GgufArray ta;
  ta.element_type = GgufType::kInt32;
  ta.values = std::move(types);
  w.add_array("tokenizer.ggml.token_type", std::move(ta));
  w.add_array("tokenizer.ggml.merges", string_array(std::move(merges)));
  w.add_uint32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(vocab - 1));
  w.add_uint32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(vocab - 1));
  return absl::OkStatus();
}

absl::Status add_matrix(GgufWriter& w, const std::string& name, const WeightView& m) {
  // GGUF (and llama.cpp) stores rows one after another.
  if (m.layout != WeightLayout::kRowMajor) {
    return absl::InvalidArgumentError(
        absl::StrCat("model_to_gguf: tensor '", name, "' is not in the row-major layout"));
  }
  const uint8_t* p = static_cast<const uint8_t*>(m.data);
  return w.add_tensor(name, {m.cols, m.rows}, m.type, {p, m.rows * m.row_bytes()});
}

absl::Status add_vector(GgufWriter& w, const std::string& name, std::span<const float> v) {
  return w.add_tensor(name, {v.size()}, TensorType::kF32,
                      {reinterpret_cast<const uint8_t*>(v.data()), v.size() * sizeof(float)});
}

// llama_ftype (llama.h) of a model whose matrices are mostly `type`.
uint32_t llama_file_type(TensorType type) {
  switch (type) {
    case TensorType::kF32: return 0;   // ALL_F32
    case TensorType::kF16: return 1;   // MOSTLY_F16
    case TensorType::kQ4_0: return 2;  // MOSTLY_Q4_0
    case TensorType::kQ8_0: return 7;  // MOSTLY_Q8_0
    case TensorType::kQ2_K: return 10;  // MOSTLY_Q2_K
    case TensorType::kQ3_K: return 11;  // MOSTLY_Q3_K_S (every matrix Q3_K)
    case TensorType::kQ4_K: return 14;  // MOSTLY_Q4_K_S
    case TensorType::kQ5_K: return 16;  // MOSTLY_Q5_K_S
    case TensorType::kQ6_K: return 18;  // MOSTLY_Q6_K
    case TensorType::kBF16: return 32;  // MOSTLY_BF16
    case TensorType::kQ8_K: return 0;   // never a weight type
  }
  return 0;
}

// The type most weight matrices have (llama.cpp guesses general.file_type
// the same way when a file lacks it).
TensorType main_matrix_type(const ModelWeights& mw) {
  constexpr TensorType kTypes[] = {TensorType::kF32,  TensorType::kF16,  TensorType::kQ4_0,
                                   TensorType::kQ8_0, TensorType::kQ2_K, TensorType::kQ3_K,
                                   TensorType::kQ4_K, TensorType::kQ5_K, TensorType::kQ6_K,
                                   TensorType::kBF16};
  constexpr size_t kTypeCount = std::size(kTypes);
  size_t count[kTypeCount] = {};
  auto add = [&](const WeightView& m) {
    if (m.data == nullptr) return;
    for (size_t i = 0; i < kTypeCount; ++i) {
      if (kTypes[i] == m.type) ++count[i];
    }
  };
  add(mw.token_embedding);
  add(mw.output);
  for (const LayerWeights& L : mw.layers) {
    for (const WeightView* m : L.matrices()) add(*m);
  }
  size_t best = 0;
  for (size_t i = 1; i < kTypeCount; ++i) {
    if (count[i] > count[best]) best = i;
  }
  return kTypes[best];
}

absl::Status fill_writer(const Model& model, const std::string& name, GgufWriter& w) {
  const ModelConfig& c = model.config;
  const ModelWeights& mw = model.weights;
  const internal::ArchDescription& arch = internal::arch_description(c.arch);
  // llama.cpp runs rotary models with RoPE on adjacent pairs
  // (LLAMA_ROPE_TYPE_NORM); a split-halves model would need its Q/K rows
  // permuted first, which nothing here does.
  if (arch.rope && c.rope_layout != RopeLayout::kAdjacentPairs) {
    return absl::UnimplementedError(absl::StrCat(
        "model_to_gguf: the ", arch.name, " GGUF layout rotates adjacent pairs; this model's RoPE "
        "layout is split halves"));
  }
  // Files with learned positions carry one per context slot: context_length
  // must equal position_embd's rows even when the model was loaded with a
  // shorter max_seq_len.
  const size_t context_length = arch.rope ? c.max_seq_len : mw.position_embedding.rows;
  const std::string p = absl::StrCat(arch.name, ".");
  w.add_string("general.architecture", arch.name);
  w.add_string("general.name", name);
  w.add_uint32("general.file_type", llama_file_type(main_matrix_type(mw)));
  w.add_uint32("general.quantization_version", 2);  // GGML_QNT_VERSION
  w.add_uint32(p + "context_length", static_cast<uint32_t>(context_length));
  w.add_uint32(p + "embedding_length", static_cast<uint32_t>(c.dim));
  w.add_uint32(p + "feed_forward_length", static_cast<uint32_t>(c.hidden_dim));
  w.add_uint32(p + "block_count", static_cast<uint32_t>(c.n_layers));
  w.add_uint32(p + "attention.head_count", static_cast<uint32_t>(c.n_heads));
  if (arch.rope) {
    w.add_uint32(p + "attention.head_count_kv", static_cast<uint32_t>(c.n_kv_heads));
    w.add_uint32(p + "rope.dimension_count", static_cast<uint32_t>(c.rotary_dims()));
    w.add_float32(p + "rope.freq_base", c.rope_theta);
    if (c.rope_scale_factor != 1.0f) {
      w.add_string(p + "rope.scaling.type", "linear");
      w.add_float32(p + "rope.scaling.factor", c.rope_scale_factor);
    }
  }
  w.add_float32(p + arch.norm_eps_key, c.norm_eps);
  if (arch.vocab == internal::VocabKind::kSentencePiece) {
    LLMK_RETURN_IF_ERROR(add_llama_vocab(w, c.vocab_size));
  } else {
    LLMK_RETURN_IF_ERROR(add_gpt2_vocab(w, c.vocab_size));
  }
  LLMK_RETURN_IF_ERROR(add_matrix(w, "token_embd.weight", mw.token_embedding));
  if (!arch.rope) {
    LLMK_RETURN_IF_ERROR(add_matrix(w, "position_embd.weight", mw.position_embedding));
  }
  LLMK_RETURN_IF_ERROR(add_vector(w, "output_norm.weight", mw.output_norm));
  if (arch.norm == internal::NormKind::kLayerNorm) {
    LLMK_RETURN_IF_ERROR(add_vector(w, "output_norm.bias", mw.output_norm_bias));
  }
  if (!c.tied_output) LLMK_RETURN_IF_ERROR(add_matrix(w, "output.weight", mw.output));
  if (arch.rope && !mw.rope_freq_factors.empty()) {
    LLMK_RETURN_IF_ERROR(add_vector(w, "rope_freqs.weight", mw.rope_freq_factors));
  }
  for (size_t l = 0; l < mw.layers.size(); ++l) {
    const LayerWeights& L = mw.layers[l];
    const std::string b = absl::StrCat("blk.", l, ".");
    for (const internal::LayerTensor& t : arch.layer_tensors) {
      if (t.matrix != nullptr) {
        LLMK_RETURN_IF_ERROR(add_matrix(w, b + t.name, L.*t.matrix));
      } else if (!t.optional || !(L.*t.vector).empty()) {
        LLMK_RETURN_IF_ERROR(add_vector(w, b + t.name, L.*t.vector));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<uint8_t>> model_to_gguf(const Model& model, const std::string& name) {
  GgufWriter w;
  LLMK_RETURN_IF_ERROR(fill_writer(model, name, w));
  return w.to_bytes();
}

absl::Status write_model_gguf(const Model& model, const std::string& path,
                              const std::string& name) {
  GgufWriter w;
  LLMK_RETURN_IF_ERROR(fill_writer(model, name, w));
  return w.write(path);
}

}  // namespace llmk
