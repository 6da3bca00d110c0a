// The results history: the stores (round trip of a real run, forward
// migration, concurrent writers), change-point detection on synthetic
// histories, compare's verdicts, and the Bencher Metric Format export.
//
// Every storage test runs once per backend: on an SQLite file always, and
// on a fresh schema of the PostgreSQL server named by
// $LLMK_TEST_POSTGRES_URL when it is set (skipped otherwise; .ci/postgres.sh
// starts a server and sets it).
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef LLMK_HAVE_POSTGRESQL
#include <libpq-fe.h>
#endif

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "cli.h"
#include "harness/baseline.h"
#include "harness/json.h"
#include "harness/stats.h"
#include "history/bmf.h"
#include "history/changepoint.h"
#include "history/commands.h"
#include "history/metadata.h"
#include "history/postgres_store.h"
#include "history/schema.h"
#include "history/sqlite_store.h"
#include "history/store.h"
#include "llmk/bench.h"
#include "test_util.h"

namespace llmk::bench::history {
namespace {

// A fresh database path per test, removed (with its WAL files) afterwards.
struct TempDb {
  std::filesystem::path path;
  explicit TempDb(const std::string& tag) {
    path = std::filesystem::temp_directory_path() /
           ("llmk-history-" + tag + "-" + std::to_string(getpid()) + ".sqlite");
    remove_all();
  }
  ~TempDb() { remove_all(); }
  void remove_all() {
    for (const char* suffix : {"", "-wal", "-shm"}) {
      std::filesystem::remove(path.string() + suffix);
    }
  }
};

// A column as both backends can state it: name, value kind (int64, double,
// text, bytes) and whether it may be NULL.
using ColumnList = std::vector<std::string>;

// The storage tests' SQLite backend: a fresh file per test.
class SqliteBackend {
 public:
  explicit SqliteBackend(const std::string& tag) : db_("sqlite-" + tag) {}
  bool ready() const { return true; }
  std::string location() const { return db_.path.string(); }
  // A location whose store cannot be opened.
  static std::string bad_location() { return "/nonexistent-dir/x.sqlite"; }
  absl::StatusOr<std::unique_ptr<ResultStore>> open(int schema_version) const {
    return open_sqlite_store(location(), schema_version);
  }
  // The first column of the first row as text ("" when NULL or no row).
  std::string query(const std::string& sql) const {
    sqlite3* raw = nullptr;
    REQUIRE(sqlite3_open(db_.path.c_str(), &raw) == SQLITE_OK);
    sqlite3_stmt* q = nullptr;
    REQUIRE(sqlite3_prepare_v2(raw, sql.c_str(), -1, &q, nullptr) == SQLITE_OK);
    std::string out;
    const int rc = sqlite3_step(q);
    CHECK((rc == SQLITE_ROW || rc == SQLITE_DONE));
    if (rc == SQLITE_ROW && sqlite3_column_text(q, 0) != nullptr) {
      out = reinterpret_cast<const char*>(sqlite3_column_text(q, 0));
    }
    sqlite3_finalize(q);
    sqlite3_close(raw);
    return out;
  }
  std::string applied_versions() const {
    return query("SELECT group_concat(version) FROM (SELECT version FROM schema_version "
                 "ORDER BY version)");
  }
  ColumnList columns(const std::string& table) const {
    const std::map<std::string, std::string> kinds = {
        {"INTEGER", "int64"}, {"REAL", "double"}, {"TEXT", "text"}, {"BLOB", "bytes"}};
    ColumnList out;
    sqlite3* raw = nullptr;
    REQUIRE(sqlite3_open(db_.path.c_str(), &raw) == SQLITE_OK);
    sqlite3_stmt* q = nullptr;
    REQUIRE(sqlite3_prepare_v2(raw, "SELECT name, type, \"notnull\" OR pk > 0 "
                               "FROM pragma_table_info(?) ORDER BY cid", -1, &q, nullptr) == SQLITE_OK);
    sqlite3_bind_text(q, 1, table.c_str(), -1, SQLITE_TRANSIENT);
    while (sqlite3_step(q) == SQLITE_ROW) {
      const std::string type = reinterpret_cast<const char*>(sqlite3_column_text(q, 1));
      out.push_back(std::string(reinterpret_cast<const char*>(sqlite3_column_text(q, 0))) + " " +
                    (kinds.count(type) ? kinds.at(type) : type) +
                    (sqlite3_column_int(q, 2) ? " NOT NULL" : " NULL"));
    }
    sqlite3_finalize(q);
    sqlite3_close(raw);
    return out;
  }

 private:
  TempDb db_;
};

// The storage tests' PostgreSQL backend: a uniquely named schema on the
// server of $LLMK_TEST_POSTGRES_URL, created for one test and dropped after
// it, the store reaching it through the URL's search_path.
class PostgresBackend {
 public:
  explicit PostgresBackend(const std::string& tag) {
#ifdef LLMK_HAVE_POSTGRESQL
    const char* url = std::getenv("LLMK_TEST_POSTGRES_URL");
    if (url == nullptr || url[0] == '\0') {
      skip_reason_ = "LLMK_TEST_POSTGRES_URL is not set (.ci/postgres.sh starts a server and sets it)";
      return;
    }
    admin_ = PQconnectdb(url);
    REQUIRE_MESSAGE(PQstatus(admin_) == CONNECTION_OK,
                    "LLMK_TEST_POSTGRES_URL: ", PQerrorMessage(admin_));
    PQsetNoticeProcessor(admin_, [](void*, const char*) {}, nullptr);  // DROP's cascade list
    std::random_device entropy;
    schema_ = "llmk_test_" + tag + "_" + std::to_string(getpid()) + "_" +
              std::to_string(entropy() % 1000000);
    exec("CREATE SCHEMA " + schema_);  // an identifier: not a parameter; ours, [a-z0-9_]
    const std::string base = url;
    location_ = base + (base.find('?') == std::string::npos ? "?" : "&") +
                "options=-csearch_path%3D" + schema_;
#else
    (void)tag;
    skip_reason_ = "this build has no PostgreSQL backend (libpq-dev, -Dpostgresql=enabled)";
#endif
  }
  ~PostgresBackend() {
#ifdef LLMK_HAVE_POSTGRESQL
    if (admin_ != nullptr) {
      if (!schema_.empty()) PQclear(PQexec(admin_, ("DROP SCHEMA " + schema_ + " CASCADE").c_str()));
      PQfinish(admin_);
    }
#endif
  }
  PostgresBackend(const PostgresBackend&) = delete;
  PostgresBackend& operator=(const PostgresBackend&) = delete;

  // False (the test case marked skipped) when there is no server to test on.
  bool ready() const {
    if (skip_reason_.empty()) return true;
    llmk::test::skip(skip_reason_);
    return false;
  }
  std::string location() const { return location_; }
  // Port 1 refuses at once: no server listens there.
  static std::string bad_location() { return "postgresql://127.0.0.1:1/llmk"; }
  absl::StatusOr<std::unique_ptr<ResultStore>> open(int schema_version) const {
    return open_postgres_store(location_, schema_version);
  }
  std::string query(const std::string& sql) const {
#ifdef LLMK_HAVE_POSTGRESQL
    const std::string scoped = "SET search_path TO " + schema_ + "; " + sql;
    PGresult* r = PQexec(admin_, scoped.c_str());
    CHECK_MESSAGE(PQresultStatus(r) == PGRES_TUPLES_OK, PQresultErrorMessage(r));
    std::string out;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0 && !PQgetisnull(r, 0, 0)) {
      out = PQgetvalue(r, 0, 0);
    }
    PQclear(r);
    return out;
#else
    (void)sql;
    return "";
#endif
  }
  std::string applied_versions() const {
    return query("SELECT string_agg(version::text, ',' ORDER BY version) FROM schema_version");
  }
  ColumnList columns(const std::string& table) const {
    // One row: the table's columns in order, each "name kind NULL|NOT NULL", '|' joined.
    const std::string joined = query(
        "SELECT string_agg(column_name || ' ' || CASE data_type WHEN 'bigint' THEN 'int64' "
        "WHEN 'double precision' THEN 'double' WHEN 'bytea' THEN 'bytes' ELSE data_type END || "
        "CASE is_nullable WHEN 'NO' THEN ' NOT NULL' ELSE ' NULL' END, '|' "
        "ORDER BY ordinal_position) FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = '" + table + "'");
    ColumnList out;
    for (absl::string_view c : absl::StrSplit(joined, '|', absl::SkipEmpty())) out.emplace_back(c);
    return out;
  }

 private:
#ifdef LLMK_HAVE_POSTGRESQL
  void exec(const std::string& sql) {
    PGresult* r = PQexec(admin_, sql.c_str());
    const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    const std::string why = PQresultErrorMessage(r);
    PQclear(r);
    REQUIRE_MESSAGE(ok, sql, ": ", why);
  }
  PGconn* admin_ = nullptr;
#endif
  std::string schema_;
  std::string location_;
  std::string skip_reason_;
};

}  // namespace
}  // namespace llmk::bench::history

// Test case names end in <sqlite> or <postgresql>.
TYPE_TO_STRING_AS("sqlite", llmk::bench::history::SqliteBackend);
TYPE_TO_STRING_AS("postgresql", llmk::bench::history::PostgresBackend);

namespace llmk::bench::history {
namespace {

BenchmarkConfig short_config() {
  BenchmarkConfig c;
  c.warmup_iterations = 2;
  c.max_warmup_s = 0.002;
  c.measurement_iterations = 12;
  c.max_time_s = 0.02;
  c.min_sample_time_s = 5e-6;
  c.min_samples = 4;
  c.progress = false;
  c.repetitions = 3;
  c.counters = true;
  c.counter_events = {"task-clock+page-faults"};  // software events: open on every Linux
  return c;
}

BenchmarkSpec summing_spec(const std::string& name, size_t n) {
  BenchmarkSpec s;
  s.name = name;
  s.item_name = "element";
  s.items_per_op = static_cast<double>(n);
  s.bytes_per_op = 4.0 * static_cast<double>(n);
  s.targets.push_back({"loose", 1e6, 0});   // 1 ms per element: passes
  s.targets.push_back({"strict", 1e-6, 0});  // 1 fs per element: fails
  s.setup = [n](const BenchmarkConfig&) -> absl::StatusOr<BatchFn> {
    auto data = std::make_shared<std::vector<float>>(n, 1.5f);
    return BatchFn([data](uint64_t count) -> absl::Status {
      for (uint64_t i = 0; i < count; ++i) {
        float sum = 0;
        for (float v : *data) sum += v;
        do_not_optimize(sum);
      }
      return absl::OkStatus();
    });
  };
  return s;
}

RunMetadata fake_metadata(const std::string& commit, bool dirty, const std::string& machine) {
  RunMetadata m;
  m.started_at = "2026-01-01T00:00:00Z";
  m.unix_time_s = 1767225600;
  m.git_commit = commit;
  m.git_dirty = dirty;
  m.library_version = "0.1.0";
  m.machine = machine;
  m.hostname = machine;
  return m;
}

// A run of one entry per name with the given repetition medians (each
// repetition's samples spread ±1% around its median).
RunRecord synthetic_run(const std::vector<std::pair<std::string, std::vector<double>>>& entries,
                        RunMetadata metadata) {
  SuiteResult suite;
  suite.timer = "tsc";
  for (const auto& [name, medians] : entries) {
    BenchmarkResult r;
    r.name = name;
    for (double m : medians) {
      RepetitionResult rep;
      rep.samples_ns = {0.99 * m, m, 1.01 * m};
      rep.stats = compute_stats(rep.samples_ns);
      r.samples_ns.insert(r.samples_ns.end(), rep.samples_ns.begin(), rep.samples_ns.end());
      r.repetitions.push_back(rep);
    }
    r.stats = compute_stats(r.samples_ns);
    suite.results.push_back(r);
  }
  return make_run_record(suite, std::move(metadata));
}

TEST_CASE_TEMPLATE("a real suite run twice is stored and read back whole", Backend,
                   SqliteBackend, PostgresBackend) {
  Backend db("roundtrip");
  if (!db.ready()) return;
  const std::vector<BenchmarkSpec> specs = {summing_spec("history/sum/256", 256),
                                            summing_spec("history/sum/4096", 4096)};
  auto store = open_store(db.location());
  REQUIRE(store.ok());
  std::vector<SuiteResult> runs;
  std::vector<int64_t> ids;
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<SuiteResult> run = run_benchmarks(specs, short_config());
    REQUIRE(run.ok());
    RunRecord record = make_run_record(*run, collect_run_metadata(*run, i == 0 ? "" : "bench-box"));
    auto id = (*store)->append(record);
    REQUIRE(id.ok());
    ids.push_back(*id);
    runs.push_back(*std::move(run));
  }
  CHECK(ids[1] > ids[0]);
  store->reset();  // reopen: what comes back is what the database holds

  store = open_store(db.location());
  REQUIRE(store.ok());
  CHECK(*(*store)->schema_version() == kSchemaVersion);
  for (int i = 0; i < 2; ++i) {
    auto loaded = (*store)->load_run(ids[i]);
    REQUIRE(loaded.ok());
    const SuiteResult& want = runs[i];
    const SuiteResult& got = loaded->suite;
    char host[256] = {};
    gethostname(host, sizeof host - 1);
    CHECK(loaded->metadata.hostname == host);
    CHECK(loaded->metadata.machine == (i == 0 ? std::string(host) : "bench-box"));
    CHECK(loaded->metadata.git_commit.size() >= 7);  // a hash, or "unknown" outside git
    CHECK(loaded->metadata.library_version == "0.1.0");
    CHECK_FALSE(loaded->metadata.compiler.empty());
    CHECK(loaded->metadata.highway_targets == absl::StrJoin(want.targets_run, ","));
    CHECK(got.seed == want.seed);
    CHECK(got.repetitions == 3);
    CHECK(got.timer == want.timer);
    REQUIRE(got.results.size() == want.results.size());
    for (size_t e = 0; e < want.results.size(); ++e) {
      const BenchmarkResult& w = want.results[e];
      const BenchmarkResult& g = got.results[e];
      CHECK(g.name == w.name);
      CHECK(g.item_name == "element");
      CHECK(g.items_per_op == w.items_per_op);
      CHECK(g.bytes_per_op == w.bytes_per_op);
      CHECK(g.threads == w.threads);
      CHECK(g.stats.median == w.stats.median);
      CHECK(g.stats.n == w.stats.n);
      CHECK(g.samples_ns == w.samples_ns);  // bit for bit
      REQUIRE(g.repetitions.size() == 3);
      CHECK(g.repetition_medians_ns() == w.repetition_medians_ns());
      for (size_t k = 0; k < 3; ++k) {
        CHECK(g.repetitions[k].samples_ns == w.repetitions[k].samples_ns);
        CHECK(g.repetitions[k].batch_size == w.repetitions[k].batch_size);
        REQUIRE(g.repetitions[k].counters.size() == w.repetitions[k].counters.size());
      }
      REQUIRE(g.counters.size() == w.counters.size());
      REQUIRE_FALSE(g.counters.empty());
      for (size_t c = 0; c < w.counters.size(); ++c) {
        CHECK(g.counters[c].event == w.counters[c].event);
        CHECK(g.counters[c].per_op == w.counters[c].per_op);
        CHECK(g.counters[c].running_fraction == w.counters[c].running_fraction);
        CHECK(g.counters[c].status == w.counters[c].status);
      }
      CHECK(g.energy_joules_per_op == w.energy_joules_per_op);
      // The verdicts as check_targets gave them: loose passes, strict fails.
      REQUIRE(loaded->target_checks[e].size() == 2);
      CHECK(loaded->target_checks[e][0].pass);
      CHECK_FALSE(loaded->target_checks[e][1].pass);
      CHECK(loaded->target_checks[e][1].text.find("FAIL") != std::string::npos);
    }
  }
  // The entry query: both runs, each entry with its three repetition medians.
  auto points = (*store)->entries({});
  REQUIRE(points.ok());
  REQUIRE(points->size() == 4);
  CHECK((*points)[0].run_id == ids[0]);
  CHECK((*points)[3].run_id == ids[1]);
  CHECK((*points)[0].repetition_medians_ns == runs[0].results[0].repetition_medians_ns());
  EntryQuery one_machine;
  one_machine.machine = "bench-box";
  CHECK((*store)->entries(one_machine)->size() == 2);
  EntryQuery by_id;
  by_id.run_id = ids[0];
  CHECK((*store)->list_runs(by_id)->size() == 1);
  CHECK((*store)->load_run(ids[1] + 100).status().code() == absl::StatusCode::kNotFound);
}

TEST_CASE_TEMPLATE("an older schema is migrated forward, a newer one is refused", Backend,
                   SqliteBackend, PostgresBackend) {
  Backend db("migrate");
  if (!db.ready()) return;
  {
    auto v1 = db.open(1);
    REQUIRE(v1.ok());
    CHECK(*(*v1)->schema_version() == 1);
    REQUIRE((*v1)->append(synthetic_run({{"old/entry", {10, 11, 12}}},
                                        fake_metadata("aaaa1111", false, "m"))).ok());
  }
  auto current = open_store(db.location());
  REQUIRE(current.ok());
  CHECK(*(*current)->schema_version() == kSchemaVersion);
  CHECK(kSchemaVersion == 2);
  auto old_run = (*current)->load_run(1);
  REQUIRE(old_run.ok());
  CHECK(old_run->suite.results[0].repetition_medians_ns() == std::vector<double>{10, 11, 12});
  REQUIRE(old_run->item_latency.size() == 1);
  CHECK_FALSE(old_run->item_latency[0].has_value());
  // What version 2 added is usable now.
  RunRecord with_latency = synthetic_run({{"generate/x", {5, 6}}}, fake_metadata("bbbb2222", false, "m"));
  with_latency.item_latency = {ItemLatency{1.0, 2.0, 3.0, std::nullopt}};
  auto id = (*current)->append(with_latency);
  REQUIRE(id.ok());
  auto back = (*current)->load_run(*id);
  REQUIRE(back.ok());
  REQUIRE(back->item_latency[0].has_value());
  CHECK(back->item_latency[0]->p99_ns == 3.0);
  CHECK_FALSE(back->item_latency[0]->max_ns.has_value());
  current->reset();

  // Every migration is recorded once, in order.
  CHECK(db.applied_versions() == "1,2");
  if constexpr (std::is_same_v<Backend, SqliteBackend>) {
    CHECK(db.query("PRAGMA journal_mode") == "wal");
  }
  db.query("INSERT INTO schema_version VALUES (99, 'x') RETURNING version");
  CHECK(db.applied_versions() == "1,2,99");
  auto newer = open_store(db.location());
  CHECK(newer.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(newer.status().message().find("schema version 99") != std::string::npos);
}

// FNV-1a, a checksum that is the same on every platform.
uint64_t fnv1a(std::string_view text) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : text) h = (h ^ c) * 1099511628211ull;
  return h;
}

TEST_CASE("released migrations are never edited") {
  // Databases in the field were built by these exact statements; a changed
  // one would leave them with a schema this code does not expect. A failure
  // here means: restore the migration and append a new one to kMigrations.
  REQUIRE(kSchemaVersion >= 2);
  CHECK(fnv1a(kMigrations[0]) == 0xd4fdb6c4e367e73bull);
  CHECK(fnv1a(kMigrations[1]) == 0xe0a10c31bdef5008ull);
}

TEST_CASE_TEMPLATE("concurrent writers in several processes all land", Backend, SqliteBackend,
                   PostgresBackend) {
  Backend db("concurrent");
  if (!db.ready()) return;
  constexpr int kProcesses = 4, kRunsEach = 15;
  std::vector<pid_t> children;
  for (int p = 0; p < kProcesses; ++p) {
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      // Each process opens the database itself (the first ones create and
      // migrate it at once).
      auto store = open_store(db.location());
      if (!store.ok()) _exit(10);
      for (int r = 0; r < kRunsEach; ++r) {
        const std::string machine = "writer-" + std::to_string(p);
        if (!(*store)->append(synthetic_run({{"c/a", {1, 2, 3}}, {"c/b", {4, 5}}},
                                            fake_metadata("cccc" + std::to_string(r), false, machine)))
                 .ok()) {
          _exit(11);
        }
      }
      _exit(0);
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
  auto store = open_store(db.location());
  REQUIRE(store.ok());
  auto runs = (*store)->list_runs({});
  REQUIRE(runs.ok());
  CHECK(runs->size() == kProcesses * kRunsEach);
  for (int p = 0; p < kProcesses; ++p) {
    EntryQuery q;
    q.machine = "writer-" + std::to_string(p);
    auto points = (*store)->entries(q);
    REQUIRE(points.ok());
    CHECK(points->size() == 2 * kRunsEach);  // no run lost or half written
  }
  CHECK(*(*store)->schema_version() == kSchemaVersion);
  CHECK(db.applied_versions() == "1,2");  // each migration applied once, though four raced
}

TEST_CASE("both backends create the same columns") {
  PostgresBackend postgres("columns");
  if (!postgres.ready()) return;
  SqliteBackend sqlite("columns");
  REQUIRE(sqlite.open(kSchemaVersion).ok());
  REQUIRE(postgres.open(kSchemaVersion).ok());
  for (const char* table : {"runs", "entries", "repetitions", "counters", "target_verdicts",
                            "item_latency", "schema_version"}) {
    INFO("table " << table);
    const ColumnList want = sqlite.columns(table);
    CHECK(want.size() >= 2);
    CHECK(postgres.columns(table) == want);
  }
}

TEST_CASE("PostgreSQL's spelling of the schema changes type words only") {
  const std::string ddl = postgres_ddl(
      "CREATE TABLE t (\n"
      "  id INTEGER PRIMARY KEY,\n"
      "  parent_id INTEGER PRIMARY KEY REFERENCES p (id),\n"
      "  real_count INTEGER NOT NULL,  -- REALLY an INTEGER\n"
      "  x REAL,\n"
      "  samples BLOB NOT NULL\n"
      ");\n");
  CHECK(ddl ==
        "CREATE TABLE t (\n"
        "  id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,\n"
        "  parent_id BIGINT PRIMARY KEY REFERENCES p (id),\n"
        "  real_count BIGINT NOT NULL,  -- REALLY an BIGINT\n"
        "  x DOUBLE PRECISION,\n"
        "  samples BYTEA NOT NULL\n"
        ");\n");
  for (std::string_view migration : kMigrations) {
    const std::string pg = postgres_ddl(migration);
    for (const char* sqlite_only : {" INTEGER", " REAL", " BLOB"}) {
      CHECK(pg.find(sqlite_only) == std::string::npos);
    }
  }
}

TEST_CASE("a PostgreSQL location never shows its password") {
  CHECK(redact_password("postgresql://bench:s3cret@db.example:5432/llmk") ==
        "postgresql://bench:***@db.example:5432/llmk");
  CHECK(redact_password("postgres://bench@db/llmk?sslmode=require&password=s3cret&x=1") ==
        "postgres://bench@db/llmk?sslmode=require&password=***&x=1");
  CHECK(redact_password("postgresql://db.example/llmk") == "postgresql://db.example/llmk");
  CHECK(redact_password("postgresql://a:b@c@host/db") == "postgresql://a:***@host/db");
  auto refused = open_store("postgresql://bench:s3cret@127.0.0.1:1/llmk");
  REQUIRE_FALSE(refused.ok());
  const std::string message(refused.status().message());
  CHECK(message.find("s3cret") == std::string::npos);
  CHECK(message.find("postgresql://bench:***@127.0.0.1:1/llmk") != std::string::npos);
  if (postgres_built()) {
    CHECK(refused.status().code() == absl::StatusCode::kUnavailable);
    CHECK(message.find("cannot connect") != std::string::npos);  // then libpq's reason
  } else {
    CHECK(refused.status().code() == absl::StatusCode::kUnimplemented);
    CHECK(message.find("-Dpostgresql=enabled") != std::string::npos);
  }
}

// Gaussian noise around `level` with relative spread `cv`.
std::vector<double> noise(std::mt19937_64& rng, size_t n, double level, double cv) {
  std::normal_distribution<double> d(level, level * cv);
  std::vector<double> out(n);
  for (double& v : out) v = d(rng);
  return out;
}

TEST_CASE("a step in a synthetic history is found within one commit") {
  std::mt19937_64 rng(20261202);
  int found_exactly = 0;
  constexpr int kSeries = 40;
  for (int s = 0; s < kSeries; ++s) {
    const size_t n = 40;
    std::uniform_int_distribution<size_t> where(8, n - 8);
    const size_t step = where(rng);
    std::vector<double> x = noise(rng, n, 100, 0.02);
    for (size_t i = step; i < n; ++i) x[i] *= 1.10;  // +10% on 2% noise
    const std::vector<ChangePoint> cps = detect_change_points(x);
    REQUIRE(!cps.empty());
    size_t nearest = cps[0].group;
    for (const ChangePoint& c : cps) {
      if (std::abs(static_cast<long>(c.group) - static_cast<long>(step)) <
          std::abs(static_cast<long>(nearest) - static_cast<long>(step))) {
        nearest = c.group;
      }
    }
    CHECK(std::abs(static_cast<long>(nearest) - static_cast<long>(step)) <= 1);
    CHECK(cps[0].p_value <= 0.01);
    found_exactly += nearest == step;
  }
  CHECK(found_exactly >= kSeries * 3 / 4);

  // Grouped: 8 commits of 5 repetition medians, a 15% slowdown at commit 5
  // that reverts at commit 7; both edges named.
  std::vector<std::vector<double>> commits;
  for (int c = 0; c < 8; ++c) {
    commits.push_back(noise(rng, 5, (c == 5 || c == 6) ? 115 : 100, 0.02));
  }
  const std::vector<ChangePoint> bump = detect_change_points(commits);
  REQUIRE(bump.size() == 2);
  CHECK(bump[0].group == 5);
  CHECK(bump[1].group == 7);
}

TEST_CASE("pure noise gives a change point in at most alpha of the histories") {
  // The permutation test is exact: on exchangeable data the first split's
  // p-value is ≤ alpha with probability ≤ alpha, and only a significant
  // first split can start a list. So at alpha = 0.01 over 200 series the
  // count is at most Binomial(200, 0.01), mean 2; P(count ≥ 7) < 0.5%, so
  // a bound of 6 fails a correct implementation in < 1 of 200 seedings
  // and catches a test that is anti-conservative by 3× or more.
  ChangePointOptions options;
  options.alpha = 0.01;
  std::mt19937_64 rng(7);
  int gaussian_false = 0, heavy_false = 0;
  constexpr int kSeries = 200;
  for (int s = 0; s < kSeries; ++s) {
    gaussian_false += !detect_change_points(noise(rng, 30, 100, 0.03), options).empty();
    // Heavy tails: 10% of points are outliers 20–50% slow, as a noisy VM gives.
    std::vector<double> x = noise(rng, 30, 100, 0.01);
    std::uniform_real_distribution<double> u(0, 1);
    for (double& v : x) {
      if (u(rng) < 0.1) v *= 1.2 + 0.3 * u(rng);
    }
    heavy_false += !detect_change_points(x, options).empty();
  }
  MESSAGE("false change points: gaussian ", gaussian_false, "/200, heavy-tailed ", heavy_false, "/200");
  CHECK(gaussian_false <= 6);
  CHECK(heavy_false <= 6);
}

TEST_CASE("change points need enough points on each side and ignore constant series") {
  CHECK(detect_change_points(std::vector<double>{}).empty());
  CHECK(detect_change_points(std::vector<double>{1, 2, 3}).empty());
  CHECK(detect_change_points(std::vector<double>(20, 5.0)).empty());
}

TEST_CASE("history groups runs by commit and marks the change point") {
  std::vector<EntryPoint> points;
  std::mt19937_64 rng(3);
  const std::vector<std::string> commits = {"c1c1c1", "c2c2c2", "c3c3c3",
                                            "c4c4c4", "c5c5c5", "c6c6c6"};
  const std::vector<std::string> names = {"ops/dot/384", "ops/axpy/384"};
  const std::string machine = "m";
  for (int c = 0; c < 6; ++c) {
    for (const std::string& name : names) {
      EntryPoint p;
      p.run_id = c + 1;
      p.git_commit = commits[c];
      p.machine = machine;
      p.name = name;
      const bool slowed = c == 3 && name == "ops/dot/384";
      p.repetition_medians_ns = noise(rng, 5, slowed ? 200 : 100, 0.02);
      points.push_back(p);
    }
  }
  auto history = build_history(points, "dot", {}, 0.05);
  REQUIRE(history.ok());
  REQUIRE(history->size() == 1);  // the filter keeps ops/dot only
  const EntryHistory& h = (*history)[0];
  REQUIRE(h.commits.size() == 6);
  REQUIRE(h.changes.size() == 2);
  CHECK(h.changes[0].change.group == 3);
  CHECK(h.changes[0].marked);
  CHECK(h.changes[0].shift == doctest::Approx(2.0).epsilon(0.05));
  CHECK(h.changes[1].change.group == 4);
  CHECK(h.changes[1].shift == doctest::Approx(0.5).epsilon(0.05));
  CHECK(build_history(points, "(", {}, 0.05).status().message().find("--filter") == 0);
}

TEST_CASE_TEMPLATE("compare pools runs and applies the baseline rule", Backend, SqliteBackend,
                   PostgresBackend) {
  Backend db("compare");
  if (!db.ready()) return;
  auto store = open_store(db.location());
  REQUIRE(store.ok());
  std::mt19937_64 rng(11);
  // Commit a: two runs of 5 repetitions; commit b: dot 20% slower, axpy the same.
  for (int run = 0; run < 2; ++run) {
    REQUIRE((*store)->append(synthetic_run({{"dot", noise(rng, 5, 100, 0.01)},
                                            {"axpy", noise(rng, 5, 50, 0.01)},
                                            {"gone", noise(rng, 5, 10, 0.01)}},
                                           fake_metadata("aaaabbbb", false, "m"))).ok());
  }
  REQUIRE((*store)->append(synthetic_run({{"dot", noise(rng, 10, 120, 0.01)},
                                          {"axpy", noise(rng, 10, 50, 0.01)}},
                                         fake_metadata("ccccdddd", false, "m"))).ok());
  auto a = parse_selection("aaaa", "");
  auto b = parse_selection("3", "");
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(a->commit_prefix == "aaaa");
  CHECK(*b->run_id == 3);
  CHECK_FALSE(parse_selection("xyz", "").ok());
  auto a_points = (*store)->entries(*a);
  auto b_points = (*store)->entries(*b);
  REQUIRE(a_points.ok());
  REQUIRE(b_points.ok());
  const Baseline base = pool_entries(*a_points);
  CHECK(base.at("dot").repetition_medians_ns.size() == 10);  // both runs pooled
  const std::vector<Comparison> cmp = compare_pooled(base, pool_entries(*b_points));
  REQUIRE(cmp.size() == 3);  // sorted by name
  CHECK(cmp[0].name == "axpy");
  CHECK(cmp[0].verdict == Verdict::kOk);
  CHECK(cmp[1].name == "dot");
  CHECK(cmp[1].verdict == Verdict::kRegression);
  CHECK(cmp[1].ratio == doctest::Approx(1.2).epsilon(0.03));
  CHECK(cmp[2].name == "gone");
  CHECK(cmp[2].verdict == Verdict::kMissing);
  CHECK(run_exit_code(cmp, 0) == kExitRegression);

  // 4 against 4 repetitions cannot reach p < 0.01: inconclusive, exit 2.
  Baseline four_a, four_b;
  four_a["x"].repetition_medians_ns = {100, 101, 99, 100};
  four_b["x"].repetition_medians_ns = {150, 151, 149, 150};
  const std::vector<Comparison> small = compare_pooled(four_a, four_b);
  CHECK(small[0].verdict == Verdict::kInconclusive);
  CHECK(run_exit_code(small, 0) == kExitInconclusive);
}

TEST_CASE_TEMPLATE("the subcommands read the database and return the verdict's exit code",
                   Backend, SqliteBackend, PostgresBackend) {
  Backend db("subcommands");
  if (!db.ready()) return;
  {
    auto store = open_store(db.location());
    REQUIRE(store.ok());
    std::mt19937_64 rng(5);
    REQUIRE((*store)->append(synthetic_run({{"dot", noise(rng, 5, 100, 0.01)}},
                                           fake_metadata("1111aaaa", false, "m"))).ok());
    REQUIRE((*store)->append(synthetic_run({{"dot", noise(rng, 5, 130, 0.01)}},
                                           fake_metadata("2222bbbb", true, "m"))).ok());
  }
  const std::string path = db.location();
  CHECK(compare_main({"1", "2", "--db", path}) == kExitRegression);
  CHECK(compare_main({"2", "2", "--db", path}) == kExitOk);
  CHECK(compare_main({"1", "77", "--db", path}) == kExitUsage);  // no such run
  CHECK(compare_main({"1", "--db", path}) == kExitUsage);        // B missing
  CHECK(history_main({"--db", path, "--filter", "dot"}) == kExitOk);
  CHECK(history_main({"--db", path, "--filter", "("}) == kExitUsage);
}

TEST_CASE("Bencher Metric Format: every entry that ran, counters as extra measures") {
  SuiteResult suite;
  BenchmarkResult r;
  r.name = "ops/dot/384";
  r.items_per_op = 384;
  r.bytes_per_op = 3072;
  for (double m : {100.0, 90.0, 120.0}) {
    RepetitionResult rep;
    rep.samples_ns = {m};
    rep.stats = compute_stats(rep.samples_ns);
    r.repetitions.push_back(rep);
    r.samples_ns.push_back(m);
  }
  r.stats = compute_stats(r.samples_ns);
  r.cpu_ns_per_op = 101;
  r.counters.push_back({"task-clock", 99.5, 1.0, "ok", 0});
  r.counters.push_back({"cycles", std::nullopt, 0.0, "unsupported (ENOENT)", -1});
  r.counter_metrics.ipc = 2.5;
  r.energy_joules_per_op = 1e-6;
  BenchmarkResult skipped;
  skipped.name = "generate/none";
  skipped.skipped = "no model";
  suite.results = {r, skipped};

  auto doc = parse_json(format_bmf(suite));
  REQUIRE(doc.ok());
  REQUIRE(doc->object.size() == 1);  // the skipped entry is left out
  const JsonValue* entry = doc->find("ops/dot/384");
  REQUIRE(entry != nullptr);
  auto value = [&](const char* measure, const char* field) -> std::optional<double> {
    const JsonValue* m = entry->find(measure);
    if (!m) return std::nullopt;
    const JsonValue* v = m->find(field);
    if (!v) return std::nullopt;
    return v->number;
  };
  CHECK(value("latency", "value") == 100.0);  // median of the repetition medians
  CHECK(value("latency", "lower_value") == 90.0);
  CHECK(value("latency", "upper_value") == 120.0);
  CHECK(*value("throughput", "value") == doctest::Approx(1e7));
  CHECK(*value("throughput", "lower_value") == doctest::Approx(1e9 / 120));
  CHECK(*value("items-per-second", "value") == doctest::Approx(384e7));
  CHECK(*value("bytes-per-second", "value") == doctest::Approx(3072e7));
  CHECK(value("cpu-time", "value") == 101.0);
  CHECK(value("energy-joules", "value") == 1e-6);
  CHECK(value("ipc", "value") == 2.5);
  CHECK(value("counter-task-clock", "value") == 99.5);
  CHECK_FALSE(value("counter-cycles", "value").has_value());  // did not run: absent, not 0
  CHECK_FALSE(value("cache-miss-rate", "value").has_value());
  CHECK(counter_measure_slug("L1-dcache-load-misses:u") == "counter-l1-dcache-load-misses-u");
  CHECK(counter_measure_slug(std::string(100, 'a')).size() == 64);
}

TEST_CASE("llmk-bench's history flags parse") {
  auto o = parse_cli({"--db", "--machine", "box", "--bmf", "out.json"});
  REQUIRE(o.ok());
  CHECK(o->db);
  CHECK(o->db_path.empty());
  CHECK(o->machine == "box");
  CHECK(o->bmf_path == "out.json");
  auto with_path = parse_cli({"--db=/tmp/x.sqlite"});
  REQUIRE(with_path.ok());
  CHECK(with_path->db_path == "/tmp/x.sqlite");
  CHECK_FALSE(parse_cli({}).value().db);
}

// Registers history/cli/64 once per process, whichever test asks first.
bool register_cli_entry() {
  static const bool registered = [] {
    register_benchmark(summing_spec("history/cli/64", 64));
    return true;
  }();
  return registered;
}

TEST_CASE_TEMPLATE("bench_main --db appends the run and --bmf writes its measures", Backend,
                   SqliteBackend, PostgresBackend) {
  REQUIRE(register_cli_entry());
  Backend db("cli");
  if (!db.ready()) return;
  TempDb bmf_file("cli-bmf");
  const std::string bmf = bmf_file.path.string() + ".bmf.json";
  std::vector<std::string> args = {"llmk-bench", "--quick", "--filter", "history/cli",
                                   "--db=" + db.location(), "--machine", "cli-box",
                                   "--bmf", bmf};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  CHECK(bench_main(static_cast<int>(argv.size()), argv.data()) == kExitOk);
  auto store = open_store(db.location());
  REQUIRE(store.ok());
  auto runs = (*store)->list_runs({});
  REQUIRE(runs.ok());
  REQUIRE(runs->size() == 1);
  CHECK((*runs)[0].metadata.machine == "cli-box");
  CHECK((*runs)[0].entries == 1);
  std::ifstream in(bmf);
  std::stringstream text;
  text << in.rdbuf();
  auto doc = parse_json(text.str());
  REQUIRE(doc.ok());
  CHECK(doc->find("history/cli/64") != nullptr);
  std::filesystem::remove(bmf);
  // A database that cannot be opened fails before the run, as a usage error.
  std::vector<std::string> bad = {"llmk-bench", "--quick", "--filter", "history/cli",
                                  "--db=" + Backend::bad_location()};
  std::vector<char*> bad_argv;
  for (std::string& a : bad) bad_argv.push_back(a.data());
  CHECK(bench_main(static_cast<int>(bad_argv.size()), bad_argv.data()) == kExitUsage);
}

TEST_CASE("the default location follows XDG_DATA_HOME, then HOME") {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("llmk-xdg-" + std::to_string(getpid()));
  setenv("XDG_DATA_HOME", dir.c_str(), 1);
  auto path = default_store_path();
  REQUIRE(path.ok());
  CHECK(*path == (dir / "llmk" / "bench.sqlite").string());
  CHECK(std::filesystem::is_directory(dir / "llmk"));
  unsetenv("XDG_DATA_HOME");
  const char* home = std::getenv("HOME");
  if (home != nullptr && home[0] == '/') {
    CHECK(*default_store_path() == std::string(home) + "/.local/share/llmk/bench.sqlite");
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("run metadata: cpuinfo, microarchitecture, git describe") {
  const CpuInfo cpu = parse_cpuinfo(
      "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 143\n"
      "model name\t: Intel(R) Xeon(R) Platinum 8488C\nstepping\t: 8\nflags\t\t: fpu avx512f\n\n"
      "processor\t: 1\nmodel name\t: other\n");
  CHECK(cpu.model_name == "Intel(R) Xeon(R) Platinum 8488C");
  CHECK(cpu.flags == "fpu avx512f");
  CHECK(microarch_name(cpu) == "Sapphire Rapids (family 6 model 143 stepping 8)");
  CpuInfo unknown = cpu;
  unknown.model = 1;
  CHECK(microarch_name(unknown) == "family 6 model 1 stepping 8");
  CHECK(microarch_name(CpuInfo{}) == "unknown");
  std::string commit;
  bool dirty = true;
  split_git_describe("0123abcd\n", &commit, &dirty);
  CHECK(commit == "0123abcd");
  CHECK_FALSE(dirty);
  split_git_describe("0123abcd-dirty", &commit, &dirty);
  CHECK(commit == "0123abcd");
  CHECK(dirty);
}

}  // namespace
}  // namespace llmk::bench::history
