// Synthetic models: random weights of named shapes, drawn tensor by tensor
// in the architecture table's order.
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "llmk/gguf.h"
#include "llmk/model.h"
#include "llmk/model_tools.h"
#include "llmk/quant.h"
#include "model/arch.h"
#include "model/model_internal.h"
#include "model/quant_mix.h"
#include "util/check.h"

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
    // stories110M's own context is 1024; 2048 (RoPE, nothing learned per
    // position) lets a file of it run the bench's pp1024+tg128.
    {"stories110M", ModelArch::kLlama, 768, 2048, 12, 12, 12, 32000, 2048},
    {"tinyllama-1.1B", ModelArch::kLlama, 2048, 5632, 22, 32, 4, 32000, 2048},
    {"gpt2-spec", ModelArch::kGpt2, 384, 1536, 6, 6, 6, 32000, 1024},
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
    // K-quant test shape: rows of 256 values, 8 layers so llama.cpp's
    // per-layer mix rules (first/last eighth, every third) all apply, and
    // 4 query heads per kv head (its GQA rule).
    {"tiny-llama-256", ModelArch::kLlama, 256, 512, 8, 4, 1, 512, 64},
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
      LLMK_RETURN_IF_ERROR(internal::encode_weight_row(type_, row_, out));
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
    if (internal::arch_description(s.arch).vocab == internal::VocabKind::kByteLevelBpe) {
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
  if (type == TensorType::kQ8_K) {
    return absl::InvalidArgumentError("make_synthetic_model: Q8_K is not a weight type");
  }
  Model m;
  m.config = config;
  const ModelConfig& c = m.config;
  auto storage = std::make_shared<ModelStorage>();
  SyntheticBuilder b(type, seed, *storage);
  const internal::ArchDescription& arch = internal::arch_description(c.arch);
  const size_t d = c.dim;
  ModelWeights& w = m.weights;
  LLMK_ASSIGN_OR_RETURN(w.token_embedding, b.matrix(c.vocab_size, d));
  if (!arch.rope) {
    LLMK_ASSIGN_OR_RETURN(w.position_embedding, b.matrix(c.max_seq_len, d));
  }
  w.layers.resize(c.n_layers);
  for (LayerWeights& L : w.layers) {
    for (const internal::LayerTensor& t : arch.layer_tensors) {
      if (t.optional) continue;
      const size_t rows = internal::extent_size(t.rows, c);
      if (t.matrix != nullptr) {
        LLMK_ASSIGN_OR_RETURN(L.*t.matrix, b.matrix(rows, internal::extent_size(t.cols, c)));
      } else if (t.is_bias) {
        LLMK_ASSIGN_OR_RETURN(L.*t.vector, b.vector(rows, -0.1f, 0.1f));
      } else {
        LLMK_ASSIGN_OR_RETURN(L.*t.vector, b.vector(rows, 0.8f, 1.2f));
      }
    }
  }
  LLMK_ASSIGN_OR_RETURN(w.output_norm, b.vector(d, 0.8f, 1.2f));
  if (arch.norm == internal::NormKind::kLayerNorm) {
    LLMK_ASSIGN_OR_RETURN(w.output_norm_bias, b.vector(d, -0.1f, 0.1f));
  }
  LLMK_ASSIGN_OR_RETURN(w.output, b.matrix(c.vocab_size, d));
  m.storage = std::move(storage);
  return m;
}

}  // namespace llmk
