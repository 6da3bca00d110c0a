// Tokenization: the seed's "Hello World, Hello World, Hello World" with the
// built-in vocabulary, then throughput on ~1 MB of English prose and the
// latency of a 100-character string with real vocabularies (GPT-2 and Llama
// from ../shared, or --vocab FILE).
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "llmk/bench.h"
#include "llmk/tokenizer.h"
#include "suites/suite_util.h"

namespace llmk::bench {
namespace {

namespace fs = std::filesystem;

constexpr size_t kProseBytes = size_t{1} << 20;

// ~1 MB of English: the license texts every Debian system carries, repeated.
std::shared_ptr<const std::string> english_prose() {
  static const std::shared_ptr<const std::string> text = [] {
    std::string all;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator("/usr/share/common-licenses", ec)) {
      std::ifstream in(entry.path(), std::ios::binary);
      std::stringstream ss;
      ss << in.rdbuf();
      all += ss.str();
    }
    auto out = std::make_shared<std::string>();
    if (all.empty()) return std::shared_ptr<const std::string>(out);
    while (out->size() < kProseBytes) out->append(all, 0, std::min(all.size(), kProseBytes - out->size()));
    return std::shared_ptr<const std::string>(out);
  }();
  return text;
}

std::optional<fs::path> shared_file(const std::string& relative) {
  std::vector<fs::path> roots;
  if (const char* env = std::getenv("LLMK_SHARED"); env && *env) roots.emplace_back(env);
  roots.emplace_back(fs::path("..") / "shared");
#ifdef LLMK_SOURCE_ROOT
  roots.emplace_back(fs::path(LLMK_SOURCE_ROOT) / ".." / "shared");
#endif
  for (const fs::path& root : roots) {
    std::error_code ec;
    if (fs::exists(root / relative, ec)) return root / relative;
  }
  return std::nullopt;
}

struct Encoder {
  Tokenizer tokenizer;
  std::string text;
  std::vector<TokenId> ids;
};

BatchFn encode_loop(std::shared_ptr<Encoder> e) {
  return [e](uint64_t count) -> absl::Status {
    for (uint64_t i = 0; i < count; ++i) {
      const absl::Status st = e->tokenizer.encode(e->text, EncodeOptions{}, &e->ids);
      if (!st.ok()) [[unlikely]] {
        return in_context(st, absl::StrCat("encode of ", e->text.size(), " bytes"));
      }
      do_not_optimize(e->ids.data());
    }
    return absl::OkStatus();
  };
}

BenchmarkSpec seed_spec() {
  static const std::string kText = "Hello World, Hello World, Hello World";
  BenchmarkSpec s;
  s.name = "tokenizer/builtin/hello_world_x3";
  s.bytes_per_op = static_cast<double>(kText.size());
  // Seed: 10 µs per call. Ours (issue 5): 1 µs per 100 characters.
  s.targets = {{"seed", 10000, 0}, {"ours", 1000.0 * kText.size() / 100.0, 0}};
  s.setup = [](const BenchmarkConfig&) -> absl::StatusOr<BatchFn> {
    auto tok = Tokenizer::builtin();
    if (!tok.ok()) return tok.status();
    auto e = std::make_shared<Encoder>(Encoder{*std::move(tok), kText, {}});
    return encode_loop(e);
  };
  return s;
}

// `label` names the vocabulary in benchmark names; `path` is its file.
void add_vocab(const std::string& label, const fs::path& path, double min_mb_per_s,
               std::vector<BenchmarkSpec>& out) {
  auto load = [path]() -> absl::StatusOr<Tokenizer> { return Tokenizer::load(path.string()); };

  BenchmarkSpec prose;
  prose.name = absl::StrCat("tokenizer/", label, "/prose_1MiB");
  prose.item_name = "byte";
  prose.items_per_op = static_cast<double>(kProseBytes);
  prose.bytes_per_op = static_cast<double>(kProseBytes);
  if (min_mb_per_s > 0) prose.targets = {{"ours", 1e3 / min_mb_per_s, 0}};  // ns per byte
  prose.setup = [load](const BenchmarkConfig&) -> absl::StatusOr<BatchFn> {
    auto text = english_prose();
    if (text->empty()) return absl::NotFoundError("no prose in /usr/share/common-licenses");
    auto tok = load();
    if (!tok.ok()) return tok.status();
    return encode_loop(std::make_shared<Encoder>(Encoder{*std::move(tok), *text, {}}));
  };
  out.push_back(prose);

  BenchmarkSpec short_text;
  short_text.name = absl::StrCat("tokenizer/", label, "/100_chars");
  short_text.bytes_per_op = 100;
  short_text.setup = [load](const BenchmarkConfig&) -> absl::StatusOr<BatchFn> {
    auto text = english_prose();
    if (text->size() < 100) return absl::NotFoundError("no prose in /usr/share/common-licenses");
    auto tok = load();
    if (!tok.ok()) return tok.status();
    return encode_loop(std::make_shared<Encoder>(Encoder{*std::move(tok), text->substr(0, 100), {}}));
  };
  out.push_back(short_text);
}

void add_tokenizer(const BenchmarkConfig& config, std::vector<BenchmarkSpec>& out) {
  out.push_back(seed_spec());
  if (!config.suite_option("vocab").empty()) {
    add_vocab(fs::path(config.suite_option("vocab")).stem().string(), config.suite_option("vocab"), 0, out);
    return;
  }
  // Issue 5's targets: GPT-2 at least 50 MB/s, Llama at least 30 MB/s.
  if (auto p = shared_file("vocab/ggml-vocab-gpt-2.gguf")) add_vocab("gpt2", *p, 50, out);
  if (auto p = shared_file("vocab/ggml-vocab-llama-spm.gguf")) add_vocab("llama-spm", *p, 30, out);
}

const bool registered = register_suite("tokenizer", add_tokenizer);
const bool vocab_option = register_suite_option(
    {"vocab", "FILE", "tokenizer vocabulary (GGUF) for the tokenizer entries", "", {}});

}  // namespace
}  // namespace llmk::bench
