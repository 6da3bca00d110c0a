// The history's tables, as forward migrations: migration i (1-based) takes
// a database from schema version i − 1 to i. A released migration is never
// edited; a change is a new migration appended here, and every backend runs
// the same list. Plain SQL common to SQLite and PostgreSQL (INTEGER, REAL,
// TEXT; binary samples are BLOB here, BYTEA there).
//
// Raw samples are stored as little-endian IEEE-754 doubles, one BLOB per
// repetition: 8 bytes a sample, about half the size of decimal text.
#pragma once

#include <iterator>
#include <span>
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

}  // namespace llmk::bench::history
