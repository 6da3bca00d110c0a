#include "history/html_report.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "harness/targets.h"
#include "harness/units.h"
#include "history/svg.h"

namespace llmk::bench::history {
namespace {

// No child combinators ('>') here: the page's tests check tag balance on
// the raw text, style sheet included.
constexpr char kStyle[] = R"css(
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #1d2330; background: #fff; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 28px 0 6px; border-bottom: 1px solid #d8dce4; padding-bottom: 4px; }
h3 { font-size: 14px; margin: 0 0 4px; font-family: ui-monospace, monospace; }
p.selection, p.note, figcaption { color: #4a5263; }
code, td.mono { font-family: ui-monospace, monospace; font-size: 12px; }
nav a { margin-right: 14px; }
p.empty { font-size: 16px; padding: 16px; background: #fff4e0; border: 1px solid #e8c98a; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(600px, 1fr)); gap: 18px; }
figure svg { max-width: 100%; height: auto; }
figure { margin: 0; padding: 10px; border: 1px solid #e1e4ea; border-radius: 6px; }
span.machine { color: #6b7385; font-weight: normal; font-family: system-ui, sans-serif; }
table { border-collapse: collapse; margin: 6px 0; }
th, td { border-bottom: 1px solid #e6e8ee; padding: 3px 10px; text-align: left; vertical-align: top; }
th { background: #f3f5f8; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.na { color: #9aa1b0; text-align: right; }
svg text { font: 11px system-ui, sans-serif; fill: #3b4252; }
svg text.axis-title { fill: #6b7385; }
svg text.change-label { fill: #b42318; font-weight: 600; }
svg text.value { fill: #1d2330; }
svg .grid { stroke: #eceef3; stroke-width: 1; }
svg .axis { stroke: #8a92a3; stroke-width: 1; }
svg .median { fill: none; stroke: #2f6fdb; stroke-width: 2; }
svg .rep { fill: #2f6fdb; fill-opacity: 0.45; stroke: none; }
svg .change { stroke: #d92d20; stroke-width: 2; stroke-dasharray: 5 3; }
svg .change.minor { stroke: #f4a259; stroke-width: 1; }
svg .bar { fill: #3f9b6b; }
svg .bar.slower { fill: #d97706; }
svg .unity { stroke: #1d2330; stroke-width: 1; stroke-dasharray: 3 2; }
)css";

// "abc1234" of a full hash, '+' for a tree with uncommitted changes
// (CommitPoint's "-dirty" suffix or the run's flag).
std::string short_commit(const std::string& commit, bool dirty = false) {
  std::string hash = commit;
  if (hash.ends_with("-dirty")) {
    hash.resize(hash.size() - 6);
    dirty = true;
  }
  return hash.substr(0, 7) + (dirty ? "+" : "");
}

std::string percent(double fraction, int decimals) {
  return absl::StrFormat("%.*f%%", decimals, 100 * fraction);
}

// A table cell: the value, or a grey n/a.
std::string num_cell(const std::optional<std::string>& text) {
  if (!text) return "<td class=\"na\">n/a</td>";
  return absl::StrCat("<td class=\"num\">", html_escape(*text), "</td>");
}

bool ran(const BenchmarkResult& r) {
  return r.skipped.empty() && r.error.empty() && r.stats.median > 0;
}

// One selected entry as the panels show it: the newest recent run on its
// machine that ran it.
struct Chosen {
  std::string name, machine;
  const RunRecord* run = nullptr;
  size_t index = 0;
  const BenchmarkResult& result() const { return run->suite.results[index]; }
};

const BenchmarkResult* find_in_run(const RunRecord& run, const std::string& name) {
  for (const BenchmarkResult& r : run.suite.results) {
    if (r.name == name && ran(r)) return &r;
  }
  return nullptr;
}

std::vector<Chosen> choose_entries(const ReportData& data) {
  std::vector<const RunRecord*> newest_first;
  for (const RunRecord& run : data.recent_runs) newest_first.push_back(&run);
  std::sort(newest_first.begin(), newest_first.end(),
            [](const RunRecord* a, const RunRecord* b) { return a->id > b->id; });
  std::vector<Chosen> out;
  for (const EntryHistory& h : data.history) {
    for (const RunRecord* run : newest_first) {
      if (run->metadata.machine != h.machine) continue;
      const BenchmarkResult* r = find_in_run(*run, h.name);
      if (r == nullptr) continue;
      out.push_back(Chosen{h.name, h.machine, run,
                           static_cast<size_t>(r - run->suite.results.data())});
      break;
    }
  }
  return out;
}

// ---- trends ----

// Tick labels in format_ns's units (picked by the axis' largest tick) with
// as many decimals as the step needs: format_ns's three significant digits
// would print "1.2 us" for every tick of a narrow axis.
std::vector<std::string> time_tick_labels(const std::vector<double>& ticks_ns) {
  std::vector<std::string> labels;
  if (ticks_ns.empty()) return labels;
  const double top = std::max(std::fabs(ticks_ns.front()), std::fabs(ticks_ns.back()));
  double scale = 1;
  const char* unit = "ns";
  if (top >= 1e9) {
    scale = 1e9, unit = "s";
  } else if (top >= 1e6) {
    scale = 1e6, unit = "ms";
  } else if (top >= 1e3) {
    scale = 1e3, unit = "us";
  }
  const double step = ticks_ns.size() > 1 ? (ticks_ns[1] - ticks_ns[0]) / scale : 1.0;
  const int decimals = std::clamp(static_cast<int>(std::ceil(-std::log10(step) - 1e-9)), 0, 9);
  for (double t : ticks_ns) labels.push_back(absl::StrFormat("%.*f %s", decimals, t / scale, unit));
  return labels;
}

std::string trend_chart(const EntryHistory& h) {
  constexpr double kWidth = 660, kPlotHeight = 138;
  constexpr double kLeft = 88, kRight = 16, kBottom = 58, kLabelRow = 13;
  // One row above the plot per change-point label, so close ones do not
  // overlap; the caption lists every change point anyway.
  constexpr size_t kMaxLabels = 4;
  const size_t label_rows = std::min(h.changes.size(), kMaxLabels);
  const double top = 12 + kLabelRow * static_cast<double>(label_rows);
  const double height = top + kPlotHeight + kBottom;
  const double plot_w = kWidth - kLeft - kRight, plot_h = kPlotHeight;
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (const CommitPoint& c : h.commits) {
    for (double v : c.repetition_medians_ns) {
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
  }
  if (!(hi >= lo)) {  // no points at all
    lo = 0;
    hi = 1;
  }
  // A margin around the data so the extreme points are not cut by the frame.
  const double pad = hi > lo ? 0.08 * (hi - lo) : std::max(0.1 * hi, 1e-3);
  const LinearScale y{std::max(0.0, lo - pad), hi + pad, top + plot_h, top};
  const size_t n = h.commits.size();
  const double column = plot_w / static_cast<double>(std::max<size_t>(n, 1));
  auto x_of = [&](size_t i) { return kLeft + (static_cast<double>(i) + 0.5) * column; };

  SvgWriter svg(kWidth, height, "trend", absl::StrCat("trend of ", h.name, " on ", h.machine));
  const std::vector<double> ticks = nice_ticks(y.domain_lo, y.domain_hi, 5);
  const std::vector<std::string> labels = time_tick_labels(ticks);
  for (size_t i = 0; i < ticks.size(); ++i) {
    svg.line(kLeft, y(ticks[i]), kWidth - kRight, y(ticks[i]), "grid");
    svg.text(kLeft - 6, y(ticks[i]) + 4, labels[i], "tick", "end");
  }
  svg.line(kLeft, top, kLeft, top + plot_h, "axis");
  svg.line(kLeft, top + plot_h, kWidth - kRight, top + plot_h, "axis");
  svg.text(12, top + plot_h / 2, "time per op", "axis-title", "middle", -90);
  svg.text(kWidth - kRight, height - 4, "commit (oldest first)", "axis-title", "end");
  // At most ~24 commit labels fit under the axis.
  const size_t label_every = (n + 23) / 24;
  for (size_t i = 0; i < n; ++i) {
    if (i % label_every != 0 && i + 1 != n) continue;
    svg.text(x_of(i) + 3, top + plot_h + 12, short_commit(h.commits[i].commit), "tick", "end",
             -40);
  }
  for (size_t i = 0; i < h.changes.size(); ++i) {
    const MarkedChange& m = h.changes[i];
    if (m.change.group >= n) continue;
    const double x = kLeft + static_cast<double>(m.change.group) * column;
    svg.line(x, top, x, top + plot_h, m.marked ? "change" : "change minor");
    if (i >= kMaxLabels) continue;
    const bool right_side = x > kLeft + 0.6 * plot_w;
    svg.text(right_side ? x - 4 : x + 4, 10 + kLabelRow * static_cast<double>(i),
             absl::StrFormat("%s %s %+.1f%%", m.marked ? "change at" : "minor:",
                             short_commit(h.commits[m.change.group].commit), 100 * (m.shift - 1)),
             "change-label", right_side ? "end" : "start");
  }
  std::vector<std::pair<double, double>> medians;
  for (size_t i = 0; i < n; ++i) {
    if (!h.commits[i].repetition_medians_ns.empty()) {
      medians.emplace_back(x_of(i), y(h.commits[i].median_ns));
    }
  }
  svg.polyline(medians, "median");
  // A commit's points spread across part of its column, so repetitions
  // with equal medians stay visible side by side.
  const double spread = std::min(0.5 * column, 24.0);
  for (size_t i = 0; i < n; ++i) {
    const CommitPoint& c = h.commits[i];
    const size_t m = c.repetition_medians_ns.size();
    for (size_t k = 0; k < m; ++k) {
      const double offset =
          m > 1 ? (static_cast<double>(k) / static_cast<double>(m - 1) - 0.5) * spread : 0.0;
      const double v = c.repetition_medians_ns[k];
      svg.circle(x_of(i) + offset, y(v), 3, "rep",
                 absl::StrCat(short_commit(c.commit), " ", c.date, ": ", format_ns(v)));
    }
  }
  return svg.finish();
}

std::string trend_caption(const EntryHistory& h) {
  size_t points = 0;
  for (const CommitPoint& c : h.commits) points += c.repetition_medians_ns.size();
  std::string text = absl::StrCat(h.commits.size(), " commit", h.commits.size() == 1 ? "" : "s",
                                  ", ", points, " repetition median", points == 1 ? "" : "s");
  if (!h.commits.empty()) {
    absl::StrAppend(&text, "; latest median ", format_ns(h.commits.back().median_ns));
  }
  if (h.changes.empty()) {
    absl::StrAppend(&text, "; no change point");
  }
  for (const MarkedChange& m : h.changes) {
    if (m.change.group >= h.commits.size()) continue;
    absl::StrAppend(&text, "; ", m.marked ? "change point at " : "below --min-shift: ",
                    short_commit(h.commits[m.change.group].commit),
                    absl::StrFormat(" (%+.1f%%, p=%.3g)", 100 * (m.shift - 1), m.change.p_value));
  }
  return html_escape(text);
}

std::string trends_section(const ReportData& data) {
  std::string out =
      "<section id=\"trends\">\n<h2>Trends</h2>\n"
      "<p class=\"note\">Each point is one repetition's median time per operation; the line joins "
      "each commit's median of them. A red dashed line marks a change point (E-divisive means, "
      "permutation test), at the first commit after the shift; orange ones are significant but "
      "smaller than --min-shift.</p>\n<div class=\"grid\">\n";
  for (const EntryHistory& h : data.history) {
    absl::StrAppend(&out, "<figure class=\"entry\">\n<h3>", html_escape(h.name),
                    " <span class=\"machine\">on ", html_escape(h.machine), "</span></h3>\n",
                    trend_chart(h), "<figcaption>", trend_caption(h), "</figcaption>\n</figure>\n");
  }
  out += "</div>\n</section>\n";
  return out;
}

// ---- per-ISA speedup ----

struct SpeedupBar {
  std::string label;  // the Highway target
  double speedup = 0; // reference median / this median, same run
  std::string detail; // tooltip
};
struct SpeedupGroup {
  std::string base, machine, reference;
  std::vector<SpeedupBar> bars;
};

// The scalar reference of `base` in `run`: its companion, else the entry
// run under the scalar or emulated-128 target of --target all.
const BenchmarkResult* scalar_reference(const RunRecord& run, const std::string& base) {
  for (const std::string& name : {absl::StrCat(base, kScalarCompanionSuffix),
                                  absl::StrCat(base, "@SCALAR"), absl::StrCat(base, "@EMU128")}) {
    if (const BenchmarkResult* r = find_in_run(run, name)) return r;
  }
  return nullptr;
}

std::vector<SpeedupGroup> speedup_groups(const std::vector<Chosen>& chosen) {
  std::vector<SpeedupGroup> groups;
  for (const Chosen& c : chosen) {
    const std::string base = base_name(c.name);
    if (base.ends_with(kScalarCompanionSuffix)) continue;
    const BenchmarkResult* ref = scalar_reference(*c.run, base);
    if (ref == nullptr || ref->name == c.name) continue;
    const BenchmarkResult& r = c.result();
    const size_t at = c.name.rfind('@');
    std::string label = at != std::string::npos ? c.name.substr(at + 1)
                        : r.target.empty() || r.target == "-" ? std::string("best")
                                                              : r.target;
    auto g = std::find_if(groups.begin(), groups.end(), [&](const SpeedupGroup& s) {
      return s.base == base && s.machine == c.machine;
    });
    if (g == groups.end()) {
      groups.push_back(SpeedupGroup{base, c.machine, ref->name, {}});
      g = groups.end() - 1;
    }
    if (std::any_of(g->bars.begin(), g->bars.end(),
                    [&](const SpeedupBar& b) { return b.label == label; })) {
      continue;
    }
    g->bars.push_back(SpeedupBar{
        label, ref->stats.median / r.stats.median,
        absl::StrCat(c.name, ": ", format_ns(r.stats.median), " vs ", ref->name, " ",
                     format_ns(ref->stats.median), " (run #", c.run->id, ")")});
  }
  return groups;
}

std::string speedup_chart(const SpeedupGroup& g) {
  constexpr double kWidth = 660, kLabel = 110, kRight = 60, kRow = 22, kTop = 8, kAxis = 22;
  const double height = kTop + kRow * static_cast<double>(g.bars.size()) + kAxis;
  double top = 1;
  for (const SpeedupBar& b : g.bars) top = std::max(top, b.speedup);
  const LinearScale x{0, top * 1.05, kLabel, kWidth - kRight};
  SvgWriter svg(kWidth, height, "speedup",
                absl::StrCat("speedup of ", g.base, " per target over ", g.reference));
  const double axis_y = kTop + kRow * static_cast<double>(g.bars.size());
  for (double t : nice_ticks(0, top * 1.05, 6)) {
    svg.line(x(t), kTop, x(t), axis_y, "grid");
    svg.text(x(t), axis_y + 14, absl::StrFormat("%g×", t), "tick", "middle");
  }
  for (size_t i = 0; i < g.bars.size(); ++i) {
    const SpeedupBar& b = g.bars[i];
    const double row_y = kTop + kRow * static_cast<double>(i);
    svg.text(kLabel - 6, row_y + 15, b.label, "tick", "end");
    svg.rect(x(0), row_y + 4, x(b.speedup) - x(0), kRow - 8, b.speedup < 1 ? "bar slower" : "bar",
             b.detail);
    svg.text(x(b.speedup) + 4, row_y + 15, absl::StrFormat("%.2f×", b.speedup), "value");
  }
  svg.line(x(1), kTop, x(1), axis_y, "unity");
  svg.line(kLabel, axis_y, kWidth - kRight, axis_y, "axis");
  return svg.finish();
}

std::string speedup_section(const std::vector<Chosen>& chosen) {
  const std::vector<SpeedupGroup> groups = speedup_groups(chosen);
  std::string out =
      "<section id=\"speedup\">\n<h2>Speedup per instruction set</h2>\n"
      "<p class=\"note\">Median time of the scalar reference (the <code>/scalar</code> companion, "
      "else the entry under the SCALAR or EMU128 target of <code>--target all</code>) over each "
      "target's median, both from the same run; the dashed line is 1×.</p>\n";
  if (groups.empty()) {
    out += "<p class=\"note\">No selected entry ran beside a scalar reference.</p>\n";
  }
  out += "<div class=\"grid\">\n";
  for (const SpeedupGroup& g : groups) {
    absl::StrAppend(&out, "<figure class=\"isa\">\n<h3>", html_escape(g.base),
                    " <span class=\"machine\">on ", html_escape(g.machine), "</span></h3>\n",
                    speedup_chart(g), "<figcaption>vs ", html_escape(g.reference),
                    "</figcaption>\n</figure>\n");
  }
  out += "</div>\n</section>\n";
  return out;
}

// ---- counters ----

std::optional<std::string> fixed(const std::optional<double>& v, int decimals) {
  if (!v) return std::nullopt;
  return absl::StrFormat("%.*f", decimals, *v);
}
std::optional<std::string> rate(const std::optional<double>& v, int decimals) {
  if (!v) return std::nullopt;
  return percent(*v, decimals);
}

std::string counters_section(const std::vector<Chosen>& chosen) {
  std::string out =
      "<section id=\"counters\">\n<h2>Perf counters</h2>\n"
      "<p class=\"note\">From each entry's newest run. n/a: the counter did not run (never shown "
      "as 0); <em>counted</em> is the smallest share of the time a counter's group was on the "
      "PMU (below 100%: multiplexed, counts scaled up).</p>\n"
      "<table class=\"counters\">\n<tr><th>entry</th><th>machine</th><th>run</th><th>target</th>"
      "<th>median</th><th>IPC</th><th>cache miss</th><th>L1D miss</th><th>branch miss</th>"
      "<th>counted</th></tr>\n";
  std::vector<std::pair<std::string, std::vector<std::string>>> reasons;  // status → events
  for (const Chosen& c : chosen) {
    const BenchmarkResult& r = c.result();
    const CounterMetrics& m = r.counter_metrics;
    std::optional<double> counted;
    for (const CounterResult& k : r.counters) {
      if (k.per_op) {
        counted = std::min(counted.value_or(1.0), k.running_fraction);
        continue;
      }
      auto it = std::find_if(reasons.begin(), reasons.end(),
                             [&](const auto& p) { return p.first == k.status; });
      if (it == reasons.end()) it = reasons.insert(reasons.end(), {k.status, {}});
      if (std::find(it->second.begin(), it->second.end(), k.event) == it->second.end()) {
        it->second.push_back(k.event);
      }
    }
    absl::StrAppend(&out, "<tr><td class=\"mono\">", html_escape(c.name), "</td><td>",
                    html_escape(c.machine), "</td><td class=\"num\">#", c.run->id, "</td><td>",
                    html_escape(r.target), "</td>", num_cell(format_ns(r.stats.median)),
                    num_cell(fixed(m.ipc, 2)), num_cell(rate(m.cache_miss_rate, 1)),
                    num_cell(rate(m.l1d_miss_rate, 2)), num_cell(rate(m.branch_miss_rate, 2)),
                    num_cell(counted ? std::optional<std::string>(percent(*counted, 0))
                                     : std::nullopt),
                    "</tr>\n");
  }
  out += "</table>\n";
  if (!reasons.empty()) {
    out += "<ul class=\"note\">\n";
    for (const auto& [reason, events] : reasons) {
      std::string list;
      for (const std::string& e : events) absl::StrAppend(&list, list.empty() ? "" : ", ", e);
      absl::StrAppend(&out, "<li><code>", html_escape(list), "</code>: ", html_escape(reason),
                      "</li>\n");
    }
    out += "</ul>\n";
  }
  out += "</section>\n";
  return out;
}

// ---- generation ----

constexpr char kPeerSuffix[] = "/llama.cpp";

std::string generation_section(const std::vector<Chosen>& chosen) {
  std::string rows;
  for (const Chosen& c : chosen) {
    if (!c.name.starts_with("generate/") || c.name.ends_with(kPeerSuffix)) continue;
    const BenchmarkResult& r = c.result();
    const bool first_token = c.name.find("/ttft") != std::string::npos;
    std::optional<std::string> tokens_per_s, ttft, p99, vs_peer;
    if (first_token) {
      ttft = format_ns(r.stats.median);
    } else if (r.items_per_second > 0) {
      tokens_per_s = format_rate(r.items_per_second, "tok/s");
    }
    const std::optional<ItemLatency>* latency =
        c.index < c.run->item_latency.size() ? &c.run->item_latency[c.index] : nullptr;
    if (latency != nullptr && latency->has_value() && (*latency)->p99_ns) {
      p99 = format_ns(*(*latency)->p99_ns);
    }
    if (const BenchmarkResult* peer = find_in_run(*c.run, c.name + kPeerSuffix)) {
      // Same operation, same items: the ratio of medians is the ratio of tokens/s.
      vs_peer = absl::StrFormat("%.2f× (llama.cpp %s)", peer->stats.median / r.stats.median,
                                peer->items_per_second > 0
                                    ? format_rate(peer->items_per_second, "tok/s")
                                    : format_ns(peer->stats.median));
    }
    absl::StrAppend(&rows, "<tr><td class=\"mono\">", html_escape(c.name), "</td><td>",
                    html_escape(c.machine), "</td><td class=\"num\">#", c.run->id, "</td>",
                    num_cell(tokens_per_s), num_cell(ttft), num_cell(p99), num_cell(vs_peer),
                    "</tr>\n");
  }
  std::string out =
      "<section id=\"generation\">\n<h2>Generation</h2>\n"
      "<p class=\"note\">generate/ entries from their newest run: tokens/s, time to first token "
      "(ttft entries: prompt prefill and the first pick), the p99 of per-token latency, and the "
      "ratio of llama.cpp's median to ours when its <code>/llama.cpp</code> peer ran in the same "
      "run (above 1×: ours is faster).</p>\n";
  if (rows.empty()) {
    out += "<p class=\"note\">No selected generate/ entry.</p>\n</section>\n";
    return out;
  }
  absl::StrAppend(&out,
                  "<table class=\"generation\">\n<tr><th>entry</th><th>machine</th><th>run</th>"
                  "<th>tokens/s</th><th>time to first token</th><th>p99 token latency</th>"
                  "<th>vs llama.cpp</th></tr>\n",
                  rows, "</table>\n</section>\n");
  return out;
}

// ---- runs ----

std::string runs_section(const ReportData& data) {
  std::string out =
      "<section id=\"runs\">\n<h2>Runs</h2>\n"
      "<table class=\"runs\">\n<tr><th>run</th><th>started (UTC)</th><th>machine</th>"
      "<th>host</th><th>CPU</th><th>Highway targets</th><th>commit</th><th>dirty</th>"
      "<th>compiler</th><th>entries</th></tr>\n";
  const size_t shown = std::min(data.runs.size(), kReportMaxRunRows);
  for (size_t k = 0; k < shown; ++k) {
    const RunInfo& run = data.runs[data.runs.size() - 1 - k];  // newest first
    const RunMetadata& m = run.metadata;
    absl::StrAppend(&out, "<tr><td class=\"num\">#", run.id, "</td><td>", html_escape(m.started_at),
                    "</td><td>", html_escape(m.machine), "</td><td>", html_escape(m.hostname),
                    "</td><td>", html_escape(m.cpu_model), " — ", html_escape(m.cpu_microarch),
                    "</td><td>", html_escape(m.highway_targets), "</td><td class=\"mono\">",
                    html_escape(m.git_commit.substr(0, 12)), "</td><td>",
                    m.git_dirty ? "yes" : "no", "</td><td>", html_escape(m.compiler),
                    "</td><td class=\"num\">", run.entries, "</td></tr>\n");
  }
  out += "</table>\n";
  if (data.runs.size() > shown) {
    absl::StrAppend(&out, "<p class=\"note\">", data.runs.size() - shown,
                    " older runs not listed.</p>\n");
  }
  out += "</section>\n";
  return out;
}

}  // namespace

std::string format_html_report(const ReportData& data) {
  std::string out = absl::StrCat(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<title>llmk-bench report</title>\n<style>",
      kStyle, "</style>\n</head>\n<body>\n<h1>llmk-bench results history</h1>\n",
      "<p class=\"selection\">Database <code>", html_escape(data.source), "</code>; entries ",
      data.filter.empty() ? std::string("all")
                          : absl::StrCat("matching <code>", html_escape(data.filter), "</code>"),
      "; machine ", data.machine.empty() ? std::string("all") : html_escape(data.machine),
      "; generated ", html_escape(data.generated_at), ".</p>\n");
  if (data.history.empty()) {
    absl::StrAppend(&out, "<p class=\"empty\">",
                    data.runs.empty() ? "No runs in this database match the selection."
                                      : "No entry of these runs matches the selection.",
                    " Append runs with <code>llmk-bench --db</code> (docs/history.md).</p>\n");
    if (!data.runs.empty()) out += runs_section(data);
    out += "</body>\n</html>\n";
    return out;
  }
  out +=
      "<nav><a href=\"#trends\">Trends</a><a href=\"#speedup\">Speedup per ISA</a>"
      "<a href=\"#counters\">Counters</a><a href=\"#generation\">Generation</a>"
      "<a href=\"#runs\">Runs</a></nav>\n";
  const std::vector<Chosen> chosen = choose_entries(data);
  absl::StrAppend(&out, trends_section(data), speedup_section(chosen), counters_section(chosen),
                  generation_section(chosen), runs_section(data), "</body>\n</html>\n");
  return out;
}

}  // namespace llmk::bench::history
