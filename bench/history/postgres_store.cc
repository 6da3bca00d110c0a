#include "history/postgres_store.h"

#include <libpq-fe.h>

#include <bit>
#include <cassert>
#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "history/schema.h"
#include "history/sql_store.h"

namespace llmk::bench::history {
namespace {

// Type OIDs of pg_type (fixed since PostgreSQL 7), for binary values.
constexpr Oid kByteaOid = 17, kInt8Oid = 20, kInt2Oid = 21, kInt4Oid = 23, kTextOid = 25,
              kFloat4Oid = 700, kFloat8Oid = 701;

// Every migrator of any llmk database on a server takes this advisory lock
// ("llmk" in ASCII); migrations are rare and short, so one key is enough.
constexpr int64_t kMigrationLockKey = 0x6c6c6d6b;

std::string libpq_message(const char* message) {
  return std::string(absl::StripTrailingAsciiWhitespace(message ? message : "no message"));
}

uint64_t read_big_endian(const char* bytes, int size) {
  uint64_t v = 0;
  for (int i = 0; i < size; ++i) v = (v << 8) | static_cast<unsigned char>(bytes[i]);
  return v;
}

// The statement with `?` placeholders numbered as PostgreSQL's $1, $2, ...
// (a `?` inside a quoted literal is left alone).
std::string numbered_placeholders(std::string_view sql) {
  std::string out;
  int next = 0;
  bool quoted = false;
  for (char c : sql) {
    if (c == '\'') quoted = !quoted;
    if (c == '?' && !quoted) {
      absl::StrAppend(&out, "$", ++next);
    } else {
      out += c;
    }
  }
  return out;
}

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using Result = std::unique_ptr<PGresult, ResultDeleter>;

// One statement run with PQexecParams: values travel apart from the SQL.
// Integers and text go as text (the server infers their type from the
// column or function they meet), doubles and samples in binary so they
// arrive bit for bit; every result comes back in binary for the same reason.
class PostgresStatement {
 public:
  PostgresStatement(PGconn* conn, std::string location, std::string_view sql)
      : conn_(conn), location_(std::move(location)), sql_(numbered_placeholders(sql)) {}
  PostgresStatement(const PostgresStatement&) = delete;
  PostgresStatement& operator=(const PostgresStatement&) = delete;

  absl::Status prepared() const { return absl::OkStatus(); }  // the server parses at step()

  PostgresStatement& bind(int64_t v) { return add(absl::StrCat(v), 0, /*binary=*/false); }
  PostgresStatement& bind(int v) { return bind(static_cast<int64_t>(v)); }
  PostgresStatement& bind(size_t v) { return bind(static_cast<int64_t>(v)); }
  PostgresStatement& bind(bool v) { return bind(static_cast<int64_t>(v ? 1 : 0)); }
  PostgresStatement& bind(double v) {
    const uint64_t bits = std::bit_cast<uint64_t>(v);
    std::string bytes(8, '\0');
    for (int b = 0; b < 8; ++b) bytes[b] = static_cast<char>((bits >> (8 * (7 - b))) & 0xFF);
    return add(std::move(bytes), kFloat8Oid, /*binary=*/true);
  }
  PostgresStatement& bind(const std::string& v) { return add(v, kTextOid, /*binary=*/false); }
  PostgresStatement& bind(const char* v) { return bind(std::string(v)); }
  PostgresStatement& bind(const std::optional<double>& v) {
    if (v) return bind(*v);
    params_.push_back({std::nullopt, kFloat8Oid, true});
    return *this;
  }
  PostgresStatement& bind_blob(const std::string& bytes) {
    return add(bytes, kByteaOid, /*binary=*/true);
  }

  // The first call runs the statement; each call moves to the next row
  // (true) until there is none (false).
  absl::StatusOr<bool> step() {
    if (!result_) {
      std::vector<Oid> types;
      std::vector<const char*> values;
      std::vector<int> lengths, formats;
      for (const Param& p : params_) {
        types.push_back(p.type);
        values.push_back(p.value ? p.value->c_str() : nullptr);
        lengths.push_back(p.value ? static_cast<int>(p.value->size()) : 0);
        formats.push_back(p.binary ? 1 : 0);
      }
      result_.reset(PQexecParams(conn_, sql_.c_str(), static_cast<int>(params_.size()),
                                 types.data(), values.data(), lengths.data(), formats.data(),
                                 /*resultFormat=*/1));
      const ExecStatusType status = PQresultStatus(result_.get());
      if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
        const std::string why = result_ ? libpq_message(PQresultErrorMessage(result_.get()))
                                        : libpq_message(PQerrorMessage(conn_));
        result_.reset();
        return absl::InternalError(absl::StrCat(location_, ": ", why));
      }
      row_ = 0;
    } else {
      ++row_;
    }
    return row_ < PQntuples(result_.get());
  }
  absl::Status run() {
    absl::StatusOr<bool> row = step();
    return row.ok() ? absl::OkStatus() : row.status();
  }
  void reset() {
    result_.reset();
    params_.clear();
    row_ = 0;
  }

  int64_t integer(int col) const {
    if (null(col)) return 0;
    const char* v = PQgetvalue(result_.get(), row_, col);
    switch (PQftype(result_.get(), col)) {
      case kInt8Oid: return static_cast<int64_t>(read_big_endian(v, 8));
      case kInt4Oid: return static_cast<int32_t>(read_big_endian(v, 4));
      case kInt2Oid: return static_cast<int16_t>(read_big_endian(v, 2));
      default: assert(false && "integer() of a column that is not an integer"); return 0;
    }
  }
  double real(int col) const {
    if (null(col)) return 0;
    const char* v = PQgetvalue(result_.get(), row_, col);
    switch (PQftype(result_.get(), col)) {
      case kFloat8Oid: return std::bit_cast<double>(read_big_endian(v, 8));
      case kFloat4Oid:
        return std::bit_cast<float>(static_cast<uint32_t>(read_big_endian(v, 4)));
      default: return static_cast<double>(integer(col));
    }
  }
  std::optional<double> optional_real(int col) const {
    if (null(col)) return std::nullopt;
    return real(col);
  }
  std::string text(int col) const {
    return std::string(PQgetvalue(result_.get(), row_, col),
                       static_cast<size_t>(PQgetlength(result_.get(), row_, col)));
  }
  std::vector<double> samples(int col) const {
    return decode_samples(PQgetvalue(result_.get(), row_, col),
                          static_cast<size_t>(PQgetlength(result_.get(), row_, col)));
  }

 private:
  struct Param {
    std::optional<std::string> value;  // nullopt: NULL
    Oid type;                          // 0: the server infers it
    bool binary;
  };
  PostgresStatement& add(std::string value, Oid type, bool binary) {
    params_.push_back({std::move(value), type, binary});
    return *this;
  }
  bool null(int col) const { return PQgetisnull(result_.get(), row_, col) != 0; }

  PGconn* conn_;
  std::string location_;
  std::string sql_;
  std::vector<Param> params_;
  Result result_;
  int row_ = 0;
};

// The Connection of SqlResultStore (sql_store.h) over one libpq connection.
class PostgresConnection {
 public:
  using Statement = PostgresStatement;

  PostgresConnection(PGconn* conn, std::string location)
      : conn_(conn), location_(std::move(location)) {}
  PostgresConnection(PostgresConnection&& other) noexcept
      : conn_(std::exchange(other.conn_, nullptr)), location_(std::move(other.location_)) {}
  PostgresConnection& operator=(PostgresConnection&&) = delete;
  ~PostgresConnection() { PQfinish(conn_); }

  Statement statement(std::string_view sql) { return Statement(conn_, location_, sql); }

  // Without values only (migrations, transaction control): PQexec runs
  // several statements in one call, which a migration needs.
  absl::Status exec(std::string_view sql) {
    const std::string text(sql);
    Result result(PQexec(conn_, text.c_str()));
    const ExecStatusType status = PQresultStatus(result.get());
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      return absl::InternalError(absl::StrCat(
          location_, ": ", libpq_message(result ? PQresultErrorMessage(result.get())
                                                : PQerrorMessage(conn_))));
    }
    return absl::OkStatus();
  }

  // READ COMMITTED is enough for an append: it only inserts, its ids come
  // from identity sequences, and no other writer touches its rows.
  absl::Status begin_write() { return exec("BEGIN"); }
  // Held to the end of the transaction; a second migrator waits here, then
  // sees the first one's committed tables and version rows.
  absl::Status lock_for_migration() {
    return statement("SELECT pg_advisory_xact_lock(?)").bind(kMigrationLockKey).run();
  }
  // Resolved as an unqualified name in a statement is, through search_path.
  absl::StatusOr<bool> has_table(const char* name) {
    Statement q = statement("SELECT CASE WHEN to_regclass(?) IS NULL THEN 0 ELSE 1 END");
    absl::StatusOr<bool> row = q.bind(name).step();
    if (!row.ok()) return row.status();
    return *row && q.integer(0) == 1;
  }
  std::string dialect(std::string_view ddl) const { return postgres_ddl(ddl); }
  const std::string& location() const { return location_; }

 private:
  PGconn* conn_;
  std::string location_;
};

// libpq prints NOTICEs (CREATE TABLE IF NOT EXISTS on an existing table) to
// stderr by default; the library stays quiet.
void ignore_notice(void*, const char*) {}

}  // namespace

bool postgres_built() { return true; }

absl::StatusOr<std::unique_ptr<ResultStore>> open_postgres_store(const std::string& url,
                                                                 int schema_version) {
  if (schema_version < 1 || schema_version > kSchemaVersion) {
    return absl::InvalidArgumentError(
        absl::StrCat("schema version ", schema_version, " is not 1..", kSchemaVersion));
  }
  const std::string location = redact_password(url);
  // The URL's own settings override the first two; client_encoding comes
  // after it because every string we send is UTF-8.
  const char* keys[] = {"connect_timeout", "fallback_application_name", "dbname",
                        "client_encoding", nullptr};
  const char* values[] = {"10", "llmk-bench", url.c_str(), "UTF8", nullptr};
  PGconn* conn = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
  if (conn == nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat("--db ", location, ": libpq out of memory"));
  }
  if (PQstatus(conn) != CONNECTION_OK) {
    const std::string why = libpq_message(PQerrorMessage(conn));
    PQfinish(conn);
    return absl::UnavailableError(absl::StrCat("--db ", location, ": cannot connect: ", why));
  }
  PQsetNoticeProcessor(conn, ignore_notice, nullptr);
  auto store = std::make_unique<SqlResultStore<PostgresConnection>>(
      PostgresConnection(conn, location));
  if (absl::Status st = store->migrate(schema_version); !st.ok()) return st;
  return std::unique_ptr<ResultStore>(std::move(store));
}

}  // namespace llmk::bench::history
