// The harness as a library: options a suite registers on llmk-bench's
// command line (parsed, defaulted from the environment, checked), warnings
// returned rather than printed, and the public reporters.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "cli.h"
#include "harness/json.h"
#include "llmk/bench.h"
#include "llmk/bench_reporter.h"
#include "test_util.h"

namespace llmk::bench {
namespace {

absl::Status must_be_even(const std::string& value) {
  if (value.size() % 2 != 0) return absl::InvalidArgumentError("odd length");
  return absl::OkStatus();
}

// Registered once for the whole binary, as a suite file would.
const bool registered_options =
    register_suite_option({"test-file", "FILE", "a file for the test suite", "LLMK_TEST_FILE_OPTION",
                           must_be_even}) &&
    register_suite_option({"test-switch", "", "a switch for the test suite", "", {}});

TEST_CASE("a suite's options are parsed, listed in the usage, and checked") {
  REQUIRE(registered_options);
  auto o = parse_cli({"--test-file", "ab", "--test-switch"});
  REQUIRE(o.ok());
  CHECK(o->config.suite_option("test-file") == "ab");
  CHECK(o->config.suite_option("test-switch") == "1");
  CHECK(o->config.suite_option("absent") == "");

  auto inline_value = parse_cli({"--test-file=abcd"});
  REQUIRE(inline_value.ok());
  CHECK(inline_value->config.suite_option("test-file") == "abcd");

  CHECK(parse_cli({"--test-switch=1"}).status().message() == "--test-switch takes no value");
  CHECK(parse_cli({"--test-file"}).status().message() == "--test-file needs a value");
  CHECK(parse_cli({"--test-fil", "x"}).status().message() == "unknown option '--test-fil'");

  const std::string usage = cli_usage();
  CHECK(usage.find("--test-file FILE") != std::string::npos);
  CHECK(usage.find("a file for the test suite (default: $LLMK_TEST_FILE_OPTION)") != std::string::npos);
  CHECK(usage.find("--test-switch ") != std::string::npos);

  // The check runs on the given value; its message names the flag.
  BenchmarkConfig odd = parse_cli({"--test-file", "abc"})->config;
  absl::Status st = apply_suite_option_defaults(odd);
  CHECK(st.code() == absl::StatusCode::kInvalidArgument);
  CHECK(st.message() == "--test-file (or $LLMK_TEST_FILE_OPTION) abc: odd length");
}

TEST_CASE("an option not given is taken from its environment variable, a given one is not") {
  REQUIRE(registered_options);
  setenv("LLMK_TEST_FILE_OPTION", "from-env", 1);
  BenchmarkConfig absent = parse_cli({})->config;
  CHECK(apply_suite_option_defaults(absent).ok());
  CHECK(absent.suite_option("test-file") == "from-env");

  BenchmarkConfig given = parse_cli({"--test-file", "xy"})->config;
  CHECK(apply_suite_option_defaults(given).ok());
  CHECK(given.suite_option("test-file") == "xy");

  // The environment's value is checked like a flag's.
  setenv("LLMK_TEST_FILE_OPTION", "odd", 1);
  BenchmarkConfig bad = parse_cli({})->config;
  CHECK_FALSE(apply_suite_option_defaults(bad).ok());
  unsetenv("LLMK_TEST_FILE_OPTION");
  BenchmarkConfig none = parse_cli({})->config;
  CHECK(apply_suite_option_defaults(none).ok());
  CHECK(none.suite_option("test-file") == "");
}

BenchmarkSpec counting_spec(const std::string& name) {
  BenchmarkSpec s;
  s.name = name;
  s.setup = [](const BenchmarkConfig&) -> absl::StatusOr<BatchFn> {
    return BatchFn([](uint64_t count) {
      volatile uint64_t sum = 0;
      for (uint64_t i = 0; i < count; ++i) sum = sum + i;
      return absl::OkStatus();
    });
  };
  return s;
}

BenchmarkConfig short_config() {
  BenchmarkConfig c;
  c.warmup_iterations = 1;
  c.measurement_iterations = 5;
  c.max_time_s = 0.01;
  c.max_warmup_s = 0.001;
  c.progress = false;
  return c;
}

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST_CASE("the runner returns warnings and prints nothing to stderr") {
  const BenchmarkSpec spec = counting_spec("library/quiet");
  const std::filesystem::path err =
      std::filesystem::temp_directory_path() / ("llmk-stderr-" + std::to_string(getpid()));
  std::fflush(stderr);
  const int saved = dup(fileno(stderr));
  REQUIRE(saved >= 0);
  REQUIRE(std::freopen(err.c_str(), "w", stderr) != nullptr);
  BenchmarkConfig config = short_config();
  config.counters = true;
  config.counter_events = {"cycles++instructions"};  // malformed: a warning on every machine
  absl::StatusOr<SuiteResult> result = run_benchmarks({&spec, 1}, config);
  std::fflush(stderr);
  dup2(saved, fileno(stderr));
  close(saved);
  REQUIRE(result.ok());
  bool malformed_reported = false;
  for (const std::string& w : result->warnings) {
    malformed_reported |= w.find("using the default groups") != std::string::npos;
  }
  CHECK(malformed_reported);
  CHECK(read_file(err).empty());
  std::filesystem::remove(err);
}

TEST_CASE("the public reporters write the console table, JSON and CSV") {
  const BenchmarkSpec spec = counting_spec("library/reported");
  absl::StatusOr<SuiteResult> result = run_benchmarks({&spec, 1}, short_config());
  REQUIRE(result.ok());
  const std::filesystem::path dir = std::filesystem::temp_directory_path() /
                                    ("llmk-reporters-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);

  std::FILE* console = std::fopen((dir / "console.txt").c_str(), "w");
  REQUIRE(console != nullptr);
  CHECK(console_reporter(console)->report(*result).ok());
  std::fclose(console);
  CHECK(read_file(dir / "console.txt").find("library/reported") != std::string::npos);

  CHECK(json_reporter((dir / "out.json").string())->report(*result).ok());
  absl::StatusOr<JsonValue> json = parse_json(read_file(dir / "out.json"));
  REQUIRE(json.ok());
  const JsonValue* rows = json->find("benchmarks");
  REQUIRE(rows != nullptr);
  REQUIRE(rows->array.size() == 1);
  CHECK(rows->array[0].find("name")->string == "library/reported");

  CHECK(csv_reporter((dir / "out.csv").string())->report(*result).ok());
  const std::string csv = read_file(dir / "out.csv");
  CHECK(csv.find("\nlibrary/reported,") != std::string::npos);

  // A sink that cannot be written is the reporter's error, named.
  absl::Status bad = json_reporter((dir / "missing" / "out.json").string())->report(*result);
  CHECK_FALSE(bad.ok());
  CHECK(bad.message().find("missing/out.json") != std::string::npos);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace llmk::bench
