#include "history/sqlite_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <string_view>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "history/schema.h"
#include "history/sql_store.h"
#include "util/check.h"

namespace llmk::bench::history {
namespace {

// One prepared statement; binds by 1-based position in the order of bind()
// calls, columns read by 0-based index.
class SqliteStatement {
 public:
  SqliteStatement(sqlite3* db, std::string_view sql) : db_(db) {
    rc_ = sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &stmt_, nullptr);
  }
  ~SqliteStatement() { sqlite3_finalize(stmt_); }
  SqliteStatement(const SqliteStatement&) = delete;
  SqliteStatement& operator=(const SqliteStatement&) = delete;

  absl::Status prepared() const {
    if (rc_ == SQLITE_OK) return absl::OkStatus();
    return absl::InternalError(absl::StrCat("sqlite: ", sqlite3_errmsg(db_)));
  }
  SqliteStatement& bind(int64_t v) { sqlite3_bind_int64(stmt_, ++next_, v); return *this; }
  SqliteStatement& bind(int v) { return bind(static_cast<int64_t>(v)); }
  SqliteStatement& bind(size_t v) { return bind(static_cast<int64_t>(v)); }
  SqliteStatement& bind(bool v) { return bind(static_cast<int64_t>(v ? 1 : 0)); }
  SqliteStatement& bind(double v) { sqlite3_bind_double(stmt_, ++next_, v); return *this; }
  SqliteStatement& bind(const std::string& v) {
    sqlite3_bind_text(stmt_, ++next_, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  SqliteStatement& bind(const char* v) { return bind(std::string(v)); }
  SqliteStatement& bind(const std::optional<double>& v) {
    if (v) return bind(*v);
    sqlite3_bind_null(stmt_, ++next_);
    return *this;
  }
  SqliteStatement& bind_blob(const std::string& bytes) {
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
    return blob ? decode_samples(blob, static_cast<size_t>(sqlite3_column_bytes(stmt_, col)))
                : std::vector<double>();
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  int rc_ = SQLITE_OK;
  int next_ = 0;
};

// The Connection of SqlResultStore (sql_store.h) over one SQLite file.
class SqliteConnection {
 public:
  using Statement = SqliteStatement;

  SqliteConnection(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  SqliteConnection(SqliteConnection&& other) noexcept
      : db_(std::exchange(other.db_, nullptr)), path_(std::move(other.path_)) {}
  SqliteConnection& operator=(SqliteConnection&&) = delete;
  ~SqliteConnection() { sqlite3_close(db_); }

  Statement statement(std::string_view sql) { return Statement(db_, sql); }

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

  // IMMEDIATE takes the file's write lock at once, so two writers queue on
  // the busy timeout instead of one failing when it upgrades a read lock.
  absl::Status begin_write() { return exec("BEGIN IMMEDIATE"); }
  // The IMMEDIATE transaction already excludes every other writer.
  absl::Status lock_for_migration() { return absl::OkStatus(); }
  absl::StatusOr<bool> has_table(const char* name) {
    Statement q(db_, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?");
    LLMK_RETURN_IF_ERROR(q.prepared());
    absl::StatusOr<bool> row = q.bind(name).step();
    if (!row.ok()) return row.status();
    return *row && q.integer(0) > 0;
  }
  std::string dialect(std::string_view ddl) const { return std::string(ddl); }
  const std::string& location() const { return path_; }

  absl::Status configure() {
    sqlite3_busy_timeout(db_, kBusyTimeoutMs);
    if (absl::Status st = enable_wal(); !st.ok()) return st;
    return exec("PRAGMA foreign_keys=ON");
  }

 private:
  // Switching a new file to WAL needs its exclusive lock, and SQLite answers
  // "database is locked" at once, without the busy handler, while another
  // process holds a lock (processes opening a new database together hit it
  // about once in 250 opens). Retried here, within the same timeout.
  absl::Status enable_wal() {
    using std::chrono::milliseconds;
    const auto deadline = std::chrono::steady_clock::now() + milliseconds(kBusyTimeoutMs);
    for (milliseconds pause(1);; pause = std::min(2 * pause, milliseconds(50))) {
      absl::Status st = exec("PRAGMA journal_mode=WAL");
      if (st.ok() || (sqlite3_errcode(db_) & 0xFF) != SQLITE_BUSY ||
          std::chrono::steady_clock::now() + pause > deadline) {
        return st;
      }
      std::this_thread::sleep_for(pause);
    }
  }

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
  SqliteConnection connection(db, path);
  if (absl::Status st = connection.configure(); !st.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--db ", path, ": ", st.message()));
  }
  auto store = std::make_unique<SqlResultStore<SqliteConnection>>(std::move(connection));
  if (absl::Status st = store->migrate(schema_version); !st.ok()) return st;
  return std::unique_ptr<ResultStore>(std::move(store));
}

}  // namespace llmk::bench::history
