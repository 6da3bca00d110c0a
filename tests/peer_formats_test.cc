// Cross-checks with llama.cpp on files both projects wrote from one F32
// model (.ci/peer_formats.sh makes them and sets LLMK_PEER_FORMATS_DIR):
// - llmk-quantize chooses llama-quantize's type for every tensor and writes
//   the same bytes;
// - llama.cpp loads our files (its logits on them exist and equal its logits
//   on its own files);
// - our forward pass on llama.cpp's files gives llama.cpp's logits within a
//   bound per type.
// Skipped, with the reason, when the directory is not given.
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "doctest/doctest.h"
#include "llmk/gguf.h"
#include "llmk/model.h"
#include "llmk/model_tools.h"
#include "test_util.h"

namespace llmk {
namespace {

namespace fs = std::filesystem;

struct PeerDir {
  fs::path dir;
  std::vector<std::string> types;  // file types made, from types.txt
};

std::optional<PeerDir> peer_dir_or_skip() {
  const char* env = std::getenv("LLMK_PEER_FORMATS_DIR");
  if (env == nullptr || *env == '\0') {
    test::skip("LLMK_PEER_FORMATS_DIR is not set (.ci/peer_formats.sh builds llama.cpp and "
               "makes the files)");
    return std::nullopt;
  }
  PeerDir p{env, {}};
  std::ifstream list(p.dir / "types.txt");
  REQUIRE_MESSAGE(list.good(), "no types.txt in " << p.dir);
  for (std::string t; list >> t;) p.types.push_back(t);
  REQUIRE(!p.types.empty());
  return p;
}

std::unique_ptr<GgufFile> open_gguf(const fs::path& path) {
  auto f = GgufFile::open(path.string());
  REQUIRE_MESSAGE(f.ok(), f.status().ToString());
  return std::move(*f);
}

struct Logits {
  size_t n = 0, vocab = 0;
  std::vector<int32_t> tokens;
  std::vector<float> values;
};

Logits read_logits(const fs::path& path) {
  auto bytes = test::read_file(path);
  REQUIRE_MESSAGE(bytes.has_value(), "cannot read " << path);
  REQUIRE(bytes->size() >= 8);
  int32_t header[2];
  std::memcpy(header, bytes->data(), 8);
  Logits l;
  l.n = static_cast<size_t>(header[0]);
  l.vocab = static_cast<size_t>(header[1]);
  REQUIRE(bytes->size() == 8 + 4 * l.n + 4 * l.n * l.vocab);
  l.tokens.resize(l.n);
  l.values.resize(l.n * l.vocab);
  std::memcpy(l.tokens.data(), bytes->data() + 8, 4 * l.n);
  std::memcpy(l.values.data(), bytes->data() + 8 + 4 * l.n, 4 * l.values.size());
  return l;
}

// Our teacher-forced logits for `ref`'s tokens, one token at a time, with
// activations quantized as ggml's CPU backend does.
std::vector<float> our_logits(const fs::path& model_path, const Logits& ref) {
  auto model = load_model(model_path.string());
  REQUIRE_MESSAGE(model.ok(), model.status().ToString());
  REQUIRE(model->config.vocab_size == ref.vocab);
  TransformerOptions options;
  options.n_threads = 1;
  auto t = Transformer::create(*model, options);
  REQUIRE_MESSAGE(t.ok(), t.status().ToString());
  std::vector<float> out;
  out.reserve(ref.values.size());
  for (size_t i = 0; i < ref.n; ++i) {
    auto logits = (*t)->forward(ref.tokens[i], i);
    REQUIRE_MESSAGE(logits.ok(), logits.status().ToString());
    out.insert(out.end(), logits->begin(), logits->end());
  }
  return out;
}

// Largest |a − b| over every position, as a fraction of the largest |b|.
double relative_max_error(const std::vector<float>& a, const std::vector<float>& b) {
  double max_ref = 0, max_diff = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    max_ref = std::max(max_ref, std::fabs(static_cast<double>(b[i])));
    max_diff = std::max(max_diff, std::fabs(static_cast<double>(a[i]) - b[i]));
  }
  return max_ref > 0 ? max_diff / max_ref : max_diff;
}

}  // namespace

TEST_CASE("llmk-quantize writes what llama-quantize writes, tensor for tensor, byte for byte") {
  auto peer = peer_dir_or_skip();
  if (!peer) return;
  for (const std::string& type : peer->types) {
    INFO("file type " << type);
    auto ours = open_gguf(peer->dir / ("llmk-" + type + ".gguf"));
    auto theirs = open_gguf(peer->dir / ("llama-" + type + ".gguf"));
    CHECK(*ours->get_uint("general.file_type") == *theirs->get_uint("general.file_type"));
    REQUIRE(ours->tensors().size() == theirs->tensors().size());
    for (const GgufTensorInfo& t : theirs->tensors()) {
      INFO("tensor " << t.name);
      const GgufTensorInfo* o = ours->find_tensor(t.name);
      REQUIRE(o != nullptr);
      CHECK(tensor_type_name(o->type) == tensor_type_name(t.type));
      CHECK(o->dims == t.dims);
      const auto a = ours->tensor_data(*o);
      const auto b = theirs->tensor_data(t);
      CHECK(std::equal(a.begin(), a.end(), b.begin(), b.end()));
    }
  }
}

TEST_CASE("llama.cpp loads our files: its logits on them equal its logits on its own") {
  auto peer = peer_dir_or_skip();
  if (!peer) return;
  for (const std::string& type : peer->types) {
    INFO("file type " << type);
    const Logits on_ours = read_logits(peer->dir / ("llama-on-llmk-" + type + ".logits"));
    const Logits on_theirs = read_logits(peer->dir / ("llama-on-llama-" + type + ".logits"));
    CHECK(on_ours.tokens == on_theirs.tokens);
    CHECK(on_ours.values == on_theirs.values);
  }
}

TEST_CASE("our logits on llama.cpp's files match llama.cpp's") {
  auto peer = peer_dir_or_skip();
  if (!peer) return;
  for (const std::string& type : peer->types) {
    INFO("file type " << type);
    const Logits ref = read_logits(peer->dir / ("llama-on-llama-" + type + ".logits"));
    const std::vector<float> ours = our_logits(peer->dir / ("llama-" + type + ".gguf"), ref);
    const double error = relative_max_error(ours, ref.values);
    MESSAGE(type << ": largest difference " << error << " of the largest |logit|");
    // Float weights: the two forward passes differ only in summation order
    // (a few ulps per dot product, 64 positions deep).
    // Quantized weights: identical weight bytes and identical Q8_0 / Q8_K
    // activation rounding; what remains is the float accumulation order of
    // the block sums, which can flip an activation's rounding in a later
    // layer and spread from there.
    const bool float_weights = type == "F32" || type == "F16" || type == "BF16";
    const double bound = float_weights ? 1e-4 : 0.02;
    CHECK(error <= bound);
  }
}

}  // namespace llmk
