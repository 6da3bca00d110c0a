// llama2.c checkpoints (Karpathy's run.c format), read in place from a
// memory mapping.
//
// Layout (all little-endian): a legacy header of 7 int32 — dim, hidden_dim,
// n_layers, n_heads, n_kv_heads, vocab_size, seq_len — then f32 weights in
// this order: token_embedding [vocab][dim], rms_att [layers][dim],
// wq [layers][dim][dim], wk [layers][kv_dim][dim], wv [layers][kv_dim][dim],
// wo [layers][dim][dim], rms_ffn [layers][dim], w1 [layers][hidden][dim],
// w2 [layers][dim][hidden], w3 [layers][hidden][dim], rms_final [dim],
// freq_cis_real and freq_cis_imag [seq_len][head_size/2] each (skipped: RoPE
// is recomputed), and wcls [vocab][dim] only when vocab_size < 0 (a separate
// classifier; otherwise the classifier is the token embedding).
//
// The file is untrusted input. parse_llama2c_header enforces, each violation
// an InvalidArgumentError naming the field:
// - at least 28 bytes; the newer export format (magic "ak42", versions 1 and
//   2 of llama2.c's export.py) is recognised and rejected with
//   UnimplementedError — re-export with the legacy format;
// - every field positive (vocab_size nonzero, INT_MIN rejected) and at most
//   the kLlama2cMax* bounds below;
// - n_heads divides dim, n_kv_heads divides n_heads, head size even;
// - the file size EXACTLY what the header implies for its classifier layout
//   (computed in checked 64-bit arithmetic);
// - the weight data 4-byte aligned in memory (always true for a mapping).
#pragma once

#include "llmk/export.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "absl/status/statusor.h"

namespace llmk LLMK_API {

inline constexpr int64_t kLlama2cMaxDim = int64_t{1} << 16;
inline constexpr int64_t kLlama2cMaxHiddenDim = int64_t{1} << 18;
inline constexpr int64_t kLlama2cMaxLayers = 1024;
inline constexpr int64_t kLlama2cMaxHeads = 1024;
inline constexpr int64_t kLlama2cMaxVocab = int64_t{1} << 22;
inline constexpr int64_t kLlama2cMaxSeqLen = int64_t{1} << 20;
inline constexpr size_t kLlama2cHeaderBytes = 28;
// "ak42" as a little-endian uint32 (the first 4 bytes of newer exports).
inline constexpr uint32_t kLlama2cNewMagic = 0x616b3432;

struct Llama2cConfig {
  size_t dim = 0;
  size_t hidden_dim = 0;
  size_t n_layers = 0;
  size_t n_heads = 0;
  size_t n_kv_heads = 0;
  size_t vocab_size = 0;  // |header vocab_size|
  size_t seq_len = 0;
  bool shared_classifier = true;  // header vocab_size > 0
  size_t head_dim() const { return dim / n_heads; }
  size_t kv_dim() const { return head_dim() * n_kv_heads; }
};

// Validates the header against the whole file's bytes (see the list above).
absl::StatusOr<Llama2cConfig> parse_llama2c_header(std::span<const uint8_t> file);

// Views into the file, shapes as in the layout comment above.
struct Llama2cWeights {
  std::span<const float> token_embedding, rms_att, wq, wk, wv, wo, rms_ffn, w1, w2, w3,
      rms_final, wcls;
};

class Llama2cCheckpoint {
 public:
  // Memory-maps `path` (no copy) and validates it.
  static absl::StatusOr<std::unique_ptr<Llama2cCheckpoint>> open(const std::string& path);
  // Validates a buffer the caller keeps alive as long as the checkpoint.
  static absl::StatusOr<std::unique_ptr<Llama2cCheckpoint>> parse(std::span<const uint8_t> file);
  ~Llama2cCheckpoint();

  const Llama2cConfig& config() const { return config_; }
  const Llama2cWeights& weights() const { return weights_; }

 private:
  Llama2cCheckpoint() = default;
  struct Mapping;
  std::unique_ptr<Mapping> mapping_;
  Llama2cConfig config_;
  Llama2cWeights weights_;
};

}  // namespace llmk
