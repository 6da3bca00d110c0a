// The llama variants real GGUF files hold: RoPE frequency base, linear RoPE
// scaling (rope.scaling.type / factor, the older rope.scale_linear), Llama 3's
// per-frequency divisors (rope_freqs.weight), partial RoPE
// (rope.dimension_count < head size) and biases on the projections. Each is
// written with our exporter, loaded back, and its logits compared with a
// plain double-precision forward pass written here, and with the plain
// model's (so a loader that ignored the feature would fail). Then metadata
// hygiene (unknown keys ignored, missing required keys named) and the
// hostile versions of each feature.
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <vector>

#include <unistd.h>

#include "doctest/doctest.h"
#include "llmk/gguf.h"
#include "llmk/model.h"
#include "llmk/model_tools.h"
#include "llmk/quant.h"
#include "test_util.h"

// Heap allocations counted while g_count_allocs is set (checks that a token
// of a variant model allocates nothing).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
namespace {
std::atomic<bool> g_count_allocs{false};
std::atomic<size_t> g_allocs{0};
}  // namespace
void* operator new(size_t n) {
  if (g_count_allocs.load(std::memory_order_relaxed)) g_allocs.fetch_add(1);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }

namespace llmk {
namespace {

// ------------------------------------------------------------ building variants

// Which features a variant model has on top of a synthetic llama.
struct Variant {
  const char* name = "plain";
  float rope_theta = 10000.0f;
  size_t rope_dims = 0;  // 0: the whole head
  float rope_scale_factor = 1.0f;
  bool freq_factors = false;
  bool biases = false;
  bool tied = false;
};

// A model and the buffers its added tensors live in (the synthetic weights
// live in the model's own storage).
struct VariantModel {
  Model model;
  std::deque<std::vector<float>> buffers;  // a deque: growing it moves no buffer

  std::span<const float> own(std::vector<float> v) {
    buffers.push_back(std::move(v));
    return buffers.back();
  }
};

// n values in [lo, hi), deterministic in `seed` (splitmix-style hash).
std::vector<float> values(size_t n, uint64_t seed, float lo, float hi) {
  std::vector<float> out(n);
  for (size_t i = 0; i < n; ++i) {
    uint64_t z = seed * 0x9e3779b97f4a7c15ull + i * 0xbf58476d1ce4e5b9ull + 1;
    z = (z ^ (z >> 31)) * 0x94d049bb133111ebull;
    z ^= z >> 29;
    out[i] = lo + (hi - lo) * static_cast<float>(z >> 40) / 16777216.0f;
  }
  return out;
}

// Llama 3-like divisors: 1 for the first quarter of the pairs (high
// frequencies), rising to 8 over the rest. Every pair past the first quarter
// changes, so the logits of a short sequence move well past the tolerance.
std::vector<float> llama3_like_factors(size_t pairs) {
  std::vector<float> f(pairs);
  for (size_t i = 0; i < pairs; ++i) {
    const float t = std::clamp((4.0f * i / pairs - 1.0f) / 3.0f, 0.0f, 1.0f);
    f[i] = 1.0f + 7.0f * t;
  }
  return f;
}

VariantModel make_variant(const std::string& shape, TensorType type, const Variant& v,
                          uint64_t seed = 11) {
  auto base = make_synthetic_model(shape, type, seed);
  REQUIRE_MESSAGE(base.ok(), base.status().ToString());
  VariantModel out;
  out.model = std::move(*base);
  ModelConfig& c = out.model.config;
  ModelWeights& w = out.model.weights;
  c.rope_theta = v.rope_theta;
  c.rope_dims = v.rope_dims;
  c.rope_scale_factor = v.rope_scale_factor;
  if (v.freq_factors) w.rope_freq_factors = out.own(llama3_like_factors(c.rotary_dims() / 2));
  if (v.tied) {
    c.tied_output = true;
    w.output = w.token_embedding;
  }
  if (v.biases) {
    uint64_t s = seed * 1000;
    for (LayerWeights& L : w.layers) {
      L.attn_q_bias = out.own(values(c.dim, ++s, -0.2f, 0.2f));
      L.attn_k_bias = out.own(values(c.kv_dim(), ++s, -0.2f, 0.2f));
      L.attn_v_bias = out.own(values(c.kv_dim(), ++s, -0.2f, 0.2f));
      L.attn_output_bias = out.own(values(c.dim, ++s, -0.2f, 0.2f));
      L.ffn_gate_bias = out.own(values(c.hidden_dim, ++s, -0.2f, 0.2f));
      L.ffn_up_bias = out.own(values(c.hidden_dim, ++s, -0.2f, 0.2f));
      L.ffn_down_bias = out.own(values(c.dim, ++s, -0.2f, 0.2f));
    }
  }
  return out;
}

// A model loaded from GGUF bytes, which it keeps alive.
struct LoadedModel {
  std::shared_ptr<std::vector<uint8_t>> bytes;
  Model model;
};

absl::StatusOr<LoadedModel> load_bytes(std::vector<uint8_t> bytes) {
  LoadedModel out;
  out.bytes = std::make_shared<std::vector<uint8_t>>(std::move(bytes));
  auto file = GgufFile::parse(*out.bytes);
  if (!file.ok()) return file.status();
  auto model = model_from_gguf(std::shared_ptr<const GgufFile>(std::move(*file)));
  if (!model.ok()) return model.status();
  out.model = std::move(*model);
  return out;
}

std::vector<uint8_t> to_gguf(const Model& m) {
  auto bytes = model_to_gguf(m);
  REQUIRE_MESSAGE(bytes.ok(), bytes.status().ToString());
  return std::move(*bytes);
}

LoadedModel round_trip(const Model& m) {
  auto loaded = load_bytes(to_gguf(m));
  REQUIRE_MESSAGE(loaded.ok(), loaded.status().ToString());
  return std::move(*loaded);
}

// The GGUF file `bytes` with its key/values edited: edit may change one (false
// drops it); `extra` is appended. Tensors are copied unchanged.
std::vector<uint8_t> edit_keys(const std::vector<uint8_t>& bytes,
                               const std::function<bool(GgufKeyValue&)>& edit,
                               std::vector<GgufKeyValue> extra = {}) {
  auto f = GgufFile::parse(bytes);
  REQUIRE_MESSAGE(f.ok(), f.status().ToString());
  GgufWriter w;
  for (GgufKeyValue kv : (*f)->metadata()) {
    if (kv.key == "general.alignment") continue;
    if (edit && !edit(kv)) continue;
    w.add(kv.key, kv.value);
  }
  for (GgufKeyValue& kv : extra) w.add(kv.key, kv.value);
  for (const GgufTensorInfo& t : (*f)->tensors()) {
    REQUIRE(w.add_tensor(t.name, t.dims, t.type, (*f)->tensor_data(t)).ok());
  }
  auto out = w.to_bytes();
  REQUIRE_MESSAGE(out.ok(), out.status().ToString());
  return std::move(*out);
}

GgufKeyValue key(std::string name, GgufValue value) { return {std::move(name), std::move(value)}; }
GgufValue u32(uint32_t v) { return {GgufType::kUint32, v}; }
GgufValue f32(float v) { return {GgufType::kFloat32, v}; }
GgufValue str(std::string v) { return {GgufType::kString, std::move(v)}; }
auto drop(const std::string& name) {
  return [name](GgufKeyValue& kv) { return kv.key != name; };
}

void expect_error(const absl::Status& st, absl::StatusCode code, const std::string& needle) {
  INFO("status: " << st.ToString());
  CHECK(st.code() == code);
  CHECK(std::string(st.message()).find(needle) != std::string::npos);
}

// ------------------------------------------------------------ the reference

// A plain llama forward pass in double over a whole sequence (F32 weights):
// RMSNorm, q/k/v with optional biases, RoPE on the first rotary_dims of each
// head (pair i turns by pos·θ^(−2i/rotary_dims) / freq_factors[i] /
// rope_scale_factor), grouped-query attention, SwiGLU with optional biases.
// Returns tokens.size() × vocab logits.
std::vector<float> llama_reference(const Model& m, const std::vector<int32_t>& tokens) {
  const ModelConfig& c = m.config;
  const ModelWeights& mw = m.weights;
  const size_t d = c.dim, hd = c.head_dim, hid = c.hidden_dim;
  const size_t rot = c.rotary_dims(), group = c.n_heads / c.n_kv_heads;
  using Vec = std::vector<double>;
  auto matvec = [](const WeightView& w, const Vec& x, std::span<const float> bias) {
    REQUIRE(w.type == TensorType::kF32);
    const float* p = static_cast<const float*>(w.data);
    Vec y(w.rows);
    for (size_t r = 0; r < w.rows; ++r) {
      double s = bias.empty() ? 0.0 : bias[r];
      for (size_t k = 0; k < w.cols; ++k) s += static_cast<double>(p[r * w.cols + k]) * x[k];
      y[r] = s;
    }
    return y;
  };
  auto rms_norm = [&](const Vec& x, std::span<const float> weight) {
    double ss = 0;
    for (double v : x) ss += v * v;
    const double scale = 1.0 / std::sqrt(ss / static_cast<double>(x.size()) + c.norm_eps);
    Vec y(x.size());
    for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] * scale * weight[i];
    return y;
  };
  auto rope = [&](Vec& x, size_t heads, size_t pos) {
    for (size_t h = 0; h < heads; ++h) {
      for (size_t i = 0; i < rot / 2; ++i) {
        double angle = static_cast<double>(pos) *
                       std::pow(static_cast<double>(c.rope_theta), -2.0 * i / rot);
        if (!mw.rope_freq_factors.empty()) angle /= mw.rope_freq_factors[i];
        angle /= c.rope_scale_factor;
        const bool adjacent = c.rope_layout == RopeLayout::kAdjacentPairs;
        const size_t a = h * hd + (adjacent ? 2 * i : i);
        const size_t b = adjacent ? a + 1 : a + rot / 2;
        const double xa = x[a], xb = x[b];
        x[a] = xa * std::cos(angle) - xb * std::sin(angle);
        x[b] = xb * std::cos(angle) + xa * std::sin(angle);
      }
    }
  };
  const float* emb = static_cast<const float*>(mw.token_embedding.data);
  REQUIRE(mw.token_embedding.type == TensorType::kF32);
  std::vector<std::vector<Vec>> keys(c.n_layers), vals(c.n_layers);
  std::vector<float> logits;
  for (size_t pos = 0; pos < tokens.size(); ++pos) {
    Vec x(emb + tokens[pos] * d, emb + (tokens[pos] + 1) * d);
    for (size_t l = 0; l < c.n_layers; ++l) {
      const LayerWeights& L = mw.layers[l];
      const Vec xn = rms_norm(x, L.attn_norm);
      Vec q = matvec(L.attn_q, xn, L.attn_q_bias);
      Vec k = matvec(L.attn_k, xn, L.attn_k_bias);
      rope(q, c.n_heads, pos);
      rope(k, c.n_kv_heads, pos);
      keys[l].push_back(k);
      vals[l].push_back(matvec(L.attn_v, xn, L.attn_v_bias));
      Vec att(d, 0.0);
      for (size_t h = 0; h < c.n_heads; ++h) {
        const size_t kv_off = (h / group) * hd;
        Vec s(pos + 1);
        double mx = -1e300, sum = 0;
        for (size_t t = 0; t <= pos; ++t) {
          double dot = 0;
          for (size_t i = 0; i < hd; ++i) dot += q[h * hd + i] * keys[l][t][kv_off + i];
          s[t] = dot / std::sqrt(static_cast<double>(hd));
          mx = std::max(mx, s[t]);
        }
        for (double& v : s) sum += (v = std::exp(v - mx));
        for (size_t t = 0; t <= pos; ++t) {
          for (size_t i = 0; i < hd; ++i) att[h * hd + i] += s[t] / sum * vals[l][t][kv_off + i];
        }
      }
      const Vec o = matvec(L.attn_output, att, L.attn_output_bias);
      for (size_t i = 0; i < d; ++i) x[i] += o[i];
      const Vec xf = rms_norm(x, L.ffn_norm);
      Vec g = matvec(L.ffn_gate, xf, L.ffn_gate_bias);
      const Vec u = matvec(L.ffn_up, xf, L.ffn_up_bias);
      for (size_t i = 0; i < hid; ++i) g[i] = g[i] / (1.0 + std::exp(-g[i])) * u[i];
      const Vec dn = matvec(L.ffn_down, g, L.ffn_down_bias);
      for (size_t i = 0; i < d; ++i) x[i] += dn[i];
    }
    const Vec y = matvec(mw.output, rms_norm(x, mw.output_norm), {});
    for (double v : y) logits.push_back(static_cast<float>(v));
  }
  return logits;
}

using test::max_abs;
using test::max_abs_diff;

std::vector<int32_t> test_tokens(size_t n, size_t vocab) {
  std::vector<int32_t> t;
  for (size_t i = 0; i < n; ++i) t.push_back(static_cast<int32_t>((i * 7919 + 13) % vocab));
  return t;
}

std::unique_ptr<Transformer> make_transformer(const Model& m, TransformerOptions opt) {
  auto t = Transformer::create(m, opt);
  REQUIRE_MESSAGE(t.ok(), t.status().ToString());
  return std::move(*t);
}

// Logits of every token, one forward() each (the single-token pass).
std::vector<float> token_by_token(const Model& m, const std::vector<int32_t>& tokens,
                                  size_t threads) {
  TransformerOptions opt;
  opt.n_threads = threads;
  opt.activation_mode = ActivationMode::kFloat;
  opt.max_seq_len = tokens.size();
  auto t = make_transformer(m, opt);
  std::vector<float> all;
  for (size_t i = 0; i < tokens.size(); ++i) {
    auto l = t->forward(tokens[i], i);
    REQUIRE_MESSAGE(l.ok(), l.status().ToString());
    all.insert(all.end(), l->begin(), l->end());
  }
  return all;
}

// Logits of every token from one forward_batch (the batched layer).
std::vector<float> batched(const Model& m, const std::vector<int32_t>& tokens, size_t threads) {
  TransformerOptions opt;
  opt.n_threads = threads;
  opt.activation_mode = ActivationMode::kFloat;
  opt.max_seq_len = tokens.size();
  opt.max_batch = tokens.size();
  auto t = make_transformer(m, opt);
  auto l = t->forward_batch(tokens, 0, 0, /*all_logits=*/true);
  REQUIRE_MESSAGE(l.ok(), l.status().ToString());
  return {l->begin(), l->end()};
}

// Float kernels against the double reference: summation order and float
// RoPE angles differ; on these models the difference is under 1e-5 of the
// largest logit, so 1e-4 leaves room without hiding a wrong feature (each
// feature moves the logits by more than 1e-2 of the largest, checked below).
constexpr float kReferenceTolerance = 1e-4f;
constexpr float kFeatureEffect = 1e-2f;

const Variant kVariants[] = {
    {.name = "plain"},
    {.name = "freq_base 500000", .rope_theta = 500000.0f},
    {.name = "linear scaling x4", .rope_scale_factor = 4.0f},
    {.name = "linear scaling x0.5", .rope_scale_factor = 0.5f},
    {.name = "rope_freqs (Llama 3)", .freq_factors = true},
    {.name = "partial RoPE 8 of 16", .rope_dims = 8},
    {.name = "partial RoPE 12 of 16", .rope_dims = 12},
    {.name = "biases", .biases = true},
    {.name = "tied output", .tied = true},
    {.name = "all together",
     .rope_theta = 500000.0f,
     .rope_dims = 12,
     .rope_scale_factor = 2.0f,
     .freq_factors = true,
     .biases = true,
     .tied = true},
};

// ------------------------------------------------------------ variants

TEST_CASE("llama variants: a GGUF round trip gives the double reference's logits") {
  const auto tokens = test_tokens(24, 320);
  const VariantModel plain = make_variant("tiny-llama", TensorType::kF32, {});
  const auto plain_logits = token_by_token(round_trip(plain.model).model, tokens, 1);
  for (const Variant& v : kVariants) {
    INFO("variant: " << std::string(v.name));
    const VariantModel vm = make_variant("tiny-llama", TensorType::kF32, v);
    const auto expect = llama_reference(vm.model, tokens);
    const float tol = kReferenceTolerance * std::max(1.0f, max_abs(expect));
    const LoadedModel loaded = round_trip(vm.model);
    const ModelConfig& c = loaded.model.config;
    CHECK(c.rotary_dims() == vm.model.config.rotary_dims());
    CHECK(c.rope_scale_factor == v.rope_scale_factor);
    CHECK(c.rope_theta == v.rope_theta);
    CHECK(c.tied_output == v.tied);
    CHECK(loaded.model.weights.rope_freq_factors.size() ==
          vm.model.weights.rope_freq_factors.size());
    CHECK(loaded.model.weights.layers[1].ffn_down_bias.size() == (v.biases ? c.dim : 0));
    for (size_t threads : {1, 2}) {
      INFO("threads = " << threads);
      CHECK(max_abs_diff(token_by_token(loaded.model, tokens, threads), expect) <= tol);
      CHECK(max_abs_diff(batched(loaded.model, tokens, threads), expect) <= tol);
    }
    if (std::string(v.name) != "plain") {
      // The feature matters: a loader ignoring it gives the plain logits.
      CHECK(max_abs_diff(plain_logits, expect) > kFeatureEffect * max_abs(expect));
    }
  }
}

TEST_CASE("llama variants: the one-region token pass on every thread count") {
  // stories15M is large enough for a token to run as one parallel region
  // (llama_token): 2 threads split its 6 kv heads, 7 take the RoPE-barrier
  // path. Its head size 48 with 32 rotated dims leaves a pass-through tail.
  const Variant v = {.name = "stories15M, all features",
                     .rope_theta = 500000.0f,
                     .rope_dims = 32,
                     .rope_scale_factor = 2.0f,
                     .freq_factors = true,
                     .biases = true};
  const auto tokens = test_tokens(4, 32000);
  for (TensorType type : {TensorType::kF32, TensorType::kQ4_0}) {
    INFO("type = " << tensor_type_name(type));
    const VariantModel vm = make_variant("stories15M", type, v, 3);
    const LoadedModel loaded = round_trip(vm.model);
    auto logits_of = [&](size_t threads) {
      TransformerOptions opt;
      opt.n_threads = threads;
      opt.max_seq_len = 8;
      auto t = make_transformer(loaded.model, opt);
      std::vector<float> all;
      for (size_t i = 0; i < tokens.size(); ++i) {
        auto l = t->forward(tokens[i], i);
        REQUIRE(l.ok());
        all.insert(all.end(), l->begin(), l->end());
      }
      return all;
    };
    const auto one = logits_of(1);
    for (size_t threads : {size_t{2}, size_t{7}}) {
      INFO("threads = " << threads);
      const auto many = logits_of(threads);
      REQUIRE(many.size() == one.size());
      CHECK(std::memcmp(many.data(), one.data(), one.size() * sizeof(float)) == 0);
    }
    if (type == TensorType::kF32) {
      // F32 weights take the f32 path whatever the activation mode.
      const auto expect = llama_reference(vm.model, tokens);
      CHECK(max_abs_diff(one, expect) <= kReferenceTolerance * std::max(1.0f, max_abs(expect)));
    }
  }
}

TEST_CASE("llama variants: split-halves partial RoPE in memory matches the reference") {
  // GGUF llama files rotate adjacent pairs; the split-halves layout (GPT-NeoX)
  // with partial RoPE pairs x[i] with x[i + rotary_dims/2].
  for (size_t rope_dims : {size_t{8}, size_t{12}, size_t{16}}) {
    INFO("rope_dims = " << rope_dims);
    VariantModel vm = make_variant("tiny-llama", TensorType::kF32,
                                   {.rope_dims = rope_dims, .freq_factors = true});
    vm.model.config.rope_layout = RopeLayout::kSplitHalves;
    const auto tokens = test_tokens(16, 320);
    const auto expect = llama_reference(vm.model, tokens);
    const float tol = kReferenceTolerance * std::max(1.0f, max_abs(expect));
    CHECK(max_abs_diff(token_by_token(vm.model, tokens, 1), expect) <= tol);
    CHECK(max_abs_diff(batched(vm.model, tokens, 2), expect) <= tol);
  }
}

TEST_CASE("llama variants: a token of a model with every feature allocates nothing") {
  const VariantModel vm = make_variant("tiny-llama", TensorType::kQ8_0, kVariants[9]);
  TransformerOptions opt;
  opt.n_threads = 2;
  auto t = make_transformer(vm.model, opt);
  REQUIRE(t->forward(1, 0).ok());
  g_allocs = 0;
  g_count_allocs = true;
  bool ok = true;
  for (size_t pos = 1; pos < 16; ++pos) ok &= t->forward(static_cast<int32_t>(pos), pos).ok();
  g_count_allocs = false;
  CHECK(g_allocs.load() == 0);
  const std::vector<int32_t> batch = {3, 4, 5, 6};
  g_count_allocs = true;
  ok &= t->forward_batch(batch, 16).ok();
  g_count_allocs = false;
  CHECK(ok);
  CHECK(g_allocs.load() == 0);
}

// ------------------------------------------------------------ llama.cpp

// Teacher-forced logits from llama.cpp through tools/peer/llama_logits.cc
// (its path in $LLMK_LLAMA_LOGITS), or nullopt when llama.cpp refuses the file.
std::optional<std::vector<float>> llama_cpp_logits(const std::string& helper, const Model& m,
                                                   const std::vector<int32_t>& tokens) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("llmk_variants_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string model_path = (dir / "model.gguf").string();
  const std::string logits_path = (dir / "logits.bin").string();
  REQUIRE(write_model_gguf(m, model_path).ok());
  std::string cmd;
  for (const std::string& arg : {helper, model_path, logits_path}) {
    cmd.append("'").append(arg).append("' ");
  }
  for (int32_t t : tokens) cmd.append(std::to_string(t)).append(" ");
  cmd.append(">/dev/null 2>&1");
  const int status = std::system(cmd.c_str());
  std::optional<std::vector<float>> out;
  if (status == 0) {
    test::LogitsFile f = test::read_logits(logits_path);
    REQUIRE(f.tokens == tokens);
    REQUIRE(f.vocab == m.config.vocab_size);
    out = std::move(f.logits);
  }
  std::filesystem::remove_all(dir);
  return out;
}

TEST_CASE("llama variants: logits agree with llama.cpp's") {
  const char* helper = std::getenv("LLMK_LLAMA_LOGITS");
  if (helper == nullptr) {
    test::skip("LLMK_LLAMA_LOGITS is not set (.ci/peer_formats.sh builds "
               "tools/peer/llama_logits.cc against llama.cpp and sets it)");
    return;
  }
  const auto tokens = test_tokens(24, 320);
  const VariantModel plain = make_variant("tiny-llama", TensorType::kF32, {});
  const auto plain_theirs = llama_cpp_logits(helper, plain.model, tokens);
  REQUIRE(plain_theirs.has_value());
  for (const Variant& v : kVariants) {
    INFO("variant: " << std::string(v.name));
    const VariantModel vm = make_variant("tiny-llama", TensorType::kF32, v);
    const auto theirs = llama_cpp_logits(helper, vm.model, tokens);
    if (vm.model.config.rotary_dims() != vm.model.config.head_dim) {
      // llama.cpp's llama architecture rotates whole heads only.
      CHECK(!theirs.has_value());
      continue;
    }
    REQUIRE(theirs.has_value());
    const auto ours = token_by_token(round_trip(vm.model).model, tokens, 1);
    // Both in f32; ggml sums in another order and builds the angles by
    // repeated multiplication: 7e-7 apart, measured, on these logits (≈2).
    CHECK(max_abs_diff(ours, *theirs) <= 1e-5f * std::max(1.0f, max_abs(*theirs)));
    if (std::string(v.name) != "plain") {
      // llama.cpp applied the feature too (the file says what we think it says).
      CHECK(max_abs_diff(*plain_theirs, *theirs) > kFeatureEffect * max_abs(*theirs));
    }
  }
}

// ------------------------------------------------------------ RoPE metadata

TEST_CASE("RoPE scaling keys are read as llama.cpp reads them") {
  const auto tokens = test_tokens(12, 320);
  const VariantModel plain = make_variant("tiny-llama", TensorType::kF32, {});
  const VariantModel scaled = make_variant("tiny-llama", TensorType::kF32,
                                           {.rope_scale_factor = 4.0f});
  const auto plain_logits = token_by_token(round_trip(plain.model).model, tokens, 1);
  const auto scaled_logits = token_by_token(round_trip(scaled.model).model, tokens, 1);
  REQUIRE(max_abs_diff(plain_logits, scaled_logits) > kFeatureEffect * max_abs(plain_logits));
  const auto scaled_file = to_gguf(scaled.model);
  const std::string type_key = "llama.rope.scaling.type";
  const std::string factor_key = "llama.rope.scaling.factor";
  auto logits_of = [&](std::vector<uint8_t> bytes) {
    auto loaded = load_bytes(std::move(bytes));
    REQUIRE_MESSAGE(loaded.ok(), loaded.status().ToString());
    return token_by_token(loaded->model, tokens, 1);
  };
  auto same = [](const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * 4) == 0;
  };

  SUBCASE("a factor without a type scales linearly (the type defaults to linear)") {
    CHECK(same(logits_of(edit_keys(scaled_file, drop(type_key))), scaled_logits));
  }
  SUBCASE("the older key rope.scale_linear") {
    auto renamed = edit_keys(scaled_file, [&](GgufKeyValue& kv) {
      if (kv.key == factor_key) kv.key = "llama.rope.scale_linear";
      return kv.key != type_key;
    });
    CHECK(same(logits_of(renamed), scaled_logits));
  }
  SUBCASE("rope.scaling.factor wins over rope.scale_linear") {
    auto both = edit_keys(scaled_file, nullptr, {key("llama.rope.scale_linear", f32(8.0f))});
    CHECK(same(logits_of(both), scaled_logits));
  }
  SUBCASE("type none ignores the factor") {
    auto none = edit_keys(scaled_file, [&](GgufKeyValue& kv) {
      if (kv.key == type_key) kv.value = str("none");
      return true;
    });
    CHECK(same(logits_of(none), plain_logits));
  }
  SUBCASE("factor 0 means no scaling, as in llama.cpp") {
    auto zero = edit_keys(scaled_file, [&](GgufKeyValue& kv) {
      if (kv.key == factor_key) kv.value = f32(0.0f);
      return true;
    });
    CHECK(same(logits_of(zero), plain_logits));
  }
  SUBCASE("absent freq_base and dimension_count mean 10000 and the whole head") {
    auto bare = edit_keys(to_gguf(plain.model), [](GgufKeyValue& kv) {
      return kv.key != "llama.rope.freq_base" && kv.key != "llama.rope.dimension_count";
    });
    CHECK(same(logits_of(bare), plain_logits));
  }
  SUBCASE("attn_factor 1 changes nothing") {
    auto one = edit_keys(to_gguf(plain.model), nullptr,
                         {key("llama.rope.scaling.attn_factor", f32(1.0f))});
    CHECK(same(logits_of(one), plain_logits));
  }
}

TEST_CASE("RoPE metadata we do not implement, or that makes no sense, is a named error") {
  using absl::StatusCode;
  const VariantModel plain = make_variant("tiny-llama", TensorType::kF32, {});
  const auto file = to_gguf(plain.model);
  auto load_with = [&](std::vector<GgufKeyValue> extra) {
    return load_bytes(edit_keys(file, nullptr, std::move(extra))).status();
  };
  const std::string type_key = "llama.rope.scaling.type";
  expect_error(load_with({key(type_key, str("yarn")), key("llama.rope.scaling.factor", f32(4))}),
               StatusCode::kUnimplemented, "llama.rope.scaling.type = 'yarn' is not supported");
  expect_error(load_with({key(type_key, str("longrope"))}), StatusCode::kUnimplemented,
               "llama.rope.scaling.type = 'longrope'");
  expect_error(load_with({key(type_key, str("dynamic\n"))}), StatusCode::kInvalidArgument,
               "llama.rope.scaling.type = 'dynamic\\n' is not a RoPE scaling type");
  expect_error(load_with({key(type_key, u32(1))}), StatusCode::kInvalidArgument,
               "llama.rope.scaling.type");
  for (float bad : {-1.0f, -2.5f, std::nanf(""),
                    std::numeric_limits<float>::infinity()}) {
    INFO("factor = " << bad);
    expect_error(load_with({key("llama.rope.scaling.factor", f32(bad))}),
                 StatusCode::kInvalidArgument, "llama.rope.scaling.factor = ");
    expect_error(load_with({key("llama.rope.scale_linear", f32(bad))}),
                 StatusCode::kInvalidArgument, "llama.rope.scale_linear = ");
  }
  expect_error(load_with({key("llama.rope.scaling.factor", str("4"))}),
               StatusCode::kInvalidArgument, "llama.rope.scaling.factor");
  expect_error(load_with({key("llama.rope.scaling.attn_factor", f32(2.0f))}),
               StatusCode::kUnimplemented, "llama.rope.scaling.attn_factor = 2");
  for (uint32_t bad : {0u, 15u, 18u, 0x80000000u}) {
    INFO("rope.dimension_count = " << bad);
    auto edited = edit_keys(file, [&](GgufKeyValue& kv) {
      if (kv.key == "llama.rope.dimension_count") kv.value = u32(bad);
      return true;
    });
    expect_error(load_bytes(edited).status(), StatusCode::kInvalidArgument,
                 "llama.rope.dimension_count = " + std::to_string(bad));
  }
  auto nan_base = edit_keys(file, [](GgufKeyValue& kv) {
    if (kv.key == "llama.rope.freq_base") kv.value = f32(std::nanf(""));
    return true;
  });
  expect_error(load_bytes(nan_base).status(), StatusCode::kInvalidArgument, "rope.freq_base");
}

TEST_CASE("rope_freqs.weight of the wrong length or with a bad divisor is a named error") {
  using absl::StatusCode;
  auto load_with_factors = [](std::vector<float> factors) {
    VariantModel vm = make_variant("tiny-llama", TensorType::kF32, {.rope_dims = 12});
    vm.model.weights.rope_freq_factors = vm.own(std::move(factors));
    return load_bytes(to_gguf(vm.model)).status();
  };
  CHECK(load_with_factors(std::vector<float>(6, 2.0f)).ok());
  expect_error(load_with_factors(std::vector<float>(7, 2.0f)), StatusCode::kInvalidArgument,
               "tensor 'rope_freqs.weight' has shape [7], expected [6]");
  expect_error(load_with_factors(std::vector<float>(8, 2.0f)), StatusCode::kInvalidArgument,
               "tensor 'rope_freqs.weight' has shape [8], expected [6]");
  for (float bad : {0.0f, -1.0f, std::nanf(""), std::numeric_limits<float>::infinity()}) {
    INFO("divisor = " << bad);
    std::vector<float> f(6, 2.0f);
    f[4] = bad;
    expect_error(load_with_factors(f), StatusCode::kInvalidArgument,
                 "tensor 'rope_freqs.weight' element 4 = ");
  }
  // An in-memory model is checked when the forward pass is created.
  VariantModel vm = make_variant("tiny-llama", TensorType::kF32, {});
  vm.model.weights.rope_freq_factors = vm.own(std::vector<float>(7, 1.0f));
  expect_error(Transformer::create(vm.model, {}).status(), StatusCode::kInvalidArgument,
               "rope_freq_factors has 7 entries, expected rotary_dims / 2 = 8");
}

TEST_CASE("in-memory configs with bad RoPE settings are refused by Transformer::create") {
  using absl::StatusCode;
  for (size_t bad : {size_t{7}, size_t{18}}) {
    VariantModel vm = make_variant("tiny-llama", TensorType::kF32, {.rope_dims = bad});
    expect_error(Transformer::create(vm.model, {}).status(), StatusCode::kInvalidArgument,
                 "rope.dimension_count = " + std::to_string(bad));
  }
  for (float bad : {0.0f, -1.0f, std::nanf(""), std::numeric_limits<float>::infinity()}) {
    VariantModel vm = make_variant("tiny-llama", TensorType::kF32, {.rope_scale_factor = bad});
    expect_error(Transformer::create(vm.model, {}).status(), StatusCode::kInvalidArgument,
                 "rope.scaling.factor");
  }
}

// ------------------------------------------------------------ biases

TEST_CASE("llama biases of the wrong shape or type are named errors") {
  using absl::StatusCode;
  struct BadBias {
    std::span<const float> LayerWeights::*field;
    size_t size;
    const char* message;
  };
  const BadBias cases[] = {
      {&LayerWeights::attn_q_bias, 63, "tensor 'blk.1.attn_q.bias' has shape [63], expected [64]"},
      // attn_k's bias follows the kv heads (2 of 4: 32 rows), not dim.
      {&LayerWeights::attn_k_bias, 64, "tensor 'blk.1.attn_k.bias' has shape [64], expected [32]"},
      {&LayerWeights::attn_v_bias, 31, "tensor 'blk.1.attn_v.bias' has shape [31], expected [32]"},
      {&LayerWeights::attn_output_bias, 160,
       "tensor 'blk.1.attn_output.bias' has shape [160], expected [64]"},
      {&LayerWeights::ffn_gate_bias, 64,
       "tensor 'blk.1.ffn_gate.bias' has shape [64], expected [160]"},
      {&LayerWeights::ffn_up_bias, 1, "tensor 'blk.1.ffn_up.bias' has shape [1], expected [160]"},
      {&LayerWeights::ffn_down_bias, 160,
       "tensor 'blk.1.ffn_down.bias' has shape [160], expected [64]"},
  };
  for (const BadBias& bad : cases) {
    INFO(std::string(bad.message));
    VariantModel vm = make_variant("tiny-llama", TensorType::kF32, {.biases = true});
    vm.model.weights.layers[1].*bad.field = vm.own(std::vector<float>(bad.size, 0.5f));
    expect_error(load_bytes(to_gguf(vm.model)).status(), StatusCode::kInvalidArgument,
                 bad.message);
  }
  // A 2-D bias, and one stored as Q8_0.
  const VariantModel vm = make_variant("tiny-llama", TensorType::kF32, {.biases = true});
  const auto file = to_gguf(vm.model);
  auto retyped = [&](const std::string& name, std::vector<uint64_t> dims, TensorType type) {
    auto f = GgufFile::parse(file);
    REQUIRE(f.ok());
    GgufWriter w;
    for (const GgufKeyValue& kv : (*f)->metadata()) {
      if (kv.key != "general.alignment") w.add(kv.key, kv.value);
    }
    for (const GgufTensorInfo& t : (*f)->tensors()) {
      if (t.name != name) {
        REQUIRE(w.add_tensor(t.name, t.dims, t.type, (*f)->tensor_data(t)).ok());
        continue;
      }
      uint64_t n = 1;
      for (uint64_t d : dims) n *= d;
      std::vector<uint8_t> zeros(*tensor_bytes(type, n), 0);
      REQUIRE(w.add_tensor(name, dims, type, zeros).ok());
    }
    auto bytes = w.to_bytes();
    REQUIRE(bytes.ok());
    return load_bytes(std::move(*bytes)).status();
  };
  expect_error(retyped("blk.0.attn_q.bias", {32, 2}, TensorType::kF32),
               StatusCode::kInvalidArgument, "tensor 'blk.0.attn_q.bias' has shape [32, 2]");
  expect_error(retyped("blk.0.attn_v.bias", {32}, TensorType::kQ8_0),
               StatusCode::kInvalidArgument, "tensor 'blk.0.attn_v.bias' has type Q8_0");
  CHECK(retyped("blk.0.attn_v.bias", {32}, TensorType::kF16).ok());  // F16 is converted
}

TEST_CASE("llama biases are each optional and each one counts") {
  // One bias at a time: the loader reads it and the forward pass adds it.
  const auto tokens = test_tokens(8, 320);
  const VariantModel all = make_variant("tiny-llama", TensorType::kF32, {.biases = true});
  const VariantModel plain = make_variant("tiny-llama", TensorType::kF32, {});
  const auto plain_logits = llama_reference(plain.model, tokens);
  for (auto field : {&LayerWeights::attn_q_bias, &LayerWeights::attn_k_bias,
                     &LayerWeights::attn_v_bias, &LayerWeights::attn_output_bias,
                     &LayerWeights::ffn_gate_bias, &LayerWeights::ffn_up_bias,
                     &LayerWeights::ffn_down_bias}) {
    VariantModel one = make_variant("tiny-llama", TensorType::kF32, {});
    for (size_t l = 0; l < one.model.weights.layers.size(); ++l) {
      one.model.weights.layers[l].*field = all.model.weights.layers[l].*field;
    }
    const auto expect = llama_reference(one.model, tokens);
    const LoadedModel loaded = round_trip(one.model);
    const float tol = kReferenceTolerance * std::max(1.0f, max_abs(expect));
    CHECK(max_abs_diff(token_by_token(loaded.model, tokens, 1), expect) <= tol);
    CHECK(max_abs_diff(batched(loaded.model, tokens, 1), expect) <= tol);
    CHECK(max_abs_diff(plain_logits, expect) > 10 * tol);
  }
}

// ------------------------------------------------------------ metadata hygiene

TEST_CASE("unknown metadata keys are ignored") {
  const VariantModel plain = make_variant("tiny-llama", TensorType::kF32, {});
  const auto tokens = test_tokens(8, 320);
  const auto expect = token_by_token(round_trip(plain.model).model, tokens, 1);
  GgufArray arr;
  arr.element_type = GgufType::kFloat32;
  arr.values = std::vector<float>{1, 2, 3};
  auto bytes = edit_keys(to_gguf(plain.model), nullptr,
                         {key("llama.some_future_key", u32(7)),
                          key("llama.rope.scaling.original_context_length", u32(8192)),
                          key("llama.rope.scaling.finetuned", GgufValue{GgufType::kBool, true}),
                          key("general.license", str("anything")),
                          key("vendor.table", GgufValue{GgufType::kArray, arr}),
                          key("gpt2.embedding_length", str("another architecture's key"))});
  auto loaded = load_bytes(std::move(bytes));
  REQUIRE_MESSAGE(loaded.ok(), loaded.status().ToString());
  const auto got = token_by_token(loaded->model, tokens, 1);
  CHECK(std::memcmp(got.data(), expect.data(), got.size() * sizeof(float)) == 0);
}

TEST_CASE("missing required metadata is an error naming the key") {
  const VariantModel plain = make_variant("tiny-llama", TensorType::kF32, {});
  const auto file = to_gguf(plain.model);
  for (const char* required :
       {"llama.embedding_length", "llama.block_count", "llama.feed_forward_length",
        "llama.attention.head_count", "llama.context_length",
        "llama.attention.layer_norm_rms_epsilon"}) {
    INFO("key: " << std::string(required));
    expect_error(load_bytes(edit_keys(file, drop(required))).status(),
                 absl::StatusCode::kInvalidArgument,
                 std::string("missing hyperparameter key '") + required + "'");
  }
  expect_error(load_bytes(edit_keys(file, drop("general.architecture"))).status(),
               absl::StatusCode::kInvalidArgument, "general.architecture");
  // head_count_kv is optional and defaults to head_count (then attn_k's
  // shape, for 2 of 4 kv heads, is what fails).
  expect_error(load_bytes(edit_keys(file, drop("llama.attention.head_count_kv"))).status(),
               absl::StatusCode::kInvalidArgument, "tensor 'blk.0.attn_k.weight' has shape");
}

TEST_CASE("keys that change the computation beyond what we run are refused by name") {
  using absl::StatusCode;
  const VariantModel plain = make_variant("tiny-llama", TensorType::kF32, {});
  const auto file = to_gguf(plain.model);
  auto load_with = [&](std::vector<GgufKeyValue> extra) {
    return load_bytes(edit_keys(file, nullptr, std::move(extra))).status();
  };
  expect_error(load_with({key("llama.attention.key_length", u32(32))}),
               StatusCode::kUnimplemented, "llama.attention.key_length = 32");
  expect_error(load_with({key("llama.attention.value_length", u32(8))}),
               StatusCode::kUnimplemented, "llama.attention.value_length = 8");
  expect_error(load_with({key("llama.expert_count", u32(8))}), StatusCode::kUnimplemented,
               "llama.expert_count = 8 (mixture of experts)");
  // Values that agree with what we run are fine.
  CHECK(load_with({key("llama.attention.key_length", u32(16)),
                   key("llama.attention.value_length", u32(16)),
                   key("llama.expert_count", u32(0))})
            .ok());
}

}  // namespace
}  // namespace llmk
