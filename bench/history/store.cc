#include "history/store.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "history/postgres_store.h"
#include "history/schema.h"
#include "history/sqlite_store.h"
#include "util/check.h"

namespace llmk::bench::history {

RunRecord make_run_record(const SuiteResult& suite, RunMetadata metadata) {
  RunRecord run;
  run.metadata = std::move(metadata);
  run.suite = suite;
  for (const BenchmarkResult& r : suite.results) {
    run.target_checks.push_back(check_targets(r, suite));
    std::optional<ItemLatency> latency;
    if (r.item_latency && r.item_latency->n > 0) {
      const ItemLatencyStats& l = *r.item_latency;
      latency = ItemLatency{l.p50, l.p90, l.p99, l.max};
    }
    run.item_latency.push_back(latency);
  }
  return run;
}

absl::StatusOr<std::unique_ptr<ResultStore>> open_store(const std::string& location) {
  if (absl::StartsWith(location, "postgresql://") || absl::StartsWith(location, "postgres://")) {
    return open_postgres_store(location, kSchemaVersion);
  }
  if (location.empty()) return absl::InvalidArgumentError("--db: empty path");
  return open_sqlite_store(location, kSchemaVersion);
}

std::string redact_password(std::string_view url) {
  std::string out(url);
  // user:PASSWORD@ in the authority, which ends at the first '/' or '?'.
  const size_t scheme_end = out.find("://");
  if (scheme_end != std::string::npos) {
    const size_t authority = scheme_end + 3;
    const size_t authority_end = std::min(out.find_first_of("/?", authority), out.size());
    const size_t at = out.rfind('@', authority_end == 0 ? 0 : authority_end - 1);
    if (at != std::string::npos && at >= authority) {
      const size_t colon = out.find(':', authority);
      if (colon != std::string::npos && colon < at) out.replace(colon + 1, at - colon - 1, "***");
    }
  }
  // password=VALUE among the query parameters.
  for (size_t key = out.find("password="); key != std::string::npos;
       key = out.find("password=", key + 1)) {
    if (key == 0 || (out[key - 1] != '?' && out[key - 1] != '&')) continue;
    const size_t value = key + 9;
    const size_t value_end = std::min(out.find('&', value), out.size());
    out.replace(value, value_end - value, "***");
  }
  return out;
}

namespace {
// mkdir -p for the default location's directories.
absl::Status make_directories(const std::string& dir) {
  for (size_t slash = 1; slash != std::string::npos;) {
    slash = dir.find('/', slash + 1);
    const std::string prefix = dir.substr(0, slash);
    if (mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST) {
      return absl::InvalidArgumentError(
          absl::StrCat("--db: cannot create ", prefix, ": ", std::strerror(errno)));
    }
  }
  return absl::OkStatus();
}
}  // namespace

absl::StatusOr<std::string> default_store_path() {
  std::string dir;
  if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg != nullptr && xdg[0] == '/') {
    dir = absl::StrCat(xdg, "/llmk");
  } else if (const char* home = std::getenv("HOME"); home != nullptr && home[0] == '/') {
    dir = absl::StrCat(home, "/.local/share/llmk");
  } else {
    return absl::InvalidArgumentError(
        "--db without a path: neither $XDG_DATA_HOME nor $HOME is an absolute path; give --db=PATH");
  }
  LLMK_RETURN_IF_ERROR(make_directories(dir));
  return absl::StrCat(dir, "/bench.sqlite");
}

}  // namespace llmk::bench::history
