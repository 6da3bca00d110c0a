// load_model: llama2.c checkpoints and GGUF (llama, gpt2) into a Model.
#include <sys/mman.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "llmk/gguf.h"
#include "llmk/llama2c.h"
#include "llmk/model.h"
#include "llmk/quant.h"
#include "model/arch.h"
#include "model/mapped_file.h"
#include "quant/quant_kernels.h"
#include "model/model_internal.h"
#include "model/quant_mix.h"
#include "util/check.h"

namespace llmk {

namespace {
constexpr size_t kHugePage = size_t{2} << 20;

// n rounded up to a multiple of `to` (a power of two); 0 when that overflows.
size_t round_up(size_t n, size_t to) {
  const size_t r = (n + to - 1) & ~(to - 1);
  return r < n ? 0 : r;
}
}  // namespace

AlignedBytes allocate_weight_buffer(size_t bytes) {
  // Below a huge page, alignment to one would only waste memory (and the
  // kernel zeroing a whole 2 MiB page for a test's tiny model).
  const size_t align = bytes >= kHugePage ? kHugePage : 64;
  const size_t rounded = round_up(std::max<size_t>(bytes, 1), align);
  if (rounded == 0) return nullptr;
  void* p = std::aligned_alloc(align, rounded);
  // Advice only: where the kernel offers no huge pages the buffer still works.
  if (p != nullptr && align == kHugePage) madvise(p, rounded, MADV_HUGEPAGE);
  return AlignedBytes(static_cast<uint8_t*>(p));
}

uint8_t* ModelStorage::allocate(size_t bytes) {
  constexpr size_t kAlign = 64;
  const size_t want = round_up(std::max<size_t>(bytes, 1), kAlign);
  if (want == 0) return nullptr;
  if (want > slab_left_) {
    // Slabs double from kMinSlabBytes up to kMaxSlabBytes, so a tiny model
    // holds little and a large one wastes at most a slab's unused tail; a
    // real model's first tensor (the token embeddings, tens of MB) makes
    // every later slab a huge-page one.
    const size_t slab = std::max(std::clamp(slab_bytes_, kMinSlabBytes, kMaxSlabBytes), want);
    AlignedBytes buffer = allocate_weight_buffer(slab);
    if (!buffer) return nullptr;
    slab_next_ = buffer.get();
    slab_left_ = slab;
    slab_bytes_ += slab;
    buffers.push_back(std::move(buffer));
  }
  uint8_t* out = slab_next_;
  std::memset(out, 0, want);
  slab_next_ += want;
  slab_left_ -= want;
  return out;
}

const GgufFile* Model::gguf() const { return storage ? storage->gguf.get() : nullptr; }

namespace internal {

absl::StatusOr<WeightView> convert_matrix(const WeightView& w, const LoadConfig& config,
                                          ModelStorage& storage) {
  const bool is_float =
      w.type == TensorType::kF32 || w.type == TensorType::kF16 || w.type == TensorType::kBF16;
  if (config.quantize_to && *config.quantize_to == TensorType::kQ8_K) {
    return absl::InvalidArgumentError(
        "LoadConfig.quantize_to: Q8_K is an activation type, not a weight type");
  }
  TensorType target = w.type;
  if (is_float && config.quantize_to && w.cols % values_per_block(*config.quantize_to) == 0) {
    target = *config.quantize_to;
  } else if (!config.allow_quantized && w.type != TensorType::kF32) {
    target = TensorType::kF32;
  }
  if (target == w.type) return w;
  WeightView out{target, nullptr, w.rows, w.cols};
  size_t total;
  if (out.row_bytes() == 0 || !checked_mul(out.row_bytes(), w.rows, &total)) {
    return absl::InvalidArgumentError("convert_matrix: size overflows");
  }
  uint8_t* dst = storage.allocate(total);
  if (dst == nullptr) return absl::ResourceExhaustedError("convert_matrix: out of memory");
  out.data = dst;
  std::vector<float> row(w.cols);
  for (size_t r = 0; r < w.rows; ++r) {
    kernels::dequantize_row(w, r, row.data());
    LLMK_RETURN_IF_ERROR(encode_weight_row(target, row, dst + r * out.row_bytes()));
  }
  return out;
}

absl::Status validate_config(const ModelConfig& c) {
  auto bound = [](const char* name, size_t v, size_t max) -> absl::Status {
    if (v == 0 || v > max) {
      return absl::InvalidArgumentError(
          absl::StrCat("model: ", name, " = ", v, " is outside [1, ", max, "]"));
    }
    return absl::OkStatus();
  };
  LLMK_RETURN_IF_ERROR(bound("dim (embedding_length)", c.dim, kMaxModelDim));
  LLMK_RETURN_IF_ERROR(bound("hidden_dim (feed_forward_length)", c.hidden_dim,
                             kMaxModelHiddenDim));
  LLMK_RETURN_IF_ERROR(bound("n_layers (block_count)", c.n_layers, kMaxModelLayers));
  LLMK_RETURN_IF_ERROR(bound("n_heads (attention.head_count)", c.n_heads, kMaxModelHeads));
  LLMK_RETURN_IF_ERROR(bound("n_kv_heads (attention.head_count_kv)", c.n_kv_heads,
                             kMaxModelHeads));
  LLMK_RETURN_IF_ERROR(bound("vocab_size", c.vocab_size, kMaxModelVocab));
  LLMK_RETURN_IF_ERROR(bound("max_seq_len (context_length)", c.max_seq_len, kMaxModelSeqLen));
  if (c.dim % c.n_heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat("model: attention.head_count = ", c.n_heads,
                                                   " does not divide dim = ", c.dim));
  }
  if (c.n_heads % c.n_kv_heads != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("model: attention.head_count_kv = ", c.n_kv_heads,
                     " does not divide attention.head_count = ", c.n_heads));
  }
  if (c.head_dim != c.dim / c.n_heads || c.head_dim % 2 != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("model: head_dim = ", c.head_dim, " must be dim/n_heads and even"));
  }
  if (!(c.norm_eps > 0.0f) || !(c.norm_eps < 1.0f)) {
    return absl::InvalidArgumentError(
        absl::StrCat("model: norm epsilon ", c.norm_eps, " is outside (0, 1)"));
  }
  if (!(c.rope_theta > 1.0f) || !(c.rope_theta < 1e12f)) {
    return absl::InvalidArgumentError(
        absl::StrCat("model: rope.freq_base ", c.rope_theta, " is outside (1, 1e12)"));
  }
  if (c.rope_dims % 2 != 0 || c.rope_dims > c.head_dim) {
    return absl::InvalidArgumentError(
        absl::StrCat("model: rope.dimension_count = ", c.rope_dims,
                     " must be even and at most the head size ", c.head_dim));
  }
  if (!std::isfinite(c.rope_scale_factor) || !(c.rope_scale_factor > 0.0f)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model: rope.scaling.factor ", c.rope_scale_factor, " must be positive and finite"));
  }
  if (c.bos_id >= 0 && static_cast<size_t>(c.bos_id) >= c.vocab_size) {
    return absl::InvalidArgumentError(absl::StrCat("model: bos id ", c.bos_id,
                                                   " ≥ vocab_size ", c.vocab_size));
  }
  if (c.eos_id >= 0 && static_cast<size_t>(c.eos_id) >= c.vocab_size) {
    return absl::InvalidArgumentError(absl::StrCat("model: eos id ", c.eos_id,
                                                   " ≥ vocab_size ", c.vocab_size));
  }
  return absl::OkStatus();
}

}  // namespace internal

using internal::to_absl;

namespace {

// ------------------------------------------------------------ llama2.c

absl::StatusOr<Model> model_from_llama2c(std::unique_ptr<Llama2cCheckpoint> ckpt,
                                         const LoadConfig& load) {
  const Llama2cConfig& lc = ckpt->config();
  const Llama2cWeights& lw = ckpt->weights();
  Model m;
  ModelConfig& c = m.config;
  c.arch = ModelArch::kLlama;
  c.dim = lc.dim;
  c.hidden_dim = lc.hidden_dim;
  c.n_layers = lc.n_layers;
  c.n_heads = lc.n_heads;
  c.n_kv_heads = lc.n_kv_heads;
  c.head_dim = lc.head_dim();
  c.vocab_size = lc.vocab_size;
  c.max_seq_len = load.max_seq_len ? load.max_seq_len : lc.seq_len;
  c.rope_theta = 10000.0f;
  c.norm_eps = 1e-5f;
  c.rope_layout = RopeLayout::kAdjacentPairs;
  c.tied_output = lc.shared_classifier;
  c.bos_id = lc.vocab_size > 1 ? 1 : -1;
  c.eos_id = lc.vocab_size > 2 ? 2 : -1;
  LLMK_RETURN_IF_ERROR(internal::validate_config(c));

  auto storage = std::make_shared<ModelStorage>();
  const size_t d = c.dim, h = c.hidden_dim, kv = c.kv_dim();
  auto matrix = [&](std::span<const float> all, size_t layer, size_t rows,
                    size_t cols) -> absl::StatusOr<WeightView> {
    WeightView w{TensorType::kF32, all.data() + layer * rows * cols, rows, cols};
    return internal::convert_matrix(w, load, *storage);
  };
  ModelWeights& w = m.weights;
  LLMK_ASSIGN_OR_RETURN(w.token_embedding, matrix(lw.token_embedding, 0, c.vocab_size, d));
  w.layers.resize(c.n_layers);
  for (size_t l = 0; l < c.n_layers; ++l) {
    LayerWeights& L = w.layers[l];
    L.attn_norm = lw.rms_att.subspan(l * d, d);
    L.ffn_norm = lw.rms_ffn.subspan(l * d, d);
    LLMK_ASSIGN_OR_RETURN(L.attn_q, matrix(lw.wq, l, d, d));
    LLMK_ASSIGN_OR_RETURN(L.attn_k, matrix(lw.wk, l, kv, d));
    LLMK_ASSIGN_OR_RETURN(L.attn_v, matrix(lw.wv, l, kv, d));
    LLMK_ASSIGN_OR_RETURN(L.attn_output, matrix(lw.wo, l, d, d));
    LLMK_ASSIGN_OR_RETURN(L.ffn_gate, matrix(lw.w1, l, h, d));
    LLMK_ASSIGN_OR_RETURN(L.ffn_down, matrix(lw.w2, l, d, h));
    LLMK_ASSIGN_OR_RETURN(L.ffn_up, matrix(lw.w3, l, h, d));
  }
  w.output_norm = lw.rms_final;
  if (c.tied_output) {
    w.output = w.token_embedding;
  } else {
    LLMK_ASSIGN_OR_RETURN(w.output, matrix(lw.wcls, 0, c.vocab_size, d));
  }
  storage->llama2c = std::move(ckpt);
  m.storage = std::move(storage);
  return m;
}

// ------------------------------------------------------------ GGUF

class GgufModelReader {
 public:
  GgufModelReader(const GgufFile& f, const LoadConfig& load, ModelStorage& storage)
      : f_(f), load_(load), storage_(storage) {}

  // Tensors are read from `copy` (the data section, each tensor at its
  // offset) instead of the file's bytes when it is not null.
  void set_tensor_copy(const uint8_t* copy) { tensor_copy_ = copy; }

  absl::StatusOr<size_t> size_key(const std::string& key, std::optional<size_t> fallback) {
    auto v = f_.get_uint(key);
    if (v.status().code() == absl::StatusCode::kNotFound) {
      if (fallback) return *fallback;
      return absl::InvalidArgumentError(
          absl::StrCat("GGUF model: missing hyperparameter key '", key, "'"));
    }
    if (!v.ok()) return v.status();
    if (*v > (uint64_t{1} << 32)) {
      return absl::InvalidArgumentError(
          absl::StrCat("GGUF model: '", key, "' = ", *v, " is too large"));
    }
    return static_cast<size_t>(*v);
  }

  absl::StatusOr<float> float_key(const std::string& key, std::optional<float> fallback) {
    auto v = f_.get_float(key);
    if (v.status().code() == absl::StatusCode::kNotFound) {
      if (fallback) return *fallback;
      return absl::InvalidArgumentError(
          absl::StrCat("GGUF model: missing hyperparameter key '", key, "'"));
    }
    if (!v.ok()) return v.status();
    return static_cast<float>(*v);
  }

  bool has_key(const std::string& key) const { return f_.find(key) != nullptr; }

  absl::StatusOr<std::string> string_key(const std::string& key) {
    auto v = f_.get_string(key);
    if (!v.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("GGUF model: ", key, ": ",
                                                     v.status().message()));
    }
    return std::string(*v);
  }

  const GgufTensorInfo* find(const std::string& name) { return f_.find_tensor(name); }

  absl::StatusOr<WeightView> matrix(const std::string& name, size_t rows, size_t cols) {
    const GgufTensorInfo* t = f_.find_tensor(name);
    if (t == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("GGUF model: tensor '", name, "' missing"));
    }
    if (t->dims.size() != 2 || t->dims[0] != cols || t->dims[1] != rows) {
      return shape_error(*t, {cols, rows});
    }
    WeightView w{t->type, tensor_bytes(*t).data(), rows, cols};
    return internal::convert_matrix(w, load_, storage_);
  }

  // A 1-D f32 vector (F16 converted).
  absl::StatusOr<std::span<const float>> vector(const std::string& name, size_t n) {
    const GgufTensorInfo* t = f_.find_tensor(name);
    if (t == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("GGUF model: tensor '", name, "' missing"));
    }
    if (t->dims.size() != 1 || t->dims[0] != n) return shape_error(*t, {n});
    const auto bytes = tensor_bytes(*t);
    if (t->type == TensorType::kF32) {
      return std::span<const float>(reinterpret_cast<const float*>(bytes.data()), n);
    }
    if (t->type != TensorType::kF16) {
      return absl::InvalidArgumentError(absl::StrCat("GGUF model: tensor '", name, "' has type ",
                                                     to_absl(tensor_type_name(t->type)),
                                                     ", expected F32 or F16"));
    }
    float* out = reinterpret_cast<float*>(storage_.allocate(n * sizeof(float)));
    if (out == nullptr) return absl::ResourceExhaustedError("GGUF model: out of memory");
    kernels::dequantize_row(WeightView{TensorType::kF16, bytes.data(), 1, n}, 0, out);
    return std::span<const float>(out, n);
  }

 private:
  std::span<const uint8_t> tensor_bytes(const GgufTensorInfo& t) const {
    const auto in_file = f_.tensor_data(t);
    if (tensor_copy_ == nullptr || in_file.empty()) return in_file;
    return {tensor_copy_ + t.offset, in_file.size()};
  }

  absl::Status shape_error(const GgufTensorInfo& t, std::vector<size_t> expected) {
    std::string got, want;
    for (uint64_t d : t.dims) absl::StrAppend(&got, got.empty() ? "" : ", ", d);
    for (size_t d : expected) absl::StrAppend(&want, want.empty() ? "" : ", ", d);
    return absl::InvalidArgumentError(absl::StrCat("GGUF model: tensor '", t.name,
                                                   "' has shape [", got, "], expected [",
                                                   want, "]"));
  }

  const GgufFile& f_;
  const LoadConfig& load_;
  ModelStorage& storage_;
  const uint8_t* tensor_copy_ = nullptr;
};

// ------------------------------------------------------------ GGUF tensor data

// Where load_model reads a GGUF file's data section from for kCopy.
struct TensorDataFile {
  std::string path;
  uint64_t data_offset = 0;  // of the data section in the file
};

// Bytes from the data section's start to the end of its last tensor.
uint64_t tensor_data_bytes(const GgufFile& f) {
  uint64_t end = 0;
  for (const GgufTensorInfo& t : f.tensors()) end = std::max(end, t.offset + t.bytes);
  return end;  // the parser checked every tensor lies inside the file
}

bool copies_weights(const GgufFile& f, const LoadConfig& load) {
  const uint64_t bytes = tensor_data_bytes(f);
  switch (load.weights) {
    case LoadConfig::Weights::kMap:
      return false;
    case LoadConfig::Weights::kCopy:
      return bytes > 0;
    case LoadConfig::Weights::kAuto:
      break;
  }
  return bytes > 0 && bytes <= internal::available_memory_bytes() / 2;
}

// The data section copied into one buffer `storage` owns, 2 MiB-aligned and
// advised for huge pages (so each tensor keeps its GGUF alignment, at most
// 64 KiB), read from `source` when given (load_model), else copied from the
// GgufFile's own bytes. nullptr when the weights stay where they are.
absl::StatusOr<const uint8_t*> copy_tensor_data(const GgufFile& f, const LoadConfig& load,
                                                const TensorDataFile* source,
                                                ModelStorage& storage) {
  if (!copies_weights(f, load)) return nullptr;
  const uint64_t bytes = tensor_data_bytes(f);
  const std::string what = source ? absl::StrCat("'", source->path, "'") : "GGUF model";
  const size_t rounded = bytes <= SIZE_MAX - kHugePage ? round_up(bytes, kHugePage) : 0;
  void* p = rounded == 0 ? nullptr : std::aligned_alloc(kHugePage, rounded);
  if (p == nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat(
        what, ": cannot allocate ", bytes, " bytes to copy the weights into "
        "(LoadConfig.weights = kMap uses the file in place)"));
  }
  // Advice only: without transparent huge pages the buffer still works.
  madvise(p, rounded, MADV_HUGEPAGE);
  AlignedBytes buffer(static_cast<uint8_t*>(p));
  if (source != nullptr) {
    LLMK_RETURN_IF_ERROR(internal::read_file_range(source->path, source->data_offset,
                                                   {buffer.get(), static_cast<size_t>(bytes)}));
  } else {
    for (const GgufTensorInfo& t : f.tensors()) {
      const auto in_file = f.tensor_data(t);
      std::memcpy(buffer.get() + t.offset, in_file.data(), in_file.size());
    }
  }
  const uint8_t* copy = buffer.get();
  storage.buffers.push_back(std::move(buffer));
  return copy;
}

// Tokenizer metadata the model relies on: one entry per token, ids in range.
absl::Status check_tokenizer_metadata(const GgufFile& f, ModelConfig& c) {
  if (f.find("tokenizer.ggml.tokens") != nullptr) {
    LLMK_ASSIGN_OR_RETURN(auto tokens, f.get_array("tokenizer.ggml.tokens"));
    if (tokens->element_type != GgufType::kString) {
      return absl::InvalidArgumentError("GGUF model: tokenizer.ggml.tokens is not a string array");
    }
    if (tokens->size() != c.vocab_size) {
      return absl::InvalidArgumentError(
          absl::StrCat("GGUF model: tokenizer.ggml.tokens has ", tokens->size(),
                       " entries, the model's vocabulary has ", c.vocab_size));
    }
  }
  struct ArrayRule {
    const char* key;
    GgufType type;
  };
  for (const ArrayRule& rule : {ArrayRule{"tokenizer.ggml.scores", GgufType::kFloat32},
                                ArrayRule{"tokenizer.ggml.token_type", GgufType::kInt32}}) {
    if (f.find(rule.key) == nullptr) continue;
    LLMK_ASSIGN_OR_RETURN(auto arr, f.get_array(rule.key));
    if (arr->element_type != rule.type) {
      return absl::InvalidArgumentError(absl::StrCat(
          "GGUF model: ", rule.key, " has element type ",
          to_absl(gguf_type_name(arr->element_type)), ", expected ",
          to_absl(gguf_type_name(rule.type))));
    }
    if (arr->size() != c.vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat("GGUF model: ", rule.key, " has ",
                                                     arr->size(), " entries, expected ",
                                                     c.vocab_size, " (one per token)"));
    }
  }
  for (const char* key : {"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
                          "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.padding_token_id",
                          "tokenizer.ggml.seperator_token_id"}) {
    if (f.find(key) == nullptr) continue;
    LLMK_ASSIGN_OR_RETURN(auto id, f.get_uint(key));
    // llama.cpp's converter writes −1 as a uint32 for "no such token".
    if (id == 0xFFFFFFFFu) continue;
    if (id >= c.vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat("GGUF model: ", key, " = ", id,
                                                     " is not below the vocabulary size ",
                                                     c.vocab_size));
    }
    if (std::string_view(key) == "tokenizer.ggml.bos_token_id") c.bos_id = static_cast<int32_t>(id);
    if (std::string_view(key) == "tokenizer.ggml.eos_token_id") c.eos_id = static_cast<int32_t>(id);
  }
  return absl::OkStatus();
}

// Keys that change the computation in ways the forward pass lacks: refused
// by name rather than run with wrong logits.
absl::Status check_unsupported_keys(GgufModelReader& r, const std::string& p,
                                    const ModelConfig& c) {
  for (const char* name : {"attention.key_length", "attention.value_length"}) {
    const std::string key = p + name;
    if (!r.has_key(key)) continue;
    LLMK_ASSIGN_OR_RETURN(const size_t length, r.size_key(key, std::nullopt));
    if (length != c.head_dim) {
      return absl::UnimplementedError(absl::StrCat("GGUF model: ", key, " = ", length,
                                                   " differs from embedding_length / "
                                                   "head_count = ", c.head_dim));
    }
  }
  const std::string experts_key = p + "expert_count";
  if (r.has_key(experts_key)) {
    LLMK_ASSIGN_OR_RETURN(const size_t experts, r.size_key(experts_key, std::nullopt));
    if (experts != 0) {
      return absl::UnimplementedError(absl::StrCat("GGUF model: ", experts_key, " = ", experts,
                                                   " (mixture of experts) is not supported"));
    }
  }
  return absl::OkStatus();
}

// A string value for an error message: escaped and cut short, since it
// comes from the file.
std::string quoted(std::string_view value) {
  constexpr size_t kMaxShown = 48;
  const std::string out =
      absl::CEscape(absl::string_view(value.data(), std::min(value.size(), kMaxShown)));
  return absl::StrCat("'", out, value.size() > kMaxShown ? "…'" : "'");
}

// RoPE hyperparameters as llama.cpp reads them: rope.scaling.type defaults
// to "linear" and its factor to 0 (no scaling), so a factor alone scales
// linearly; the factor may sit under its older name rope.scale_linear; type
// "none" ignores the factor.
absl::Status read_rope_keys(GgufModelReader& r, const std::string& p, ModelConfig& c) {
  LLMK_ASSIGN_OR_RETURN(c.rope_theta, r.float_key(p + "rope.freq_base", 10000.0f));
  const std::string dims_key = p + "rope.dimension_count";
  if (r.has_key(dims_key)) {
    LLMK_ASSIGN_OR_RETURN(const size_t dims, r.size_key(dims_key, std::nullopt));
    if (dims == 0 || dims % 2 != 0 || dims > c.head_dim) {
      return absl::InvalidArgumentError(absl::StrCat("GGUF model: ", dims_key, " = ", dims,
                                                     " must be even and in [2, head size ",
                                                     c.head_dim, "]"));
    }
    c.rope_dims = dims;
  }
  const std::string type_key = p + "rope.scaling.type";
  std::string type = "linear";
  if (r.has_key(type_key)) {
    LLMK_ASSIGN_OR_RETURN(type, r.string_key(type_key));
  }
  std::string factor_key = p + "rope.scaling.factor";
  if (!r.has_key(factor_key) && r.has_key(p + "rope.scale_linear")) {
    factor_key = p + "rope.scale_linear";
  }
  LLMK_ASSIGN_OR_RETURN(const float factor, r.float_key(factor_key, 0.0f));
  if (!std::isfinite(factor) || factor < 0.0f) {
    return absl::InvalidArgumentError(absl::StrCat("GGUF model: ", factor_key, " = ", factor,
                                                   " must be finite and ≥ 0"));
  }
  if (type == "none") {
    c.rope_scale_factor = 1.0f;
  } else if (type == "linear") {
    c.rope_scale_factor = factor == 0.0f ? 1.0f : factor;
  } else if (type == "yarn" || type == "longrope") {
    return absl::UnimplementedError(absl::StrCat("GGUF model: ", type_key, " = ", quoted(type),
                                                 " is not supported (none, linear)"));
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("GGUF model: ", type_key, " = ", quoted(type),
                     " is not a RoPE scaling type (none, linear, yarn, longrope)"));
  }
  // llama.cpp multiplies every cos and sin by it, scaling q and k.
  const std::string attn_key = p + "rope.scaling.attn_factor";
  if (r.has_key(attn_key)) {
    LLMK_ASSIGN_OR_RETURN(const float attn_factor, r.float_key(attn_key, std::nullopt));
    if (attn_factor != 1.0f) {
      return absl::UnimplementedError(absl::StrCat("GGUF model: ", attn_key, " = ", attn_factor,
                                                   " is not supported (only 1)"));
    }
  }
  return absl::OkStatus();
}

// rope_freqs.weight: one positive finite divisor per rotated pair.
absl::StatusOr<std::span<const float>> read_rope_freq_factors(GgufModelReader& r,
                                                              const ModelConfig& c) {
  constexpr const char* kName = "rope_freqs.weight";
  LLMK_ASSIGN_OR_RETURN(auto factors, r.vector(kName, c.rotary_dims() / 2));
  for (size_t i = 0; i < factors.size(); ++i) {
    if (!std::isfinite(factors[i]) || !(factors[i] > 0.0f)) {
      return absl::InvalidArgumentError(absl::StrCat("GGUF model: tensor '", kName,
                                                     "' element ", i, " = ", factors[i],
                                                     " is not a positive finite divisor"));
    }
  }
  return factors;
}

}  // namespace

static absl::StatusOr<Model> gguf_model(std::shared_ptr<const GgufFile> file,
                                        const LoadConfig& load, const TensorDataFile* source) {
  if (file == nullptr) return absl::InvalidArgumentError("model_from_gguf: null file");
  const GgufFile& f = *file;
  auto arch_name = f.get_string("general.architecture");
  if (!arch_name.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("GGUF model: general.architecture: ",
                                                   arch_name.status().message()));
  }
  Model m;
  ModelConfig& c = m.config;
  const internal::ArchDescription* arch = internal::find_arch(*arch_name);
  if (arch == nullptr) {
    return absl::UnimplementedError(
        absl::StrCat("GGUF model: architecture '", *arch_name, "' is not supported (",
                     internal::to_absl(internal::supported_arch_names()), ")"));
  }
  c.arch = arch->arch;
  const std::string p = *arch_name + ".";
  auto storage = std::make_shared<ModelStorage>();
  GgufModelReader r(f, load, *storage);
  LLMK_ASSIGN_OR_RETURN(c.dim, r.size_key(p + "embedding_length", std::nullopt));
  LLMK_ASSIGN_OR_RETURN(c.n_layers, r.size_key(p + "block_count", std::nullopt));
  LLMK_ASSIGN_OR_RETURN(c.hidden_dim, r.size_key(p + "feed_forward_length", std::nullopt));
  LLMK_ASSIGN_OR_RETURN(c.n_heads, r.size_key(p + "attention.head_count", std::nullopt));
  LLMK_ASSIGN_OR_RETURN(c.n_kv_heads, r.size_key(p + "attention.head_count_kv", c.n_heads));
  LLMK_ASSIGN_OR_RETURN(c.max_seq_len, r.size_key(p + "context_length", std::nullopt));
  // Required, as llama.cpp requires it: a default would be silently wrong
  // for the models trained with another epsilon.
  LLMK_ASSIGN_OR_RETURN(c.norm_eps, r.float_key(p + arch->norm_eps_key, std::nullopt));
  if (c.n_heads == 0 || c.n_heads > kMaxModelHeads) {
    return absl::InvalidArgumentError(absl::StrCat("GGUF model: ", p,
                                                   "attention.head_count = ", c.n_heads,
                                                   " is outside [1, ", kMaxModelHeads, "]"));
  }
  c.head_dim = c.dim / c.n_heads;
  LLMK_RETURN_IF_ERROR(check_unsupported_keys(r, p, c));
  if (arch->rope) LLMK_RETURN_IF_ERROR(read_rope_keys(r, p, c));
  const GgufTensorInfo* emb = r.find("token_embd.weight");
  if (emb == nullptr) return absl::InvalidArgumentError("GGUF model: tensor 'token_embd.weight' missing");
  if (emb->dims.size() != 2) {
    return absl::InvalidArgumentError("GGUF model: tensor 'token_embd.weight' is not 2-D");
  }
  if (emb->dims[1] == 0 || emb->dims[1] > kMaxModelVocab) {
    return absl::InvalidArgumentError(absl::StrCat("GGUF model: vocabulary size ", emb->dims[1],
                                                   " is outside [1, ", kMaxModelVocab, "]"));
  }
  c.vocab_size = static_cast<size_t>(emb->dims[1]);
  if (f.find(p + "vocab_size") != nullptr) {
    size_t v;
    LLMK_ASSIGN_OR_RETURN(v, r.size_key(p + "vocab_size", std::nullopt));
    if (v != c.vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat("GGUF model: ", p, "vocab_size = ", v,
                                                     " but token_embd.weight has ",
                                                     c.vocab_size, " rows"));
    }
  }
  c.bos_id = c.vocab_size > 1 ? 1 : -1;
  c.eos_id = c.vocab_size > 2 ? 2 : -1;
  c.rope_layout = RopeLayout::kAdjacentPairs;
  c.tied_output = r.find("output.weight") == nullptr;
  LLMK_RETURN_IF_ERROR(check_tokenizer_metadata(f, c));
  const size_t model_ctx = c.max_seq_len;
  LLMK_RETURN_IF_ERROR(internal::validate_config(c));
  if (load.max_seq_len != 0) {
    if (!arch->rope && load.max_seq_len > model_ctx) {
      return absl::InvalidArgumentError(absl::StrCat(
          "LoadConfig.max_seq_len ", load.max_seq_len, " exceeds the ", arch->name,
          " model's learned positions (", model_ctx, ")"));
    }
    if (load.max_seq_len > kMaxModelSeqLen) {
      return absl::InvalidArgumentError("LoadConfig.max_seq_len is too large");
    }
    c.max_seq_len = load.max_seq_len;
  }

  LLMK_ASSIGN_OR_RETURN(const uint8_t* tensor_copy, copy_tensor_data(f, load, source, *storage));
  r.set_tensor_copy(tensor_copy);
  const size_t d = c.dim, V = c.vocab_size;
  ModelWeights& w = m.weights;
  LLMK_ASSIGN_OR_RETURN(w.token_embedding, r.matrix("token_embd.weight", V, d));
  LLMK_ASSIGN_OR_RETURN(w.output_norm, r.vector("output_norm.weight", d));
  if (arch->norm == internal::NormKind::kLayerNorm) {
    LLMK_ASSIGN_OR_RETURN(w.output_norm_bias, r.vector("output_norm.bias", d));
  }
  if (!arch->rope) {
    LLMK_ASSIGN_OR_RETURN(w.position_embedding, r.matrix("position_embd.weight", model_ctx, d));
  }
  if (c.tied_output) {
    w.output = w.token_embedding;
  } else {
    LLMK_ASSIGN_OR_RETURN(w.output, r.matrix("output.weight", V, d));
  }
  if (arch->rope && r.find("rope_freqs.weight") != nullptr) {
    LLMK_ASSIGN_OR_RETURN(w.rope_freq_factors, read_rope_freq_factors(r, c));
  }
  w.layers.resize(c.n_layers);
  for (size_t l = 0; l < c.n_layers; ++l) {
    const std::string b = absl::StrCat("blk.", l, ".");
    LayerWeights& L = w.layers[l];
    for (const internal::LayerTensor& t : arch->layer_tensors) {
      const size_t rows = internal::extent_size(t.rows, c);
      if (t.matrix != nullptr) {
        LLMK_ASSIGN_OR_RETURN(L.*t.matrix,
                              r.matrix(b + t.name, rows, internal::extent_size(t.cols, c)));
      } else if (!t.optional || r.find(b + t.name) != nullptr) {
        LLMK_ASSIGN_OR_RETURN(L.*t.vector, r.vector(b + t.name, rows));
      }
    }
  }
  storage->gguf = std::move(file);
  m.storage = std::move(storage);
  return m;
}

absl::StatusOr<Model> model_from_gguf(std::shared_ptr<const GgufFile> file,
                                      const LoadConfig& load) {
  return gguf_model(std::move(file), load, nullptr);
}

absl::StatusOr<Model> load_model(const std::string& path, const LoadConfig& config) {
  LLMK_ASSIGN_OR_RETURN(auto mapped, internal::MappedFile::open(path));
  const auto bytes = mapped->bytes();
  if (bytes.size() >= 4 && std::memcmp(bytes.data(), "GGUF", 4) == 0) {
    if (config.weights == LoadConfig::Weights::kMap) {
      mapped.reset();  // GgufFile maps the file itself
      LLMK_ASSIGN_OR_RETURN(auto gguf, GgufFile::open(path));
      return model_from_gguf(std::shared_ptr<const GgufFile>(std::move(gguf)), config);
    }
    // The metadata is parsed from the mapping; the tensor data is read with
    // pread. The mapping stays alive as long as the GgufFile (its
    // tensor_data() points there), with its touched pages given back.
    auto parsed = GgufFile::parse(bytes);
    if (!parsed.ok()) {
      return absl::Status(parsed.status().code(),
                          absl::StrCat(path, ": ", parsed.status().message()));
    }
    struct MappedGguf {
      std::unique_ptr<internal::MappedFile> mapping;
      std::unique_ptr<GgufFile> file;  // destroyed first
    };
    auto owner = std::make_shared<MappedGguf>(MappedGguf{std::move(mapped), std::move(*parsed)});
    const GgufFile& f = *owner->file;
    TensorDataFile source{path, 0};
    if (!f.tensors().empty()) {
      const GgufTensorInfo& t = f.tensors().front();
      source.data_offset = static_cast<uint64_t>(f.tensor_data(t).data() - bytes.data()) - t.offset;
    }
    const bool copy = copies_weights(f, config);
    auto model = gguf_model(std::shared_ptr<const GgufFile>(owner, owner->file.get()), config,
                            &source);
    if (model.ok() && copy) owner->mapping->drop_resident_pages();
    return model;
  }
  mapped.reset();
  LLMK_ASSIGN_OR_RETURN(auto ckpt, Llama2cCheckpoint::open(path));
  return model_from_llama2c(std::move(ckpt), config);
}

}  // namespace llmk
