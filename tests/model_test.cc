// Model loading (llama2.c and GGUF), malformed model files, the forward pass
// against reference logits, batched processing and the synthetic models.
#include <unistd.h>

#include <climits>
#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "doctest/doctest.h"
#include "llmk/gguf.h"
#include "llmk/kv_cache.h"
#include "llmk/llama2c.h"
#include "llmk/model.h"
#include "llmk/model_tools.h"
#include "llmk/quant.h"
#include "llmk/target.h"
#include "alloc_counter.h"
#include "test_util.h"

namespace llmk {
namespace {

using test::shared_file_or_skip;

// ------------------------------------------------------------ helpers

using RefLogits = test::LogitsFile;
using test::max_abs;
using test::max_abs_diff;

std::optional<RefLogits> read_ref(const std::string& relative) {
  auto path = shared_file_or_skip(relative);
  if (!path) return std::nullopt;
  return test::read_logits(*path);
}

std::unique_ptr<Transformer> make_transformer(const Model& m, TransformerOptions opt = {}) {
  auto t = Transformer::create(m, opt);
  REQUIRE_MESSAGE(t.ok(), t.status().ToString());
  return std::move(*t);
}

Model load_or_fail(const std::string& path, const LoadConfig& cfg = {}) {
  auto m = load_model(path, cfg);
  REQUIRE_MESSAGE(m.ok(), m.status().ToString());
  return std::move(*m);
}

// Teacher-forced logits of `ref.tokens`, one forward() per token.
std::vector<float> teacher_forced(Transformer& t, const RefLogits& ref) {
  std::vector<float> out;
  for (size_t i = 0; i < ref.n; ++i) {
    auto logits = t.forward(ref.tokens[i], i);
    REQUIRE_MESSAGE(logits.ok(), logits.status().ToString());
    out.insert(out.end(), logits->begin(), logits->end());
  }
  return out;
}

size_t argmax(std::span<const float> x) {
  return static_cast<size_t>(std::max_element(x.begin(), x.end()) - x.begin());
}

void expect_error(const absl::Status& st, absl::StatusCode code, const std::string& needle) {
  INFO("status: " << st.ToString());
  CHECK(st.code() == code);
  CHECK(std::string(st.message()).find(needle) != std::string::npos);
}

// ------------------------------------------------------------ llama2.c files

struct L2cHeader {
  int32_t dim = 8, hidden = 16, layers = 2, heads = 2, kv_heads = 1, vocab = 12, seq_len = 4;
};

// Floats a well-formed file with this header holds after the header.
uint64_t l2c_floats(const L2cHeader& h) {
  const uint64_t d = h.dim, hid = h.hidden, L = h.layers, hs = d / h.heads,
                 kv = hs * h.kv_heads, V = std::llabs(h.vocab);
  uint64_t n = V * d + L * d + 2 * L * d * d + 2 * L * kv * d + L * d + 3 * L * hid * d + d +
               h.seq_len * hs;
  if (h.vocab < 0) n += V * d;
  return n;
}

// A file whose header is `h`, followed by `floats` f32 values (i·0.01).
std::vector<uint8_t> l2c_file(const L2cHeader& h, uint64_t floats) {
  std::vector<uint8_t> out(28 + 4 * floats);
  std::memcpy(out.data(), &h, 28);
  for (uint64_t i = 0; i < floats; ++i) {
    const float v = static_cast<float>(i % 97) * 0.01f;
    std::memcpy(out.data() + 28 + 4 * i, &v, 4);
  }
  return out;
}

TEST_CASE("llama2c: a synthetic checkpoint maps every tensor in file order") {
  for (int32_t vocab : {12, -12}) {
    L2cHeader h;
    h.vocab = vocab;
    auto bytes = l2c_file(h, l2c_floats(h));
    auto ckpt = Llama2cCheckpoint::parse(bytes);
    REQUIRE_MESSAGE(ckpt.ok(), ckpt.status().ToString());
    const Llama2cConfig& c = (*ckpt)->config();
    CHECK(c.dim == 8);
    CHECK(c.vocab_size == 12);
    CHECK(c.shared_classifier == (vocab > 0));
    CHECK(c.kv_dim() == 4);
    const Llama2cWeights& w = (*ckpt)->weights();
    const float* base = reinterpret_cast<const float*>(bytes.data() + 28);
    CHECK(w.token_embedding.data() == base);
    CHECK(w.rms_att.data() == base + 12 * 8);
    CHECK(w.wq.size() == 2 * 8 * 8);
    CHECK(w.wk.size() == 2 * 4 * 8);
    CHECK(w.w2.size() == 2 * 8 * 16);
    CHECK(w.rms_final.size() == 8);
    if (vocab > 0) {
      CHECK(w.wcls.data() == w.token_embedding.data());
    } else {
      CHECK(w.wcls.data() + w.wcls.size() == base + l2c_floats(h));
    }
  }
}

TEST_CASE("llama2c: stories260K.bin header") {
  auto path = shared_file_or_skip("models/stories260K.bin");
  if (!path) return;
  auto ckpt = Llama2cCheckpoint::open(path->string());
  REQUIRE_MESSAGE(ckpt.ok(), ckpt.status().ToString());
  const Llama2cConfig& c = (*ckpt)->config();
  CHECK(c.dim == 64);
  CHECK(c.hidden_dim == 172);
  CHECK(c.n_layers == 5);
  CHECK(c.n_heads == 8);
  CHECK(c.n_kv_heads == 4);
  CHECK(c.vocab_size == 512);
  CHECK(c.seq_len == 512);
  CHECK(c.shared_classifier);
}

// ------------------------------------------------------------ malformed llama2.c

TEST_CASE("malformed llama2c checkpoints") {
  using absl::StatusCode;
  auto parse = [](const std::vector<uint8_t>& bytes) {
    return Llama2cCheckpoint::parse(bytes).status();
  };
  auto with = [](auto edit) {
    L2cHeader h;
    edit(h);
    return h;
  };
  SUBCASE("3-byte file") {
    expect_error(parse({1, 2, 3}), StatusCode::kInvalidArgument, "shorter than the 28-byte header");
  }
  SUBCASE("header cut at 27 bytes") {
    auto b = l2c_file(L2cHeader{}, 0);
    b.resize(27);
    expect_error(parse(b), StatusCode::kInvalidArgument, "shorter than the 28-byte header");
  }
  SUBCASE("zero heads") {
    auto h = with([](L2cHeader& h) { h.heads = 0; });
    expect_error(parse(l2c_file(h, 64)), StatusCode::kInvalidArgument, "n_heads = 0");
  }
  SUBCASE("zero dim") {
    auto h = with([](L2cHeader& h) { h.dim = 0; });
    expect_error(parse(l2c_file(h, 64)), StatusCode::kInvalidArgument, "dim = 0");
  }
  SUBCASE("negative hidden_dim") {
    auto h = with([](L2cHeader& h) { h.hidden = -16; });
    expect_error(parse(l2c_file(h, 64)), StatusCode::kInvalidArgument, "hidden_dim = -16");
  }
  SUBCASE("zero seq_len") {
    auto h = with([](L2cHeader& h) { h.seq_len = 0; });
    expect_error(parse(l2c_file(h, 64)), StatusCode::kInvalidArgument, "seq_len = 0");
  }
  SUBCASE("vocab INT_MIN") {
    auto h = with([](L2cHeader& h) { h.vocab = INT_MIN; });
    expect_error(parse(l2c_file(h, 64)), StatusCode::kInvalidArgument, "vocab_size");
  }
  SUBCASE("vocab zero") {
    auto h = with([](L2cHeader& h) { h.vocab = 0; });
    expect_error(parse(l2c_file(h, 64)), StatusCode::kInvalidArgument, "vocab_size");
  }
  SUBCASE("layers beyond the bound") {
    auto h = with([](L2cHeader& h) { h.layers = 1 << 20; });
    expect_error(parse(l2c_file(h, 64)), StatusCode::kInvalidArgument, "n_layers = 1048576");
  }
  SUBCASE("kv heads not dividing heads") {
    auto h = with([](L2cHeader& h) { h.heads = 4; h.kv_heads = 3; });
    expect_error(parse(l2c_file(h, 64)), StatusCode::kInvalidArgument,
                 "n_kv_heads = 3 does not divide n_heads = 4");
  }
  SUBCASE("more kv heads than heads") {
    auto h = with([](L2cHeader& h) { h.heads = 2; h.kv_heads = 4; });
    expect_error(parse(l2c_file(h, 64)), StatusCode::kInvalidArgument, "does not divide n_heads");
  }
  SUBCASE("heads not dividing dim") {
    auto h = with([](L2cHeader& h) { h.dim = 10; h.heads = 4; h.kv_heads = 4; });
    expect_error(parse(l2c_file(h, 64)), StatusCode::kInvalidArgument,
                 "n_heads = 4 does not divide dim = 10");
  }
  SUBCASE("odd head size") {
    auto h = with([](L2cHeader& h) { h.dim = 6; h.heads = 2; h.kv_heads = 2; });
    expect_error(parse(l2c_file(h, 64)), StatusCode::kInvalidArgument, "is odd");
  }
  SUBCASE("weights truncated by one float") {
    L2cHeader h;
    expect_error(parse(l2c_file(h, l2c_floats(h) - 1)), StatusCode::kInvalidArgument,
                 "file size is");
  }
  SUBCASE("one trailing byte") {
    L2cHeader h;
    auto b = l2c_file(h, l2c_floats(h));
    b.push_back(0);
    expect_error(parse(b), StatusCode::kInvalidArgument, "file size is");
  }
  SUBCASE("separate classifier declared, file sized for a shared one") {
    L2cHeader shared;
    auto h = with([](L2cHeader& h) { h.vocab = -12; });
    expect_error(parse(l2c_file(h, l2c_floats(shared))), StatusCode::kInvalidArgument,
                 "separate classifier");
  }
  SUBCASE("cache size overflowing 32 bits, tiny file") {
    // layers × seq_len × kv_dim = 1024 · 2^20 · 65536 overflows int; the
    // implied size is computed in 64 bits and does not match the file.
    auto h = with([](L2cHeader& h) {
      h.dim = 65536; h.hidden = 4; h.layers = 1024; h.heads = 1; h.kv_heads = 1;
      h.seq_len = 1 << 20;
    });
    expect_error(parse(l2c_file(h, 16)), StatusCode::kInvalidArgument, "header implies");
  }
  SUBCASE("newer ak42 export (version 1)") {
    std::vector<uint8_t> b(256, 0);
    const uint32_t magic = kLlama2cNewMagic, version = 1;
    std::memcpy(b.data(), &magic, 4);
    std::memcpy(b.data() + 4, &version, 4);
    expect_error(parse(b), StatusCode::kUnimplemented, "ak42");
    expect_error(parse(b), StatusCode::kUnimplemented, "version 1");
  }
  SUBCASE("misaligned buffer") {
    L2cHeader h;
    auto b = l2c_file(h, l2c_floats(h));
    std::vector<uint8_t> shifted(b.size() + 1);
    std::memcpy(shifted.data() + 1, b.data(), b.size());
    expect_error(Llama2cCheckpoint::parse({shifted.data() + 1, b.size()}).status(),
                 StatusCode::kInvalidArgument, "aligned");
  }
  SUBCASE("missing file") {
    expect_error(Llama2cCheckpoint::open("/nonexistent/model.bin").status(),
                 StatusCode::kNotFound, "cannot open");
  }
}

// ------------------------------------------------------------ GGUF models

Model synthetic(const std::string& shape, TensorType type, uint64_t seed = 7) {
  auto m = make_synthetic_model(shape, type, seed);
  REQUIRE_MESSAGE(m.ok(), m.status().ToString());
  return std::move(*m);
}

std::shared_ptr<const GgufFile> parse_gguf(std::vector<uint8_t>& bytes) {
  auto f = GgufFile::parse(bytes);
  REQUIRE_MESSAGE(f.ok(), f.status().ToString());
  return std::shared_ptr<const GgufFile>(std::move(*f));
}

// Rewrites a GGUF file: edit_kv may change a key/value (false drops it),
// edit_tensor may change a tensor's name or dims (false drops it); `extra`
// is added after the copied keys.
std::vector<uint8_t> rewrite_gguf(const GgufFile& f,
                                  const std::function<bool(GgufKeyValue&)>& edit_kv,
                                  const std::function<bool(GgufTensorInfo&)>& edit_tensor = {},
                                  std::vector<GgufKeyValue> extra = {}) {
  GgufWriter w;
  for (GgufKeyValue kv : f.metadata()) {
    if (kv.key == "general.alignment") continue;
    if (edit_kv && !edit_kv(kv)) continue;
    w.add(kv.key, kv.value);
  }
  for (GgufKeyValue& kv : extra) w.add(kv.key, kv.value);
  for (const GgufTensorInfo& t : f.tensors()) {
    GgufTensorInfo info = t;
    if (edit_tensor && !edit_tensor(info)) continue;
    auto data = f.tensor_data(t);
    uint64_t elements = 1;
    for (uint64_t d : info.dims) elements *= d;
    std::vector<uint8_t> bytes(*tensor_bytes(info.type, elements), 0);
    std::memcpy(bytes.data(), data.data(), std::min(bytes.size(), data.size()));
    REQUIRE(w.add_tensor(info.name, info.dims, info.type, bytes).ok());
  }
  auto out = w.to_bytes();
  REQUIRE_MESSAGE(out.ok(), out.status().ToString());
  return std::move(*out);
}

absl::Status load_rewritten(const GgufFile& f, const std::function<bool(GgufKeyValue&)>& edit_kv,
                            const std::function<bool(GgufTensorInfo&)>& edit_tensor = {}) {
  auto bytes = rewrite_gguf(f, edit_kv, edit_tensor);
  auto parsed = GgufFile::parse(bytes);
  if (!parsed.ok()) return parsed.status();
  return model_from_gguf(std::shared_ptr<const GgufFile>(std::move(*parsed))).status();
}

GgufValue u32(uint32_t v) { return GgufValue{GgufType::kUint32, v}; }

TEST_CASE("malformed model metadata") {
  using absl::StatusCode;
  Model m = synthetic("tiny-llama", TensorType::kF32);
  auto bytes = model_to_gguf(m);
  REQUIRE_MESSAGE(bytes.ok(), bytes.status().ToString());
  auto file = parse_gguf(*bytes);
  auto keep = [](GgufKeyValue&) { return true; };
  REQUIRE(load_rewritten(*file, keep).ok());  // the unedited copy loads

  auto shorten = [](GgufKeyValue& kv) {
    std::visit([](auto& v) { v.pop_back(); }, std::get<GgufArray>(kv.value.value).values);
  };
  SUBCASE("short score array") {
    expect_error(load_rewritten(*file,
                                [&](GgufKeyValue& kv) {
                                  if (kv.key == "tokenizer.ggml.scores") shorten(kv);
                                  return true;
                                }),
                 StatusCode::kInvalidArgument, "tokenizer.ggml.scores has 319 entries");
  }
  SUBCASE("short token_type array") {
    expect_error(load_rewritten(*file,
                                [&](GgufKeyValue& kv) {
                                  if (kv.key == "tokenizer.ggml.token_type") shorten(kv);
                                  return true;
                                }),
                 StatusCode::kInvalidArgument, "tokenizer.ggml.token_type has 319 entries");
  }
  SUBCASE("scores of the wrong element type") {
    expect_error(load_rewritten(*file,
                                [&](GgufKeyValue& kv) {
                                  if (kv.key == "tokenizer.ggml.scores") {
                                    GgufArray a;
                                    a.element_type = GgufType::kInt32;
                                    a.values = std::vector<int32_t>(320, 0);
                                    kv.value = GgufValue{GgufType::kArray, a};
                                  }
                                  return true;
                                }),
                 StatusCode::kInvalidArgument, "tokenizer.ggml.scores has element type");
  }
  SUBCASE("token list shorter than the embedding") {
    expect_error(load_rewritten(*file,
                                [&](GgufKeyValue& kv) {
                                  if (kv.key == "tokenizer.ggml.tokens") shorten(kv);
                                  return true;
                                }),
                 StatusCode::kInvalidArgument, "tokenizer.ggml.tokens has 319 entries");
  }
  SUBCASE("bos id out of range") {
    expect_error(load_rewritten(*file,
                                [&](GgufKeyValue& kv) {
                                  if (kv.key == "tokenizer.ggml.bos_token_id") kv.value = u32(320);
                                  return true;
                                }),
                 StatusCode::kInvalidArgument, "tokenizer.ggml.bos_token_id = 320");
  }
  SUBCASE("eos id far out of range") {
    expect_error(load_rewritten(*file,
                                [&](GgufKeyValue& kv) {
                                  if (kv.key == "tokenizer.ggml.eos_token_id") {
                                    kv.value = u32(0x7FFFFFFFu);
                                  }
                                  return true;
                                }),
                 StatusCode::kInvalidArgument, "tokenizer.ggml.eos_token_id = 2147483647");
  }
  SUBCASE("block_count huge") {
    expect_error(load_rewritten(*file,
                                [&](GgufKeyValue& kv) {
                                  if (kv.key == "llama.block_count") kv.value = u32(1u << 20);
                                  return true;
                                }),
                 StatusCode::kInvalidArgument, "n_layers (block_count) = 1048576");
  }
  SUBCASE("block_count one more than the tensors") {
    expect_error(load_rewritten(*file,
                                [&](GgufKeyValue& kv) {
                                  if (kv.key == "llama.block_count") kv.value = u32(3);
                                  return true;
                                }),
                 StatusCode::kInvalidArgument, "tensor 'blk.2.attn_norm.weight' missing");
  }
  SUBCASE("missing embedding_length") {
    expect_error(load_rewritten(*file,
                                [&](GgufKeyValue& kv) { return kv.key != "llama.embedding_length"; }),
                 StatusCode::kInvalidArgument,
                 "missing hyperparameter key 'llama.embedding_length'");
  }
  SUBCASE("block_count stored as a string") {
    expect_error(load_rewritten(*file,
                                [&](GgufKeyValue& kv) {
                                  if (kv.key == "llama.block_count") {
                                    kv.value = GgufValue{GgufType::kString, std::string("2")};
                                  }
                                  return true;
                                }),
                 StatusCode::kInvalidArgument, "llama.block_count");
  }
  SUBCASE("zero heads") {
    expect_error(load_rewritten(*file,
                                [&](GgufKeyValue& kv) {
                                  if (kv.key == "llama.attention.head_count") kv.value = u32(0);
                                  return true;
                                }),
                 StatusCode::kInvalidArgument, "attention.head_count = 0");
  }
  SUBCASE("kv heads not matching attn_k's shape") {
    expect_error(load_rewritten(*file,
                                [&](GgufKeyValue& kv) {
                                  if (kv.key == "llama.attention.head_count_kv") kv.value = u32(4);
                                  return true;
                                }),
                 StatusCode::kInvalidArgument,
                 "tensor 'blk.0.attn_k.weight' has shape [64, 32], expected [64, 64]");
  }
  SUBCASE("tensor shape not matching embedding_length") {
    expect_error(load_rewritten(*file, keep,
                                [](GgufTensorInfo& t) {
                                  if (t.name == "blk.1.ffn_down.weight") t.dims = {128, 64};
                                  return true;
                                }),
                 StatusCode::kInvalidArgument,
                 "tensor 'blk.1.ffn_down.weight' has shape [128, 64], expected [160, 64]");
  }
  SUBCASE("missing tensor") {
    expect_error(load_rewritten(*file, keep,
                                [](GgufTensorInfo& t) { return t.name != "blk.1.ffn_up.weight"; }),
                 StatusCode::kInvalidArgument, "tensor 'blk.1.ffn_up.weight' missing");
  }
  SUBCASE("unsupported architecture") {
    expect_error(load_rewritten(*file,
                                [&](GgufKeyValue& kv) {
                                  if (kv.key == "general.architecture") {
                                    kv.value = GgufValue{GgufType::kString, std::string("mamba")};
                                  }
                                  return true;
                                }),
                 StatusCode::kUnimplemented, "architecture 'mamba'");
  }
  SUBCASE("a 3-D norm tensor") {
    expect_error(load_rewritten(*file, keep,
                                [](GgufTensorInfo& t) {
                                  if (t.name == "output_norm.weight") t.dims = {16, 2, 2};
                                  return true;
                                }),
                 StatusCode::kInvalidArgument, "tensor 'output_norm.weight' has shape [16, 2, 2]");
  }
}

// ------------------------------------------------------------ reference logits

TEST_CASE("stories260K: greedy decoding from BOS reproduces run.c's 256 tokens") {
  auto ref = read_ref("ref/stories260K.greedy.bin");
  if (!ref) return;
  for (const char* file : {"models/stories260K.bin", "models/stories260K-f32.gguf"}) {
    INFO("model = " << std::string(file));
    auto path = shared_file_or_skip(file);
    if (!path) return;
    // The GGUF's context_length may be shorter than run.c's 512 positions.
    LoadConfig cfg;
    cfg.max_seq_len = ref->n;
    Model m = load_or_fail(path->string(), cfg);
    auto t = make_transformer(m);
    int32_t token = ref->tokens[0];
    size_t matched = 1;
    for (size_t i = 0; i + 1 < ref->n; ++i) {
      auto logits = t->forward(token, i);
      REQUIRE(logits.ok());
      token = static_cast<int32_t>(argmax(*logits));
      if (token != ref->tokens[i + 1]) break;
      ++matched;
    }
    CHECK(matched == ref->n);
  }
}

TEST_CASE("stories260K: teacher-forced logits match run.c within 1e-4") {
  auto ref = read_ref("ref/logits/stories260K.runc.logits.bin");
  auto llama_ref = read_ref("ref/logits/stories260K-f32.llama.logits.bin");
  if (!ref || !llama_ref) return;
  for (const char* file : {"models/stories260K.bin", "models/stories260K-f32.gguf"}) {
    INFO("model = " << std::string(file));
    auto path = shared_file_or_skip(file);
    if (!path) return;
    Model m = load_or_fail(path->string());
    CHECK(m.config.vocab_size == ref->vocab);
    auto t = make_transformer(m);
    auto logits = teacher_forced(*t, *ref);
    CHECK(max_abs_diff(logits, ref->logits) <= 1e-4f);
    CHECK(max_abs_diff(logits, llama_ref->logits) <= 1e-4f);
  }
}

TEST_CASE("t1m-f32.gguf: logits within 1e-4 of llama.cpp") {
  auto ref = read_ref("ref/logits/t1m-f32.llama.logits.bin");
  auto path = shared_file_or_skip("models/t1m-f32.gguf");
  if (!ref || !path) return;
  Model m = load_or_fail(path->string());
  CHECK(m.config.n_kv_heads == 2);
  CHECK_FALSE(m.config.tied_output);
  for (size_t threads : {1, 2}) {
    TransformerOptions opt;
    opt.n_threads = threads;
    auto t = make_transformer(m, opt);
    CHECK(max_abs_diff(teacher_forced(*t, *ref), ref->logits) <= 1e-4f);
  }
}

TEST_CASE("t1m quantized: within 1% of the largest |logit| of llama.cpp") {
  for (const char* kind : {"q8_0", "q4_0"}) {
    INFO("type = " << std::string(kind));
    auto path = shared_file_or_skip(std::string("models/t1m-") + kind + ".gguf");
    auto ref_q8act = read_ref(std::string("ref/logits/t1m-") + kind + ".llama.logits.bin");
    auto ref_f32act = read_ref(std::string("ref/logits/t1m-") + kind + ".f32act.llama.logits.bin");
    if (!path || !ref_q8act || !ref_f32act) return;
    Model m = load_or_fail(path->string());
    CHECK(m.weights.layers[0].attn_q.type ==
          (std::string(kind) == "q8_0" ? TensorType::kQ8_0 : TensorType::kQ4_0));
    for (auto [mode, ref] : {std::pair{ActivationMode::kQuantizeQ8_0, &*ref_q8act},
                             std::pair{ActivationMode::kFloat, &*ref_f32act}}) {
      const std::string mode_name = mode == ActivationMode::kFloat ? "f32" : "q8_0";
      INFO("activation mode = " << mode_name);
      TransformerOptions opt;
      opt.activation_mode = mode;
      auto t = make_transformer(m, opt);
      const auto ours = teacher_forced(*t, *ref);
      const float diff = max_abs_diff(ours, ref->logits);
      MESSAGE(std::string(kind) << "/" << mode_name << " max diff " << diff << " of max |logit| "
              << max_abs(ref->logits) << "; vs the other reference "
              << max_abs_diff(ours, (ref == &*ref_q8act ? ref_f32act : ref_q8act)->logits));
      CHECK(diff <= 0.01f * max_abs(ref->logits));
      // The whole prompt as one batch. Its products sum each Q8_0 block in
      // int32 before the float order (lib/quant/interleaved-inl.h), not as
      // ggml's vec_dot does: a last-bit difference that moves an activation
      // across a Q8_0 rounding boundary now and then, which is the kind of
      // difference quantizing the activations at all makes. So its bound is
      // what that makes in llama.cpp's own results (its two references),
      // and 1% of the largest logit where activations stay f32.
      auto batch_t = make_transformer(m, opt);
      auto batch = batch_t->forward_batch(ref->tokens, 0, 0, /*all_logits=*/true);
      REQUIRE_MESSAGE(batch.ok(), batch.status().ToString());
      const float batch_diff = max_abs_diff(*batch, ref->logits);
      const float batch_bound = mode == ActivationMode::kFloat
                                    ? 0.01f * max_abs(ref->logits)
                                    : max_abs_diff(ref_q8act->logits, ref_f32act->logits);
      MESSAGE(std::string(kind) << "/" << mode_name << " as one batch: max diff " << batch_diff
                                << ", bound " << batch_bound);
      CHECK(batch_diff <= batch_bound);
    }
  }
}

// The reference files are llama.cpp's x86 results: its AVX-512 and its AVX2
// builds both reproduce them bit for bit. Our quantized products,
// activation quantization, norms, RoPE and SiLU follow ggml's integer and
// float order, so the logits equal llama.cpp's until attention's own order
// shows (ggml's scores and value sums run in vec_dot lanes over a cache
// padded to 32 positions, its softmax uses its own exp and a double sum): a
// last-bit difference there is absorbed by the next Q8_0 rounding until one
// value lands on a rounding boundary. Measured on a Zen 4: every one of the
// 64 positions identical on the AVX3 targets; on AVX2, whose attention sums
// in 8 lanes, from position 55 (Q8_0) and 44 (Q4_0) on. A change to the
// products, RoPE or SiLU order breaks the match from position 0.
TEST_CASE("t1m quantized on x86: llama.cpp's logits bit for bit") {
  std::vector<std::string> targets;
  for (const std::string& t : supported_targets()) {
    if (t == "AVX2" || t.rfind("AVX3", 0) == 0 || t == "AVX10_2") targets.push_back(t);
  }
  if (targets.empty()) {
    MESSAGE("skipped: no x86 AVX2-class target on this CPU (the other targets' orders differ; "
            "the bound test above covers them)");
    return;
  }
  for (const std::string kind : {"q8_0", "q4_0"}) {
    auto path = shared_file_or_skip("models/t1m-" + kind + ".gguf");
    auto ref = read_ref("ref/logits/t1m-" + kind + ".llama.logits.bin");
    if (!path || !ref) return;
    Model m = load_or_fail(path->string());
    for (const std::string& target : targets) {
      INFO("type = " << kind << ", target = " << target);
      REQUIRE(force_target(target).ok());
      auto t = make_transformer(m);
      const std::vector<float> ours = teacher_forced(*t, *ref);
      size_t prefix = 0;
      while (prefix < ref->n &&
             std::memcmp(ours.data() + prefix * ref->vocab,
                         ref->logits.data() + prefix * ref->vocab, ref->vocab * sizeof(float)) == 0) {
        ++prefix;
      }
      MESSAGE(kind << " on " << target << ": " << prefix << " of " << ref->n
                   << " positions bit-identical");
      if (target == "AVX2") {
        CHECK(prefix >= 40);
      } else {
        CHECK(prefix == ref->n);
      }
    }
    reset_target();
  }
}

TEST_CASE("LoadConfig: dequantize and quantize at load") {
  auto path = shared_file_or_skip("models/t1m-q8_0.gguf");
  auto path_f32 = shared_file_or_skip("models/t1m-f32.gguf");
  auto ref = read_ref("ref/logits/t1m-q8_0.f32act.llama.logits.bin");
  if (!path || !path_f32 || !ref) return;
  LoadConfig cfg;
  cfg.allow_quantized = false;
  Model m = load_or_fail(path->string(), cfg);
  CHECK(m.weights.layers[0].attn_q.type == TensorType::kF32);
  CHECK(m.weights.output.type == TensorType::kF32);
  auto t = make_transformer(m);
  CHECK(max_abs_diff(teacher_forced(*t, *ref), ref->logits) <= 0.01f * max_abs(ref->logits));

  LoadConfig q;
  q.quantize_to = TensorType::kQ4_0;
  Model mq = load_or_fail(path_f32->string(), q);
  Model mf = load_or_fail(path_f32->string());
  const WeightView& wq = mq.weights.layers[1].ffn_down;
  const WeightView& wf = mf.weights.layers[1].ffn_down;
  REQUIRE(wq.type == TensorType::kQ4_0);
  std::vector<Q4_0Block> expect(wf.rows * wf.cols / kQuantBlock);
  REQUIRE(quantize_q4_0({static_cast<const float*>(wf.data), wf.rows * wf.cols}, expect).ok());
  CHECK(std::memcmp(wq.data, expect.data(), expect.size() * sizeof(Q4_0Block)) == 0);
  // Norms stay F32 and equal.
  CHECK(std::equal(mq.weights.layers[1].ffn_norm.begin(), mq.weights.layers[1].ffn_norm.end(),
                   mf.weights.layers[1].ffn_norm.begin(), mf.weights.layers[1].ffn_norm.end()));
  CHECK(mq.weights.output.type == TensorType::kQ4_0);
}

TEST_CASE("forward: bad tokens and positions are errors") {
  Model m = synthetic("tiny-llama", TensorType::kQ8_0);
  auto t = make_transformer(m);
  expect_error(t->forward(-1, 0).status(), absl::StatusCode::kOutOfRange, "token -1");
  expect_error(t->forward(320, 0).status(), absl::StatusCode::kOutOfRange, "token 320");
  expect_error(t->forward(5, 1).status(), absl::StatusCode::kInvalidArgument, "skips positions");
  expect_error(t->forward(5, 0, 1).status(), absl::StatusCode::kOutOfRange, "seq = 1");
  for (size_t pos = 0; pos < 64; ++pos) REQUIRE(t->forward(5, pos).ok());
  expect_error(t->forward(5, 64).status(), absl::StatusCode::kOutOfRange, "context length");
  const std::vector<int32_t> two = {1, 2};
  expect_error(t->forward_batch(two, 63).status(), absl::StatusCode::kOutOfRange,
               "context length");
  const std::vector<size_t> pos = {0, 0}, seqs = {0, 0};
  expect_error(t->forward_seqs(two, pos, seqs).status(), absl::StatusCode::kInvalidArgument,
               "appears twice");
}

TEST_CASE("forward: a token allocates nothing from the heap") {
  for (TensorType type : {TensorType::kF32, TensorType::kQ8_0, TensorType::kQ4_0}) {
    INFO("weights " << tensor_type_name(type));
    Model m = synthetic("tiny-llama", type);
    TransformerOptions opt;
    opt.n_threads = 2;
    auto t = make_transformer(m, opt);
    // One pass to warm up: a worker thread's first run of a code path makes
    // one-time allocations (glibc's and the sanitizers' per-thread state);
    // the same positions run again must allocate nothing.
    bool ok = true;
    for (size_t pos = 0; pos < 20; ++pos) ok &= t->forward(static_cast<int32_t>(pos), pos).ok();
    REQUIRE(ok);
    // Counts operator new, malloc and the aligned allocators, in every thread.
    const test::AllocationCount tokens;
    for (size_t pos = 1; pos < 20; ++pos) ok &= t->forward(static_cast<int32_t>(pos), pos).ok();
    const size_t token_allocations = tokens.count();
    CHECK(ok);
    CHECK(token_allocations == 0);
    // A batch's first call may grow per-thread scratch (matmul's prepared
    // Q8_0 activations, by hwy::AllocateAligned); the next allocates nothing.
    const std::vector<int32_t> batch = {3, 4, 5, 6};
    REQUIRE(t->forward_batch(batch, 20).ok());
    const test::AllocationCount batched;
    ok &= t->forward_batch(batch, 24).ok();
    const size_t batch_allocations = batched.count();
    CHECK(ok);
    CHECK(batch_allocations == 0);
  }
}

// ------------------------------------------------------------ batches

TEST_CASE("one-region token pass: any thread count gives the single-thread logits bit for bit") {
  // stories15M is large enough (15M weights) for a token to run as one
  // parallel region with barriers (llama_token); 2 threads split its 6 kv
  // heads, 7 threads (more than its kv heads) take the RoPE-barrier path.
  for (TensorType type : {TensorType::kQ4_0, TensorType::kF32}) {
    INFO("type = " << tensor_type_name(type));
    Model m = synthetic("stories15M", type, 3);
    auto logits_of = [&](size_t threads, ActivationMode mode) {
      TransformerOptions opt;
      opt.n_threads = threads;
      opt.max_seq_len = 8;
      opt.activation_mode = mode;
      auto t = make_transformer(m, opt);
      std::vector<float> all;
      for (size_t i = 0; i < 4; ++i) {
        auto l = t->forward(static_cast<int32_t>(1 + 97 * i), i);
        REQUIRE(l.ok());
        all.insert(all.end(), l->begin(), l->end());
      }
      return all;
    };
    for (auto mode : {ActivationMode::kQuantizeQ8_0, ActivationMode::kFloat}) {
      if (type == TensorType::kF32 && mode == ActivationMode::kFloat) continue;  // same path
      const auto one = logits_of(1, mode);
      for (size_t threads : {size_t{2}, size_t{7}}) {
        INFO("threads = " << threads);
        const auto many = logits_of(threads, mode);
        REQUIRE(many.size() == one.size());
        CHECK(std::memcmp(many.data(), one.data(), one.size() * sizeof(float)) == 0);
      }
    }
  }
}

TEST_CASE("prompt batches: 2 threads give the single-thread logits bit for bit") {
  // 48 tokens of stories15M: large enough that the batch's elementwise steps
  // (norms, RoPE, quantization, SwiGLU) are split over the threads too.
  Model m = synthetic("stories15M", TensorType::kQ4_0, 5);
  std::vector<int32_t> tokens;
  for (int32_t i = 0; i < 48; ++i) tokens.push_back((i * 7919 + 13) % 32000);
  auto logits_of = [&](size_t threads) {
    TransformerOptions opt;
    opt.n_threads = threads;
    opt.max_seq_len = 64;
    opt.max_batch = 48;
    auto t = make_transformer(m, opt);
    auto all = t->forward_batch(tokens, 0, 0, /*all_logits=*/true);
    REQUIRE(all.ok());
    return std::vector<float>(all->begin(), all->end());
  };
  const auto one = logits_of(1);
  const auto two = logits_of(2);
  REQUIRE(one.size() == 48 * m.config.vocab_size);
  CHECK(std::memcmp(one.data(), two.data(), one.size() * sizeof(float)) == 0);
}

TEST_CASE("forward_batch equals token-by-token within 1e-4") {
  std::vector<int32_t> tokens;
  for (int32_t i = 0; i < 40; ++i) tokens.push_back((i * 7919 + 13) % 320);
  for (TensorType type :
       {TensorType::kF32, TensorType::kF16, TensorType::kQ8_0, TensorType::kQ4_0}) {
    for (const char* shape : {"tiny-llama", "tiny-gpt2"}) {
      INFO("shape = " << shape << ", type = " << tensor_type_name(type));
      Model m = synthetic(shape, type);
      for (size_t threads : {1, 2}) {
        TransformerOptions opt;
        opt.n_threads = threads;
        opt.max_batch = 16;  // 40 tokens: three chunks
        auto one = make_transformer(m, opt);
        auto batched = make_transformer(m, opt);
        std::vector<float> expect;
        for (size_t i = 0; i < tokens.size(); ++i) {
          auto l = one->forward(tokens[i], i);
          REQUIRE(l.ok());
          expect.assign(l->begin(), l->end());
        }
        auto last = batched->forward_batch(tokens, 0);
        REQUIRE_MESSAGE(last.ok(), last.status().ToString());
        CHECK(max_abs_diff(*last, expect) <= 1e-4f * std::max(1.0f, max_abs(expect)));
        CHECK(batched->kv_cache().pos() == tokens.size());
        // All logits of a batch continuing at position 40.
        const std::vector<int32_t> more = {5, 9, 11};
        auto all = batched->forward_batch(more, tokens.size(), 0, /*all_logits=*/true);
        REQUIRE(all.ok());
        REQUIRE(all->size() == 3 * m.config.vocab_size);
        std::vector<float> all_copy(all->begin(), all->end());
        for (size_t i = 0; i < more.size(); ++i) {
          auto l = one->forward(more[i], tokens.size() + i);
          REQUIRE(l.ok());
          CHECK(max_abs_diff(std::span<const float>(all_copy).subspan(
                                 i * m.config.vocab_size, m.config.vocab_size),
                             *l) <= 1e-4f * std::max(1.0f, max_abs(*l)));
        }
      }
    }
  }
}

TEST_CASE("batched prompt on stories260K matches run.c's teacher-forced logits") {
  auto ref = read_ref("ref/logits/stories260K.runc.logits.bin");
  auto path = shared_file_or_skip("models/stories260K.bin");
  if (!ref || !path) return;
  Model m = load_or_fail(path->string());
  TransformerOptions opt;
  opt.max_batch = 64;
  auto t = make_transformer(m, opt);
  auto all = t->forward_batch(ref->tokens, 0, 0, true);
  REQUIRE(all.ok());
  CHECK(max_abs_diff(*all, ref->logits) <= 1e-4f);
}

// Greedy continuation of `prompt` for `steps` tokens in sequence `seq`.
std::vector<int32_t> greedy_alone(Transformer& t, const std::vector<int32_t>& prompt,
                                  size_t steps) {
  auto l = t.forward_batch(prompt, 0);
  REQUIRE(l.ok());
  std::vector<int32_t> out = {static_cast<int32_t>(argmax(*l))};
  for (size_t i = 1; i < steps; ++i) {
    l = t.forward(out.back(), prompt.size() + i - 1);
    REQUIRE(l.ok());
    out.push_back(static_cast<int32_t>(argmax(*l)));
  }
  return out;
}

TEST_CASE("batched generation: N sequences together get the tokens each gets alone") {
  for (const char* shape : {"tiny-llama", "tiny-gpt2"}) {
    for (TensorType type : {TensorType::kF32, TensorType::kQ4_0}) {
      INFO("shape = " << shape << ", type = " << tensor_type_name(type));
      Model m = synthetic(shape, type, 11);
      const std::vector<std::vector<int32_t>> prompts = {
          {1, 50, 60}, {1, 7}, {1, 200, 201, 202, 203}, {1}};
      const size_t steps = 20;
      std::vector<std::vector<int32_t>> alone;
      for (const auto& p : prompts) {
        auto t = make_transformer(m);
        alone.push_back(greedy_alone(*t, p, steps));
      }
      TransformerOptions opt;
      opt.n_seqs = prompts.size();
      opt.n_threads = 2;
      auto t = make_transformer(m, opt);
      std::vector<int32_t> next(prompts.size());
      std::vector<size_t> pos(prompts.size()), seqs(prompts.size());
      std::vector<std::vector<int32_t>> together(prompts.size());
      for (size_t s = 0; s < prompts.size(); ++s) {
        auto l = t->forward_batch(prompts[s], 0, s);
        REQUIRE(l.ok());
        next[s] = static_cast<int32_t>(argmax(*l));
        together[s].push_back(next[s]);
        pos[s] = prompts[s].size();
        seqs[s] = s;
      }
      for (size_t i = 1; i < steps; ++i) {
        auto l = t->forward_seqs(next, pos, seqs);
        REQUIRE_MESSAGE(l.ok(), l.status().ToString());
        for (size_t s = 0; s < prompts.size(); ++s) {
          next[s] = static_cast<int32_t>(
              argmax(l->subspan(s * m.config.vocab_size, m.config.vocab_size)));
          together[s].push_back(next[s]);
          ++pos[s];
        }
      }
      for (size_t s = 0; s < prompts.size(); ++s) CHECK(together[s] == alone[s]);
    }
  }
}

// ------------------------------------------------------------ synthetic models

TEST_CASE("synthetic models: GGUF round trip keeps every tensor identical") {
  for (const char* shape : {"tiny-llama", "tiny-gpt2"}) {
    for (TensorType type :
         {TensorType::kF32, TensorType::kF16, TensorType::kQ8_0, TensorType::kQ4_0}) {
      INFO("shape = " << shape << ", type = " << tensor_type_name(type));
      Model m = synthetic(shape, type, 3);
      auto bytes = model_to_gguf(m);
      REQUIRE_MESSAGE(bytes.ok(), bytes.status().ToString());
      auto file = parse_gguf(*bytes);
      // llama.cpp's metadata: llama_ftype of the matrices (F32 0, F16 1,
      // Q4_0 2, Q8_0 7), the quantization version, and GPT-2's pre-tokenizer.
      const uint64_t ftype = type == TensorType::kF32    ? 0
                             : type == TensorType::kF16  ? 1
                             : type == TensorType::kQ4_0 ? 2
                                                         : 7;
      CHECK(*file->get_uint("general.file_type") == ftype);
      CHECK(*file->get_uint("general.quantization_version") == 2);
      if (std::string_view(shape) == "tiny-gpt2") {
        CHECK(*file->get_string("tokenizer.ggml.pre") == "gpt-2");
      }
      auto back = model_from_gguf(file);
      REQUIRE_MESSAGE(back.ok(), back.status().ToString());
      const ModelConfig& a = m.config;
      const ModelConfig& b = back->config;
      CHECK(a.arch == b.arch);
      CHECK(a.dim == b.dim);
      CHECK(a.hidden_dim == b.hidden_dim);
      CHECK(a.n_layers == b.n_layers);
      CHECK(a.n_kv_heads == b.n_kv_heads);
      CHECK(a.vocab_size == b.vocab_size);
      CHECK(a.max_seq_len == b.max_seq_len);
      CHECK(a.bos_id == b.bos_id);
      CHECK(a.eos_id == b.eos_id);
      auto same = [](const WeightView& x, const WeightView& y) {
        return x.type == y.type && x.rows == y.rows && x.cols == y.cols &&
               std::memcmp(x.data, y.data, x.rows * x.row_bytes()) == 0;
      };
      auto same_vec = [](std::span<const float> x, std::span<const float> y) {
        return x.size() == y.size() && std::equal(x.begin(), x.end(), y.begin());
      };
      CHECK(same(m.weights.token_embedding, back->weights.token_embedding));
      CHECK(same(m.weights.output, back->weights.output));
      CHECK(same_vec(m.weights.output_norm, back->weights.output_norm));
      for (size_t l = 0; l < a.n_layers; ++l) {
        const LayerWeights& x = m.weights.layers[l];
        const LayerWeights& y = back->weights.layers[l];
        CHECK(same(x.attn_output, y.attn_output));
        CHECK(same(x.ffn_up, y.ffn_up));
        CHECK(same(x.ffn_down, y.ffn_down));
        CHECK(same_vec(x.attn_norm, y.attn_norm));
        CHECK(same_vec(x.ffn_norm, y.ffn_norm));
        if (a.arch == ModelArch::kLlama) {
          CHECK(same(x.attn_q, y.attn_q));
          CHECK(same(x.attn_k, y.attn_k));
          CHECK(same(x.attn_v, y.attn_v));
          CHECK(same(x.ffn_gate, y.ffn_gate));
        } else {
          CHECK(same(x.attn_qkv, y.attn_qkv));
          CHECK(same_vec(x.attn_qkv_bias, y.attn_qkv_bias));
          CHECK(same_vec(x.ffn_down_bias, y.ffn_down_bias));
        }
      }
      if (a.arch == ModelArch::kGpt2) {
        CHECK(same(m.weights.position_embedding, back->weights.position_embedding));
      }
    }
  }
}

TEST_CASE("synthetic models: GGUF export keeps llama.cpp's layout rules") {
  // A gpt2 model loaded with a shorter context still has one learned position
  // per slot of the file's context; the export must say so, or position_embd
  // no longer matches context_length (llama.cpp and our loader reject that).
  Model g = synthetic("tiny-gpt2", TensorType::kQ8_0, 4);
  auto g_bytes = model_to_gguf(g);
  REQUIRE(g_bytes.ok());
  LoadConfig short_ctx;
  short_ctx.max_seq_len = 16;
  auto shorter = model_from_gguf(parse_gguf(*g_bytes), short_ctx);
  REQUIRE_MESSAGE(shorter.ok(), shorter.status().ToString());
  REQUIRE(shorter->config.max_seq_len == 16);
  auto again = model_to_gguf(*shorter);
  REQUIRE_MESSAGE(again.ok(), again.status().ToString());
  auto again_file = parse_gguf(*again);
  CHECK(*again_file->get_uint("gpt2.context_length") == 64);
  CHECK(model_from_gguf(again_file).ok());

  // The llama layout means RoPE on adjacent pairs; a split-halves model
  // cannot be written without permuting Q/K, so it is refused.
  Model l = synthetic("tiny-llama", TensorType::kF32, 4);
  l.config.rope_layout = RopeLayout::kSplitHalves;
  expect_error(model_to_gguf(l).status(), absl::StatusCode::kUnimplemented, "split halves");
}

TEST_CASE("synthetic models: named shapes") {
  auto c = synthetic_model_config("tinyllama-1.1B");
  REQUIRE(c.ok());
  CHECK(c->dim == 2048);
  CHECK(c->hidden_dim == 5632);
  CHECK(c->n_layers == 22);
  CHECK(c->n_heads == 32);
  CHECK(c->n_kv_heads == 4);
  CHECK(c->vocab_size == 32000);
  auto s15 = synthetic_model_config("stories15M");
  REQUIRE(s15.ok());
  CHECK(s15->dim == 288);
  CHECK(s15->n_layers == 6);
  auto g = synthetic_model_config("gpt2-spec");
  REQUIRE(g.ok());
  CHECK(g->arch == ModelArch::kGpt2);
  CHECK(g->dim == 384);
  expect_error(synthetic_model_config("llama-7B").status(), absl::StatusCode::kInvalidArgument,
               "unknown model shape 'llama-7B'");
  // Deterministic in the seed.
  Model a = synthetic("tiny-llama", TensorType::kQ4_0, 5);
  Model b = synthetic("tiny-llama", TensorType::kQ4_0, 5);
  Model d = synthetic("tiny-llama", TensorType::kQ4_0, 6);
  const WeightView& wa = a.weights.layers[0].attn_q;
  CHECK(std::memcmp(wa.data, b.weights.layers[0].attn_q.data, wa.rows * wa.row_bytes()) == 0);
  CHECK(std::memcmp(wa.data, d.weights.layers[0].attn_q.data, wa.rows * wa.row_bytes()) != 0);
}

TEST_CASE("quantize_gguf equals quantizing the tensors in memory") {
  Model m = synthetic("tiny-llama", TensorType::kF32, 9);
  auto bytes = model_to_gguf(m);
  REQUIRE(bytes.ok());
  auto in = parse_gguf(*bytes);
  for (TensorType to : {TensorType::kQ8_0, TensorType::kQ4_0}) {
    INFO("to = " << tensor_type_name(to));
    GgufWriter w;
    REQUIRE(quantize_gguf(*in, to, w).ok());
    auto out_bytes = w.to_bytes();
    REQUIRE(out_bytes.ok());
    auto out = parse_gguf(*out_bytes);
    REQUIRE(out->tensors().size() == in->tensors().size());
    CHECK(*out->get_uint("general.file_type") == (to == TensorType::kQ8_0 ? 7u : 2u));
    for (const GgufTensorInfo& t : in->tensors()) {
      INFO("tensor = " << t.name);
      const GgufTensorInfo* q = out->find_tensor(t.name);
      REQUIRE(q != nullptr);
      const auto src = in->tensor_data(t);
      const auto got = out->tensor_data(*q);
      if (t.dims.size() == 1) {
        CHECK(q->type == TensorType::kF32);
        CHECK(std::equal(src.begin(), src.end(), got.begin(), got.end()));
        continue;
      }
      REQUIRE(q->type == to);
      const std::span<const float> x(reinterpret_cast<const float*>(src.data()), t.elements);
      std::vector<uint8_t> expect(*tensor_bytes(to, t.elements));
      if (to == TensorType::kQ8_0) {
        REQUIRE(quantize_q8_0(x, {reinterpret_cast<Q8_0Block*>(expect.data()),
                                  t.elements / kQuantBlock}).ok());
      } else {
        REQUIRE(quantize_q4_0(x, {reinterpret_cast<Q4_0Block*>(expect.data()),
                                  t.elements / kQuantBlock}).ok());
      }
      CHECK(std::equal(expect.begin(), expect.end(), got.begin(), got.end()));
    }
    // The result loads as a model whose matrices have the new type.
    auto model = model_from_gguf(out);
    REQUIRE(model.ok());
    CHECK(model->weights.layers[0].ffn_gate.type == to);
  }
  GgufWriter w;
  expect_error(quantize_gguf(*in, TensorType::kF16, w), absl::StatusCode::kInvalidArgument,
               "not Q8_0 or Q4_0");
}

// ------------------------------------------------------------ gpt2

// A plain scalar gpt2 forward pass over a whole sequence (F32 weights).
std::vector<float> gpt2_reference(const Model& m, const std::vector<int32_t>& tokens) {
  const ModelConfig& c = m.config;
  const size_t d = c.dim, hd = c.head_dim, hid = c.hidden_dim, V = c.vocab_size;
  auto W = [](const WeightView& w) { return static_cast<const float*>(w.data); };
  auto matvec = [](const float* w, size_t rows, size_t cols, const std::vector<float>& x) {
    std::vector<float> y(rows);
    for (size_t r = 0; r < rows; ++r) {
      double s = 0;
      for (size_t k = 0; k < cols; ++k) s += static_cast<double>(w[r * cols + k]) * x[k];
      y[r] = static_cast<float>(s);
    }
    return y;
  };
  auto layer_norm = [&](const std::vector<float>& x, std::span<const float> w,
                        std::span<const float> b) {
    double mean = 0, var = 0;
    for (float v : x) mean += v;
    mean /= static_cast<double>(x.size());
    for (float v : x) var += (v - mean) * (v - mean);
    var /= static_cast<double>(x.size());
    std::vector<float> y(x.size());
    for (size_t i = 0; i < x.size(); ++i) {
      y[i] = static_cast<float>((x[i] - mean) / std::sqrt(var + c.norm_eps)) * w[i] + b[i];
    }
    return y;
  };
  std::vector<std::vector<std::vector<float>>> keys(c.n_layers), values(c.n_layers);
  std::vector<float> logits;
  for (size_t pos = 0; pos < tokens.size(); ++pos) {
    std::vector<float> x(d);
    for (size_t i = 0; i < d; ++i) {
      x[i] = W(m.weights.token_embedding)[tokens[pos] * d + i] +
             W(m.weights.position_embedding)[pos * d + i];
    }
    for (size_t l = 0; l < c.n_layers; ++l) {
      const LayerWeights& L = m.weights.layers[l];
      auto qkv = matvec(W(L.attn_qkv), 3 * d, d, layer_norm(x, L.attn_norm, L.attn_norm_bias));
      for (size_t i = 0; i < 3 * d; ++i) qkv[i] += L.attn_qkv_bias[i];
      keys[l].emplace_back(qkv.begin() + d, qkv.begin() + 2 * d);
      values[l].emplace_back(qkv.begin() + 2 * d, qkv.end());
      std::vector<float> att(d, 0.0f);
      for (size_t h = 0; h < c.n_heads; ++h) {
        std::vector<double> s(pos + 1);
        double mx = -1e300, sum = 0;
        for (size_t t = 0; t <= pos; ++t) {
          double dot = 0;
          for (size_t i = 0; i < hd; ++i) dot += qkv[h * hd + i] * keys[l][t][h * hd + i];
          s[t] = dot / std::sqrt(static_cast<double>(hd));
          mx = std::max(mx, s[t]);
        }
        for (double& v : s) sum += (v = std::exp(v - mx));
        for (size_t t = 0; t <= pos; ++t) {
          for (size_t i = 0; i < hd; ++i) {
            att[h * hd + i] += static_cast<float>(s[t] / sum * values[l][t][h * hd + i]);
          }
        }
      }
      auto o = matvec(W(L.attn_output), d, d, att);
      for (size_t i = 0; i < d; ++i) x[i] += o[i] + L.attn_output_bias[i];
      auto u = matvec(W(L.ffn_up), hid, d, layer_norm(x, L.ffn_norm, L.ffn_norm_bias));
      for (size_t i = 0; i < hid; ++i) {
        const double v = u[i] + L.ffn_up_bias[i];
        u[i] = static_cast<float>(
            0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v))));
      }
      auto dn = matvec(W(L.ffn_down), d, hid, u);
      for (size_t i = 0; i < d; ++i) x[i] += dn[i] + L.ffn_down_bias[i];
    }
    auto y = matvec(W(m.weights.output), V, d,
                    layer_norm(x, m.weights.output_norm, m.weights.output_norm_bias));
    logits.insert(logits.end(), y.begin(), y.end());
  }
  return logits;
}

// The F16 cache rounds every key and value to binary16 (relative error at
// most 2⁻¹¹ ≈ 4.9e-4, round to nearest). With f32 activations each attention
// output moves by about that relative amount and the logits by a small
// multiple of it: bound 0.2% of the largest |logit| (4·2⁻¹¹; measured
// 0.02–0.03%). With Q8_0 activations any such change flips some of the
// quantizer's roundings, which moves logits by ~1% on its own (see
// rms_norm_ggml): bound 3% there (measured 1.6% on stories15M). A wrong row
// or position (a bug, not rounding) moves logits by their own size.
TEST_CASE("F16 KV cache: logits close to the F32 cache's, token by token and batched") {
  struct Case {
    const char* shape;
    TensorType type;
    ActivationMode mode;
    float bound;  // of max |logit|
  };
  // tiny-llama: 2 kv heads, head_dim 16; tiny-gpt2: the fused-QKV layer;
  // stories15M is big enough that 2 threads split a token's heads
  // (llama_token's head split: each part converts its own rows).
  for (const Case& k : {Case{"tiny-llama", TensorType::kF32, ActivationMode::kFloat, 0.002f},
                        Case{"tiny-gpt2", TensorType::kF32, ActivationMode::kFloat, 0.002f},
                        Case{"stories15M", TensorType::kQ8_0, ActivationMode::kFloat, 0.002f},
                        Case{"stories15M", TensorType::kQ8_0, ActivationMode::kQuantizeQ8_0, 0.03f}}) {
    INFO("shape = " << std::string(k.shape));
    Model m = synthetic(k.shape, k.type, 11);
    const size_t n = std::min<size_t>(m.config.max_seq_len, 64);
    std::vector<int32_t> tokens;
    for (size_t i = 0; i < n; ++i) tokens.push_back(static_cast<int32_t>((i * 131 + 7) % m.config.vocab_size));
    for (size_t threads : {1, 2}) {
      INFO("threads = " << threads);
      auto run = [&](KvType type, bool batched) {
        TransformerOptions opt;
        opt.kv_type = type;
        opt.n_threads = threads;
        opt.activation_mode = k.mode;
        opt.max_batch = n;
        auto t = make_transformer(m, opt);
        if (batched) {
          auto l = t->forward_batch(tokens, 0, 0, /*all_logits=*/true);
          REQUIRE_MESSAGE(l.ok(), l.status().ToString());
          return std::vector<float>(l->begin(), l->end());
        }
        std::vector<float> all;
        for (size_t i = 0; i < n; ++i) {
          auto l = t->forward(tokens[i], i);
          REQUIRE_MESSAGE(l.ok(), l.status().ToString());
          all.insert(all.end(), l->begin(), l->end());
        }
        return all;
      };
      const std::vector<float> f32 = run(KvType::kF32, false);
      const std::vector<float> f16 = run(KvType::kF16, false);
      const std::vector<float> f16_batched = run(KvType::kF16, true);
      const float scale = max_abs(f32);
      const float diff = max_abs_diff(f16, f32);
      MESSAGE(std::string(k.shape) << " threads " << threads << ": F16 vs F32 cache max |Δlogit| " << diff
                      << " of max |logit| " << scale << "; batched vs token by token "
                      << max_abs_diff(f16_batched, f16));
      CHECK(diff > 0.0f);  // the cache really held halves
      CHECK(diff <= k.bound * scale);
      CHECK(max_abs_diff(f16_batched, f32) <= k.bound * scale);
    }
  }
}

TEST_CASE("gpt2: forward matches a scalar reference") {
  Model m = synthetic("tiny-gpt2", TensorType::kF32, 17);
  std::vector<int32_t> tokens;
  for (int32_t i = 0; i < 24; ++i) tokens.push_back((i * 131 + 7) % 320);
  const auto expect = gpt2_reference(m, tokens);
  for (size_t threads : {1, 2}) {
    TransformerOptions opt;
    opt.n_threads = threads;
    opt.activation_mode = ActivationMode::kFloat;
    auto t = make_transformer(m, opt);
    std::vector<float> got;
    for (size_t i = 0; i < tokens.size(); ++i) {
      auto l = t->forward(tokens[i], i);
      REQUIRE(l.ok());
      got.insert(got.end(), l->begin(), l->end());
    }
    CHECK(max_abs_diff(got, expect) <= 1e-4f * std::max(1.0f, max_abs(expect)));
  }
  // Learned positions end at the model's context: asking for more is an error.
  TransformerOptions longer;
  longer.max_seq_len = m.config.max_seq_len + 1;
  CHECK(Transformer::create(m, longer).status().code() == absl::StatusCode::kInvalidArgument);
}

// ------------------------------------------------------------ weight storage

// Logits of a few tokens, for bit-for-bit comparisons between loads.
std::vector<float> first_logits(const Model& m) {
  auto t = make_transformer(m);
  std::vector<float> all;
  for (size_t i = 0; i < 6; ++i) {
    auto l = t->forward(static_cast<int32_t>((1 + 37 * i) % m.config.vocab_size), i);
    REQUIRE(l.ok());
    all.insert(all.end(), l->begin(), l->end());
  }
  return all;
}

TEST_CASE("LoadConfig::weights: kCopy owns 2 MiB-aligned weights with kMap's logits bit for bit") {
  for (const char* file :
       {"models/t1m-f32.gguf", "models/t1m-q4_0.gguf", "models/stories260K-f32.gguf"}) {
    INFO("model = " << std::string(file));
    auto path = shared_file_or_skip(file);
    if (!path) return;
    LoadConfig map_cfg, copy_cfg;
    map_cfg.weights = LoadConfig::Weights::kMap;
    copy_cfg.weights = LoadConfig::Weights::kCopy;
    Model mapped = load_or_fail(path->string(), map_cfg);
    Model copied = load_or_fail(path->string(), copy_cfg);
    Model by_default = load_or_fail(path->string());
    auto from_file = GgufFile::open(path->string());
    REQUIRE(from_file.ok());
    auto from_gguf = model_from_gguf(std::shared_ptr<const GgufFile>(std::move(*from_file)), copy_cfg);
    REQUIRE(from_gguf.ok());
    for (const Model* m : {&mapped, &copied, &by_default, &*from_gguf}) REQUIRE(m->gguf() != nullptr);

    // Mapped weights are the file's bytes; copies are equal bytes elsewhere,
    // in a buffer whose start (the data section's start) is 2 MiB-aligned.
    const GgufTensorInfo* emb = mapped.gguf()->find_tensor("token_embd.weight");
    REQUIRE(emb != nullptr);
    CHECK(mapped.weights.token_embedding.data == mapped.gguf()->tensor_data(*emb).data());
    for (const Model* m : {&copied, &by_default, &*from_gguf}) {
      const auto in_file = m->gguf()->tensor_data(*emb);
      const auto* copy = static_cast<const uint8_t*>(m->weights.token_embedding.data);
      CHECK(copy != in_file.data());
      CHECK(std::memcmp(copy, in_file.data(), in_file.size()) == 0);
      CHECK(reinterpret_cast<uintptr_t>(copy - emb->offset) % (size_t{2} << 20) == 0);
      const auto* last = static_cast<const uint8_t*>(m->weights.layers.back().ffn_down.data);
      CHECK(last >= copy - emb->offset);
      CHECK(last < copy - emb->offset + std::filesystem::file_size(*path));
    }
    const std::vector<float> want = first_logits(mapped);
    for (const Model* m : {&copied, &by_default, &*from_gguf}) {
      const std::vector<float> got = first_logits(*m);
      REQUIRE(got.size() == want.size());
      CHECK(std::memcmp(got.data(), want.data(), want.size() * sizeof(float)) == 0);
    }
  }
}

TEST_CASE("LoadConfig::weights: a truncated GGUF file fails cleanly in both modes") {
  auto path = shared_file_or_skip("models/t1m-f32.gguf");
  if (!path) return;
  auto bytes = test::read_file(*path);
  REQUIRE(bytes.has_value());
  const std::string cut = (std::filesystem::temp_directory_path() /
                           ("llmk-truncated-" + std::to_string(::getpid()) + ".gguf")).string();
  for (size_t keep : {bytes->size() - 4096, bytes->size() / 2, size_t{100}}) {
    INFO("bytes kept = " << keep);
    {
      std::FILE* f = std::fopen(cut.c_str(), "wb");
      REQUIRE(f != nullptr);
      REQUIRE(std::fwrite(bytes->data(), 1, keep, f) == keep);
      std::fclose(f);
    }
    for (auto mode : {LoadConfig::Weights::kMap, LoadConfig::Weights::kCopy}) {
      LoadConfig cfg;
      cfg.weights = mode;
      const auto m = load_model(cut, cfg);
      REQUIRE_FALSE(m.ok());
      CHECK(m.status().code() == absl::StatusCode::kInvalidArgument);
      CHECK_MESSAGE(std::string(m.status().message()).find(cut) != std::string::npos,
                    m.status().message());
    }
  }
  std::remove(cut.c_str());
}

}  // namespace
}  // namespace llmk
