#include "history/commands.h"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <map>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "cli/args.h"
#include "harness/perf_counters.h"
#include "harness/stats.h"
#include "harness/std_regex.h"
#include "history/html_report.h"
#include "report/report.h"

namespace llmk::bench::history {
namespace {

std::string commit_key(const EntryPoint& p) {
  return p.git_dirty ? absl::StrCat(p.git_commit, "-dirty") : p.git_commit;
}

absl::StatusOr<std::string> resolve_db(const std::string& given) {
  if (!given.empty()) return given;
  return default_store_path();
}

// Full runs the report loads per machine, newest first, to find each
// selected entry's latest result: a bound on the raw samples read when some
// entry ran long ago.
constexpr size_t kReportMaxRunsLoaded = 20;

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

// The runs behind `history` (the metadata table) and, per machine, the
// newest of them in full until every selected entry of that machine has a
// result (the panels).
absl::Status load_report_runs(ResultStore& store, const std::string& machine, ReportData& data) {
  std::set<int64_t> selected_runs;
  std::map<std::string, std::set<std::string>> missing;  // machine → entries without a result
  for (const EntryHistory& h : data.history) {
    missing[h.machine].insert(h.name);
    for (const CommitPoint& c : h.commits) selected_runs.insert(c.run_ids.begin(), c.run_ids.end());
  }
  EntryQuery query;
  query.machine = machine;
  absl::StatusOr<std::vector<RunInfo>> runs = store.list_runs(query);
  if (!runs.ok()) return runs.status();
  std::map<std::string, size_t> loaded;  // per machine
  for (auto it = runs->rbegin(); it != runs->rend(); ++it) {
    if (!selected_runs.count(it->id)) continue;
    std::set<std::string>& wanted = missing[it->metadata.machine];
    if (wanted.empty() || loaded[it->metadata.machine] >= kReportMaxRunsLoaded) continue;
    absl::StatusOr<RunRecord> run = store.load_run(it->id);
    if (!run.ok()) return run.status();
    ++loaded[it->metadata.machine];
    for (BenchmarkResult& r : run->suite.results) {
      wanted.erase(r.name);
      // Stored are the counters; the ratios are derived again (the SIMD
      // share needs the PMU's event table, so it stays n/a).
      if (!r.counters.empty()) r.counter_metrics = derive_counter_metrics(r.counters, r.items_per_op, {});
    }
    data.recent_runs.push_back(*std::move(run));
  }
  for (const RunInfo& r : *runs) {
    if (selected_runs.count(r.id)) data.runs.push_back(r);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<EntryHistory>> build_history(const std::vector<EntryPoint>& points,
                                                        const std::string& filter,
                                                        const ChangePointOptions& options,
                                                        double min_shift) {
  std::regex selected;
  if (!filter.empty()) {
    try {
      selected = std::regex(filter, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      return absl::InvalidArgumentError(absl::StrCat("--filter ", filter, ": ", e.what()));
    }
  }
  std::vector<EntryHistory> out;
  std::map<std::pair<std::string, std::string>, size_t> index;  // (name, machine) → out
  for (const EntryPoint& p : points) {
    if (!filter.empty() && !std::regex_search(p.name, selected)) continue;
    auto [it, added] = index.try_emplace({p.name, p.machine}, out.size());
    if (added) out.push_back(EntryHistory{p.name, p.machine, {}, {}});
    EntryHistory& h = out[it->second];
    const std::string key = commit_key(p);
    auto c = std::find_if(h.commits.begin(), h.commits.end(),
                          [&key](const CommitPoint& cp) { return cp.commit == key; });
    if (c == h.commits.end()) {
      h.commits.push_back(CommitPoint{key, p.started_at, {}, {}, 0});
      c = h.commits.end() - 1;
    }
    c->run_ids.push_back(p.run_id);
    c->repetition_medians_ns.insert(c->repetition_medians_ns.end(),
                                    p.repetition_medians_ns.begin(), p.repetition_medians_ns.end());
  }
  for (EntryHistory& h : out) {
    std::vector<std::vector<double>> groups;
    for (CommitPoint& c : h.commits) {
      c.median_ns = median_of(c.repetition_medians_ns);
      groups.push_back(c.repetition_medians_ns);
    }
    const std::vector<ChangePoint> changes = detect_change_points(groups, options);
    for (size_t i = 0; i < changes.size(); ++i) {
      const size_t from = i == 0 ? 0 : changes[i - 1].group;
      const size_t to = i + 1 < changes.size() ? changes[i + 1].group : groups.size();
      std::vector<double> before, after;
      for (size_t g = from; g < to; ++g) {
        std::vector<double>& side = g < changes[i].group ? before : after;
        side.insert(side.end(), groups[g].begin(), groups[g].end());
      }
      MarkedChange m;
      m.change = changes[i];
      const double before_ns = median_of(before);
      m.shift = before_ns > 0 ? median_of(after) / before_ns : 0.0;
      m.marked = std::fabs(m.shift - 1.0) >= min_shift;
      h.changes.push_back(m);
    }
  }
  return out;
}

void print_history(const std::vector<EntryHistory>& history, std::FILE* out) {
  for (const EntryHistory& h : history) {
    std::fprintf(out, "%s  (machine %s)\n", h.name.c_str(), h.machine.c_str());
    std::fprintf(out, "  %-14s %-20s %5s %10s %8s  %s\n", "commit", "date", "runs", "median",
                 "vs prev", "change point");
    for (size_t i = 0; i < h.commits.size(); ++i) {
      const CommitPoint& c = h.commits[i];
      const std::string ratio =
          i > 0 && h.commits[i - 1].median_ns > 0
              ? absl::StrFormat("%.3fx", c.median_ns / h.commits[i - 1].median_ns)
              : "-";
      std::string mark;
      for (const MarkedChange& m : h.changes) {
        if (m.change.group != i) continue;
        mark = absl::StrFormat("%s %+.1f%% (p=%.3g)", m.marked ? "<< shift" : "~ below --min-shift:",
                               100 * (m.shift - 1), m.change.p_value);
      }
      // 12 hex digits, '+' for a tree with uncommitted changes.
      const bool dirty = c.commit.ends_with("-dirty");
      const std::string commit =
          c.commit.substr(0, std::min<size_t>(12, c.commit.size() - (dirty ? 6 : 0))) +
          (dirty ? "+" : "");
      std::string line = absl::StrFormat("  %-14s %-20s %5zu %10s %8s  %s", commit, c.date,
                                         c.run_ids.size(), format_ns(c.median_ns), ratio, mark);
      line.erase(line.find_last_not_of(' ') + 1);
      std::fprintf(out, "%s\n", line.c_str());
    }
    std::fprintf(out, "\n");
  }
}

Baseline pool_entries(const std::vector<EntryPoint>& points) {
  Baseline pooled;
  std::map<std::string, double> sums;  // of every sample, for the weighted mean
  for (const EntryPoint& p : points) {
    RunSummary& s = pooled[p.name];
    s.repetition_medians_ns.insert(s.repetition_medians_ns.end(), p.repetition_medians_ns.begin(),
                                   p.repetition_medians_ns.end());
    s.samples += p.samples;
    sums[p.name] += p.mean_ns * static_cast<double>(p.samples);
  }
  for (auto& [name, s] : pooled) {
    s.mean_ns = s.samples > 0 ? sums[name] / static_cast<double>(s.samples) : 0.0;
  }
  return pooled;
}

std::vector<Comparison> compare_pooled(const Baseline& baseline, const Baseline& current,
                                       const RegressionRule& rule) {
  std::vector<Comparison> out;
  for (const auto& [name, now] : current) {
    const auto it = baseline.find(name);
    if (it != baseline.end()) {
      out.push_back(compare_runs(name, it->second, now, rule));
      continue;
    }
    Comparison c;
    c.name = name;
    c.current_median_ns = median_of(now.repetition_medians_ns);
    c.current_repetitions = now.repetition_medians_ns.size();
    c.verdict = Verdict::kNotInBaseline;
    out.push_back(c);
  }
  for (const auto& [name, base] : baseline) {
    if (current.count(name)) continue;
    Comparison c;
    c.name = name;
    c.baseline_median_ns = median_of(base.repetition_medians_ns);
    c.baseline_repetitions = base.repetition_medians_ns.size();
    c.verdict = Verdict::kMissing;
    c.reason = "not in the second selection";
    out.push_back(c);
  }
  std::sort(out.begin(), out.end(),
            [](const Comparison& a, const Comparison& b) { return a.name < b.name; });
  return out;
}

absl::StatusOr<EntryQuery> parse_selection(const std::string& text, const std::string& machine) {
  EntryQuery q;
  q.machine = machine;
  const bool digits = !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return absl::ascii_isdigit(static_cast<unsigned char>(c));
  });
  if (digits && text.size() < 7) {
    q.run_id = std::stoll(text);
    return q;
  }
  const bool hex = std::all_of(text.begin(), text.end(), [](char c) {
    return absl::ascii_isxdigit(static_cast<unsigned char>(c));
  });
  if (text.size() < 4 || !hex) {
    return absl::InvalidArgumentError(absl::StrCat(
        "'", text, "': neither a run id (digits) nor a commit (at least 4 hex digits)"));
  }
  q.commit_prefix = absl::AsciiStrToLower(text);
  return q;
}

int history_main(const std::vector<std::string>& args) {
  std::string db, filter, machine;
  double min_shift = 0.05;
  ChangePointOptions options;
  llmk::cli::ArgParser p("llmk-bench history", "[options]",
                         "Each entry's results over commits, oldest first, with change points\n"
                         "(E-divisive means, permutation test; docs/history.md).");
  p.text("--db", "PATH", &db, "the database (default $XDG_DATA_HOME/llmk/bench.sqlite,\n"
                              "else ~/.local/share/llmk/bench.sqlite)")
      .text("--filter", "REGEX", &filter, "entries whose name matches (ECMAScript regex)")
      .text("--machine", "NAME", &machine, "runs of this machine only (default: all, listed apart)")
      .real("--alpha", "P", &options.alpha, 1e-6, 0.5,
            "significance level of each change point (default 0.01)")
      .real("--min-shift", "F", &min_shift, 0, 10,
            "mark change points that move the median by at least this\n"
            "fraction (default 0.05: code placement alone moves a kernel\n"
            "by up to ~4% on the reference VM)");
  if (absl::Status st = p.parse(args); !st.ok()) {
    std::fprintf(stderr, "llmk-bench history: %s\n%s", std::string(st.message()).c_str(),
                 p.usage().c_str());
    return kExitUsage;
  }
  if (p.help_requested()) {
    std::printf("%s", p.usage().c_str());
    return kExitOk;
  }
  absl::StatusOr<std::string> path = resolve_db(db);
  if (!path.ok()) {
    std::fprintf(stderr, "llmk-bench history: %s\n", std::string(path.status().message()).c_str());
    return kExitUsage;
  }
  absl::StatusOr<std::unique_ptr<ResultStore>> store = open_store(*path);
  if (!store.ok()) {
    std::fprintf(stderr, "llmk-bench history: %s\n", std::string(store.status().message()).c_str());
    return kExitUsage;
  }
  EntryQuery query;
  query.machine = machine;
  absl::StatusOr<std::vector<EntryPoint>> points = (*store)->entries(query);
  if (!points.ok()) {
    std::fprintf(stderr, "llmk-bench history: %s\n", std::string(points.status().message()).c_str());
    return llmk::cli::kExitFailure;
  }
  absl::StatusOr<std::vector<EntryHistory>> history =
      build_history(*points, filter, options, min_shift);
  if (!history.ok()) {
    std::fprintf(stderr, "llmk-bench history: %s\n", std::string(history.status().message()).c_str());
    return kExitUsage;
  }
  if (history->empty()) std::printf("no runs in %s match\n", path->c_str());
  print_history(*history, stdout);
  return kExitOk;
}

int compare_main(const std::vector<std::string>& args) {
  std::string db, machine, a, b;
  llmk::cli::ArgParser p("llmk-bench compare", "A B [options]",
                         "Per-entry ratios of B against A, where each is a run id or a commit\n"
                         "(all its runs pooled), with the baseline rule: median ratio > 1.10 AND\n"
                         "one-sided Mann-Whitney U p < 0.01 on repetition medians.");
  p.text("--db", "PATH", &db, "the database (default as for history)")
      .text("--machine", "NAME", &machine, "runs of this machine only")
      .positional("A", &a, "the baseline: run id or commit")
      .positional("B", &b, "the run or commit compared with it");
  p.epilog("exit codes as llmk-bench's: 0 ok, 1 regression, 2 inconclusive, 3 usage,\n"
           "  5 an entry of A missing in B.\n");
  if (absl::Status st = p.parse(args); !st.ok()) {
    std::fprintf(stderr, "llmk-bench compare: %s\n%s", std::string(st.message()).c_str(),
                 p.usage().c_str());
    return kExitUsage;
  }
  if (p.help_requested()) {
    std::printf("%s", p.usage().c_str());
    return kExitOk;
  }
  auto fail = [](const absl::Status& st) {
    std::fprintf(stderr, "llmk-bench compare: %s\n", std::string(st.message()).c_str());
    return kExitUsage;
  };
  absl::StatusOr<std::string> path = resolve_db(db);
  if (!path.ok()) return fail(path.status());
  absl::StatusOr<std::unique_ptr<ResultStore>> store = open_store(*path);
  if (!store.ok()) return fail(store.status());
  Baseline sides[2];
  const std::string* texts[2] = {&a, &b};
  for (int side = 0; side < 2; ++side) {
    absl::StatusOr<EntryQuery> query = parse_selection(*texts[side], machine);
    if (!query.ok()) return fail(query.status());
    absl::StatusOr<std::vector<RunInfo>> runs = (*store)->list_runs(*query);
    if (!runs.ok()) return fail(runs.status());
    if (runs->empty()) {
      return fail(absl::NotFoundError(absl::StrCat(*texts[side], ": no run in ", *path,
                                                   machine.empty() ? "" : " on machine " + machine)));
    }
    std::vector<std::string> machines;
    for (const RunInfo& r : *runs) {
      if (std::find(machines.begin(), machines.end(), r.metadata.machine) == machines.end()) {
        machines.push_back(r.metadata.machine);
      }
    }
    if (machines.size() > 1) {
      return fail(absl::InvalidArgumentError(absl::StrCat(
          *texts[side], ": runs on ", machines.size(), " machines (", absl::StrJoin(machines, ", "),
          "); choose one with --machine")));
    }
    std::printf("%s: %s, %zu run%s (", side == 0 ? "A" : "B", texts[side]->c_str(), runs->size(),
                runs->size() == 1 ? "" : "s");
    for (size_t i = 0; i < runs->size(); ++i) {
      const RunMetadata& m = (*runs)[i].metadata;
      std::printf("%s#%lld %.12s%s %s", i ? "; " : "", static_cast<long long>((*runs)[i].id),
                  m.git_commit.c_str(), m.git_dirty ? "+" : "", m.started_at.c_str());
    }
    std::printf("), machine %s\n", machines.front().c_str());
    absl::StatusOr<std::vector<EntryPoint>> points = (*store)->entries(*query);
    if (!points.ok()) return fail(points.status());
    sides[side] = pool_entries(*points);
  }
  const std::vector<Comparison> comparisons = compare_pooled(sides[0], sides[1]);
  print_comparisons(comparisons, stdout);
  return run_exit_code(comparisons, 0);
}

int report_main(const std::vector<std::string>& args) {
  std::string db, filter, machine, output;
  double min_shift = 0.05;
  ChangePointOptions options;
  llmk::cli::ArgParser p("llmk-bench report", "-o FILE [options]",
                         "The history as one self-contained HTML page (inline CSS and SVG, no\n"
                         "script, nothing fetched): trends with change points, speedup per\n"
                         "instruction set, counters, generation, run metadata (docs/history.md).");
  p.text("--output|-o", "FILE", &output, "the page to write; - for stdout")
      .text("--db", "PATH", &db, "the database (default as for history)")
      .text("--filter", "REGEX", &filter, "entries whose name matches (ECMAScript regex)")
      .text("--machine", "NAME", &machine, "runs of this machine only (default: all)")
      .real("--alpha", "P", &options.alpha, 1e-6, 0.5,
            "significance level of each change point (default 0.01)")
      .real("--min-shift", "F", &min_shift, 0, 10,
            "mark change points that move the median by at least this\n"
            "fraction (default 0.05, as history)");
  absl::Status parsed = p.parse(args);
  if (parsed.ok() && !p.help_requested() && output.empty()) {
    parsed = absl::InvalidArgumentError("--output (-o) FILE is required");
  }
  if (!parsed.ok()) {
    std::fprintf(stderr, "llmk-bench report: %s\n%s", std::string(parsed.message()).c_str(),
                 p.usage().c_str());
    return kExitUsage;
  }
  if (p.help_requested()) {
    std::printf("%s", p.usage().c_str());
    return kExitOk;
  }
  auto fail = [](const absl::Status& st, int code) {
    std::fprintf(stderr, "llmk-bench report: %s\n", std::string(st.message()).c_str());
    return code;
  };
  absl::StatusOr<std::string> path = resolve_db(db);
  if (!path.ok()) return fail(path.status(), kExitUsage);
  absl::StatusOr<std::unique_ptr<ResultStore>> store = open_store(*path);
  if (!store.ok()) return fail(store.status(), kExitUsage);
  ReportData data;
  data.source = *path;
  data.generated_at = utc_now();
  data.filter = filter;
  data.machine = machine;
  EntryQuery query;
  query.machine = machine;
  absl::StatusOr<std::vector<EntryPoint>> points = (*store)->entries(query);
  if (!points.ok()) return fail(points.status(), llmk::cli::kExitFailure);
  absl::StatusOr<std::vector<EntryHistory>> history =
      build_history(*points, filter, options, min_shift);
  if (!history.ok()) return fail(history.status(), kExitUsage);
  data.history = *std::move(history);
  if (absl::Status st = load_report_runs(**store, machine, data); !st.ok()) {
    return fail(st, llmk::cli::kExitFailure);
  }
  const std::string page = format_html_report(data);
  if (output == "-") {
    std::fwrite(page.data(), 1, page.size(), stdout);
    return kExitOk;
  }
  if (absl::Status st = write_text_file(output, page); !st.ok()) {
    return fail(absl::InvalidArgumentError(absl::StrCat("--output: ", st.message())), kExitUsage);
  }
  std::fprintf(stderr, "llmk-bench report: %zu entr%s, %zu run%s -> %s\n", data.history.size(),
               data.history.size() == 1 ? "y" : "ies", data.runs.size(),
               data.runs.size() == 1 ? "" : "s", output.c_str());
  return kExitOk;
}

}  // namespace llmk::bench::history
