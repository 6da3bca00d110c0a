// llama.cpp as a same-run peer: llama-bench's command line and JSON, the
// child run under a CPU mask, manual time in the runner, the generate
// suite's entries with and without --llama-bench, and the GGUF export the
// peer loads. With $LLMK_LLAMA_BENCH set, llama-bench itself runs on a tiny
// model; otherwise those cases are skipped, saying why.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "harness/affinity.h"
#include "harness/json.h"
#include "llmk/bench.h"
#include "llmk/model.h"
#include "suites/peer_llama_bench.h"
#include "report/report.h"
#include "harness/targets.h"
#include "test_util.h"

namespace llmk::bench {
namespace {

// Captured from `llama-bench -m tiny-llama-q8_0.gguf -o json -p 0 -n 4 -t 1 -r 1`
// (llama.cpp c392e509, built by tools/build-llama-bench.sh) on a model
// written by write_model_gguf.
constexpr const char* kLlamaBenchSample = R"json([
  {
    "build_commit": "c392e509",
    "build_number": 0,
    "cpu_info": "Intel(R) Xeon(R) Processor",
    "gpu_info": "",
    "backends": "CPU",
    "model_filename": "/tmp/peers-t/tiny-llama-q8_0.gguf",
    "model_type": "llama ?B Q8_0",
    "model_size": 136192,
    "model_n_params": 127296,
    "n_batch": 2048,
    "n_ubatch": 512,
    "n_threads": 1,
    "cpu_mask": "0x0",
    "cpu_strict": false,
    "poll": 50,
    "type_k": "f16",
    "type_v": "f16",
    "n_gpu_layers": 99,
    "split_mode": "layer",
    "main_gpu": 0,
    "no_kv_offload": false,
    "flash_attn": false,
    "tensor_split": "0.00",
    "use_mmap": true,
    "embeddings": false,
    "n_prompt": 0,
    "n_gen": 4,
    "test_time": "2026-12-01T23:26:26Z",
    "avg_ns": 176861,
    "stddev_ns": 0,
    "avg_ts": 22616.631140,
    "stddev_ts": 0.000000,
    "samples_ns": [ 176861 ],
    "samples_ts": [ 22616.6 ]
  }
])json";

// A scratch directory removed at the end of a test case.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "llmk-peers-test-XXXXXX").string();
    REQUIRE(mkdtemp(pattern.data()) != nullptr);
    path = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
};

std::string write_tiny_model(const TempDir& dir, TensorType type) {
  auto model = make_synthetic_model("tiny-llama", type, 7);
  REQUIRE(model.ok());
  const std::string path = (dir.path / "tiny-llama.gguf").string();
  REQUIRE(write_model_gguf(*model, path, "llmk-tiny-llama").ok());
  return path;
}

BenchmarkConfig fast_config() {
  BenchmarkConfig c;
  c.progress = false;
  c.warmup_iterations = 1;
  c.max_warmup_s = 0.001;
  c.max_time_s = 0.01;
  c.min_samples = 3;
  c.measurement_iterations = 3;
  c.threads = 1;
  return c;
}

const BenchmarkSpec* find_spec(const std::vector<BenchmarkSpec>& specs, const std::string& name) {
  for (const BenchmarkSpec& s : specs) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

TEST_CASE("llama_bench_args: one test, its sizes and threads, one repetition, JSON") {
  const std::vector<std::string> args =
      llama_bench_args("/opt/llama-bench", {"/tmp/m.gguf", 128, 0, 2});
  const std::vector<std::string> expected = {"/opt/llama-bench", "-m", "/tmp/m.gguf", "-o", "json",
                                             "-p", "128", "-n", "0", "-t", "2", "-r", "1"};
  CHECK(args == expected);
}

TEST_CASE("parse_llama_bench_json reads a captured llama-bench report") {
  auto tests = parse_llama_bench_json(kLlamaBenchSample);
  REQUIRE(tests.ok());
  REQUIRE(tests->size() == 1);
  const LlamaBenchResult& r = (*tests)[0];
  CHECK(r.build_commit == "c392e509");
  CHECK(r.n_prompt == 0);
  CHECK(r.n_gen == 4);
  CHECK(r.n_threads == 1);
  REQUIRE(r.samples_ns.size() == 1);
  CHECK(r.avg_ns == r.samples_ns[0]);  // one repetition: its sample is the average
  // avg_ts is tokens per second of the same run: 4 tokens / avg_ns. llama-bench
  // prints it rounded to 6 digits, hence the relative tolerance.
  CHECK(r.avg_tokens_per_s == doctest::Approx(4e9 / r.avg_ns).epsilon(1e-5));
  CHECK(r.build_number == 0);  // a tarball build has no commit count
  CHECK(r.version() == "c392e509");
  LlamaBenchResult counted = r;
  counted.build_number = 4567;
  CHECK(counted.version() == "c392e509 (build 4567)");
}

TEST_CASE("parse_llama_bench_json names what is wrong") {
  CHECK(!parse_llama_bench_json("not json").ok());
  auto not_array = parse_llama_bench_json("{}");
  REQUIRE(!not_array.ok());
  CHECK(absl::StrContains(not_array.status().message(), "array"));
  const std::string missing_avg =
      R"([{"build_commit": "x", "build_number": 1, "n_prompt": 0, "n_gen": 4, "n_threads": 1,
          "avg_ts": 5.0, "samples_ns": [1]}])";
  auto no_avg = parse_llama_bench_json(missing_avg);
  REQUIRE(!no_avg.ok());
  CHECK(absl::StrContains(no_avg.status().message(), "\"avg_ns\""));
  const std::string empty_samples =
      R"([{"build_commit": "x", "build_number": 1, "n_prompt": 0, "n_gen": 4, "n_threads": 1,
          "avg_ns": 10, "avg_ts": 5.0, "samples_ns": []}])";
  auto no_samples = parse_llama_bench_json(empty_samples);
  REQUIRE(!no_samples.ok());
  CHECK(absl::StrContains(no_samples.status().message(), "\"samples_ns\""));
}

TEST_CASE("run_captured runs the child under the CPU mask it is given") {
  TempDir dir;
  const std::string err = (dir.path / "stderr").string();
  const std::vector<int> allowed = allowed_cpus();
  REQUIRE(!allowed.empty());
  const int cpu = allowed.back();
  auto out = run_captured({"/bin/sh", "-c", "grep Cpus_allowed_list /proc/self/status"}, {cpu}, err);
  REQUIRE(out.ok());
  CHECK(*out == absl::StrCat("Cpus_allowed_list:\t", cpu, "\n"));
  CHECK(allowed_cpus() == allowed);  // the caller's own mask is restored

  auto failing = run_captured({"/bin/sh", "-c", "echo broken model >&2; exit 3"}, {}, err);
  REQUIRE(!failing.ok());
  CHECK(absl::StrContains(failing.status().message(), "exit status 3"));
  CHECK(absl::StrContains(failing.status().message(), "broken model"));

  auto missing = run_captured({(dir.path / "no-such-program").string()}, {}, err);
  REQUIRE(!missing.ok());
  CHECK(missing.status().code() == absl::StatusCode::kNotFound);
}

TEST_CASE("manual_time: the runner takes the body's reported time, and requires one") {
  BenchmarkSpec reported;
  reported.name = "peer/manual";
  reported.manual_time = true;
  reported.setup = [](const BenchmarkConfig&) -> absl::StatusOr<BatchFn> {
    return BatchFn([](uint64_t count) -> absl::Status {
      report_batch_time_ns(2.5e6 * static_cast<double>(count));  // 2.5 ms per operation
      return absl::OkStatus();
    });
  };
  BenchmarkSpec silent = reported;
  silent.name = "peer/silent";
  silent.setup = [](const BenchmarkConfig&) -> absl::StatusOr<BatchFn> {
    return BatchFn([](uint64_t) { return absl::OkStatus(); });
  };
  const std::vector<BenchmarkSpec> specs = {reported, silent};
  auto suite = run_benchmarks(specs, fast_config());
  REQUIRE(suite.ok());
  REQUIRE(suite->results.size() == 2);
  const BenchmarkResult& r = suite->results[0];
  REQUIRE(r.error.empty());
  CHECK(r.batch_size == 1);  // a reported 2.5 ms already exceeds the minimum sample time
  CHECK(r.stats.median == 2.5e6);
  CHECK(r.stats.max == 2.5e6);
  CHECK(absl::StrContains(suite->results[1].error, "report_batch_time_ns"));
}

TEST_CASE("set_run_context reaches the suite result, the console header and the JSON") {
  set_run_context("test_peer_version", "old");
  set_run_context("test_peer_version", "abc123 (build 7)");
  auto suite = run_benchmarks({}, fast_config());
  REQUIRE(suite.ok());
  int found = 0;
  for (const auto& [key, value] : suite->context) {
    if (key == "test_peer_version") {
      ++found;
      CHECK(value == "abc123 (build 7)");
    }
  }
  CHECK(found == 1);
  auto json = parse_json(format_json(*suite));
  REQUIRE(json.ok());
  const JsonValue* context = json->find("context");
  REQUIRE(context != nullptr);
  const JsonValue* version = context->find("test_peer_version");
  REQUIRE(version != nullptr);
  CHECK(version->string == "abc123 (build 7)");
  char* text = nullptr;
  size_t size = 0;
  std::FILE* out = open_memstream(&text, &size);
  REQUIRE(out != nullptr);
  print_summary(*suite, out);
  std::fclose(out);
  const std::string console(text, size);
  std::free(text);
  CHECK(absl::StrContains(console, "llmk-bench: test_peer_version abc123 (build 7)\n"));
}

TEST_CASE("without --llama-bench, generate entries say how to get the comparison") {
  BenchmarkConfig config;
  config.threads = 2;
  const std::vector<BenchmarkSpec> specs = collect_benchmarks(config);
  size_t compared = 0;
  for (const BenchmarkSpec& s : specs) {
    if (!s.name.starts_with("generate/")) continue;
    INFO(s.name);
    CHECK(!s.name.ends_with("/llama.cpp"));
    for (const SpeedTarget& t : s.targets) {
      CHECK(!absl::StrContains(t.label, "tok/s"));  // no figure from another machine
    }
    const bool batch = absl::StrContains(s.name, "/batch");
    if (batch || !(absl::StrContains(s.name, "/tg") || absl::StrContains(s.name, "/pp"))) continue;
    BenchmarkResult r;
    r.name = s.name;
    r.targets = s.targets;
    r.ratio_targets = s.ratio_targets;
    r.items_per_op = s.items_per_op;
    r.stats.n = 1;
    r.stats.median = 1e6;
    const std::vector<TargetCheck> checks = check_targets(r, SuiteResult{});
    bool note = false;
    for (const TargetCheck& c : checks) {
      if (c.text == "vs llama.cpp: not run (--llama-bench PATH)") {
        note = true;
        CHECK(!c.judged);
      }
    }
    CHECK(note);
    ++compared;
  }
  CHECK(compared == 8);  // tg in three types and pp in Q4_0, each at 1 and 2 threads
}

TEST_CASE("with --llama-bench, each pp and tg entry has a peer entry and a ratio target") {
  BenchmarkConfig config;
  config.threads = 2;
  config.suite_options["llama-bench"] = "/opt/llama-bench";
  const std::vector<BenchmarkSpec> specs = collect_benchmarks(config);
  size_t peers = 0;
  for (const BenchmarkSpec& s : specs) {
    if (!s.name.starts_with("generate/") || s.name.ends_with("/llama.cpp")) continue;
    INFO(s.name);
    if (absl::StrContains(s.name, "/batch")) {
      REQUIRE(s.targets.size() == 1);
      CHECK(absl::StrContains(s.targets[0].label, "not compared"));
      CHECK(s.ratio_targets.empty());
      continue;
    }
    const BenchmarkSpec* peer = find_spec(specs, s.name + "/llama.cpp");
    REQUIRE(peer != nullptr);
    REQUIRE(s.ratio_targets.size() == 1);
    CHECK(s.ratio_targets[0].other == peer->name);
    CHECK(s.ratio_targets[0].min_speedup == (absl::StrContains(s.name, "/pp") ? 1.0 : 1.2));
    CHECK(peer->manual_time);
    CHECK(!peer->per_target);
    CHECK(peer->threads == s.threads);
    CHECK(peer->items_per_op == s.items_per_op);
    ++peers;
  }
  CHECK(peers == 8);
}

TEST_CASE("the GGUF export the peer loads reads back in our loader, same logits") {
  TempDir dir;
  auto model = make_synthetic_model("tiny-llama", TensorType::kQ4_0, 7);
  REQUIRE(model.ok());
  const std::string path = write_tiny_model(dir, TensorType::kQ4_0);
  CHECK(is_gguf_file(path));
  auto loaded = load_model(path);
  REQUIRE(loaded.ok());
  CHECK(loaded->config.dim == model->config.dim);
  CHECK(loaded->config.n_layers == model->config.n_layers);
  CHECK(loaded->config.vocab_size == model->config.vocab_size);
  auto ours = Transformer::create(*model, TransformerOptions{});
  auto theirs = Transformer::create(*loaded, TransformerOptions{});
  REQUIRE(ours.ok());
  REQUIRE(theirs.ok());
  auto a = (*ours)->forward(1, 0);
  REQUIRE(a.ok());
  const std::vector<float> first(a->begin(), a->end());
  auto b = (*theirs)->forward(1, 0);
  REQUIRE(b.ok());
  REQUIRE(b->size() == first.size());
  // Same weights, same kernels: bit-identical logits.
  for (size_t i = 0; i < first.size(); ++i) CHECK(first[i] == (*b)[i]);
}

TEST_CASE("llama-bench loads the exported model and runs pp and tg (needs $LLMK_LLAMA_BENCH)") {
  const char* binary = std::getenv("LLMK_LLAMA_BENCH");
  if (binary == nullptr || *binary == '\0') {
    test::skip("LLMK_LLAMA_BENCH is not set (build it with tools/build-llama-bench.sh)");
    return;
  }
  TempDir dir;
  const std::string path = write_tiny_model(dir, TensorType::kQ8_0);
  const std::string err = (dir.path / "stderr").string();
  auto tg = run_llama_bench(binary, {path, 0, 4, 1}, allowed_cpus(), err);
  REQUIRE_MESSAGE(tg.ok(), tg.status().ToString());
  CHECK(tg->n_gen == 4);
  CHECK(tg->avg_ns > 0);
  CHECK(!tg->build_commit.empty());
  auto pp = run_llama_bench(binary, {path, 16, 0, 1}, allowed_cpus(), err);
  REQUIRE_MESSAGE(pp.ok(), pp.status().ToString());
  CHECK(pp->n_prompt == 16);
}

TEST_CASE("--model with --llama-bench: ours and the peer interleave on the same file") {
  const char* binary = std::getenv("LLMK_LLAMA_BENCH");
  if (binary == nullptr || *binary == '\0') {
    test::skip("LLMK_LLAMA_BENCH is not set (build it with tools/build-llama-bench.sh)");
    return;
  }
  TempDir dir;
  const std::string path = write_tiny_model(dir, TensorType::kQ8_0);
  BenchmarkConfig config = fast_config();
  config.suite_options["model"] = path;
  config.suite_options["llama-bench"] = binary;
  config.repetitions = 2;
  config.seed = 3;
  config.filter = "^generate/tiny-llama/tg64(/llama.cpp)?$";
  auto suite = run_benchmark_suite(config);
  REQUIRE(suite.ok());
  REQUIRE(suite->results.size() == 2);
  const BenchmarkResult& ours = suite->results[0];
  const BenchmarkResult& peer = suite->results[1];
  CHECK(peer.name == "generate/tiny-llama/tg64/llama.cpp");
  REQUIRE_MESSAGE(ours.error.empty(), ours.error);
  REQUIRE_MESSAGE(peer.error.empty(), peer.error);
  CHECK(peer.repetitions.size() == 2);
  CHECK(peer.stats.median > 0);
  const std::vector<TargetCheck> checks = check_targets(ours, *suite);
  REQUIRE(checks.size() == 1);
  CHECK(absl::StrContains(checks[0].text, "x vs generate/tiny-llama/tg64/llama.cpp (>=1.20x)"));
  bool version = false;
  for (const auto& [key, value] : suite->context) version |= key == "llama_cpp_version";
  CHECK(version);
}

TEST_CASE("each entry with a scalar ratio target has its scalar companion registered") {
  const std::vector<BenchmarkSpec> specs = collect_benchmarks(BenchmarkConfig{});
  std::vector<std::string> compared;
  for (const BenchmarkSpec& s : specs) {
    for (const RatioTarget& t : s.ratio_targets) {
      if (!t.other.ends_with(kScalarCompanionSuffix)) continue;
      INFO(s.name);
      CHECK(t.other == s.name + kScalarCompanionSuffix);
      CHECK(t.speedup_per_width_doubling > 0);  // the requirement follows the vector width
      CHECK(t.min_speedup > 0);
      const BenchmarkSpec* companion = find_spec(specs, t.other);
      REQUIRE(companion != nullptr);
      CHECK(companion->fixed_target == "scalar");
      CHECK(companion->targets.empty());
      CHECK(companion->ratio_targets.empty());
      CHECK(companion->items_per_op == s.items_per_op);
      CHECK(companion->threads == s.threads);
      compared.push_back(s.name);
    }
  }
  // Suites register from static initializers, in no fixed order.
  std::sort(compared.begin(), compared.end());
  const std::vector<std::string> expected = {
      "ops/dot/384", "ops/layer_norm/384", "ops/rms_norm/384", "quant/dequantize_q4_0/32blocks",
      "quant/dot_q4_0_q8_0/4096", "quant/dot_q8_0_q8_0/4096"};
  CHECK(compared == expected);
}

TEST_CASE("no suite entry outside generate/ keeps an absolute target other than the spec's") {
  const std::vector<BenchmarkSpec> specs = collect_benchmarks(BenchmarkConfig{});
  size_t spec_targets = 0;
  for (const BenchmarkSpec& s : specs) {
    if (s.name.starts_with("generate/")) continue;
    INFO(s.name);
    for (const SpeedTarget& t : s.targets) {
      if (t.max_ns_per_item == 0 && t.max_cycles_per_item == 0) continue;  // a note, unjudged
      CHECK(t.label == "spec");
      CHECK(t.max_cycles_per_item == 0);  // cycle counts mean little across ISAs
      ++spec_targets;
    }
  }
  // dot, matvec, layer norm, dequantization, arena, KV cache, tokenizer: the
  // spec's seven (tokenizer/*/100_chars add more with the shared vocabularies).
  CHECK(spec_targets >= 7);
}

}  // namespace
}  // namespace llmk::bench
