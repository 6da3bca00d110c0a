// The ResultStore logic every SQL backend shares: one set of statements
// (with `?` placeholders) over the tables of schema.h, run through a
// backend's connection type, so SQLite and PostgreSQL store and read a run
// the same way and differ only in how a statement reaches the database.
//
// A Connection provides
//   Statement statement(std::string_view sql)   a statement with the API of
//       SqliteStatement (sqlite_store.cc): bind(...) in placeholder order,
//       bind_blob, prepared(), step() (true: a row), run(), reset(), and the
//       column readers integer/real/optional_real/text/samples;
//   absl::Status exec(std::string_view sql)     statements without values;
//   absl::Status begin_write()                  a transaction that writes;
//   absl::Status lock_for_migration()           inside it: one migrator at once;
//   absl::StatusOr<bool> has_table(const char* name)  in the current schema;
//   std::string dialect(std::string_view ddl)   schema.h's DDL in its dialect;
//   const std::string& location()               for messages.
#pragma once

#include <bit>
#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "history/schema.h"
#include "history/store.h"
#include "util/check.h"

namespace llmk::bench::history {

// Raw samples as little-endian IEEE-754 doubles (schema.h).
inline std::string encode_samples(const std::vector<double>& samples) {
  std::string bytes(samples.size() * 8, '\0');
  for (size_t i = 0; i < samples.size(); ++i) {
    const uint64_t bits = std::bit_cast<uint64_t>(samples[i]);
    for (int b = 0; b < 8; ++b) bytes[i * 8 + b] = static_cast<char>((bits >> (8 * b)) & 0xFF);
  }
  return bytes;
}

inline std::vector<double> decode_samples(const void* data, size_t size) {
  std::vector<double> out(size / 8);
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < out.size(); ++i) {
    uint64_t bits = 0;
    for (int b = 0; b < 8; ++b) bits |= static_cast<uint64_t>(p[i * 8 + b]) << (8 * b);
    out[i] = std::bit_cast<double>(bits);
  }
  return out;
}

// "YYYY-MM-DD HH:MM:SS" UTC, the form SQLite's datetime('now') gives, for
// schema_version.applied_at in every backend.
inline std::string utc_now_sql() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S", &utc);
  return text;
}

#define LLMK_ASSIGN_OR_RETURN_ROW(var, expr) \
  absl::StatusOr<bool> var = (expr);         \
  if (!var.ok()) return var.status()

template <class Connection>
class SqlResultStore final : public ResultStore {
 public:
  using Statement = typename Connection::Statement;

  explicit SqlResultStore(Connection connection) : conn_(std::move(connection)) {}

  Connection& connection() { return conn_; }

  absl::StatusOr<int> read_version() {
    Statement q = conn_.statement("SELECT COALESCE(MAX(version), 0) FROM schema_version");
    if (absl::Status st = q.prepared(); !st.ok()) return st;
    LLMK_ASSIGN_OR_RETURN_ROW(row, q.step());
    return *row ? static_cast<int>(q.integer(0)) : 0;
  }

  // Under one write transaction holding the backend's migration lock, so two
  // processes opening a new database at once cannot both apply a migration.
  absl::Status migrate(int to_version) {
    LLMK_RETURN_IF_ERROR(conn_.begin_write());
    absl::Status st = conn_.lock_for_migration();
    if (st.ok()) st = migrate_locked(to_version);
    if (!st.ok()) {
      (void)conn_.exec("ROLLBACK");
      return st;
    }
    return conn_.exec("COMMIT");
  }

  absl::Status migrate_locked(int to_version) {
    // Created only when missing, so a role that may only read (PostgreSQL
    // needs CREATE even for CREATE TABLE IF NOT EXISTS) can open a database
    // that is up to date.
    absl::StatusOr<bool> exists = conn_.has_table("schema_version");
    if (!exists.ok()) return exists.status();
    absl::Status st;
    if (!*exists) {
      st = conn_.exec(conn_.dialect(
          "CREATE TABLE schema_version (version INTEGER NOT NULL, applied_at TEXT NOT NULL)"));
      if (!st.ok()) return st;
    }
    absl::StatusOr<int> version = read_version();
    if (!version.ok()) return version.status();
    if (*version > kSchemaVersion) {
      return absl::FailedPreconditionError(absl::StrCat(
          conn_.location(), ": schema version ", *version, " is newer than this llmk-bench's ",
          kSchemaVersion, "; use a newer llmk-bench (databases are never downgraded)"));
    }
    for (int v = *version + 1; v <= to_version; ++v) {
      if (st = conn_.exec(conn_.dialect(kMigrations[v - 1])); !st.ok()) {
        return absl::InternalError(absl::StrCat("migration to schema version ", v, ": ",
                                                st.message()));
      }
      Statement record = conn_.statement("INSERT INTO schema_version VALUES (?, ?)");
      if (st = record.prepared(); !st.ok()) return st;
      if (st = record.bind(v).bind(utc_now_sql()).run(); !st.ok()) return st;
    }
    return absl::OkStatus();
  }

  absl::StatusOr<int> schema_version() override { return read_version(); }

  absl::StatusOr<int64_t> append(const RunRecord& run) override {
    LLMK_RETURN_IF_ERROR(conn_.begin_write());
    absl::StatusOr<int64_t> id = append_locked(run);
    if (!id.ok()) {
      (void)conn_.exec("ROLLBACK");
      return id.status();
    }
    if (absl::Status st = conn_.exec("COMMIT"); !st.ok()) return st;
    return id;
  }

  absl::StatusOr<int64_t> append_locked(const RunRecord& run) {
    const RunMetadata& m = run.metadata;
    const SuiteResult& s = run.suite;
    std::vector<std::string> context;
    for (const auto& [key, value] : s.context) context.push_back(absl::StrCat(key, "=", value));
    Statement ins = conn_.statement(
                  "INSERT INTO runs (started_at, unix_time_s, git_commit, git_dirty, "
                  "library_version, compiler, compiler_flags, cpu_model, cpu_microarch, "
                  "cpu_flags, highway_targets, kernel, governor, isolated_cpus, virtualized, "
                  "hypervisor, hostname, machine, timer, tsc_ghz, pinned_cpu, repetitions, "
                  "shuffle_seed, quick, energy_source, warnings, context) VALUES "
                  "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) RETURNING id");
    LLMK_RETURN_IF_ERROR(ins.prepared());
    ins.bind(m.started_at).bind(m.unix_time_s).bind(m.git_commit).bind(m.git_dirty)
        .bind(m.library_version).bind(m.compiler).bind(m.compiler_flags).bind(m.cpu_model)
        .bind(m.cpu_microarch).bind(m.cpu_flags).bind(m.highway_targets).bind(m.kernel)
        .bind(m.governor).bind(m.isolated_cpus).bind(m.virtualized).bind(m.hypervisor)
        .bind(m.hostname).bind(m.machine).bind(s.timer).bind(s.tsc_ghz)
        .bind(static_cast<int64_t>(s.pinned_cpu)).bind(s.repetitions)
        .bind(absl::StrCat(s.seed)).bind(s.quick).bind(s.energy_source)
        .bind(absl::StrJoin(s.warnings, "\n")).bind(absl::StrJoin(context, "\n"));
    absl::StatusOr<int64_t> run_id = inserted_id(ins);
    if (!run_id.ok()) return run_id.status();

    Statement entry = conn_.statement(
                    "INSERT INTO entries (run_id, position, name, target, skipped, error, "
                    "item_name, items_per_op, bytes_per_op, flops_per_op, threads, batch_size, "
                    "total_ops, samples, median_ns, mean_ns, stddev_ns, min_ns, max_ns, p90_ns, "
                    "p99_ns, mad_ns, cpu_ns_per_op, tsc_cycles_per_op, items_per_second, "
                    "bytes_per_second, flops_per_second, counted_threads, vector_bytes, "
                    "energy_joules_per_op, energy_status) VALUES "
                    "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) RETURNING id");
    Statement rep = conn_.statement("INSERT INTO repetitions VALUES (?,?,?,?,?,?,?,?)");
    Statement counter = conn_.statement("INSERT INTO counters VALUES (?,?,?,?,?,?,?,?)");
    Statement verdict = conn_.statement("INSERT INTO target_verdicts VALUES (?,?,?,?,?)");
    // Checked where used: a store opened at schema version 1 (tests) has no
    // item_latency table and can append runs without latencies.
    Statement latency = conn_.statement("INSERT INTO item_latency VALUES (?,?,?,?,?)");
    for (Statement* st : {&entry, &rep, &counter, &verdict}) {
      LLMK_RETURN_IF_ERROR(st->prepared());
    }
    auto add_counters = [&](int64_t entry_id, int64_t rep_index,
                            const std::vector<CounterResult>& counters) -> absl::Status {
      for (size_t i = 0; i < counters.size(); ++i) {
        const CounterResult& c = counters[i];
        counter.reset();
        counter.bind(entry_id).bind(rep_index).bind(i).bind(c.event).bind(c.per_op)
            .bind(c.running_fraction).bind(c.status).bind(static_cast<int64_t>(c.group));
        LLMK_RETURN_IF_ERROR(counter.run());
      }
      return absl::OkStatus();
    };
    for (size_t i = 0; i < s.results.size(); ++i) {
      const BenchmarkResult& r = s.results[i];
      const BenchmarkStats& t = r.stats;
      entry.reset();
      entry.bind(*run_id).bind(i).bind(r.name).bind(r.target).bind(r.skipped).bind(r.error)
          .bind(r.item_name).bind(r.items_per_op).bind(r.bytes_per_op).bind(r.flops_per_op)
          .bind(r.threads).bind(r.batch_size).bind(r.total_ops).bind(t.n).bind(t.median)
          .bind(t.mean).bind(t.stddev).bind(t.min).bind(t.max).bind(t.p90).bind(t.p99)
          .bind(t.mad).bind(r.cpu_ns_per_op).bind(r.tsc_cycles_per_op).bind(r.items_per_second)
          .bind(r.bytes_per_second).bind(r.flops_per_second).bind(r.counted_threads)
          .bind(r.vector_bytes).bind(r.energy_joules_per_op).bind(r.energy_status);
      absl::StatusOr<int64_t> inserted = inserted_id(entry);
      if (!inserted.ok()) return inserted.status();
      const int64_t entry_id = *inserted;
      for (size_t k = 0; k < r.repetitions.size(); ++k) {
        const RepetitionResult& p = r.repetitions[k];
        rep.reset();
        rep.bind(entry_id).bind(k).bind(p.batch_size).bind(p.total_ops).bind(p.stats.median)
            .bind(p.cpu_ns_per_op).bind(p.energy_joules_per_op).bind_blob(
                encode_samples(p.samples_ns));
        LLMK_RETURN_IF_ERROR(rep.run());
        LLMK_RETURN_IF_ERROR(add_counters(entry_id, static_cast<int64_t>(k), p.counters));
      }
      LLMK_RETURN_IF_ERROR(add_counters(entry_id, -1, r.counters));
      if (i < run.target_checks.size()) {
        const std::vector<TargetCheck>& checks = run.target_checks[i];
        for (size_t k = 0; k < checks.size(); ++k) {
          verdict.reset();
          verdict.bind(entry_id).bind(k).bind(checks[k].text).bind(checks[k].pass)
              .bind(checks[k].judged);
          LLMK_RETURN_IF_ERROR(verdict.run());
        }
      }
      if (i < run.item_latency.size() && run.item_latency[i]) {
        const ItemLatency& l = *run.item_latency[i];
        LLMK_RETURN_IF_ERROR(latency.prepared());
        latency.reset();
        latency.bind(entry_id).bind(l.p50_ns).bind(l.p90_ns).bind(l.p99_ns).bind(l.max_ns);
        LLMK_RETURN_IF_ERROR(latency.run());
      }
    }
    return *run_id;
  }

  static constexpr const char* kRunColumns =
      "r.id, r.started_at, r.unix_time_s, r.git_commit, r.git_dirty, r.library_version, "
      "r.compiler, r.compiler_flags, r.cpu_model, r.cpu_microarch, r.cpu_flags, "
      "r.highway_targets, r.kernel, r.governor, r.isolated_cpus, r.virtualized, r.hypervisor, "
      "r.hostname, r.machine";

  static RunMetadata read_metadata(const Statement& q) {
    RunMetadata m;
    m.started_at = q.text(1);
    m.unix_time_s = q.integer(2);
    m.git_commit = q.text(3);
    m.git_dirty = q.integer(4) != 0;
    m.library_version = q.text(5);
    m.compiler = q.text(6);
    m.compiler_flags = q.text(7);
    m.cpu_model = q.text(8);
    m.cpu_microarch = q.text(9);
    m.cpu_flags = q.text(10);
    m.highway_targets = q.text(11);
    m.kernel = q.text(12);
    m.governor = q.text(13);
    m.isolated_cpus = q.text(14);
    m.virtualized = q.integer(15) != 0;
    m.hypervisor = q.text(16);
    m.hostname = q.text(17);
    m.machine = q.text(18);
    return m;
  }

  // The WHERE clause of a query on runs aliased r, with its bindings.
  static std::string where(const EntryQuery& query) {
    std::string w = " WHERE 1=1";
    if (!query.machine.empty()) w += " AND r.machine = ?";
    if (!query.commit_prefix.empty()) w += " AND substr(r.git_commit, 1, ?) = ?";
    if (query.run_id) w += " AND r.id = ?";
    return w;
  }
  static void bind_where(Statement& q, const EntryQuery& query) {
    if (!query.machine.empty()) q.bind(query.machine);
    if (!query.commit_prefix.empty()) q.bind(query.commit_prefix.size()).bind(query.commit_prefix);
    if (query.run_id) q.bind(*query.run_id);
  }

  absl::StatusOr<std::vector<RunInfo>> list_runs(const EntryQuery& query) override {
    Statement q = conn_.statement(absl::StrCat("SELECT ", kRunColumns,
                                  ", (SELECT COUNT(*) FROM entries e WHERE e.run_id = r.id) "
                                  "FROM runs r",
                                  where(query), " ORDER BY r.id"));
    LLMK_RETURN_IF_ERROR(q.prepared());
    bind_where(q, query);
    std::vector<RunInfo> out;
    while (true) {
      LLMK_ASSIGN_OR_RETURN_ROW(row, q.step());
      if (!*row) break;
      RunInfo info;
      info.id = q.integer(0);
      info.metadata = read_metadata(q);
      info.entries = static_cast<size_t>(q.integer(19));
      out.push_back(std::move(info));
    }
    return out;
  }

  absl::StatusOr<std::vector<EntryPoint>> entries(const EntryQuery& query) override {
    Statement q = conn_.statement(absl::StrCat(
                         "SELECT r.id, r.git_commit, r.git_dirty, r.started_at, r.machine, "
                         "e.id, e.name, e.mean_ns, e.samples, e.median_ns FROM runs r "
                         "JOIN entries e ON e.run_id = r.id",
                         where(query),
                         " AND e.skipped = '' AND e.error = '' AND e.samples > 0 "
                         "ORDER BY r.id, e.position"));
    LLMK_RETURN_IF_ERROR(q.prepared());
    bind_where(q, query);
    Statement medians = conn_.statement("SELECT median_ns FROM repetitions WHERE entry_id = ? "
                           "ORDER BY repetition_index");
    LLMK_RETURN_IF_ERROR(medians.prepared());
    std::vector<EntryPoint> out;
    while (true) {
      LLMK_ASSIGN_OR_RETURN_ROW(row, q.step());
      if (!*row) break;
      EntryPoint p;
      p.run_id = q.integer(0);
      p.git_commit = q.text(1);
      p.git_dirty = q.integer(2) != 0;
      p.started_at = q.text(3);
      p.machine = q.text(4);
      p.name = q.text(6);
      p.mean_ns = q.real(7);
      p.samples = static_cast<size_t>(q.integer(8));
      medians.reset();
      medians.bind(q.integer(5));
      while (true) {
        LLMK_ASSIGN_OR_RETURN_ROW(mrow, medians.step());
        if (!*mrow) break;
        p.repetition_medians_ns.push_back(medians.real(0));
      }
      // A result without repetition records counts as one repetition.
      if (p.repetition_medians_ns.empty()) p.repetition_medians_ns.push_back(q.real(9));
      out.push_back(std::move(p));
    }
    return out;
  }

  absl::StatusOr<RunRecord> load_run(int64_t id) override {
    RunRecord run;
    {
      Statement q = conn_.statement(absl::StrCat("SELECT ", kRunColumns,
                                    ", r.timer, r.tsc_ghz, r.pinned_cpu, r.repetitions, "
                                    "r.shuffle_seed, r.quick, r.energy_source, r.warnings, "
                                    "r.context FROM runs r WHERE r.id = ?"));
      LLMK_RETURN_IF_ERROR(q.prepared());
      q.bind(id);
      LLMK_ASSIGN_OR_RETURN_ROW(row, q.step());
      if (!*row) return absl::NotFoundError(absl::StrCat(conn_.location(), ": no run with id ", id));
      run.id = q.integer(0);
      run.metadata = read_metadata(q);
      SuiteResult& s = run.suite;
      s.timer = q.text(19);
      s.tsc_ghz = q.real(20);
      s.pinned_cpu = static_cast<int>(q.integer(21));
      s.repetitions = static_cast<size_t>(q.integer(22));
      if (!absl::SimpleAtoi(q.text(23), &s.seed)) s.seed = 0;
      s.quick = q.integer(24) != 0;
      s.energy_source = q.text(25);
      for (absl::string_view w : absl::StrSplit(q.text(26), '\n', absl::SkipEmpty())) {
        s.warnings.emplace_back(w);
      }
      for (absl::string_view kv : absl::StrSplit(q.text(27), '\n', absl::SkipEmpty())) {
        const size_t eq = kv.find('=');
        s.context.emplace_back(std::string(kv.substr(0, eq)),
                               eq == absl::string_view::npos ? "" : std::string(kv.substr(eq + 1)));
      }
      s.governor = run.metadata.governor;
      s.virtualized = run.metadata.virtualized;
      s.hypervisor = run.metadata.hypervisor;
      for (absl::string_view t : absl::StrSplit(run.metadata.highway_targets, ',', absl::SkipEmpty())) {
        s.targets_run.emplace_back(t);
      }
      for (absl::string_view c : absl::StrSplit(run.metadata.isolated_cpus, ',', absl::SkipEmpty())) {
        int cpu = 0;
        if (absl::SimpleAtoi(c, &cpu)) s.isolated_cpus.push_back(cpu);
      }
    }
    Statement e = conn_.statement(
                "SELECT id, name, target, skipped, error, item_name, items_per_op, bytes_per_op, "
                "flops_per_op, threads, batch_size, total_ops, samples, median_ns, mean_ns, "
                "stddev_ns, min_ns, max_ns, p90_ns, p99_ns, mad_ns, cpu_ns_per_op, "
                "tsc_cycles_per_op, items_per_second, bytes_per_second, flops_per_second, "
                "counted_threads, vector_bytes, energy_joules_per_op, energy_status "
                "FROM entries WHERE run_id = ? ORDER BY position");
    Statement rep = conn_.statement("SELECT batch_size, total_ops, median_ns, cpu_ns_per_op, "
                       "energy_joules_per_op, samples_ns FROM repetitions WHERE entry_id = ? "
                       "ORDER BY repetition_index");
    Statement ctr = conn_.statement("SELECT repetition_index, event, per_op, running_fraction, status, "
                       "group_index FROM counters WHERE entry_id = ? ORDER BY "
                       "repetition_index, position");
    Statement ver = conn_.statement("SELECT text, pass, judged FROM target_verdicts WHERE entry_id = ? "
                       "ORDER BY position");
    Statement lat = conn_.statement("SELECT p50_ns, p90_ns, p99_ns, max_ns FROM item_latency "
                       "WHERE entry_id = ?");
    for (Statement* st : {&e, &rep, &ctr, &ver, &lat}) LLMK_RETURN_IF_ERROR(st->prepared());
    e.bind(id);
    while (true) {
      LLMK_ASSIGN_OR_RETURN_ROW(row, e.step());
      if (!*row) break;
      BenchmarkResult r;
      const int64_t entry_id = e.integer(0);
      r.name = e.text(1);
      r.target = e.text(2);
      r.skipped = e.text(3);
      r.error = e.text(4);
      r.item_name = e.text(5);
      r.items_per_op = e.real(6);
      r.bytes_per_op = e.real(7);
      r.flops_per_op = e.real(8);
      r.threads = static_cast<size_t>(e.integer(9));
      r.batch_size = static_cast<uint64_t>(e.integer(10));
      r.total_ops = static_cast<uint64_t>(e.integer(11));
      BenchmarkStats& t = r.stats;
      t.n = static_cast<size_t>(e.integer(12));
      t.median = e.real(13);
      t.mean = e.real(14);
      t.stddev = e.real(15);
      t.min = e.real(16);
      t.max = e.real(17);
      t.p90 = e.real(18);
      t.p99 = e.real(19);
      t.mad = e.real(20);
      r.cpu_ns_per_op = e.real(21);
      r.tsc_cycles_per_op = e.real(22);
      r.items_per_second = e.real(23);
      r.bytes_per_second = e.real(24);
      r.flops_per_second = e.real(25);
      r.counted_threads = e.text(26);
      r.vector_bytes = static_cast<size_t>(e.integer(27));
      r.energy_joules_per_op = e.optional_real(28);
      r.energy_status = e.text(29);
      rep.reset();
      rep.bind(entry_id);
      while (true) {
        LLMK_ASSIGN_OR_RETURN_ROW(rrow, rep.step());
        if (!*rrow) break;
        RepetitionResult p;
        p.batch_size = static_cast<uint64_t>(rep.integer(0));
        p.total_ops = static_cast<uint64_t>(rep.integer(1));
        p.cpu_ns_per_op = rep.real(3);
        p.energy_joules_per_op = rep.optional_real(4);
        p.samples_ns = rep.samples(5);
        p.stats = compute_stats(p.samples_ns);
        p.stats.median = rep.real(2);  // as measured, also when the samples were empty
        r.samples_ns.insert(r.samples_ns.end(), p.samples_ns.begin(), p.samples_ns.end());
        r.repetitions.push_back(std::move(p));
      }
      ctr.reset();
      ctr.bind(entry_id);
      while (true) {
        LLMK_ASSIGN_OR_RETURN_ROW(crow, ctr.step());
        if (!*crow) break;
        CounterResult c;
        const int64_t rep_index = ctr.integer(0);
        c.event = ctr.text(1);
        c.per_op = ctr.optional_real(2);
        c.running_fraction = ctr.real(3);
        c.status = ctr.text(4);
        c.group = static_cast<int>(ctr.integer(5));
        if (rep_index < 0) {
          r.counters.push_back(std::move(c));
        } else if (static_cast<size_t>(rep_index) < r.repetitions.size()) {
          r.repetitions[rep_index].counters.push_back(std::move(c));
        }
      }
      std::vector<TargetCheck> checks;
      ver.reset();
      ver.bind(entry_id);
      while (true) {
        LLMK_ASSIGN_OR_RETURN_ROW(vrow, ver.step());
        if (!*vrow) break;
        TargetCheck c;
        c.text = ver.text(0);
        c.pass = ver.integer(1) != 0;
        c.judged = ver.integer(2) != 0;
        checks.push_back(std::move(c));
      }
      std::optional<ItemLatency> item_latency;
      lat.reset();
      lat.bind(entry_id);
      LLMK_ASSIGN_OR_RETURN_ROW(lrow, lat.step());
      if (*lrow) {
        item_latency = ItemLatency{lat.optional_real(0), lat.optional_real(1),
                                   lat.optional_real(2), lat.optional_real(3)};
      }
      run.suite.results.push_back(std::move(r));
      run.target_checks.push_back(std::move(checks));
      run.item_latency.push_back(item_latency);
    }
    return run;
  }

 private:
  // Steps an INSERT ... RETURNING id and reads the id.
  static absl::StatusOr<int64_t> inserted_id(Statement& insert) {
    LLMK_ASSIGN_OR_RETURN_ROW(row, insert.step());
    if (!*row) return absl::InternalError("INSERT ... RETURNING id gave no row");
    const int64_t id = insert.integer(0);
    insert.reset();  // the statement is done: SQLite commits only without pending ones
    return id;
  }

  Connection conn_;
};

#undef LLMK_ASSIGN_OR_RETURN_ROW

}  // namespace llmk::bench::history
