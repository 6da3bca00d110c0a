// The PostgreSQL backend of ResultStore (store.h), through libpq: the same
// tables as the SQLite file (schema.h, spelled by postgres_ddl), so many
// machines can append to one server. Each append is one transaction;
// migrations run under an advisory lock, so processes that open a new
// database at once apply each migration once.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "history/store.h"

namespace llmk::bench::history {

// Whether this build has the backend (meson option `postgresql`); without
// it open_postgres_store answers Unimplemented with how to build it.
bool postgres_built();

// Connects to `url` ("postgresql://user@host:port/db?param=value", libpq's
// URI syntax) and migrates its schema to `schema_version` (tests pass an
// older version; everything else kSchemaVersion). The tables live in the
// connection's current schema (the first of search_path, which a URL can
// set with `?options=-csearch_path%3DNAME`). A failed connection is an
// Unavailable error with libpq's message; a schema newer than this program
// is FailedPrecondition.
absl::StatusOr<std::unique_ptr<ResultStore>> open_postgres_store(const std::string& url,
                                                                 int schema_version);

// `url` with its password (user:PASSWORD@ or ?password=...) replaced by
// "***", for every message that repeats a location.
std::string redact_password(std::string_view url);

}  // namespace llmk::bench::history
