// open_postgres_store for a build without libpq (the `postgresql` option
// found none): --db postgresql://... ends with this error instead of the
// whole bench being unavailable.
#include "absl/strings/str_cat.h"
#include "history/postgres_store.h"

namespace llmk::bench::history {

bool postgres_built() { return false; }

absl::StatusOr<std::unique_ptr<ResultStore>> open_postgres_store(const std::string& url, int) {
  return absl::UnimplementedError(absl::StrCat(
      "--db ", redact_password(url), ": this llmk-bench was built without PostgreSQL (install "
      "libpq-dev, then `meson configure BUILD -Dpostgresql=enabled` and rebuild)"));
}

}  // namespace llmk::bench::history
