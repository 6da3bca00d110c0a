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
#include "absl/strings/str_split.h"
#include "harness/affinity.h"
#include "harness/json.h"
#include "llmk/bench.h"
#include "llmk/model.h"
#include "llmk/model_tools.h"
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
    const bool depth = absl::StrContains(s.name, "/depth:");  // checked in the depth test case
    if (batch || depth || !(absl::StrContains(s.name, "/tg") || absl::StrContains(s.name, "/pp"))) {
      continue;
    }
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
  // tg in three types, pp, pp512+tg128 and pp1024+tg128 in Q4_0, each at 1 and 2 threads
  CHECK(compared == 12);
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
    if (absl::StrContains(s.name, "/batch") || absl::StrContains(s.name, "/ttft")) {
      REQUIRE(s.targets.size() == 1);
      CHECK(absl::StrContains(s.targets[0].label, "not compared"));
      CHECK(s.ratio_targets.empty());
      CHECK(find_spec(specs, s.name + "/llama.cpp") == nullptr);
      continue;
    }
    if (absl::StrContains(s.name, "/depth:")) {  // llama-bench c392e509 has no -d
      CHECK(find_spec(specs, s.name + "/llama.cpp") == nullptr);
      CHECK(s.ratio_targets.empty());
      continue;
    }
    const BenchmarkSpec* peer = find_spec(specs, s.name + "/llama.cpp");
    REQUIRE(peer != nullptr);
    REQUIRE(s.ratio_targets.size() == 1);
    CHECK(s.ratio_targets[0].other == peer->name);
    const bool prompt_only = absl::StrContains(s.name, "/pp") && !absl::StrContains(s.name, "+tg");
    CHECK(s.ratio_targets[0].min_speedup == (prompt_only ? 1.5 : 1.2));
    CHECK(peer->manual_time);
    CHECK(!peer->per_target);
    CHECK(peer->threads == s.threads);
    CHECK(peer->items_per_op == s.items_per_op);
    ++peers;
  }
  CHECK(peers == 12);  // 8 pp/tg entries, pp512+tg128 and pp1024+tg128 at 1 and 2 threads
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
  REQUIRE(checks.size() == 2);  // the spec's p99 per token, and the ratio
  CHECK(absl::StrContains(checks[0].text, "spec: p99 <=200 ms/token"));
  CHECK(absl::StrContains(checks[1].text, "x vs generate/tiny-llama/tg64/llama.cpp (>=1.20x)"));
  bool version = false;
  for (const auto& [key, value] : suite->context) version |= key == "llama_cpp_version";
  CHECK(version);
}

TEST_CASE("llama_bench_args: a combined test is -pg P,N with -p 0 -n 0") {
  LlamaBenchTest test{"/tmp/m.gguf", 512, 128, 2};
  test.combined = true;
  const std::vector<std::string> args = llama_bench_args("/opt/llama-bench", test);
  // -p and -n default to 512 and 128: left out, llama-bench would run those tests too.
  const std::vector<std::string> expected = {"/opt/llama-bench", "-m", "/tmp/m.gguf", "-o", "json",
                                             "-p", "0", "-n", "0", "-pg", "512,128",
                                             "-t", "2", "-r", "1"};
  CHECK(args == expected);
}

TEST_CASE("llama_bench_args: a KV cache type is -ctk and -ctv") {
  LlamaBenchTest test{"/tmp/m.gguf", 1024, 128, 2};
  test.combined = true;
  test.cache_type = "f16";
  const std::vector<std::string> args = llama_bench_args("/opt/llama-bench", test);
  const std::vector<std::string> expected = {"/opt/llama-bench", "-m", "/tmp/m.gguf", "-o", "json",
                                             "-p", "0", "-n", "0", "-pg", "1024,128",
                                             "-t", "2", "-r", "1", "-ctk", "f16", "-ctv", "f16"};
  CHECK(args == expected);
}

TEST_CASE("item_latency_stats: percentiles by linear interpolation, and the max") {
  std::vector<double> latencies;
  for (int i = 100; i >= 1; --i) latencies.push_back(i);  // 1..100, unsorted
  const ItemLatencyStats l = item_latency_stats(latencies);
  CHECK(l.n == 100);
  // rank q·(n − 1): 49.5 → 50.5, 89.1 → 90.1, 98.01 → 99.01
  CHECK(l.p50 == doctest::Approx(50.5).epsilon(1e-12));
  CHECK(l.p90 == doctest::Approx(90.1).epsilon(1e-12));
  CHECK(l.p99 == doctest::Approx(99.01).epsilon(1e-12));
  CHECK(l.max == 100);
  const std::vector<double> one = {7.0};
  const ItemLatencyStats single = item_latency_stats(one);
  CHECK(single.p50 == 7.0);
  CHECK(single.p99 == 7.0);
  CHECK(item_latency_stats({}).n == 0);
}

TEST_CASE("a p99 item-latency target is judged on the p99, not on the median") {
  BenchmarkResult r;
  r.name = "generate/x/tg64";
  r.item_name = "token";
  r.items_per_op = 64;
  r.stats.n = 5;
  r.stats.median = 64 * 100e6;  // 100 ms per token: the median alone would pass
  r.targets.push_back({"spec:", 200e6, 0, TargetOn::kP99ItemLatency});
  SUBCASE("slow tail: FAIL") {
    r.item_latency = ItemLatencyStats{320, 100e6, 150e6, 250e6, 400e6};
    const std::vector<TargetCheck> checks = check_targets(r, SuiteResult{});
    REQUIRE(checks.size() == 1);
    CHECK(checks[0].judged);
    CHECK(!checks[0].pass);
    CHECK(checks[0].text == "spec: p99 <=200 ms/token FAIL");
  }
  SUBCASE("tail within the bound: PASS") {
    r.item_latency = ItemLatencyStats{320, 100e6, 150e6, 190e6, 400e6};
    const std::vector<TargetCheck> checks = check_targets(r, SuiteResult{});
    REQUIRE(checks.size() == 1);
    CHECK(checks[0].pass);
    CHECK(checks[0].text == "spec: p99 <=200 ms/token PASS");
  }
  SUBCASE("no per-item latencies: n/a, neither PASS nor FAIL") {
    const std::vector<TargetCheck> checks = check_targets(r, SuiteResult{});
    REQUIRE(checks.size() == 1);
    CHECK(!checks[0].pass);
    CHECK(absl::StrContains(checks[0].text, "n/a"));
  }
  SUBCASE("a median target on the same result still uses the median") {
    r.targets = {{"ours", 90e6, 0}};
    r.item_latency = ItemLatencyStats{320, 50e6, 60e6, 70e6, 80e6};
    const std::vector<TargetCheck> checks = check_targets(r, SuiteResult{});
    REQUIRE(checks.size() == 1);
    CHECK(!checks[0].pass);  // 100 ms median > 90 ms although every latency is lower
  }
}

TEST_CASE("the runner keeps the measured calls' item latencies and phases, pooled over repetitions") {
  BenchmarkSpec spec;
  spec.name = "latency/reported";
  spec.setup = [](const BenchmarkConfig&) -> absl::StatusOr<BatchFn> {
    return BatchFn([](uint64_t count) -> absl::Status {
      std::vector<double> latencies;
      for (uint64_t i = 0; i < count; ++i) {
        for (double ns : {1000.0, 2000.0, 3000.0, 4000.0}) latencies.push_back(ns);
      }
      report_item_latencies_ns(latencies);
      const double ops = static_cast<double>(count);
      report_phase_time_ns("prefill", 2 * ops, 100 * ops);  // 2 items per 100 ns
      report_phase_time_ns("decode", ops, 1000 * ops);      // 1 item per µs
      return absl::OkStatus();
    });
  };
  BenchmarkConfig config = fast_config();
  config.repetitions = 2;
  config.seed = 1;
  const std::vector<BenchmarkSpec> specs = {spec};
  auto suite = run_benchmarks(specs, config);
  REQUIRE(suite.ok());
  REQUIRE(suite->results.size() == 1);
  const BenchmarkResult& r = suite->results[0];
  REQUIRE(r.error.empty());
  REQUIRE(r.repetitions.size() == 2);
  REQUIRE(r.item_latency);
  // Four per measured operation of both repetitions; batch sizing and
  // warm-up calls (which also report) are not counted.
  CHECK(r.item_latency->n == 4 * r.total_ops);
  CHECK(r.item_latency->p50 == 2500);
  CHECK(r.item_latency->max == 4000);
  REQUIRE(r.phases.size() == 2);
  CHECK(r.phases[0].name == "prefill");
  CHECK(r.phases[0].items == 2.0 * static_cast<double>(r.total_ops));
  CHECK(r.phases[0].items_per_second() == doctest::Approx(2e7).epsilon(1e-9));
  CHECK(r.phases[1].name == "decode");
  CHECK(r.phases[1].items_per_second() == doctest::Approx(1e6).epsilon(1e-9));

  SUBCASE("JSON carries them under llmk") {
    auto json = parse_json(format_json(*suite));
    REQUIRE(json.ok());
    const JsonValue* benchmarks = json->find("benchmarks");
    REQUIRE(benchmarks != nullptr);
    REQUIRE(!benchmarks->array.empty());
    const JsonValue* llmk = benchmarks->array[0].find("llmk");
    REQUIRE(llmk != nullptr);
    const JsonValue* latency = llmk->find("item_latency");
    REQUIRE(latency != nullptr);
    REQUIRE(latency->find("p99_ns") != nullptr);
    CHECK(latency->find("p99_ns")->number == doctest::Approx(r.item_latency->p99));
    CHECK(latency->find("n")->number == static_cast<double>(r.item_latency->n));
    CHECK(latency->find("max_ns")->number == 4000);
    const JsonValue* phases = llmk->find("phases");
    REQUIRE(phases != nullptr);
    REQUIRE(phases->array.size() == 2);
    CHECK(phases->array[1].find("name")->string == "decode");
    CHECK(phases->array[1].find("items_per_second")->number == doctest::Approx(1e6));
  }
  SUBCASE("CSV carries them in named columns") {
    const std::string csv = format_csv(*suite);
    const size_t header_end = csv.find('\n');
    REQUIRE(header_end != std::string::npos);
    const std::vector<std::string> header = absl::StrSplit(csv.substr(0, header_end), ',');
    const std::vector<std::string> row =
        absl::StrSplit(csv.substr(header_end + 1, csv.find('\n', header_end + 1) - header_end - 1), ',');
    REQUIRE(row.size() == header.size());
    auto cell = [&](const std::string& column) {
      for (size_t i = 0; i < header.size(); ++i) {
        if (header[i] == column) return row[i];
      }
      return std::string("<no column>");
    };
    CHECK(cell("item_latency_max_ns") == "4000");
    CHECK(cell("item_latency_p50_ns") == "2500");
    CHECK(cell("item_latency_n") == absl::StrCat(r.item_latency->n));
    CHECK(cell("phases") == "prefill:2e+07;decode:1e+06");
  }
  SUBCASE("the console prints a latency section") {
    char* text = nullptr;
    size_t size = 0;
    std::FILE* out = open_memstream(&text, &size);
    REQUIRE(out != nullptr);
    print_summary(*suite, out);
    std::fclose(out);
    const std::string console(text, size);
    std::free(text);
    CHECK(absl::StrContains(console, "latency per item"));
    CHECK(absl::StrContains(console, "prefill 20000000.0 ops/s, decode 1000000.0 ops/s"));
  }
}

TEST_CASE("generate: TTFT, pg, depth entries exist; scaling entries only with --scaling") {
  BenchmarkConfig config;
  config.threads = 2;
  const std::vector<BenchmarkSpec> plain = collect_benchmarks(config);
  for (const std::string suffix : {"", "/threads:2"}) {
    for (const std::string entry :
         {"ttft128", "pp512+tg128", "pp1024+tg128", "tg64/depth:512", "tg64/depth:1024"}) {
      const std::string name = absl::StrCat("generate/stories15M-q4_0/", entry, suffix);
      INFO(name);
      const BenchmarkSpec* s = find_spec(plain, name);
      REQUIRE(s != nullptr);
      CHECK(find_spec(plain, name + "/llama.cpp") == nullptr);
      if (entry == "pp512+tg128") {
        CHECK(s->items_per_op == 640);
      }
      if (entry == "pp1024+tg128") {
        CHECK(s->items_per_op == 1152);
      }
      if (entry == "ttft128") {
        CHECK(s->items_per_op == 1);
      }
      if (entry.starts_with("tg64/depth:")) {
        bool note = false, spec = false;
        for (const SpeedTarget& t : s->targets) {
          note |= t.label == "vs llama.cpp: llama-bench c392e509 has no depth option (-d)";
          spec |= t.on == TargetOn::kP99ItemLatency && t.max_ns_per_item == 200e6;
        }
        CHECK(note);
        CHECK(spec);
      }
    }
    const BenchmarkSpec* tg = find_spec(plain, absl::StrCat("generate/stories15M-q4_0/tg64", suffix));
    REQUIRE(tg != nullptr);
    REQUIRE(!tg->targets.empty());
    CHECK(tg->targets[0].on == TargetOn::kP99ItemLatency);
    CHECK(tg->targets[0].label == "spec:");
  }
  for (const BenchmarkSpec& s : plain) CHECK(!absl::StrContains(s.name, "/scaling"));

  config.suite_options["scaling"] = "1";
  const std::vector<BenchmarkSpec> scaling = collect_benchmarks(config);
  for (const char* shape : {"spec-tiny", "spec-small", "spec-medium", "spec-large"}) {
    INFO(shape);
    CHECK(find_spec(scaling, absl::StrCat("generate/", shape, "-q4_0/tg64/scaling")) != nullptr);
    CHECK(find_spec(scaling, absl::StrCat("generate/", shape, "-q4_0/tg64/threads:2/scaling")) != nullptr);
  }

  config.suite_options["llama-bench"] = "/opt/llama-bench";
  const std::vector<BenchmarkSpec> peers = collect_benchmarks(config);
  const BenchmarkSpec* pg_peer = find_spec(peers, "generate/stories15M-q4_0/pp512+tg128/llama.cpp");
  REQUIRE(pg_peer != nullptr);
  CHECK(pg_peer->items_per_op == 640);  // llama-bench counts pg as prompt + generated tokens
  CHECK(pg_peer->manual_time);
  const BenchmarkSpec* pg1024_peer = find_spec(peers, "generate/stories15M-q4_0/pp1024+tg128/llama.cpp");
  REQUIRE(pg1024_peer != nullptr);
  CHECK(pg1024_peer->items_per_op == 1152);
  CHECK(find_spec(peers, "generate/spec-tiny-q4_0/tg64/scaling/llama.cpp") != nullptr);
}

TEST_CASE("the scaling shapes have the spec's layer counts and about its parameter counts") {
  // spec: Tiny 3 layers 15M, Small 6 / 60M, Medium 12 / 240M, Large 24 / 1B
  const struct {
    const char* shape;
    size_t layers;
    double parameters;
  } rows[] = {{"spec-tiny", 3, 15e6}, {"spec-small", 6, 60e6}, {"spec-medium", 12, 240e6},
              {"spec-large", 24, 1e9}};
  for (const auto& row : rows) {
    INFO(row.shape);
    auto c = synthetic_model_config(row.shape);
    REQUIRE(c.ok());
    CHECK(c->n_layers == row.layers);
    CHECK(c->dim % 32 == 0);  // Q4_0 blocks along a row
    CHECK(c->hidden_dim % 32 == 0);
    CHECK(c->max_seq_len >= 1088);  // tg64 at depth 1024 fits
    const double d = static_cast<double>(c->dim), h = static_cast<double>(c->hidden_dim);
    const double kv = static_cast<double>(c->kv_dim());
    const double parameters = static_cast<double>(c->n_layers) * (2 * d * d + 2 * d * kv + 3 * d * h + 2 * d) +
                              2.0 * static_cast<double>(c->vocab_size) * d + d;
    // Within 10%: dims step by 32, and at 15M the 32000-token embedding and
    // output (14M of the 16M) leave little to tune.
    CHECK(parameters == doctest::Approx(row.parameters).epsilon(0.10));
  }
}

TEST_CASE("the scaling table prints our figures beside the spec's ARM ones") {
  SuiteResult suite;
  BenchmarkResult r;
  r.name = "generate/spec-small-q4_0/tg64/scaling";
  r.item_name = "token";
  r.items_per_op = 64;
  r.threads = 1;
  r.stats.n = 3;
  r.stats.median = 64 * 4e6;  // 4 ms per token
  r.items_per_second = 250;
  r.item_latency = ItemLatencyStats{192, 4e6, 4.5e6, 6e6, 7e6};
  suite.results.push_back(r);
  char* text = nullptr;
  size_t size = 0;
  std::FILE* out = open_memstream(&text, &size);
  REQUIRE(out != nullptr);
  print_summary(suite, out);
  std::fclose(out);
  const std::string console(text, size);
  std::free(text);
  CHECK(absl::StrContains(console, "1 GHz ARM Cortex-A"));
  const size_t row = console.find("\nspec-small ");
  REQUIRE(row != std::string::npos);
  const std::string line = console.substr(row + 1, console.find('\n', row + 1) - row - 1);
  CHECK(absl::StrContains(line, " 61M "));
  CHECK(absl::StrContains(line, " 250.0 "));
  CHECK(absl::StrContains(line, " 4.00 "));
  CHECK(absl::StrContains(line, " 6.00 "));
  CHECK(absl::StrContains(line, "Small"));
  CHECK(absl::StrContains(line, " 40 "));
  CHECK(absl::StrContains(line, " 25"));
}

TEST_CASE("a real run: TTFT and per-token latencies of stories15M Q4_0 at depth 512") {
  BenchmarkConfig config = fast_config();
  config.filter = "^generate/stories15M-q4_0/(ttft128|tg64/depth:512)$";
  auto suite = run_benchmark_suite(config);
  REQUIRE(suite.ok());
  REQUIRE(suite->results.size() == 2);
  for (const BenchmarkResult& r : suite->results) {
    INFO(r.name);
    REQUIRE_MESSAGE(r.error.empty(), r.error);
    REQUIRE(r.skipped.empty());
    CHECK(r.stats.median > 0);
  }
  const BenchmarkResult& ttft = suite->results[0];
  CHECK(!ttft.item_latency);
  const BenchmarkResult& depth = suite->results[1];
  REQUIRE(depth.item_latency);
  CHECK(depth.item_latency->n == 64 * depth.total_ops);
  CHECK(depth.item_latency->p50 <= depth.item_latency->p99);
  CHECK(depth.item_latency->p99 <= depth.item_latency->max);
  // The 64 latencies of an operation add up to about its time: the per-token
  // clock reads cover the whole loop (the median op lies within min..max of
  // 64 × the per-token extremes).
  CHECK(depth.stats.median <= 64 * depth.item_latency->max);
}

TEST_CASE("llama-bench runs a combined -pg test (needs $LLMK_LLAMA_BENCH)") {
  const char* binary = std::getenv("LLMK_LLAMA_BENCH");
  if (binary == nullptr || *binary == '\0') {
    test::skip("LLMK_LLAMA_BENCH is not set (build it with tools/build-llama-bench.sh)");
    return;
  }
  TempDir dir;
  const std::string path = write_tiny_model(dir, TensorType::kQ8_0);
  LlamaBenchTest test{path, 16, 4, 1};
  test.combined = true;
  auto pg = run_llama_bench(binary, test, allowed_cpus(), (dir.path / "stderr").string());
  REQUIRE_MESSAGE(pg.ok(), pg.status().ToString());
  CHECK(pg->n_prompt == 16);
  CHECK(pg->n_gen == 4);
  // avg_ts counts prompt and generated tokens together
  CHECK(pg->avg_tokens_per_s == doctest::Approx(20 * 1e9 / pg->avg_ns).epsilon(0.01));
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
      "quant/dot_q2_k_q8_k/4096", "quant/dot_q3_k_q8_k/4096", "quant/dot_q4_0_q8_0/4096",
      "quant/dot_q4_k_q8_k/4096", "quant/dot_q5_k_q8_k/4096", "quant/dot_q6_k_q8_k/4096",
      "quant/dot_q8_0_q8_0/4096"};
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
