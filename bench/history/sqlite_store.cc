#include "history/sqlite_store.h"

#include <sqlite3.h>

#include <bit>
#include <cstring>
#include <iterator>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "history/schema.h"
#include "util/check.h"

namespace llmk::bench::history {
namespace {

std::string encode_samples(const std::vector<double>& samples) {
  std::string bytes(samples.size() * 8, '\0');
  for (size_t i = 0; i < samples.size(); ++i) {
    const uint64_t bits = std::bit_cast<uint64_t>(samples[i]);
    for (int b = 0; b < 8; ++b) bytes[i * 8 + b] = static_cast<char>((bits >> (8 * b)) & 0xFF);
  }
  return bytes;
}

std::vector<double> decode_samples(const void* data, int size) {
  std::vector<double> out(static_cast<size_t>(size) / 8);
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < out.size(); ++i) {
    uint64_t bits = 0;
    for (int b = 0; b < 8; ++b) bits |= static_cast<uint64_t>(p[i * 8 + b]) << (8 * b);
    out[i] = std::bit_cast<double>(bits);
  }
  return out;
}

// One prepared statement; binds by 1-based position in the order of bind()
// calls, columns read by 0-based index.
class Statement {
 public:
  Statement(sqlite3* db, std::string_view sql) : db_(db) {
    rc_ = sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &stmt_, nullptr);
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  absl::Status prepared() const {
    if (rc_ == SQLITE_OK) return absl::OkStatus();
    return absl::InternalError(absl::StrCat("sqlite: ", sqlite3_errmsg(db_)));
  }
  Statement& bind(int64_t v) { sqlite3_bind_int64(stmt_, ++next_, v); return *this; }
  Statement& bind(int v) { return bind(static_cast<int64_t>(v)); }
  Statement& bind(size_t v) { return bind(static_cast<int64_t>(v)); }
  Statement& bind(bool v) { return bind(static_cast<int64_t>(v ? 1 : 0)); }
  Statement& bind(double v) { sqlite3_bind_double(stmt_, ++next_, v); return *this; }
  Statement& bind(const std::string& v) {
    sqlite3_bind_text(stmt_, ++next_, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Statement& bind(const char* v) { return bind(std::string(v)); }
  Statement& bind(const std::optional<double>& v) {
    if (v) return bind(*v);
    sqlite3_bind_null(stmt_, ++next_);
    return *this;
  }
  Statement& bind_blob(const std::string& bytes) {
    sqlite3_bind_blob(stmt_, ++next_, bytes.data(), static_cast<int>(bytes.size()),
                      SQLITE_TRANSIENT);
    return *this;
  }
  // SQLITE_ROW: true; SQLITE_DONE: false; anything else: the error.
  absl::StatusOr<bool> step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return absl::InternalError(absl::StrCat("sqlite: ", sqlite3_errmsg(db_)));
  }
  absl::Status run() {
    absl::StatusOr<bool> row = step();
    return row.ok() ? absl::OkStatus() : row.status();
  }
  void reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
    next_ = 0;
  }
  int64_t integer(int col) const { return sqlite3_column_int64(stmt_, col); }
  double real(int col) const { return sqlite3_column_double(stmt_, col); }
  std::optional<double> optional_real(int col) const {
    if (sqlite3_column_type(stmt_, col) == SQLITE_NULL) return std::nullopt;
    return real(col);
  }
  std::string text(int col) const {
    const unsigned char* t = sqlite3_column_text(stmt_, col);
    return t ? std::string(reinterpret_cast<const char*>(t),
                           static_cast<size_t>(sqlite3_column_bytes(stmt_, col)))
             : std::string();
  }
  std::vector<double> samples(int col) const {
    const void* blob = sqlite3_column_blob(stmt_, col);
    return blob ? decode_samples(blob, sqlite3_column_bytes(stmt_, col)) : std::vector<double>();
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  int rc_ = SQLITE_OK;
  int next_ = 0;
};

#define LLMK_ASSIGN_OR_RETURN_ROW(var, expr) \
  absl::StatusOr<bool> var = (expr);         \
  if (!var.ok()) return var.status()

class SqliteStore final : public ResultStore {
 public:
  SqliteStore(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  ~SqliteStore() override { sqlite3_close(db_); }

  absl::Status exec(std::string_view sql) {
    char* message = nullptr;
    const std::string text(sql);
    if (sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
      const std::string why = message ? message : sqlite3_errmsg(db_);
      sqlite3_free(message);
      return absl::InternalError(absl::StrCat(path_, ": ", why));
    }
    return absl::OkStatus();
  }

  absl::Status configure() {
    sqlite3_busy_timeout(db_, kBusyTimeoutMs);
    if (absl::Status st = exec("PRAGMA journal_mode=WAL"); !st.ok()) return st;
    return exec("PRAGMA foreign_keys=ON");
  }

  absl::StatusOr<int> read_version() {
    Statement q(db_, "SELECT COALESCE(MAX(version), 0) FROM schema_version");
    if (absl::Status st = q.prepared(); !st.ok()) return st;
    LLMK_ASSIGN_OR_RETURN_ROW(row, q.step());
    return *row ? static_cast<int>(q.integer(0)) : 0;
  }

  // Under one IMMEDIATE transaction, so two processes opening a new file at
  // once cannot both apply a migration.
  absl::Status migrate(int to_version) {
    if (absl::Status st = exec("BEGIN IMMEDIATE"); !st.ok()) return st;
    absl::Status st = migrate_locked(to_version);
    if (!st.ok()) {
      (void)exec("ROLLBACK");
      return st;
    }
    return exec("COMMIT");
  }

  absl::Status migrate_locked(int to_version) {
    absl::Status st = exec(
        "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, "
        "applied_at TEXT NOT NULL)");
    if (!st.ok()) return st;
    absl::StatusOr<int> version = read_version();
    if (!version.ok()) return version.status();
    if (*version > kSchemaVersion) {
      return absl::FailedPreconditionError(absl::StrCat(
          path_, ": schema version ", *version, " is newer than this llmk-bench's ",
          kSchemaVersion, "; use a newer llmk-bench (databases are never downgraded)"));
    }
    for (int v = *version + 1; v <= to_version; ++v) {
      if (st = exec(kMigrations[v - 1]); !st.ok()) {
        return absl::InternalError(absl::StrCat("migration to schema version ", v, ": ",
                                                st.message()));
      }
      Statement record(db_, "INSERT INTO schema_version VALUES (?, datetime('now'))");
      if (st = record.prepared(); !st.ok()) return st;
      if (st = record.bind(v).run(); !st.ok()) return st;
    }
    return absl::OkStatus();
  }

  absl::StatusOr<int> schema_version() override { return read_version(); }

  absl::StatusOr<int64_t> append(const RunRecord& run) override {
    if (absl::Status st = exec("BEGIN IMMEDIATE"); !st.ok()) return st;
    absl::StatusOr<int64_t> id = append_locked(run);
    if (!id.ok()) {
      (void)exec("ROLLBACK");
      return id.status();
    }
    if (absl::Status st = exec("COMMIT"); !st.ok()) return st;
    return id;
  }

  absl::StatusOr<int64_t> append_locked(const RunRecord& run) {
    const RunMetadata& m = run.metadata;
    const SuiteResult& s = run.suite;
    std::vector<std::string> context;
    for (const auto& [key, value] : s.context) context.push_back(absl::StrCat(key, "=", value));
    Statement ins(db_,
                  "INSERT INTO runs (started_at, unix_time_s, git_commit, git_dirty, "
                  "library_version, compiler, compiler_flags, cpu_model, cpu_microarch, "
                  "cpu_flags, highway_targets, kernel, governor, isolated_cpus, virtualized, "
                  "hypervisor, hostname, machine, timer, tsc_ghz, pinned_cpu, repetitions, "
                  "shuffle_seed, quick, energy_source, warnings, context) VALUES "
                  "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
    LLMK_RETURN_IF_ERROR(ins.prepared());
    ins.bind(m.started_at).bind(m.unix_time_s).bind(m.git_commit).bind(m.git_dirty)
        .bind(m.library_version).bind(m.compiler).bind(m.compiler_flags).bind(m.cpu_model)
        .bind(m.cpu_microarch).bind(m.cpu_flags).bind(m.highway_targets).bind(m.kernel)
        .bind(m.governor).bind(m.isolated_cpus).bind(m.virtualized).bind(m.hypervisor)
        .bind(m.hostname).bind(m.machine).bind(s.timer).bind(s.tsc_ghz)
        .bind(static_cast<int64_t>(s.pinned_cpu)).bind(s.repetitions)
        .bind(absl::StrCat(s.seed)).bind(s.quick).bind(s.energy_source)
        .bind(absl::StrJoin(s.warnings, "\n")).bind(absl::StrJoin(context, "\n"));
    LLMK_RETURN_IF_ERROR(ins.run());
    const int64_t run_id = sqlite3_last_insert_rowid(db_);

    Statement entry(db_,
                    "INSERT INTO entries (run_id, position, name, target, skipped, error, "
                    "item_name, items_per_op, bytes_per_op, flops_per_op, threads, batch_size, "
                    "total_ops, samples, median_ns, mean_ns, stddev_ns, min_ns, max_ns, p90_ns, "
                    "p99_ns, mad_ns, cpu_ns_per_op, tsc_cycles_per_op, items_per_second, "
                    "bytes_per_second, flops_per_second, counted_threads, vector_bytes, "
                    "energy_joules_per_op, energy_status) VALUES "
                    "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
    Statement rep(db_, "INSERT INTO repetitions VALUES (?,?,?,?,?,?,?,?)");
    Statement counter(db_, "INSERT INTO counters VALUES (?,?,?,?,?,?,?,?)");
    Statement verdict(db_, "INSERT INTO target_verdicts VALUES (?,?,?,?,?)");
    // Checked where used: a store opened at schema version 1 (tests) has no
    // item_latency table and can append runs without latencies.
    Statement latency(db_, "INSERT INTO item_latency VALUES (?,?,?,?,?)");
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
      entry.bind(run_id).bind(i).bind(r.name).bind(r.target).bind(r.skipped).bind(r.error)
          .bind(r.item_name).bind(r.items_per_op).bind(r.bytes_per_op).bind(r.flops_per_op)
          .bind(r.threads).bind(r.batch_size).bind(r.total_ops).bind(t.n).bind(t.median)
          .bind(t.mean).bind(t.stddev).bind(t.min).bind(t.max).bind(t.p90).bind(t.p99)
          .bind(t.mad).bind(r.cpu_ns_per_op).bind(r.tsc_cycles_per_op).bind(r.items_per_second)
          .bind(r.bytes_per_second).bind(r.flops_per_second).bind(r.counted_threads)
          .bind(r.vector_bytes).bind(r.energy_joules_per_op).bind(r.energy_status);
      LLMK_RETURN_IF_ERROR(entry.run());
      const int64_t entry_id = sqlite3_last_insert_rowid(db_);
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
    return run_id;
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
    Statement q(db_, absl::StrCat("SELECT ", kRunColumns,
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
    Statement q(db_, absl::StrCat(
                         "SELECT r.id, r.git_commit, r.git_dirty, r.started_at, r.machine, "
                         "e.id, e.name, e.mean_ns, e.samples, e.median_ns FROM runs r "
                         "JOIN entries e ON e.run_id = r.id",
                         where(query),
                         " AND e.skipped = '' AND e.error = '' AND e.samples > 0 "
                         "ORDER BY r.id, e.position"));
    LLMK_RETURN_IF_ERROR(q.prepared());
    bind_where(q, query);
    Statement medians(db_, "SELECT median_ns FROM repetitions WHERE entry_id = ? "
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
      Statement q(db_, absl::StrCat("SELECT ", kRunColumns,
                                    ", r.timer, r.tsc_ghz, r.pinned_cpu, r.repetitions, "
                                    "r.shuffle_seed, r.quick, r.energy_source, r.warnings, "
                                    "r.context FROM runs r WHERE r.id = ?"));
      LLMK_RETURN_IF_ERROR(q.prepared());
      q.bind(id);
      LLMK_ASSIGN_OR_RETURN_ROW(row, q.step());
      if (!*row) return absl::NotFoundError(absl::StrCat(path_, ": no run with id ", id));
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
    Statement e(db_,
                "SELECT id, name, target, skipped, error, item_name, items_per_op, bytes_per_op, "
                "flops_per_op, threads, batch_size, total_ops, samples, median_ns, mean_ns, "
                "stddev_ns, min_ns, max_ns, p90_ns, p99_ns, mad_ns, cpu_ns_per_op, "
                "tsc_cycles_per_op, items_per_second, bytes_per_second, flops_per_second, "
                "counted_threads, vector_bytes, energy_joules_per_op, energy_status "
                "FROM entries WHERE run_id = ? ORDER BY position");
    Statement rep(db_, "SELECT batch_size, total_ops, median_ns, cpu_ns_per_op, "
                       "energy_joules_per_op, samples_ns FROM repetitions WHERE entry_id = ? "
                       "ORDER BY repetition_index");
    Statement ctr(db_, "SELECT repetition_index, event, per_op, running_fraction, status, "
                       "group_index FROM counters WHERE entry_id = ? ORDER BY "
                       "repetition_index, position");
    Statement ver(db_, "SELECT text, pass, judged FROM target_verdicts WHERE entry_id = ? "
                       "ORDER BY position");
    Statement lat(db_, "SELECT p50_ns, p90_ns, p99_ns, max_ns FROM item_latency "
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
  sqlite3* db_;
  std::string path_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<ResultStore>> open_sqlite_store(const std::string& path,
                                                               int schema_version) {
  if (schema_version < 1 || schema_version > kSchemaVersion) {
    return absl::InvalidArgumentError(
        absl::StrCat("schema version ", schema_version, " is not 1..", kSchemaVersion));
  }
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &db,
                                 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                                 nullptr);
  if (rc != SQLITE_OK) {
    const std::string why = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return absl::InvalidArgumentError(absl::StrCat("--db ", path, ": ", why));
  }
  auto store = std::make_unique<SqliteStore>(db, path);
  if (absl::Status st = store->configure(); !st.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--db ", path, ": ", st.message()));
  }
  if (absl::Status st = store->migrate(schema_version); !st.ok()) return st;
  return std::unique_ptr<ResultStore>(std::move(store));
}

}  // namespace llmk::bench::history
