// `llmk-bench history`, `compare` and `report`: the history read back,
// grouped by commit, with change points; two commits or runs compared with
// the baseline rule (harness/baseline.h). The grouping and comparison are
// pure functions of EntryPoints, so tests need no database.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "harness/baseline.h"
#include "history/changepoint.h"
#include "history/store.h"

namespace llmk::bench::history {

// One commit's runs of one entry on one machine.
struct CommitPoint {
  std::string commit;   // the hash, "-dirty" appended for a tree with changes
  std::string date;     // started_at of its first run
  std::vector<int64_t> run_ids;
  std::vector<double> repetition_medians_ns;  // of every run of this commit
  double median_ns = 0;                       // median of those
};

struct MarkedChange {
  ChangePoint change;
  double shift = 0;     // median after / median before the change, over the segments
  bool marked = false;  // |shift − 1| ≥ the minimum shift
};

struct EntryHistory {
  std::string name, machine;
  std::vector<CommitPoint> commits;  // in the order they were first run
  std::vector<MarkedChange> changes;
};

// Groups points by (name, machine), then by commit, and finds change points
// over each entry's commits. `filter`: ECMAScript regex searched in the
// name ("" selects all); an invalid one is an InvalidArgument naming --filter.
absl::StatusOr<std::vector<EntryHistory>> build_history(
    const std::vector<EntryPoint>& points, const std::string& filter,
    const ChangePointOptions& options, double min_shift);
void print_history(const std::vector<EntryHistory>& history, std::FILE* out);

// Pools each entry's runs (repetition medians concatenated, means weighted
// by samples) into the summary the baseline rule compares.
Baseline pool_entries(const std::vector<EntryPoint>& points);
// Per entry: compare_runs for names in both, kMissing for names only in
// `baseline`, kNotInBaseline for names only in `current`.
std::vector<Comparison> compare_pooled(const Baseline& baseline, const Baseline& current,
                                       const RegressionRule& rule = {});

// "A" of `compare A B`: all digits and shorter than 7 characters is a run
// id, anything else a commit prefix (at least 4 hex digits).
absl::StatusOr<EntryQuery> parse_selection(const std::string& text, const std::string& machine);

// The subcommands; args follow the subcommand's name. Exit codes as
// llmk-bench's (baseline.h): compare returns run_exit_code's.
int history_main(const std::vector<std::string>& args);
int compare_main(const std::vector<std::string>& args);
// `llmk-bench report -o FILE`: the history as one HTML page (html_report.h).
int report_main(const std::vector<std::string>& args);

}  // namespace llmk::bench::history
