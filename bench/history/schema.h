// The history's tables, as forward migrations: migration i (1-based) takes
// a database from schema version i − 1 to i. A released migration is never
// edited; a change is a new migration appended here, and every backend runs
// the same list. The statements are SQLite's; postgres_ddl() below is the
// one place that spells them for PostgreSQL, type words only, so both
// backends have the same tables with the same columns in the same order.
//
// Raw samples are stored as little-endian IEEE-754 doubles, one BLOB per
// repetition: 8 bytes a sample, about half the size of decimal text.
#pragma once

#include <iterator>
#include <span>
#include <string>
#include <string_view>

namespace llmk::bench::history {

inline constexpr std::string_view kMigrations[] = {
    // 1: runs, entries, repetitions with samples, counters, target verdicts.
    R"sql(
CREATE TABLE runs (
  id INTEGER PRIMARY KEY,
  started_at TEXT NOT NULL,          -- ISO 8601 UTC
  unix_time_s INTEGER NOT NULL,
  git_commit TEXT NOT NULL,
  git_dirty INTEGER NOT NULL,
  library_version TEXT NOT NULL,
  compiler TEXT NOT NULL,
  compiler_flags TEXT NOT NULL,
  cpu_model TEXT NOT NULL,
  cpu_microarch TEXT NOT NULL,
  cpu_flags TEXT NOT NULL,
  highway_targets TEXT NOT NULL,     -- targets the run used, ',' joined
  kernel TEXT NOT NULL,
  governor TEXT NOT NULL,
  isolated_cpus TEXT NOT NULL,
  virtualized INTEGER NOT NULL,
  hypervisor TEXT NOT NULL,
  hostname TEXT NOT NULL,
  machine TEXT NOT NULL,
  timer TEXT NOT NULL,
  tsc_ghz REAL NOT NULL,
  pinned_cpu INTEGER NOT NULL,
  repetitions INTEGER NOT NULL,
  shuffle_seed TEXT NOT NULL,        -- decimal: a uint64 does not fit INTEGER's sign
  quick INTEGER NOT NULL,
  energy_source TEXT NOT NULL,
  warnings TEXT NOT NULL,            -- one per line
  context TEXT NOT NULL              -- set_run_context pairs, "key=value" per line
);
CREATE INDEX runs_commit ON runs (git_commit);
CREATE INDEX runs_machine ON runs (machine);
CREATE TABLE entries (
  id INTEGER PRIMARY KEY,
  run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  position INTEGER NOT NULL,         -- order in the run's results
  name TEXT NOT NULL,
  target TEXT NOT NULL,
  skipped TEXT NOT NULL,
  error TEXT NOT NULL,
  item_name TEXT NOT NULL,
  items_per_op REAL NOT NULL,
  bytes_per_op REAL NOT NULL,
  flops_per_op REAL NOT NULL,
  threads INTEGER NOT NULL,
  batch_size INTEGER NOT NULL,
  total_ops INTEGER NOT NULL,
  samples INTEGER NOT NULL,          -- every repetition's samples
  median_ns REAL NOT NULL,           -- of all samples pooled
  mean_ns REAL NOT NULL,
  stddev_ns REAL NOT NULL,
  min_ns REAL NOT NULL,
  max_ns REAL NOT NULL,
  p90_ns REAL NOT NULL,
  p99_ns REAL NOT NULL,
  mad_ns REAL NOT NULL,
  cpu_ns_per_op REAL NOT NULL,
  tsc_cycles_per_op REAL NOT NULL,
  items_per_second REAL NOT NULL,
  bytes_per_second REAL NOT NULL,
  flops_per_second REAL NOT NULL,
  counted_threads TEXT NOT NULL,
  vector_bytes INTEGER NOT NULL,
  energy_joules_per_op REAL,         -- NULL: not measured
  energy_status TEXT NOT NULL
);
CREATE INDEX entries_run ON entries (run_id);
CREATE INDEX entries_name ON entries (name);
CREATE TABLE repetitions (
  entry_id INTEGER NOT NULL REFERENCES entries (id) ON DELETE CASCADE,
  repetition_index INTEGER NOT NULL,
  batch_size INTEGER NOT NULL,
  total_ops INTEGER NOT NULL,
  median_ns REAL NOT NULL,
  cpu_ns_per_op REAL NOT NULL,
  energy_joules_per_op REAL,
  samples_ns BLOB NOT NULL,          -- little-endian float64, one per sample
  PRIMARY KEY (entry_id, repetition_index)
);
CREATE TABLE counters (
  entry_id INTEGER NOT NULL REFERENCES entries (id) ON DELETE CASCADE,
  repetition_index INTEGER NOT NULL, -- -1: the entry's counters over all repetitions
  position INTEGER NOT NULL,
  event TEXT NOT NULL,
  per_op REAL,                       -- NULL: did not run (never 0)
  running_fraction REAL NOT NULL,    -- time_running / time_enabled
  status TEXT NOT NULL,
  group_index INTEGER NOT NULL
);
CREATE INDEX counters_entry ON counters (entry_id);
CREATE TABLE target_verdicts (
  entry_id INTEGER NOT NULL REFERENCES entries (id) ON DELETE CASCADE,
  position INTEGER NOT NULL,
  text TEXT NOT NULL,                -- "seed <=1 µs/op PASS"
  pass INTEGER NOT NULL,
  judged INTEGER NOT NULL            -- 0: a note, never PASS or FAIL
);
)sql",
    // 2: per-token latency of generate/ entries (BenchmarkResult::item_latency).
    R"sql(
CREATE TABLE item_latency (
  entry_id INTEGER PRIMARY KEY REFERENCES entries (id) ON DELETE CASCADE,
  p50_ns REAL,
  p90_ns REAL,
  p99_ns REAL,
  max_ns REAL
);
)sql",
};

inline constexpr int kSchemaVersion = static_cast<int>(std::size(kMigrations));

// The DDL above in PostgreSQL's dialect. SQLite's INTEGER is 64 bits
// (BIGINT), REAL is a double (DOUBLE PRECISION), BLOB is BYTEA, and a column
// `INTEGER PRIMARY KEY` without REFERENCES is SQLite's rowid, assigned on
// insert (an identity column). Only upper-case whole words are type words:
// the schema's names are lower case.
inline std::string postgres_ddl(std::string_view sqlite_ddl) {
  auto is_word = [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  };
  std::string out;
  size_t line_start = 0;
  while (line_start < sqlite_ddl.size()) {
    size_t line_end = sqlite_ddl.find('\n', line_start);
    if (line_end == std::string_view::npos) line_end = sqlite_ddl.size();
    std::string_view line = sqlite_ddl.substr(line_start, line_end - line_start);
    const bool assigned_key = line.find("INTEGER PRIMARY KEY") != std::string_view::npos &&
                              line.find("REFERENCES") == std::string_view::npos;
    for (size_t i = 0; i < line.size();) {
      if (!is_word(line[i])) {
        out += line[i++];
        continue;
      }
      size_t end = i;
      while (end < line.size() && is_word(line[end])) ++end;
      const std::string_view word = line.substr(i, end - i);
      if (word == "INTEGER") {
        out += assigned_key ? "BIGINT GENERATED BY DEFAULT AS IDENTITY" : "BIGINT";
      } else if (word == "REAL") {
        out += "DOUBLE PRECISION";
      } else if (word == "BLOB") {
        out += "BYTEA";
      } else {
        out += word;
      }
      i = end;
    }
    if (line_end < sqlite_ddl.size()) out += '\n';
    line_start = line_end + 1;
  }
  return out;
}

}  // namespace llmk::bench::history
