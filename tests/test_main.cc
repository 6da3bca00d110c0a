// doctest main shared by every suite. Counts test cases as passed, failed or
// skipped (llmk::test::skip) and ends with one machine-readable line,
//   llmk-tests: N passed, M failed, K skipped
// which .ci/run adds up over all suites. Before it, one line names the
// Highway targets this CPU runs (for_each_target's list), best first,
//   llmk-targets: NEON, NEON_WITHOUT_AES, SCALAR
// so a log from an emulated CPU shows which kernels were tested.
#define DOCTEST_CONFIG_IMPLEMENT
#include "doctest/doctest.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>

#include "absl/strings/str_join.h"
#include "llmk/target.h"
#include "test_util.h"

namespace llmk::test {
namespace {
bool g_current_skipped = false;
int g_passed = 0, g_failed = 0, g_skipped = 0;
}  // namespace

void skip(const std::string& reason) {
  g_current_skipped = true;
  std::printf("[llmk-skip] %s\n", reason.c_str());
  MESSAGE("skipped: " << reason);
}

std::optional<std::filesystem::path> shared_dir() {
  namespace fs = std::filesystem;
  std::vector<fs::path> candidates;
  if (const char* env = std::getenv("LLMK_SHARED"); env && *env) {
    candidates.emplace_back(env);
  } else {
#ifdef LLMK_SOURCE_ROOT
    candidates.emplace_back(fs::path(LLMK_SOURCE_ROOT) / ".." / "shared");
#endif
    candidates.emplace_back(fs::path("..") / "shared");
  }
  for (const fs::path& p : candidates) {
    std::error_code ec;
    if (fs::is_directory(p, ec)) return fs::weakly_canonical(p, ec);
  }
  return std::nullopt;
}

std::optional<std::filesystem::path> shared_file_or_skip(const std::string& relative) {
  auto dir = shared_dir();
  if (!dir) {
    skip("reference data ../shared (or $LLMK_SHARED) not found; needed: " + relative);
    return std::nullopt;
  }
  auto path = *dir / relative;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    skip("reference file missing: " + path.string());
    return std::nullopt;
  }
  return path;
}

std::optional<std::vector<uint8_t>> read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

LogitsFile read_logits(const std::filesystem::path& path) {
  auto bytes = read_file(path);
  REQUIRE_MESSAGE(bytes.has_value(), "cannot read " << path);
  REQUIRE(bytes->size() >= 8);
  int32_t header[2];
  std::memcpy(header, bytes->data(), 8);
  REQUIRE(header[0] >= 0);
  REQUIRE(header[1] >= 0);
  LogitsFile f;
  f.n = static_cast<size_t>(header[0]);
  f.vocab = static_cast<size_t>(header[1]);
  REQUIRE(bytes->size() == 8 + 4 * f.n + 4 * f.n * f.vocab);
  f.tokens.resize(f.n);
  f.logits.resize(f.n * f.vocab);
  std::memcpy(f.tokens.data(), bytes->data() + 8, 4 * f.n);
  std::memcpy(f.logits.data(), bytes->data() + 8 + 4 * f.n, 4 * f.logits.size());
  return f;
}

float max_abs_diff(std::span<const float> a, std::span<const float> b) {
  REQUIRE(a.size() == b.size());
  float m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

float max_abs(std::span<const float> a) {
  float m = 0;
  for (float v : a) m = std::max(m, std::fabs(v));
  return m;
}

// Classifies each finished test case.
struct CountingListener : doctest::IReporter {
  explicit CountingListener(const doctest::ContextOptions&) {}
  void report_query(const doctest::QueryData&) override {}
  void test_run_start() override {}
  void test_run_end(const doctest::TestRunStats&) override {}
  void test_case_start(const doctest::TestCaseData&) override { g_current_skipped = false; }
  void test_case_reenter(const doctest::TestCaseData&) override {}
  void test_case_end(const doctest::CurrentTestCaseStats& st) override {
    if (!st.testCaseSuccess) {
      ++g_failed;
    } else if (g_current_skipped) {
      ++g_skipped;
    } else {
      ++g_passed;
    }
  }
  void test_case_exception(const doctest::TestCaseException&) override {}
  void subcase_start(const doctest::SubcaseSignature&) override {}
  void subcase_end() override {}
  void log_assert(const doctest::AssertData&) override {}
  void log_message(const doctest::MessageData&) override {}
  void test_case_skipped(const doctest::TestCaseData&) override {}
};
REGISTER_LISTENER("llmk-counting", 1, CountingListener);

}  // namespace llmk::test

int main(int argc, char** argv) {
  doctest::Context context;
  context.applyCommandLine(argc, argv);
  const int rc = context.run();
  if (context.shouldExit()) return rc;
  std::printf("llmk-targets: %s\n", absl::StrJoin(llmk::supported_targets(), ", ").c_str());
  std::printf("llmk-tests: %d passed, %d failed, %d skipped\n", llmk::test::g_passed,
              llmk::test::g_failed, llmk::test::g_skipped);
  return rc;
}
