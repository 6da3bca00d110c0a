// `llmk-bench report`: the results history as one self-contained HTML page.
// Style sheet and charts are inline (SVG written by svg.h, no script, no
// chart library), so the page opens from a file or a CI artifact with no
// network and the build fetches nothing. format_html_report is a pure
// function of the loaded data; report_main (commands.h) loads it.
//
// The page, top to bottom: the selection; per entry and machine, the trend
// of its repetition medians over commits with the change points marked;
// per-ISA speedup bars against the scalar reference of the same run; the
// perf counters beside the median; the generation panel (tokens/s, time to
// first token, p99 token latency, ratio against llama.cpp in the same run);
// the runs' metadata.
#pragma once

#include <string>
#include <vector>

#include "history/commands.h"
#include "history/store.h"

namespace llmk::bench::history {

struct ReportData {
  std::string source;        // the database as named, shown in the header
  std::string generated_at;  // ISO 8601 UTC
  std::string filter, machine;  // the selection, shown in the header ("": all)
  // build_history's output: one trend chart each. Its (name, machine) pairs
  // are also what the other panels select.
  std::vector<EntryHistory> history;
  // The runs holding a selected entry, ids ascending: the metadata table.
  std::vector<RunInfo> runs;
  // Recent runs in full, counter_metrics derived. The speedup, counter and
  // generation panels take each selected entry from the newest of these
  // (highest id) on its machine that ran it, and its partners (scalar
  // companion, other targets, the llama.cpp peer) from that same run.
  std::vector<RunRecord> recent_runs;
};

// The whole page, <!DOCTYPE html> to </html>. Every text that comes from
// the database (names, hostnames, commits, CPU model) is escaped.
std::string format_html_report(const ReportData& data);

// Runs the metadata table lists at most, newest first; older ones are
// counted in a line under it.
inline constexpr size_t kReportMaxRunRows = 50;

}  // namespace llmk::bench::history
