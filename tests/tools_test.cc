// The command-line tools, run as a user runs them: exit codes, output format,
// and agreement with the library called in-process.
#include <array>
#include <cstring>
#include <sys/wait.h>
#include <unistd.h>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "llmk/generate.h"
#include "llmk/gguf.h"
#include "llmk/model.h"
#include "llmk/model_tools.h"
#include "test_util.h"

namespace {

namespace fs = std::filesystem;

struct RunResult {
  int exit_code = -1;
  std::string out;  // stdout only; stderr goes to the test log
};

// Runs `args` (already shell-quoted) from the tools directory.
RunResult run_tool(const std::string& tool, const std::string& args, const std::string& stdin_text = "") {
  const fs::path exe = fs::path(LLMK_TOOLS_DIR) / tool;
  REQUIRE_MESSAGE(fs::exists(exe), exe.string() << " not built");
  // (absl::StrCat rather than operator+: GCC 12 raises a false -Wrestrict there.)
  std::string cmd = absl::StrCat("'", exe.string(), "' ", args);
  // A cross build's tools run through the same emulator as this test (the
  // shell that popen starts is the host's and cannot exec them itself).
  if (const char* wrapper = std::getenv("LLMK_TEST_EXEC_WRAPPER"); wrapper && *wrapper) {
    cmd = absl::StrCat(wrapper, " ", cmd);
  }
  if (!stdin_text.empty()) {
    const fs::path in = fs::temp_directory_path() / ("llmk-tools-stdin-" + std::to_string(::getpid()));
    FILE* f = std::fopen(in.c_str(), "wb");
    REQUIRE(f != nullptr);
    std::fwrite(stdin_text.data(), 1, stdin_text.size(), f);
    std::fclose(f);
    absl::StrAppend(&cmd, " < '", in.string(), "'");
  } else {
    cmd += " < /dev/null";
  }
  RunResult r;
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  const int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// A path in single quotes for the shell.
std::string quoted(const fs::path& p) { return absl::StrCat("'", p.string(), "'"); }

std::vector<int32_t> parse_ids(const std::string& text) {
  std::vector<int32_t> ids;
  std::istringstream in(text);
  int64_t v;
  while (in >> v) ids.push_back(static_cast<int32_t>(v));
  return ids;
}

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("llmk-tools-test-" + std::to_string(::getpid()));
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

}  // namespace

TEST_CASE("llmk-mkmodel, llmk-quantize and llmk-run agree with the library") {
  TempDir dir;
  const fs::path f32 = dir.path / "tiny-f32.gguf";
  const fs::path q4 = dir.path / "tiny-q4_0.gguf";

  REQUIRE(run_tool("llmk-mkmodel", absl::StrCat("--shape tiny-llama --type f32 --seed 7 --out ", quoted(f32)))
              .exit_code == 0);
  REQUIRE(run_tool("llmk-quantize", absl::StrCat("--pure ", quoted(f32), " ", quoted(q4), " q4_0")).exit_code == 0);

  // The written model equals the synthetic one built in memory.
  auto from_file = llmk::load_model(f32.string());
  REQUIRE(from_file.ok());
  auto in_memory = llmk::make_synthetic_model("tiny-llama", llmk::TensorType::kF32, 7);
  REQUIRE(in_memory.ok());
  const llmk::WeightView& a = from_file->weights.layers[0].attn_q;
  const llmk::WeightView& b = in_memory->weights.layers[0].attn_q;
  REQUIRE(a.rows == b.rows);
  REQUIRE(a.cols == b.cols);
  CHECK(std::memcmp(a.data, b.data, a.rows * a.row_bytes()) == 0);

  // The quantized file holds exactly what quantizing at load produces.
  auto quantized = llmk::load_model(q4.string());
  REQUIRE(quantized.ok());
  llmk::LoadConfig to_q4;
  to_q4.quantize_to = llmk::TensorType::kQ4_0;
  auto at_load = llmk::load_model(f32.string(), to_q4);
  REQUIRE(at_load.ok());
  const llmk::WeightView& qa = quantized->weights.layers[1].ffn_down;
  const llmk::WeightView& qb = at_load->weights.layers[1].ffn_down;
  REQUIRE(qa.type == llmk::TensorType::kQ4_0);
  REQUIRE(qb.type == llmk::TensorType::kQ4_0);
  CHECK(std::memcmp(qa.data, qb.data, qa.rows * qa.row_bytes()) == 0);

  // Greedy ids from the tool equal greedy generation in-process.
  const RunResult run = run_tool("llmk-run", absl::StrCat("--model ", quoted(q4), " --ids -n 12 --temperature 0"));
  REQUIRE(run.exit_code == 0);
  const std::vector<int32_t> tool_ids = parse_ids(run.out);
  REQUIRE(!tool_ids.empty());
  auto transformer = llmk::Transformer::create(*quantized, {});
  REQUIRE(transformer.ok());
  llmk::GenerateOptions options;
  options.max_new_tokens = 12;
  options.sampler.temperature = 0.0f;
  const int32_t bos = quantized->config.bos_id >= 0 ? quantized->config.bos_id : 0;
  const std::vector<int32_t> prompt = {bos};
  auto generated = llmk::generate(**transformer, prompt, options);
  REQUIRE(generated.ok());
  CHECK(tool_ids == generated->tokens);
  for (int32_t id : tool_ids) CHECK(static_cast<size_t>(id) < quantized->config.vocab_size);

  // --kv-type f16: the tool's F16 cache against the library's.
  const RunResult f16_run = run_tool(
      "llmk-run", absl::StrCat("--model ", quoted(q4), " --ids -n 12 --temperature 0 --kv-type f16"));
  REQUIRE(f16_run.exit_code == 0);
  llmk::TransformerOptions f16_cache;
  f16_cache.kv_type = llmk::KvType::kF16;
  auto f16_transformer = llmk::Transformer::create(*quantized, f16_cache);
  REQUIRE(f16_transformer.ok());
  auto f16_generated = llmk::generate(**f16_transformer, prompt, options);
  REQUIRE(f16_generated.ok());
  CHECK(parse_ids(f16_run.out) == f16_generated->tokens);
}

TEST_CASE("llmk-run and llmk-quantize fail cleanly on bad input") {
  TempDir dir;
  // 4: the work failed (here, the model); 3: a usage error, the same code in every tool.
  CHECK(run_tool("llmk-run", "--model /nonexistent/model.gguf -n 3 2>/dev/null").exit_code == 4);
  CHECK(run_tool("llmk-run", "--bogus-flag 2>/dev/null").exit_code == 3);
  CHECK(run_tool("llmk-run", "--model x --threads 1.5 2>/dev/null").exit_code == 3);
  const RunResult bad_kv = run_tool("llmk-run", "--model x --kv-type q8_0 2>&1");
  CHECK(bad_kv.exit_code == 3);
  CHECK(absl::StrContains(bad_kv.out, "'q8_0' is not one of f32, f16"));
  CHECK(run_tool("llmk-mkmodel", "--type q5_9 --out x.gguf 2>/dev/null").exit_code == 3);
  CHECK(run_tool("llmk-quantize", "only-one-argument 2>/dev/null").exit_code == 3);
  CHECK(run_tool("llmk-tokenize", "--vocab-size 0 --builtin 2>/dev/null").exit_code == 3);
  CHECK(run_tool("llmk-tokenize", "--help").exit_code == 0);
  const fs::path junk = dir.path / "junk.gguf";
  FILE* f = std::fopen(junk.c_str(), "wb");
  REQUIRE(f != nullptr);
  std::fputs("GGUF\3\0\0\0 this is not a model", f);
  std::fclose(f);
  CHECK(run_tool("llmk-run", absl::StrCat("--model ", quoted(junk), " -n 3 2>/dev/null")).exit_code == 4);
  CHECK(run_tool("llmk-quantize",
                 absl::StrCat(quoted(junk), " ", quoted(dir.path / "o.gguf"), " q4_0 2>/dev/null"))
            .exit_code == 4);
  CHECK(!fs::exists(dir.path / "o.gguf"));
}

TEST_CASE("llmk-tokenize encodes and decodes with llama2.c's tokenizer.bin") {
  auto vocab = llmk::test::shared_file_or_skip("models/tokenizer.bin");
  if (!vocab) return;
  const std::string v = absl::StrCat("--vocab ", quoted(*vocab));
  const RunResult enc = run_tool("llmk-tokenize", absl::StrCat(v, " --bos --lines"), "I believe the meaning of life is\n");
  REQUIRE(enc.exit_code == 0);
  CHECK(parse_ids(enc.out) == std::vector<int32_t>{1, 306, 4658, 278, 6593, 310, 2834, 338});
  const RunResult dec = run_tool("llmk-tokenize", absl::StrCat(v, " --decode"), "1 306 4658 278 6593 310 2834 338");
  REQUIRE(dec.exit_code == 0);
  CHECK(dec.out.find("I believe the meaning of life is") != std::string::npos);
  CHECK(run_tool("llmk-tokenize", absl::StrCat(v, " --decode 2>/dev/null"), "99999999").exit_code == 4);
}
