// Results history: every llmk-bench run appended to a database, read back
// for `llmk-bench history` and `llmk-bench compare`.
//
// The storage layer is the ResultStore interface; open_store() picks the
// backend from the location: an SQLite file (a path) or a PostgreSQL server
// ("postgresql://..."), the same tables (schema.h) and the same statements
// (sql_store.h) in both.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "history/metadata.h"
#include "llmk/bench.h"
#include "harness/targets.h"

namespace llmk::bench::history {

// Per-token latency of a generate/ entry, in ns. Stored in its own table
// (schema version 2); every field may be missing.
struct ItemLatency {
  std::optional<double> p50_ns, p90_ns, p99_ns, max_ns;
};

// One run as stored: its metadata, the suite's results (repetitions with raw
// samples, counters with counted fractions, energy) and each entry's target
// verdicts, parallel to suite.results.
struct RunRecord {
  int64_t id = 0;  // assigned by append(); 0 before
  RunMetadata metadata;
  SuiteResult suite;
  std::vector<std::vector<TargetCheck>> target_checks;            // per result
  std::vector<std::optional<ItemLatency>> item_latency;           // per result
};

// The record for a finished run: metadata and check_targets() of every entry.
RunRecord make_run_record(const SuiteResult& suite, RunMetadata metadata);

// One run's identity, without its results.
struct RunInfo {
  int64_t id = 0;
  RunMetadata metadata;
  size_t entries = 0;
};

// One entry of one run, as history and compare need it.
struct EntryPoint {
  int64_t run_id = 0;
  std::string git_commit;
  bool git_dirty = false;
  std::string started_at;   // ISO 8601 UTC
  std::string machine;
  std::string name;         // "ops/dot/384@AVX3_SPR" style when the run had several targets
  std::vector<double> repetition_medians_ns;
  double mean_ns = 0;       // over every sample of every repetition
  size_t samples = 0;
};

struct EntryQuery {
  std::string machine;      // "": every machine
  std::string commit_prefix;  // "": every commit
  std::optional<int64_t> run_id;
};

class ResultStore {
 public:
  virtual ~ResultStore() = default;
  // Appends the whole run in one transaction; returns its id.
  virtual absl::StatusOr<int64_t> append(const RunRecord& run) = 0;
  // Runs in the order they were appended (ids ascending).
  virtual absl::StatusOr<std::vector<RunInfo>> list_runs(const EntryQuery& query) = 0;
  virtual absl::StatusOr<RunRecord> load_run(int64_t id) = 0;
  // Every entry that ran (not skipped, no error) of the selected runs, runs
  // in append order.
  virtual absl::StatusOr<std::vector<EntryPoint>> entries(const EntryQuery& query) = 0;
  virtual absl::StatusOr<int> schema_version() = 0;
};

// "postgresql://..." or "postgres://...": the PostgreSQL server there
// (postgres_store.h; Unimplemented in a build without libpq); anything else is an SQLite file, created with the current schema when new
// and migrated forward when older. A schema newer than this program is an
// error (never downgraded).
absl::StatusOr<std::unique_ptr<ResultStore>> open_store(const std::string& location);

// $XDG_DATA_HOME/llmk/bench.sqlite, else $HOME/.local/share/llmk/bench.sqlite;
// the directory is created when missing. Error without either variable.
absl::StatusOr<std::string> default_store_path();

}  // namespace llmk::bench::history
