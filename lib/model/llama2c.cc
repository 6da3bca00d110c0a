#include "llmk/llama2c.h"

#include <cstring>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "model/mapped_file.h"
#include "util/check.h"

namespace llmk {
namespace {

// Sum of products in checked 64-bit arithmetic; false on overflow.
class Checked {
 public:
  bool add_product(uint64_t a, uint64_t b, uint64_t c = 1) {
    uint64_t p;
    if (__builtin_mul_overflow(a, b, &p) || __builtin_mul_overflow(p, c, &p) ||
        __builtin_add_overflow(total_, p, &total_)) {
      ok_ = false;
    }
    return ok_;
  }
  bool ok() const { return ok_; }
  uint64_t total() const { return total_; }

 private:
  uint64_t total_ = 0;
  bool ok_ = true;
};

absl::Status check_field(const char* name, int64_t value, int64_t max) {
  if (value <= 0 || value > max) {
    return absl::InvalidArgumentError(absl::StrCat("llama2.c header: ", name, " = ", value,
                                                   " is outside [1, ", max, "]"));
  }
  return absl::OkStatus();
}

// Floats of every tensor in file order, the skipped RoPE tables included.
struct Sizes {
  uint64_t embedding, rms_att, wq, wk, wv, wo, rms_ffn, w1, w2, w3, rms_final, freq_cis, wcls;
};

Sizes tensor_floats(const Llama2cConfig& c) {
  // The header bounds keep every product below 2^62; no overflow possible.
  const uint64_t L = c.n_layers, d = c.dim, h = c.hidden_dim, kv = c.kv_dim();
  return Sizes{c.vocab_size * d, L * d,     L * d * d, L * kv * d,
               L * kv * d,       L * d * d, L * d,     L * h * d,
               L * d * h,        L * h * d, d,         c.seq_len * c.head_dim(),
               c.shared_classifier ? 0 : c.vocab_size * d};
}

}  // namespace

absl::StatusOr<Llama2cConfig> parse_llama2c_header(std::span<const uint8_t> file) {
  if (file.size() < 4) {
    return absl::InvalidArgumentError(absl::StrCat(
        "llama2.c checkpoint: file is ", file.size(), " bytes, shorter than the 28-byte header"));
  }
  uint32_t magic;
  std::memcpy(&magic, file.data(), 4);
  if (magic == kLlama2cNewMagic) {
    int32_t version = -1;
    if (file.size() >= 8) std::memcpy(&version, file.data() + 4, 4);
    return absl::UnimplementedError(absl::StrCat(
        "llama2.c checkpoint: magic \"ak42\" (export format version ", version,
        ") is not supported; export with the legacy format (version 0)"));
  }
  if (file.size() < kLlama2cHeaderBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "llama2.c checkpoint: file is ", file.size(), " bytes, shorter than the 28-byte header"));
  }
  int32_t f[7];
  std::memcpy(f, file.data(), sizeof f);
  const int64_t vocab = f[5];  // 64-bit: negating INT_MIN is then defined
  absl::Status st;
  if (!(st = check_field("dim", f[0], kLlama2cMaxDim)).ok()) return st;
  if (!(st = check_field("hidden_dim", f[1], kLlama2cMaxHiddenDim)).ok()) return st;
  if (!(st = check_field("n_layers", f[2], kLlama2cMaxLayers)).ok()) return st;
  if (!(st = check_field("n_heads", f[3], kLlama2cMaxHeads)).ok()) return st;
  if (!(st = check_field("n_kv_heads", f[4], kLlama2cMaxHeads)).ok()) return st;
  if (!(st = check_field("vocab_size (absolute value)", vocab < 0 ? -vocab : vocab,
                         kLlama2cMaxVocab)).ok()) {
    return st;
  }
  if (!(st = check_field("seq_len", f[6], kLlama2cMaxSeqLen)).ok()) return st;

  Llama2cConfig c;
  c.dim = static_cast<size_t>(f[0]);
  c.hidden_dim = static_cast<size_t>(f[1]);
  c.n_layers = static_cast<size_t>(f[2]);
  c.n_heads = static_cast<size_t>(f[3]);
  c.n_kv_heads = static_cast<size_t>(f[4]);
  c.vocab_size = static_cast<size_t>(vocab < 0 ? -vocab : vocab);
  c.seq_len = static_cast<size_t>(f[6]);
  c.shared_classifier = vocab > 0;
  if (c.dim % c.n_heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat("llama2.c header: n_heads = ", c.n_heads,
                                                   " does not divide dim = ", c.dim));
  }
  if (c.n_heads % c.n_kv_heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat("llama2.c header: n_kv_heads = ",
                                                   c.n_kv_heads, " does not divide n_heads = ",
                                                   c.n_heads));
  }
  if (c.head_dim() % 2 != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "llama2.c header: head size dim/n_heads = ", c.head_dim(), " is odd (RoPE needs pairs)"));
  }

  const Sizes s = tensor_floats(c);
  Checked total;
  for (uint64_t n : {s.embedding, s.rms_att, s.wq, s.wk, s.wv, s.wo, s.rms_ffn, s.w1, s.w2,
                     s.w3, s.rms_final, s.freq_cis, s.wcls}) {
    total.add_product(n, sizeof(float));
  }
  total.add_product(kLlama2cHeaderBytes, 1);
  if (!total.ok()) {
    return absl::InvalidArgumentError("llama2.c header: implied file size overflows 64 bits");
  }
  if (total.total() != file.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "llama2.c checkpoint: file size is ", file.size(), " bytes but the header implies ",
        total.total(), " bytes (", c.shared_classifier ? "shared" : "separate",
        " classifier)"));
  }
  if (reinterpret_cast<uintptr_t>(file.data()) % alignof(float) != 0) {
    return absl::InvalidArgumentError("llama2.c checkpoint: buffer is not 4-byte aligned");
  }
  return c;
}

struct Llama2cCheckpoint::Mapping {
  std::unique_ptr<internal::MappedFile> file;
};

Llama2cCheckpoint::~Llama2cCheckpoint() = default;

absl::StatusOr<std::unique_ptr<Llama2cCheckpoint>> Llama2cCheckpoint::parse(
    std::span<const uint8_t> file) {
  LLMK_ASSIGN_OR_RETURN(auto config, parse_llama2c_header(file));
  auto ckpt = std::unique_ptr<Llama2cCheckpoint>(new Llama2cCheckpoint());
  ckpt->config_ = config;
  const Sizes s = tensor_floats(config);
  const float* p = reinterpret_cast<const float*>(file.data() + kLlama2cHeaderBytes);
  auto take = [&p](uint64_t n) {
    std::span<const float> out(p, static_cast<size_t>(n));
    p += n;
    return out;
  };
  Llama2cWeights& w = ckpt->weights_;
  w.token_embedding = take(s.embedding);
  w.rms_att = take(s.rms_att);
  w.wq = take(s.wq);
  w.wk = take(s.wk);
  w.wv = take(s.wv);
  w.wo = take(s.wo);
  w.rms_ffn = take(s.rms_ffn);
  w.w1 = take(s.w1);
  w.w2 = take(s.w2);
  w.w3 = take(s.w3);
  w.rms_final = take(s.rms_final);
  take(s.freq_cis);
  w.wcls = config.shared_classifier ? w.token_embedding : take(s.wcls);
  return ckpt;
}

absl::StatusOr<std::unique_ptr<Llama2cCheckpoint>> Llama2cCheckpoint::open(
    const std::string& path) {
  LLMK_ASSIGN_OR_RETURN(auto file, internal::MappedFile::open(path));
  auto ckpt = parse(file->bytes());
  if (!ckpt.ok()) {
    return absl::Status(ckpt.status().code(),
                        absl::StrCat(ckpt.status().message(), " ('", path, "')"));
  }
  (*ckpt)->mapping_ = std::make_unique<Mapping>();
  (*ckpt)->mapping_->file = std::move(file);
  return ckpt;
}

}  // namespace llmk
