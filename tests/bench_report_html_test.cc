// `llmk-bench report`: the HTML page built from synthetic histories and
// runs (no database needed), checked for balanced tags, one trend chart
// per entry with every point, change-point markers exactly where a step
// is, escaping of what comes from the database, and each panel's figures.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "harness/perf_counters.h"
#include "harness/stats.h"
#include "harness/units.h"
#include "history/commands.h"
#include "history/html_report.h"
#include "history/store.h"
#include "history/svg.h"
#include "llmk/bench.h"
#include "test_util.h"

namespace llmk::bench::history {
namespace {

size_t count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

// Checks that every element the page opens is closed in order: void
// elements (meta, br) and "/>" close themselves, <!DOCTYPE> is skipped and
// <style> content is not markup. Returns "" or what is wrong.
std::string unbalanced_tags(const std::string& html) {
  std::vector<std::string> open;
  size_t at = 0;
  while ((at = html.find('<', at)) != std::string::npos) {
    const size_t end = html.find('>', at);
    if (end == std::string::npos) return "a '<' without '>' at " + std::to_string(at);
    std::string tag = html.substr(at + 1, end - at - 1);
    at = end + 1;
    if (tag.starts_with("!")) continue;
    const bool closing = tag.starts_with("/");
    const bool self_closing = tag.ends_with("/");
    std::string name = tag.substr(closing ? 1 : 0);
    name = name.substr(0, name.find_first_of(" \n/"));
    if (closing) {
      if (open.empty() || open.back() != name) {
        return "</" + name + "> closes <" + (open.empty() ? std::string("nothing") : open.back()) + ">";
      }
      open.pop_back();
    } else if (!self_closing && name != "meta" && name != "br") {
      open.push_back(name);
      if (name == "style") {
        const size_t close = html.find("</style>", at);
        if (close == std::string::npos) return "<style> never closed";
        at = close;
      }
    }
  }
  return open.empty() ? std::string() : "<" + open.back() + "> never closed";
}

// The text between `<figure class="entry">` number `index` and its end.
std::string entry_figure(const std::string& html, size_t index) {
  size_t at = 0;
  for (size_t i = 0; i <= index; ++i) {
    at = html.find("<figure class=\"entry\">", i == 0 ? 0 : at + 1);
    if (at == std::string::npos) return "";
  }
  return html.substr(at, html.find("</figure>", at) - at);
}

std::string hash(char digit) { return std::string(40, digit); }

RunMetadata metadata(int64_t run, const std::string& machine) {
  RunMetadata m;
  m.started_at = "2026-12-02T0" + std::to_string(run % 10) + ":00:00Z";
  m.git_commit = hash(static_cast<char>('0' + run % 10));
  m.machine = machine;
  m.hostname = machine;
  m.cpu_model = "Test CPU";
  m.highway_targets = "AVX3_SPR";
  return m;
}

// A history of `commits` commits of 3 repetition medians around 100 ns
// (±1%, a fixed sequence), from `step_at` on `factor` times slower.
std::vector<EntryPoint> step_points(const std::string& name, size_t commits, size_t step_at,
                                    double factor) {
  std::vector<EntryPoint> points;
  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> jitter(-0.01, 0.01);
  for (size_t c = 0; c < commits; ++c) {
    EntryPoint p;
    p.run_id = static_cast<int64_t>(c + 1);
    p.git_commit = hash(static_cast<char>('1' + c));
    p.started_at = metadata(p.run_id, "vm").started_at;
    p.machine = "vm";
    p.name = name;
    for (int k = 0; k < 3; ++k) {
      p.repetition_medians_ns.push_back(100 * (c >= step_at ? factor : 1.0) * (1 + jitter(rng)));
    }
    p.samples = 30;
    p.mean_ns = p.repetition_medians_ns[0];
    points.push_back(p);
  }
  return points;
}

BenchmarkResult result(const std::string& name, double median_ns, double items_per_op = 1) {
  BenchmarkResult r;
  r.name = name;
  r.target = "AVX3_SPR";
  r.items_per_op = items_per_op;
  r.stats.median = median_ns;
  r.stats.n = 10;
  r.items_per_second = items_per_op * 1e9 / median_ns;
  return r;
}

RunRecord run_of(int64_t id, const std::string& machine, std::vector<BenchmarkResult> results) {
  RunRecord run;
  run.id = id;
  run.metadata = metadata(id, machine);
  run.suite.results = std::move(results);
  run.target_checks.resize(run.suite.results.size());
  run.item_latency.resize(run.suite.results.size());
  return run;
}

ReportData report_of(const std::vector<EntryPoint>& points) {
  ReportData data;
  data.source = "/tmp/bench.sqlite";
  data.generated_at = "2026-12-02T05:00:00Z";
  auto history = build_history(points, "", {}, 0.05);
  REQUIRE(history.ok());
  data.history = *history;
  return data;
}

TEST_CASE("the tag check catches what it should") {
  CHECK(unbalanced_tags("<html><body><p>x</p></body></html>").empty());
  CHECK(unbalanced_tags("<svg><circle r=\"1\"/></svg><meta charset=\"utf-8\">").empty());
  CHECK_FALSE(unbalanced_tags("<div><p></div>").empty());
  CHECK_FALSE(unbalanced_tags("<section>").empty());
  CHECK_FALSE(unbalanced_tags("<p><script>x</p>").empty());
}

TEST_CASE("svg helpers: scale, ticks, escaping") {
  const LinearScale y{0, 200, 100, 0};
  CHECK(y(0) == 100);
  CHECK(y(200) == 0);
  CHECK(y(50) == 75);
  CHECK(LinearScale{5, 5, 0, 10}(5) == 5);  // zero width: the middle
  CHECK(nice_ticks(0, 100, 5) == std::vector<double>{0, 20, 40, 60, 80, 100});
  CHECK(nice_ticks(13, 37, 4) == std::vector<double>{15, 20, 25, 30, 35});
  CHECK(nice_ticks(0.5, 2.5, 4) == std::vector<double>{0.5, 1, 1.5, 2, 2.5});
  CHECK(nice_ticks(2, 1, 4).empty());
  CHECK(nice_ticks(3, 3, 4) == std::vector<double>{3});
  CHECK(html_escape("<a href=\"x\">'&'</a>") ==
        "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
}

TEST_CASE("one trend chart per entry, every repetition median a point") {
  std::vector<EntryPoint> points = step_points("ops/dot/384", 6, 6, 1.0);  // flat
  std::vector<EntryPoint> axpy = step_points("ops/axpy/384", 4, 4, 1.0);
  axpy.pop_back();  // 3 commits
  points.insert(points.end(), axpy.begin(), axpy.end());
  const ReportData data = report_of(points);
  REQUIRE(data.history.size() == 2);
  const std::string html = format_html_report(data);
  CHECK(unbalanced_tags(html) == "");
  CHECK(count(html, "<svg") == count(html, "</svg>"));
  CHECK(count(html, "class=\"trend\"") == 2);
  for (size_t i = 0; i < data.history.size(); ++i) {
    const EntryHistory& h = data.history[i];
    const std::string figure = entry_figure(html, i);
    REQUIRE_FALSE(figure.empty());
    CHECK(figure.find(h.name) != std::string::npos);
    size_t medians = 0;
    for (const CommitPoint& c : h.commits) medians += c.repetition_medians_ns.size();
    CHECK(count(figure, "<circle class=\"rep\"") == medians);
    CHECK(medians == 3 * h.commits.size());
    // The median line has one vertex per commit: "x,y" pairs.
    const size_t line = figure.find("<polyline class=\"median\" points=\"");
    REQUIRE(line != std::string::npos);
    const std::string vertices = figure.substr(line, figure.find("\"/>", line) - line);
    CHECK(count(vertices, ",") == h.commits.size());
    // The y axis speaks the harness's units.
    CHECK(figure.find(" ns</text>") != std::string::npos);
  }
  CHECK(count(html, "class=\"change") == 0);  // flat histories: no marker
}

TEST_CASE("axis labels stay distinct on a narrow range") {
  std::vector<EntryPoint> points = step_points("narrow", 3, 3, 1.0);
  for (EntryPoint& p : points) {
    for (double& v : p.repetition_medians_ns) v = 1200 + (v - 100) * 0.1;  // 1.2 us ± 0.1%
  }
  const std::string html = format_html_report(report_of(points));
  std::vector<std::string> labels;
  for (size_t at = html.find("text-anchor=\"end\">"); at != std::string::npos;
       at = html.find("text-anchor=\"end\">", at + 1)) {
    const size_t from = at + std::string("text-anchor=\"end\">").size();
    const std::string label = html.substr(from, html.find('<', from) - from);
    if (label.ends_with(" us")) labels.push_back(label);
  }
  REQUIRE(labels.size() >= 3);
  for (size_t i = 1; i < labels.size(); ++i) CHECK(labels[i] != labels[i - 1]);
}

TEST_CASE("a change-point marker exactly where a synthetic step is, naming its commit") {
  std::vector<EntryPoint> points = step_points("ops/dot/384", 6, 3, 2.0);
  const std::vector<EntryPoint> flat = step_points("ops/axpy/384", 6, 6, 1.0);
  points.insert(points.end(), flat.begin(), flat.end());
  const ReportData data = report_of(points);
  REQUIRE(data.history.size() == 2);
  REQUIRE(data.history[0].changes.size() == 1);
  REQUIRE(data.history[0].changes[0].change.group == 3);
  REQUIRE(data.history[1].changes.empty());
  const std::string html = format_html_report(data);
  CHECK(unbalanced_tags(html) == "");
  const std::string stepped = entry_figure(html, 0), steady = entry_figure(html, 1);
  CHECK(count(stepped, "<line class=\"change\"") == 1);
  CHECK(count(steady, "class=\"change") == 0);
  // The fourth commit (hash '4' * 40) is the first after the shift.
  CHECK(stepped.find("change at 4444444 +") != std::string::npos);
  CHECK(stepped.find("change point at 4444444") != std::string::npos);
}

TEST_CASE("everything from the database is escaped") {
  const std::string hostile = "<script>alert(1)</script>";
  std::vector<EntryPoint> points = step_points(hostile, 3, 3, 1.0);
  for (EntryPoint& p : points) p.machine = "m\"<b>&'";
  ReportData data = report_of(points);
  data.source = "/tmp/<i>.sqlite";
  data.filter = "<b>";
  RunInfo info;
  info.id = 1;
  info.metadata = metadata(1, "m\"<b>&'");
  info.metadata.cpu_model = "<img src=x onerror=alert(1)>";
  info.metadata.hostname = hostile;
  data.runs.push_back(info);
  RunRecord run = run_of(3, "m\"<b>&'", {result(hostile, 100), result(hostile + "/scalar", 300)});
  data.recent_runs.push_back(run);
  const std::string html = format_html_report(data);
  CHECK(unbalanced_tags(html) == "");
  CHECK(html.find("<script") == std::string::npos);
  CHECK(html.find("<img") == std::string::npos);
  CHECK(html.find("<b>") == std::string::npos);
  CHECK(html.find("<i>") == std::string::npos);
  CHECK(html.find("&lt;script&gt;alert(1)&lt;/script&gt;") != std::string::npos);
  CHECK(html.find("m&quot;&lt;b&gt;&amp;&#39;") != std::string::npos);
  CHECK(html.find("&lt;img src=x onerror=alert(1)&gt;") != std::string::npos);
}

TEST_CASE("an empty database gives a page that says so") {
  ReportData data;
  data.source = "/tmp/empty.sqlite";
  const std::string html = format_html_report(data);
  CHECK(unbalanced_tags(html) == "");
  CHECK(html.starts_with("<!DOCTYPE html>"));
  CHECK(html.find("No runs in this database match the selection.") != std::string::npos);
  CHECK(html.find("<svg") == std::string::npos);
  // Runs present but no entry selected: said differently, runs still listed.
  RunInfo info;
  info.id = 7;
  info.metadata = metadata(7, "vm");
  data.runs.push_back(info);
  const std::string filtered = format_html_report(data);
  CHECK(unbalanced_tags(filtered) == "");
  CHECK(filtered.find("No entry of these runs matches the selection.") != std::string::npos);
  CHECK(filtered.find(">#7</td>") != std::string::npos);
}

TEST_CASE("speedup bars per target against the scalar reference of the same run") {
  std::vector<EntryPoint> points;
  for (const char* name : {"ops/dot/384@AVX2", "ops/dot/384@AVX3_SPR", "ops/dot/384/scalar",
                           "ops/axpy/384"}) {
    const std::vector<EntryPoint> p = step_points(name, 2, 2, 1.0);
    points.insert(points.end(), p.begin(), p.end());
  }
  ReportData data = report_of(points);
  // An older run with other figures: the panels take the newest (id 2).
  data.recent_runs.push_back(run_of(1, "vm", {result("ops/dot/384@AVX2", 50),
                                              result("ops/dot/384/scalar", 50)}));
  data.recent_runs.push_back(run_of(2, "vm", {result("ops/dot/384@AVX2", 20),
                                              result("ops/dot/384@AVX3_SPR", 10),
                                              result("ops/dot/384/scalar", 60),
                                              result("ops/axpy/384", 5)}));
  const std::string html = format_html_report(data);
  CHECK(unbalanced_tags(html) == "");
  const size_t section = html.find("<section id=\"speedup\">");
  REQUIRE(section != std::string::npos);
  const std::string panel = html.substr(section, html.find("</section>", section) - section);
  CHECK(count(panel, "class=\"speedup\"") == 1);  // ops/dot/384 only: axpy has no reference
  CHECK(count(panel, "<rect class=\"bar\"") == 2);
  CHECK(panel.find(">3.00×</text>") != std::string::npos);  // AVX2: 60 / 20
  CHECK(panel.find(">6.00×</text>") != std::string::npos);  // AVX3_SPR: 60 / 10
  CHECK(panel.find(">AVX3_SPR</text>") != std::string::npos);
  CHECK(panel.find("run #2") != std::string::npos);
  CHECK(panel.find("run #1") == std::string::npos);
}

TEST_CASE("counters beside the median, n/a where they did not run") {
  std::vector<EntryPoint> points = step_points("ops/dot/384", 2, 2, 1.0);
  const std::vector<EntryPoint> more = step_points("memory/arena/alloc", 2, 2, 1.0);
  points.insert(points.end(), more.begin(), more.end());
  ReportData data = report_of(points);
  BenchmarkResult counted = result("ops/dot/384", 100);
  CounterResult cycles{"cycles", 1000.0, 0.5, "ok", 0};
  CounterResult instructions{"instructions", 2500.0, 0.5, "ok", 0};
  CounterResult missing{"cache-misses", std::nullopt, 0, "unsupported (ENOENT: no PMU)", -1};
  counted.counters = {cycles, instructions, missing};
  counted.counter_metrics = derive_counter_metrics(counted.counters, 1, {});
  REQUIRE(counted.counter_metrics.ipc.has_value());
  data.recent_runs.push_back(run_of(2, "vm", {counted, result("memory/arena/alloc", 40)}));
  const std::string html = format_html_report(data);
  CHECK(unbalanced_tags(html) == "");
  const size_t section = html.find("<section id=\"counters\">");
  REQUIRE(section != std::string::npos);
  const std::string panel = html.substr(section, html.find("</section>", section) - section);
  auto row_of = [&panel](const std::string& name) {
    const size_t at = panel.find("<td class=\"mono\">" + name + "</td>");
    return at == std::string::npos ? std::string() : panel.substr(at, panel.find("</tr>", at) - at);
  };
  const std::string dot = row_of("ops/dot/384"), arena = row_of("memory/arena/alloc");
  REQUIRE_FALSE(dot.empty());
  REQUIRE_FALSE(arena.empty());
  CHECK(dot.find(">" + format_ns(100) + "<") != std::string::npos);
  CHECK(dot.find(">2.50<") != std::string::npos);   // IPC 2500 / 1000
  CHECK(dot.find(">50%<") != std::string::npos);    // counted half the time
  CHECK(count(dot, ">n/a<") == 3);                  // cache, L1D, branch
  CHECK(count(arena, ">n/a<") == 5);                // no counters at all
  CHECK(arena.find(">" + format_ns(40) + "<") != std::string::npos);
  CHECK(panel.find("unsupported (ENOENT: no PMU)") != std::string::npos);
}

TEST_CASE("generation panel: tokens/s, time to first token, p99, ratio against llama.cpp") {
  std::vector<EntryPoint> points;
  for (const char* name : {"generate/m/tg64", "generate/m/tg64/llama.cpp", "generate/m/ttft128",
                           "generate/m/pp128"}) {
    const std::vector<EntryPoint> p = step_points(name, 2, 2, 1.0);
    points.insert(points.end(), p.begin(), p.end());
  }
  ReportData data = report_of(points);
  RunRecord run = run_of(2, "vm", {result("generate/m/tg64", 100e6, 64),
                                   result("generate/m/tg64/llama.cpp", 150e6, 64),
                                   result("generate/m/ttft128", 20e6, 1),
                                   result("generate/m/pp128", 50e6, 128)});
  run.item_latency[0] = ItemLatency{1.5e6, 2e6, 3e6, 4e6};
  data.recent_runs.push_back(run);
  const std::string html = format_html_report(data);
  CHECK(unbalanced_tags(html) == "");
  const size_t section = html.find("<section id=\"generation\">");
  REQUIRE(section != std::string::npos);
  const std::string panel = html.substr(section, html.find("</section>", section) - section);
  CHECK(count(panel, "<tr><td") == 3);  // the peer is a column, not a row
  const size_t tg = panel.find("generate/m/tg64</td>");
  REQUIRE(tg != std::string::npos);
  const std::string tg_row = panel.substr(tg, panel.find("</tr>", tg) - tg);
  CHECK(tg_row.find(format_rate(640, "tok/s")) != std::string::npos);  // 64 tokens / 0.1 s
  CHECK(tg_row.find(">" + format_ns(3e6) + "<") != std::string::npos);  // p99
  CHECK(tg_row.find("1.50× (llama.cpp " + format_rate(64 / 0.15, "tok/s") + ")") !=
        std::string::npos);
  const size_t ttft = panel.find("generate/m/ttft128</td>");
  REQUIRE(ttft != std::string::npos);
  const std::string ttft_row = panel.substr(ttft, panel.find("</tr>", ttft) - ttft);
  CHECK(ttft_row.find(">" + format_ns(20e6) + "<") != std::string::npos);
  CHECK(count(ttft_row, ">n/a<") == 3);  // tokens/s, p99, no peer
  const size_t pp = panel.find("generate/m/pp128</td>");
  REQUIRE(pp != std::string::npos);
  CHECK(panel.substr(pp, panel.find("</tr>", pp) - pp).find(format_rate(128 / 0.05, "tok/s")) !=
        std::string::npos);
}

TEST_CASE("the runs table lists metadata newest first") {
  std::vector<EntryPoint> points = step_points("ops/dot/384", 2, 2, 1.0);
  ReportData data = report_of(points);
  for (int64_t id : {1, 2}) {
    RunInfo info;
    info.id = id;
    info.metadata = metadata(id, "vm");
    info.metadata.git_dirty = id == 2;
    info.metadata.cpu_microarch = "Sapphire Rapids (family 6 model 143)";
    info.entries = 4;
    data.runs.push_back(info);
  }
  const std::string html = format_html_report(data);
  const size_t section = html.find("<section id=\"runs\">");
  REQUIRE(section != std::string::npos);
  const std::string panel = html.substr(section);
  CHECK(panel.find(">#2<") < panel.find(">#1<"));
  CHECK(panel.find(hash('2').substr(0, 12)) != std::string::npos);
  CHECK(panel.find("Sapphire Rapids (family 6 model 143)") != std::string::npos);
  CHECK(panel.find("AVX3_SPR") != std::string::npos);
  CHECK(count(panel, "<td>yes</td>") == 1);
}

TEST_CASE("report_main writes the page from a database, usage errors exit 3") {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() /
                                    ("llmk-report-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  const std::string db = (dir / "h.sqlite").string(), page = (dir / "report.html").string();
  CHECK(report_main({"--db", db}) == kExitUsage);  // no -o
  auto store = open_store(db);
  if (!store.ok()) {
    // A build without SQLite: the subcommand says so and exits with a usage error.
    MESSAGE("no SQLite in this build: ", store.status().message());
    CHECK(report_main({"--db", db, "-o", page}) == kExitUsage);
    std::filesystem::remove_all(dir);
    return;
  }
  for (int64_t id = 1; id <= 2; ++id) {
    RunRecord run = run_of(0, "vm", {result("ops/dot/384", 100.0 * id)});
    RepetitionResult rep;
    rep.samples_ns = {100.0 * id};
    rep.stats = compute_stats(rep.samples_ns);
    run.suite.results[0].repetitions = {rep, rep};
    run.metadata = metadata(id, "vm");
    REQUIRE((*store)->append(run).ok());
  }
  store->reset();
  CHECK(report_main({"--db", db, "-o", page, "--filter", "("}) == kExitUsage);
  REQUIRE(report_main({"--db", db, "-o", page}) == kExitOk);
  std::ifstream in(page);
  std::stringstream text;
  text << in.rdbuf();
  const std::string html = text.str();
  CHECK(unbalanced_tags(html) == "");
  CHECK(count(html, "class=\"trend\"") == 1);
  CHECK(count(html, "<circle class=\"rep\"") == 4);  // 2 runs × 2 repetitions
  CHECK(html.find(">#2</td>") != std::string::npos);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace llmk::bench::history
