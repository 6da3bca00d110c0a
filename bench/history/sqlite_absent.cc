// open_sqlite_store for a build without SQLite's development files (the
// `sqlite` option found none): --db ends with this error instead of the
// whole bench being unavailable.
#include "history/sqlite_store.h"

#include "absl/strings/str_cat.h"

namespace llmk::bench::history {

absl::StatusOr<std::unique_ptr<ResultStore>> open_sqlite_store(const std::string& path, int) {
  return absl::FailedPreconditionError(absl::StrCat(
      "--db ", path, ": this llmk-bench was built without SQLite (install libsqlite3-dev and "
      "reconfigure)"));
}

}  // namespace llmk::bench::history
