// A transformer model in memory: its hyperparameters, views of its weights,
// and the forward pass (Transformer): the runtime API. Synthetic models,
// GGUF export and quantization are tooling, in llmk/model_tools.h.
//
// load_model() reads llama2.c checkpoints (see llama2c.h) and GGUF files
// (architectures "llama" and "gpt2", llama.cpp's key and tensor names),
// telling them apart by the magic. Weights stay in the file's memory mapping
// unless LoadConfig asks for a conversion; the Model keeps the mapping (or
// the converted buffers) alive, and copies of a Model share them.
//
// GGUF limits, beyond those of gguf.h (each an InvalidArgumentError naming
// the key or tensor): required hyperparameter keys (the norm epsilon
// included) present with integer / float types; keys the loader does not
// know are ignored; every size ≥ 1 and ≤ the kMaxModel* bounds; n_heads
// divides dim, n_kv_heads divides n_heads, head_dim even;
// rope.dimension_count even and ≤ head_dim; rope.scaling.type "none" or
// "linear", its factor (or rope.scale_linear) finite and ≥ 0, 0 meaning none
// as in llama.cpp; rope_freqs.weight [rotary_dims/2] of positive finite
// divisors; every tensor present with exactly the shape the hyperparameters
// imply (llama's biases optional); norms and biases F32 or F16;
// tokenizer.ggml.tokens / scores / token_type, when present, of the right
// element type and exactly one entry per token of the model's vocabulary;
// special-token ids (bos/eos/unk/pad/sep) below the vocabulary size.
// Keys asking for what the forward pass lacks are an UnimplementedError
// naming the key: rope.scaling.type yarn / longrope, rope.scaling.attn_factor
// ≠ 1, attention.key_length / value_length ≠ head_dim, expert_count > 0.
#pragma once

#include "llmk/export.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "llmk/kv_cache.h"  // KvType
#include "llmk/ops.h"    // RopeLayout
#include "llmk/quant.h"  // WeightView, TensorType, ActivationMode

namespace llmk LLMK_API {

class GgufFile;
class ThreadPool;
class KVCache;

inline constexpr size_t kMaxModelDim = size_t{1} << 16;
inline constexpr size_t kMaxModelHiddenDim = size_t{1} << 18;
inline constexpr size_t kMaxModelLayers = 1024;
inline constexpr size_t kMaxModelHeads = 1024;
inline constexpr size_t kMaxModelVocab = size_t{1} << 22;
inline constexpr size_t kMaxModelSeqLen = size_t{1} << 20;

enum class ModelArch { kLlama, kGpt2 };

struct ModelConfig {
  ModelArch arch = ModelArch::kLlama;
  size_t dim = 0;
  size_t hidden_dim = 0;
  size_t n_layers = 0;
  size_t n_heads = 0;
  size_t n_kv_heads = 0;
  size_t head_dim = 0;
  size_t vocab_size = 0;
  size_t max_seq_len = 0;
  float rope_theta = 10000.0f;
  // Rotated elements at the start of each head (rope.dimension_count); the
  // rest of the head passes through RoPE unchanged. 0 means all head_dim.
  size_t rope_dims = 0;
  // Linear RoPE scaling (rope.scaling.factor): every angle is multiplied by
  // 1/rope_scale_factor, as if positions were divided by it.
  float rope_scale_factor = 1.0f;
  float norm_eps = 1e-5f;
  RopeLayout rope_layout = RopeLayout::kAdjacentPairs;
  bool tied_output = false;  // the classifier is the token embedding
  int32_t bos_id = 1;        // −1 when the model has none
  int32_t eos_id = 2;
  size_t kv_dim() const { return head_dim * n_kv_heads; }
  size_t rotary_dims() const { return rope_dims != 0 ? rope_dims : head_dim; }
};

// One block's weights. Matrices are rows × cols = out × in. llama uses
// attn_q/k/v and ffn_gate/up/down, and biases where the file has them; gpt2
// uses attn_qkv (3·dim rows: q, k, v) and ffn_up/down, and its biases. A
// bias has one entry per row of its matrix. Spans of norms/biases are empty
// when the model has none.
struct LayerWeights {
  std::span<const float> attn_norm, attn_norm_bias;  // [dim]
  WeightView attn_q, attn_k, attn_v, attn_qkv, attn_output;
  std::span<const float> attn_q_bias, attn_k_bias, attn_v_bias;
  std::span<const float> attn_qkv_bias, attn_output_bias;
  std::span<const float> ffn_norm, ffn_norm_bias;  // [dim]
  WeightView ffn_gate, ffn_up, ffn_down;
  std::span<const float> ffn_gate_bias, ffn_up_bias, ffn_down_bias;

  // Every weight-matrix slot, in one list (absent ones have null data).
  std::array<WeightView*, 8> matrices() {
    return {&attn_q, &attn_k, &attn_v, &attn_qkv, &attn_output, &ffn_gate, &ffn_up, &ffn_down};
  }
  std::array<const WeightView*, 8> matrices() const {
    return {&attn_q, &attn_k, &attn_v, &attn_qkv, &attn_output, &ffn_gate, &ffn_up, &ffn_down};
  }
};

struct ModelWeights {
  WeightView token_embedding;     // vocab × dim
  WeightView position_embedding;  // max_seq_len × dim (gpt2 only)
  std::vector<LayerWeights> layers;
  std::span<const float> output_norm, output_norm_bias;
  WeightView output;  // vocab × dim; == token_embedding when tied
  // Llama 3's RoPE scaling (rope_freqs.weight): [rotary_dims/2] divisors of
  // each pair's frequency, shared by every layer; empty when the model has none.
  std::span<const float> rope_freq_factors;
};

struct LLMK_HIDDEN ModelStorage;  // mapping and owned buffers (lib/model)

struct Model {
  ModelConfig config;
  ModelWeights weights;
  std::shared_ptr<const ModelStorage> storage;
  // The GGUF file the model came from (for the tokenizer's metadata), or null.
  const GgufFile* gguf() const;
};

struct LoadConfig {
  // Keep F16/BF16/quantized weight matrices as stored; false dequantizes to F32.
  bool allow_quantized = true;
  // Re-encode F32/F16/BF16 weight matrices whose rows fit the type's blocks
  // (32 values for Q8_0/Q4_0, 256 for the K-quants) as this weight type, with
  // ggml's reference quantizers; other matrices stay as stored.
  std::optional<TensorType> quantize_to;
  // Context length to use instead of the model's (0 = the model's).
  size_t max_seq_len = 0;
  // Where a GGUF file's tensor data lives once loaded (llama2.c checkpoints
  // are always mapped; tensors converted by the options above always live in
  // buffers of their own).
  enum class Weights {
    // kCopy when the tensor data takes at most half of the memory available
    // at load time, else kMap.
    kAuto,
    // Used in place from a read-only mapping of the file: the quickest
    // start-up, and memory the page cache owns (shared with every process
    // mapping the file, given back under pressure and read again on demand),
    // in whatever pages the page cache uses (4 KiB on many kernels and file
    // systems, so each token pays more TLB misses).
    kMap,
    // Read (pread, not through the mapping) into one buffer the model owns,
    // 2 MiB-aligned and advised for transparent huge pages, each tensor at
    // its GGUF offset, so its alignment holds: start-up reads the whole file,
    // and the process holds a private copy (the page cache may keep another
    // until reclaimed), and tokens run from huge pages wherever the file
    // lives. model_from_gguf copies from the GgufFile's own bytes.
    kCopy,
  };
  Weights weights = Weights::kAuto;
};

absl::StatusOr<Model> load_model(const std::string& path, const LoadConfig& config = {});
absl::StatusOr<Model> model_from_gguf(std::shared_ptr<const GgufFile> file,
                                      const LoadConfig& config = {});

// ---------------------------------------------------------------- forward

struct TransformerOptions {
  size_t n_threads = 1;
  size_t n_seqs = 1;       // independent sequences in the KV cache
  size_t max_seq_len = 0;  // KV cache length (0 = the model's)
  size_t max_batch = 128;  // most tokens per forward_batch / forward_seqs call
  ActivationMode activation_mode = ActivationMode::kQuantizeQ8_0;
  // The KV cache's element type. F16 (llama.cpp's default) halves the bytes
  // attention reads per token, which dominate long contexts, at a rounding
  // of 2⁻¹¹ relative per stored key and value; F32 stays the default so the
  // logits keep matching the f32 references the tests compare with.
  KvType kv_type = KvType::kF32;
  bool spin_wait = false;  // workers spin between jobs (lower latency, burns CPU)
  // Copy the Q4_0 / Q8_0 weight matrices into the kInterleaved8 layout
  // (llmk/quant.h) for the integer kernels: faster, and costs a second copy
  // of those matrices in memory. Only with kQuantizeQ8_0 activations.
  bool pack_weights = true;
};

class Transformer {
 public:
  static absl::StatusOr<std::unique_ptr<Transformer>> create(const Model& model,
                                                             const TransformerOptions& options);
  ~Transformer();

  // Runs one token at position `pos` of sequence `seq` and returns its logits
  // (valid until the next call). pos must be ≤ the sequence's cache position
  // (earlier positions are overwritten, later ones discarded) and below the
  // cache length; token below the vocabulary size. Errors otherwise.
  absl::StatusOr<std::span<const float>> forward(int32_t token, size_t pos, size_t seq = 0);

  // Processes tokens at positions start_pos… of `seq` in batches of at most
  // max_batch, with causal attention. Returns the last token's logits, or
  // every token's (tokens.size() × vocab) when all_logits is set — then
  // tokens.size() ≤ max_batch.
  absl::StatusOr<std::span<const float>> forward_batch(std::span<const int32_t> tokens,
                                                       size_t start_pos, size_t seq = 0,
                                                       bool all_logits = false);

  // One token for each of several sequences (distinct seqs), each at its own
  // position: returns tokens.size() × vocab logits, row i for seqs[i].
  absl::StatusOr<std::span<const float>> forward_seqs(std::span<const int32_t> tokens,
                                                      std::span<const size_t> positions,
                                                      std::span<const size_t> seqs);

  const ModelConfig& config() const;
  KVCache& kv_cache();
  ThreadPool& pool();
  size_t max_seq_len() const;
  size_t max_batch() const;

 private:
  Transformer();
  struct LLMK_HIDDEN State;
  std::unique_ptr<State> s_;
};

}  // namespace llmk
