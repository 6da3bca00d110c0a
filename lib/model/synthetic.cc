// Synthetic models (random weights of named shapes) and GGUF export with
// llama.cpp's names.
#include <cmath>
#include <cstring>
#include <string>
#include <unordered_set>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "llmk/gguf.h"
#include "llmk/model.h"
#include "llmk/quant.h"
#include "model/model_internal.h"
#include "util/check.h"
#include "util/utf8.h"

namespace llmk {
namespace {

struct NamedShape {
  const char* name;
  ModelArch arch;
  size_t dim, hidden, layers, heads, kv_heads, vocab, ctx;
};

constexpr NamedShape kShapes[] = {
    {"stories15M", ModelArch::kLlama, 288, 768, 6, 6, 6, 32000, 256},
    {"stories42M", ModelArch::kLlama, 512, 1376, 8, 8, 8, 32000, 1024},
    {"stories110M", ModelArch::kLlama, 768, 2048, 12, 12, 12, 32000, 1024},
    {"tinyllama-1.1B", ModelArch::kLlama, 2048, 5632, 22, 32, 4, 32000, 2048},
    {"gpt2-seed", ModelArch::kGpt2, 384, 1536, 6, 6, 6, 32000, 1024},
    // The spec's throughput-scaling sizes (3/6/12/24 layers; 15M/60M/240M/1B
    // parameters, vocab 32000 with a separate output): 16.2M, 60.8M, 240.5M,
    // 1.04B; dims multiples of 32 for Q4_0, FFN about 8/3 of dim.
    {"spec-tiny", ModelArch::kLlama, 224, 608, 3, 7, 7, 32000, 2048},
    {"spec-small", ModelArch::kLlama, 576, 1536, 6, 9, 9, 32000, 2048},
    {"spec-medium", ModelArch::kLlama, 1088, 2912, 12, 17, 17, 32000, 2048},
    {"spec-large", ModelArch::kLlama, 1792, 4800, 24, 28, 28, 32000, 2048},
    // Small shapes for tests (dims multiples of 32 so every type applies).
    {"tiny-llama", ModelArch::kLlama, 64, 160, 2, 4, 2, 320, 64},
    {"tiny-gpt2", ModelArch::kGpt2, 64, 256, 2, 4, 4, 320, 64},
};

// splitmix64: a small, portable, seedable generator.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // Uniform in [lo, hi).
  float uniform(float lo, float hi) {
    return lo + (hi - lo) * static_cast<float>(next() >> 40) * (1.0f / 16777216.0f);
  }

 private:
  uint64_t state_;
};

class SyntheticBuilder {
 public:
  SyntheticBuilder(TensorType type, uint64_t seed, ModelStorage& storage)
      : type_(type), rng_(seed), storage_(storage) {}

  absl::StatusOr<WeightView> matrix(size_t rows, size_t cols) {
    WeightView w{type_, nullptr, rows, cols};
    size_t bytes;
    if (!internal::checked_mul(w.row_bytes(), rows, &bytes)) {
      return absl::InvalidArgumentError("make_synthetic_model: size overflows");
    }
    uint8_t* dst = storage_.allocate(bytes);
    if (dst == nullptr) return absl::ResourceExhaustedError("make_synthetic_model: out of memory");
    w.data = dst;
    const float scale = 1.0f / std::sqrt(static_cast<float>(cols));
    row_.resize(cols);
    for (size_t r = 0; r < rows; ++r) {
      for (float& v : row_) v = rng_.uniform(-scale, scale);
      uint8_t* out = dst + r * w.row_bytes();
      switch (type_) {
        case TensorType::kF32:
          std::memcpy(out, row_.data(), cols * sizeof(float));
          break;
        case TensorType::kF16:
          for (size_t i = 0; i < cols; ++i) {
            const uint16_t h = f32_to_f16(row_[i]);
            std::memcpy(out + 2 * i, &h, 2);
          }
          break;
        case TensorType::kQ8_0:
          LLMK_RETURN_IF_ERROR(
              quantize_q8_0(row_, {reinterpret_cast<Q8_0Block*>(out), cols / kQuantBlock}));
          break;
        case TensorType::kQ4_0:
          LLMK_RETURN_IF_ERROR(
              quantize_q4_0(row_, {reinterpret_cast<Q4_0Block*>(out), cols / kQuantBlock}));
          break;
      }
    }
    return w;
  }

  absl::StatusOr<std::span<const float>> vector(size_t n, float lo, float hi) {
    float* dst = reinterpret_cast<float*>(storage_.allocate(n * sizeof(float)));
    if (dst == nullptr) return absl::ResourceExhaustedError("make_synthetic_model: out of memory");
    for (size_t i = 0; i < n; ++i) dst[i] = rng_.uniform(lo, hi);
    return std::span<const float>(dst, n);
  }

 private:
  TensorType type_;
  Rng rng_;
  ModelStorage& storage_;
  std::vector<float> row_;
};

}  // namespace

std::vector<std::string> synthetic_model_shapes() {
  std::vector<std::string> names;
  for (const NamedShape& s : kShapes) names.emplace_back(s.name);
  return names;
}

absl::StatusOr<ModelConfig> synthetic_model_config(const std::string& shape_name) {
  for (const NamedShape& s : kShapes) {
    if (shape_name != s.name) continue;
    ModelConfig c;
    c.arch = s.arch;
    c.dim = s.dim;
    c.hidden_dim = s.hidden;
    c.n_layers = s.layers;
    c.n_heads = s.heads;
    c.n_kv_heads = s.kv_heads;
    c.head_dim = s.dim / s.heads;
    c.vocab_size = s.vocab;
    c.max_seq_len = s.ctx;
    c.tied_output = false;
    if (s.arch == ModelArch::kGpt2) {
      c.bos_id = c.eos_id = static_cast<int32_t>(s.vocab - 1);  // <|endoftext|>
    }
    return c;
  }
  std::string known;
  for (const NamedShape& s : kShapes) absl::StrAppend(&known, known.empty() ? "" : ", ", s.name);
  return absl::InvalidArgumentError(
      absl::StrCat("unknown model shape '", shape_name, "' (known: ", known, ")"));
}

absl::StatusOr<Model> make_synthetic_model(const std::string& shape_name, TensorType type,
                                           uint64_t seed) {
  LLMK_ASSIGN_OR_RETURN(auto config, synthetic_model_config(shape_name));
  if (type != TensorType::kF32 && type != TensorType::kF16 && type != TensorType::kQ8_0 &&
      type != TensorType::kQ4_0) {
    return absl::InvalidArgumentError("make_synthetic_model: unsupported tensor type");
  }
  Model m;
  m.config = config;
  const ModelConfig& c = m.config;
  auto storage = std::make_shared<ModelStorage>();
  SyntheticBuilder b(type, seed, *storage);
  const size_t d = c.dim, h = c.hidden_dim, kv = c.kv_dim();
  ModelWeights& w = m.weights;
  LLMK_ASSIGN_OR_RETURN(w.token_embedding, b.matrix(c.vocab_size, d));
  if (c.arch == ModelArch::kGpt2) {
    LLMK_ASSIGN_OR_RETURN(w.position_embedding, b.matrix(c.max_seq_len, d));
  }
  w.layers.resize(c.n_layers);
  for (LayerWeights& L : w.layers) {
    LLMK_ASSIGN_OR_RETURN(L.attn_norm, b.vector(d, 0.8f, 1.2f));
    LLMK_ASSIGN_OR_RETURN(L.ffn_norm, b.vector(d, 0.8f, 1.2f));
    LLMK_ASSIGN_OR_RETURN(L.attn_output, b.matrix(d, d));
    LLMK_ASSIGN_OR_RETURN(L.ffn_up, b.matrix(h, d));
    LLMK_ASSIGN_OR_RETURN(L.ffn_down, b.matrix(d, h));
    if (c.arch == ModelArch::kLlama) {
      LLMK_ASSIGN_OR_RETURN(L.attn_q, b.matrix(d, d));
      LLMK_ASSIGN_OR_RETURN(L.attn_k, b.matrix(kv, d));
      LLMK_ASSIGN_OR_RETURN(L.attn_v, b.matrix(kv, d));
      LLMK_ASSIGN_OR_RETURN(L.ffn_gate, b.matrix(h, d));
    } else {
      LLMK_ASSIGN_OR_RETURN(L.attn_norm_bias, b.vector(d, -0.1f, 0.1f));
      LLMK_ASSIGN_OR_RETURN(L.ffn_norm_bias, b.vector(d, -0.1f, 0.1f));
      LLMK_ASSIGN_OR_RETURN(L.attn_qkv, b.matrix(3 * d, d));
      LLMK_ASSIGN_OR_RETURN(L.attn_qkv_bias, b.vector(3 * d, -0.1f, 0.1f));
      LLMK_ASSIGN_OR_RETURN(L.attn_output_bias, b.vector(d, -0.1f, 0.1f));
      LLMK_ASSIGN_OR_RETURN(L.ffn_up_bias, b.vector(h, -0.1f, 0.1f));
      LLMK_ASSIGN_OR_RETURN(L.ffn_down_bias, b.vector(d, -0.1f, 0.1f));
    }
  }
  LLMK_ASSIGN_OR_RETURN(w.output_norm, b.vector(d, 0.8f, 1.2f));
  if (c.arch == ModelArch::kGpt2) {
    LLMK_ASSIGN_OR_RETURN(w.output_norm_bias, b.vector(d, -0.1f, 0.1f));
  }
  LLMK_ASSIGN_OR_RETURN(w.output, b.matrix(c.vocab_size, d));
  m.storage = std::move(storage);
  return m;
}

// ------------------------------------------------------------ GGUF export

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
  }
  return 0;
}

// The type most weight matrices have (llama.cpp guesses general.file_type
// the same way when a file lacks it).
TensorType main_matrix_type(const ModelWeights& mw) {
  size_t count[4] = {};
  auto index = [](TensorType t) -> size_t {
    switch (t) {
      case TensorType::kF32: return 0;
      case TensorType::kF16: return 1;
      case TensorType::kQ4_0: return 2;
      case TensorType::kQ8_0: return 3;
    }
    return 0;
  };
  auto add = [&](const WeightView& m) {
    if (m.data != nullptr) ++count[index(m.type)];
  };
  add(mw.token_embedding);
  add(mw.output);
  for (const LayerWeights& L : mw.layers) {
    for (const WeightView* m : {&L.attn_q, &L.attn_k, &L.attn_v, &L.attn_qkv, &L.attn_output,
                                &L.ffn_gate, &L.ffn_up, &L.ffn_down}) {
      add(*m);
    }
  }
  constexpr TensorType kByIndex[4] = {TensorType::kF32, TensorType::kF16, TensorType::kQ4_0,
                                      TensorType::kQ8_0};
  size_t best = 0;
  for (size_t i = 1; i < 4; ++i) {
    if (count[i] > count[best]) best = i;
  }
  return kByIndex[best];
}

absl::Status fill_writer(const Model& model, const std::string& name, GgufWriter& w) {
  const ModelConfig& c = model.config;
  const ModelWeights& mw = model.weights;
  const bool llama = c.arch == ModelArch::kLlama;
  // llama.cpp runs the llama architecture with RoPE on adjacent pairs
  // (LLAMA_ROPE_TYPE_NORM); a split-halves model would need its Q/K rows
  // permuted first, which nothing here does.
  if (llama && c.rope_layout != RopeLayout::kAdjacentPairs) {
    return absl::UnimplementedError(
        "model_to_gguf: the llama GGUF layout rotates adjacent pairs; this model's RoPE layout "
        "is split halves");
  }
  // gpt2 files carry one learned position per context slot: context_length
  // must equal position_embd's rows even when the model was loaded with a
  // shorter max_seq_len.
  const size_t context_length = llama ? c.max_seq_len : mw.position_embedding.rows;
  const std::string p = llama ? "llama." : "gpt2.";
  w.add_string("general.architecture", llama ? "llama" : "gpt2");
  w.add_string("general.name", name);
  w.add_uint32("general.file_type", llama_file_type(main_matrix_type(mw)));
  w.add_uint32("general.quantization_version", 2);  // GGML_QNT_VERSION
  w.add_uint32(p + "context_length", static_cast<uint32_t>(context_length));
  w.add_uint32(p + "embedding_length", static_cast<uint32_t>(c.dim));
  w.add_uint32(p + "feed_forward_length", static_cast<uint32_t>(c.hidden_dim));
  w.add_uint32(p + "block_count", static_cast<uint32_t>(c.n_layers));
  w.add_uint32(p + "attention.head_count", static_cast<uint32_t>(c.n_heads));
  if (llama) {
    w.add_uint32(p + "attention.head_count_kv", static_cast<uint32_t>(c.n_kv_heads));
    w.add_uint32(p + "rope.dimension_count", static_cast<uint32_t>(c.head_dim));
    w.add_float32(p + "rope.freq_base", c.rope_theta);
    w.add_float32(p + "attention.layer_norm_rms_epsilon", c.norm_eps);
    LLMK_RETURN_IF_ERROR(add_llama_vocab(w, c.vocab_size));
  } else {
    w.add_float32(p + "attention.layer_norm_epsilon", c.norm_eps);
    LLMK_RETURN_IF_ERROR(add_gpt2_vocab(w, c.vocab_size));
  }
  LLMK_RETURN_IF_ERROR(add_matrix(w, "token_embd.weight", mw.token_embedding));
  if (!llama) LLMK_RETURN_IF_ERROR(add_matrix(w, "position_embd.weight", mw.position_embedding));
  LLMK_RETURN_IF_ERROR(add_vector(w, "output_norm.weight", mw.output_norm));
  if (!llama) LLMK_RETURN_IF_ERROR(add_vector(w, "output_norm.bias", mw.output_norm_bias));
  if (!c.tied_output) LLMK_RETURN_IF_ERROR(add_matrix(w, "output.weight", mw.output));
  for (size_t l = 0; l < mw.layers.size(); ++l) {
    const LayerWeights& L = mw.layers[l];
    const std::string b = absl::StrCat("blk.", l, ".");
    LLMK_RETURN_IF_ERROR(add_vector(w, b + "attn_norm.weight", L.attn_norm));
    if (llama) {
      LLMK_RETURN_IF_ERROR(add_matrix(w, b + "attn_q.weight", L.attn_q));
      LLMK_RETURN_IF_ERROR(add_matrix(w, b + "attn_k.weight", L.attn_k));
      LLMK_RETURN_IF_ERROR(add_matrix(w, b + "attn_v.weight", L.attn_v));
    } else {
      LLMK_RETURN_IF_ERROR(add_vector(w, b + "attn_norm.bias", L.attn_norm_bias));
      LLMK_RETURN_IF_ERROR(add_matrix(w, b + "attn_qkv.weight", L.attn_qkv));
      LLMK_RETURN_IF_ERROR(add_vector(w, b + "attn_qkv.bias", L.attn_qkv_bias));
    }
    LLMK_RETURN_IF_ERROR(add_matrix(w, b + "attn_output.weight", L.attn_output));
    if (!llama) LLMK_RETURN_IF_ERROR(add_vector(w, b + "attn_output.bias", L.attn_output_bias));
    LLMK_RETURN_IF_ERROR(add_vector(w, b + "ffn_norm.weight", L.ffn_norm));
    if (llama) {
      LLMK_RETURN_IF_ERROR(add_matrix(w, b + "ffn_gate.weight", L.ffn_gate));
    } else {
      LLMK_RETURN_IF_ERROR(add_vector(w, b + "ffn_norm.bias", L.ffn_norm_bias));
      LLMK_RETURN_IF_ERROR(add_vector(w, b + "ffn_up.bias", L.ffn_up_bias));
      LLMK_RETURN_IF_ERROR(add_vector(w, b + "ffn_down.bias", L.ffn_down_bias));
    }
    LLMK_RETURN_IF_ERROR(add_matrix(w, b + "ffn_up.weight", L.ffn_up));
    LLMK_RETURN_IF_ERROR(add_matrix(w, b + "ffn_down.weight", L.ffn_down));
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
