// The SQLite backend of ResultStore (store.h): one file, WAL journal so
// readers never block the writer, a busy timeout so concurrent appends wait
// for each other instead of failing, each append one IMMEDIATE transaction.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "history/store.h"

namespace llmk::bench::history {

inline constexpr int kBusyTimeoutMs = 30'000;

// Opens (creating when missing) and migrates the file to `schema_version`
// (tests pass an older version to build an old database; everything else
// uses kSchemaVersion). A file whose schema is newer than kSchemaVersion is
// a FailedPrecondition error.
absl::StatusOr<std::unique_ptr<ResultStore>> open_sqlite_store(const std::string& path,
                                                               int schema_version);

}  // namespace llmk::bench::history
