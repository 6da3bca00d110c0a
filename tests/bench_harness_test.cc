// The benchmark harness: statistics against hand-computed values, the U test
// against published tables, perf counters (software events for real, errnos
// and multiplexing scripted), JSON written and read back, pinning, the
// command line. The regression verdict and repetitions are tested in
// bench_statistics_test.cc.
#include <sched.h>
#include <sys/mman.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "harness/affinity.h"
#include "harness/baseline.h"
#include "cli.h"
#include "harness/json.h"
#include "llmk/bench.h"
#include "llmk/target.h"
#include "harness/mann_whitney.h"
#include "harness/perf_counters.h"
#include "report/report.h"
#include "harness/targets.h"
#include "harness/stats.h"
#include "test_util.h"
#include "harness/timer.h"

namespace llmk::bench {
namespace {

TEST_CASE("statistics match hand-computed values") {
  const std::vector<double> x = {4, 1, 100, 3, 2};  // sorted: 1 2 3 4 100
  const BenchmarkStats s = compute_stats(x);
  CHECK(s.n == 5);
  CHECK(s.min == 1);
  CHECK(s.max == 100);
  CHECK(s.mean == doctest::Approx(22.0));
  CHECK(s.median == 3);
  // Deviations −21 −20 −19 −18 78: squares sum to 7610, / (n − 1) = 1902.5.
  CHECK(s.stddev == doctest::Approx(std::sqrt(1902.5)));
  CHECK(s.p90 == doctest::Approx(61.6));   // rank 3.6: 4 + 0.6·96
  CHECK(s.p99 == doctest::Approx(96.16));  // rank 3.96: 4 + 0.96·96
  CHECK(s.mad == 1);                        // |x − 3| = 2 1 0 1 97
  // (100 − 3) = 97 < 3·43.6: the three-sigma rule cannot fire for n ≤ 8 ...
  CHECK(s.three_sigma_outliers == 0);
  // ... while the robust rule (beyond 3 ± 5·1) flags the 100.
  CHECK(s.robust_outliers == 1);

  const std::vector<double> even = {4, 1, 3, 2};
  CHECK(median_of(even) == doctest::Approx(2.5));
  CHECK(compute_stats(std::vector<double>{}).n == 0);
  CHECK(stddev_of(std::vector<double>{5.0}) == 0.0);
}

TEST_CASE("seed outlier rule fires with enough samples; MAD = 0 guard") {
  std::vector<double> x(19, 10.0);
  x.push_back(1000.0);
  const BenchmarkStats s = compute_stats(x);
  // mean 59.5, stddev sqrt(931095 / 19) = 221.4; 990 > 3·221.4.
  CHECK(s.stddev == doctest::Approx(std::sqrt(931095.0 / 19.0)));
  CHECK(s.three_sigma_outliers == 1);
  CHECK(s.mad == 0);
  CHECK(s.robust_outliers == 0);  // MAD = 0: no robust outliers rather than 1 of 20
}

TEST_CASE("rates") {
  CHECK(per_second(384.0, 20.0) == doctest::Approx(384.0 * 1e9 / 20.0));
  CHECK(per_second(1.0, 0.0) == 0.0);
}

TEST_CASE("Mann-Whitney exact tail against hand counts and published tables") {
  // Complete separation: only 1 of C(8,4) = 70 arrangements reaches U = 16.
  const std::vector<double> hi4 = {5, 6, 7, 8}, lo4 = {1, 2, 3, 4};
  UTestResult r = mann_whitney_greater(hi4, lo4);
  CHECK(r.exact);
  CHECK(r.u == 16);
  CHECK(r.p_value == doctest::Approx(1.0 / 70.0));
  CHECK(mann_whitney_greater(lo4, hi4).p_value == doctest::Approx(1.0));
  // m = n = 3, separated: 1 / C(6,3) = 1/20.
  CHECK(mann_whitney_exact_upper_tail(3, 3, 9) == doctest::Approx(0.05));
  // P(U ≥ 15) for m = n = 4: arrangements with U ≤ 1 mirrored: 2/70.
  CHECK(mann_whitney_exact_upper_tail(4, 4, 15) == doctest::Approx(2.0 / 70.0));
  // Published critical values, n1 = n2 = 10 (lower tail U ≤ c, mirrored to
  // the upper tail U ≥ 100 − c): one-sided α = 0.01 → c = 19; α = 0.05 → c = 27.
  CHECK(mann_whitney_exact_upper_tail(10, 10, 81) <= 0.01);
  CHECK(mann_whitney_exact_upper_tail(10, 10, 80) > 0.01);
  CHECK(mann_whitney_exact_upper_tail(10, 10, 73) <= 0.05);
  CHECK(mann_whitney_exact_upper_tail(10, 10, 72) > 0.05);
  // n1 = n2 = 5, α = 0.05 one-sided → c = 4.
  CHECK(mann_whitney_exact_upper_tail(5, 5, 21) <= 0.05);
  CHECK(mann_whitney_exact_upper_tail(5, 5, 20) > 0.05);
}

TEST_CASE("Mann-Whitney normal approximation with tie correction") {
  // Pooled: 1(y) 2(x) 2(x) 2(y) 3(x); the 2s share rank 3, so R_x = 11 and
  // U = 11 − 6 = 5. Tie term 3³ − 3 = 24; var = 3·2/12·(6 − 24/20) = 2.4.
  const std::vector<double> x = {2, 2, 3}, y = {1, 2};
  const UTestResult r = mann_whitney_greater(x, y);
  CHECK_FALSE(r.exact);
  CHECK(r.u == doctest::Approx(5.0));
  const double z = (5.0 - 3.0 - 0.5) / std::sqrt(2.4);
  CHECK(r.p_value == doctest::Approx(0.5 * std::erfc(z / std::sqrt(2.0))));
  CHECK(r.p_value == doctest::Approx(0.1665).epsilon(0.002));
  // Everything tied: no evidence, p = 1.
  const std::vector<double> same = {7, 7, 7};
  CHECK(mann_whitney_greater(same, same).p_value == 1.0);
  // Large samples: the approximation agrees with the exact tail.
  std::vector<double> a, b;
  for (int i = 0; i < 40; ++i) (i % 2 ? a : b).push_back(i + (i % 4 == 1 ? 3.5 : 0.0));
  const UTestResult exact = mann_whitney_greater(a, b);
  REQUIRE(exact.exact);
  const double m = 20, n = 20;
  const double za = (exact.u - m * n / 2 - 0.5) / std::sqrt(m * n * (m + n + 1) / 12);
  CHECK(exact.p_value == doctest::Approx(0.5 * std::erfc(za / std::sqrt(2.0))).epsilon(0.02));
}

// A kernel stand-in that fails opens with scripted errnos and reports a
// scripted multiplexing ratio.
class ScriptedSource final : public CounterSource {
 public:
  std::map<std::string, int> open_errno;  // event → errno for any open
  bool enospc_when_grouped = false;       // joining a group fails with ENOSPC
  uint64_t time_enabled = 1000, time_running = 250, value_step = 100;

  int encode(const std::string& event, perf_event_attr* attr) override {
    if (!encode_generic_event(event, attr)) return -ENOENT;
    pending_ = event;
    return 0;
  }
  int open(perf_event_attr*, int group_fd) override {
    const std::string event = pending_;
    if (auto it = open_errno.find(event); it != open_errno.end()) return -it->second;
    if (group_fd >= 0 && enospc_when_grouped) return -ENOSPC;
    const int fd = next_fd_++;
    members_[group_fd >= 0 ? group_fd : fd].push_back(fd);
    return fd;
  }
  ssize_t read(int fd, void* buf, size_t bytes) override {
    ++reads_;
    const std::vector<int>& m = members_[fd];
    std::vector<uint64_t> words = {m.size(), time_enabled * reads_, time_running * reads_};
    for (size_t i = 0; i < m.size(); ++i) words.push_back(value_step * reads_ * (i + 1));
    const size_t n = std::min(bytes, words.size() * sizeof(uint64_t));
    std::memcpy(buf, words.data(), n);
    return static_cast<ssize_t>(n);
  }
  int enable_group(int leader_fd) override {
    if (enable_errno != 0) return -enable_errno;
    enabled.push_back(leader_fd);
    return 0;
  }
  void close(int fd) override { closed.push_back(fd); }

  int enable_errno = 0;  // nonzero: every group enable fails with it
  std::vector<int> closed;
  std::vector<int> enabled;  // leaders, in the order they were enabled

 private:
  std::string pending_;
  int next_fd_ = 10;
  uint64_t reads_ = 0;
  std::map<int, std::vector<int>> members_;
};

TEST_CASE("counter errnos are classified per event and never become 0") {
  ScriptedSource source;
  source.open_errno = {{"cycles", ENOENT}, {"instructions", EACCES}, {"branches", EINVAL},
                       {"cache-misses", EOPNOTSUPP}, {"branch-misses", EPERM}};
  const std::vector<std::string> events = {"cycles",    "instructions", "branches",
                                           "task-clock", "cache-misses", "page-faults",
                                           "branch-misses", "no-such-event"};
  std::vector<CounterValue> values;
  {
    CounterSet set(events, source);
    const auto& st = set.status();
    REQUIRE(st.size() == events.size());
    CHECK(st[0].state == CounterState::kUnsupported);
    CHECK(st[0].reason.find("ENOENT") != std::string::npos);
    CHECK(st[1].state == CounterState::kNoPermission);
    CHECK(st[1].reason.find("perf_event_paranoid") != std::string::npos);
    CHECK(st[2].state == CounterState::kInvalid);
    CHECK(st[3].state == CounterState::kOk);
    CHECK(st[4].state == CounterState::kUnsupported);
    CHECK(st[5].state == CounterState::kOk);
    CHECK(st[5].group == st[3].group);  // page-faults joined task-clock's group
    CHECK(source.enabled.size() == 1);  // the one group, enabled once all were attached
    CHECK(st[6].state == CounterState::kNoPermission);
    CHECK(st[7].state == CounterState::kUnknownEvent);
    const auto a = set.snapshot();
    const auto b = set.snapshot();
    values = set.values_between(a, b);
  }
  REQUIRE(values.size() == events.size());
  for (size_t i : {0, 1, 2, 4, 6, 7}) CHECK_FALSE(values[i].count.has_value());
  // One read's increment: 100 and 200, counted 25% of the time → ×4.
  REQUIRE(values[3].count.has_value());
  CHECK(*values[3].count == doctest::Approx(400.0));
  CHECK(*values[5].count == doctest::Approx(800.0));
  CHECK(values[3].running_fraction == doctest::Approx(0.25));
  CHECK(source.closed.size() == 2);  // both opened fds closed, members first
  CHECK(source.closed[0] > source.closed[1]);

  CHECK(classify_open_errno(ENODEV) == CounterState::kUnsupported);
  CHECK(classify_open_errno(ENOSPC) == CounterState::kNoCounters);
  CHECK(classify_open_errno(EBADF) == CounterState::kError);
}

TEST_CASE("an event the current group cannot take starts a new group") {
  ScriptedSource source;
  source.enospc_when_grouped = true;
  source.time_running = 1000;  // not multiplexed
  CounterSet set({"task-clock", "page-faults", "context-switches"}, source);
  const auto& st = set.status();
  CHECK(st[0].group == 0);
  CHECK(st[1].group == 1);
  CHECK(st[2].group == 2);
  const auto a = set.snapshot();
  const auto b = set.snapshot();
  const auto v = set.values_between(a, b);
  for (const auto& c : v) {
    REQUIRE(c.count.has_value());
    CHECK(c.running_fraction == doctest::Approx(1.0));
  }
}

TEST_CASE("a group whose enable fails is reported, never read") {
  ScriptedSource source;
  source.enable_errno = EACCES;
  CounterSet set({"task-clock", "page-faults"}, source);
  for (const CounterStatus& st : set.status()) {
    CHECK(st.state == CounterState::kNoPermission);
    CHECK(st.reason.find("enabling its group failed") != std::string::npos);
  }
  const auto a = set.snapshot();
  const auto b = set.snapshot();
  for (const CounterValue& v : set.values_between(a, b)) CHECK_FALSE(v.count.has_value());
}

TEST_CASE("group read parsing and multiplex scaling are pure arithmetic") {
  const std::vector<uint64_t> words = {2, 3000, 1000, 7, 11};
  std::vector<uint8_t> buf(words.size() * 8);
  std::memcpy(buf.data(), words.data(), buf.size());
  auto r = parse_group_read(buf, 2);
  REQUIRE(r.ok());
  CHECK(r->time_enabled == 3000);
  CHECK(r->time_running == 1000);
  CHECK(r->values == std::vector<uint64_t>{7, 11});
  CHECK_FALSE(parse_group_read(buf, 3).ok());                              // nr mismatch
  CHECK_FALSE(parse_group_read(std::span(buf).first(20), 2).ok());         // short header
  CHECK_FALSE(parse_group_read(std::span(buf).first(32), 2).ok());         // short values
  CHECK(*scale_count(7, 3000, 1000) == doctest::Approx(21.0));
  CHECK(*scale_count(7, 1000, 1000) == 7.0);
  CHECK_FALSE(scale_count(7, 1000, 0).has_value());  // never ran: no value, not 0
  GroupReading later{5000, 2000, {10, 20}};
  const GroupReading d = reading_delta(*r, later);
  CHECK(d.time_enabled == 2000);
  CHECK(d.values == std::vector<uint64_t>{3, 9});
}

// Writes one byte per 4 KiB page. Not instrumented: under ASan each store
// would first read its shadow byte, and the shadow's own first-touch faults
// would be counted with the pages'.
__attribute__((no_sanitize("address"), noinline)) void touch_pages(char* mem, size_t bytes) {
  for (size_t off = 0; off < bytes; off += 4096) static_cast<volatile char*>(mem)[off] = 1;
}

TEST_CASE("software counters through perf_event_open: 64 MiB touched = 16384 page faults") {
  auto source = make_system_counter_source();
  CounterSet set({"task-clock", "page-faults", "cycles"}, *source);
  const auto& st = set.status();
  if (st[0].state != CounterState::kOk || st[1].state != CounterState::kOk) {
    test::skip("software perf events unavailable here: " + st[0].reason);
    return;
  }
  CHECK(st[0].group == st[1].group);
  // cycles either opened or has a classified reason; it never reads as 0.
  CHECK((st[2].state == CounterState::kOk || st[2].state == CounterState::kUnsupported ||
         st[2].state == CounterState::kNoPermission));
  // Exact on every pass, the first included: the group is enabled as a unit
  // (a member joining a counting group used to miss the first pass's
  // faults until a context switch), reading allocates nothing between the
  // two snapshots, and the touching loop is not instrumented.
  constexpr size_t kBytes = size_t{64} << 20;
  CounterSet::Snapshot before = set.new_snapshot(), after = set.new_snapshot();
  for (int pass = 0; pass < 3; ++pass) {
    CAPTURE(pass);
    void* mem = mmap(nullptr, kBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    REQUIRE(mem != MAP_FAILED);
    // One fault per 4 KiB page even where THP is "always".
    REQUIRE(madvise(mem, kBytes, MADV_NOHUGEPAGE) == 0);
    set.read(before);
    touch_pages(static_cast<char*>(mem), kBytes);
    set.read(after);
    munmap(mem, kBytes);
    const std::vector<CounterValue> v = set.values_between(before, after);
    REQUIRE(v[1].count.has_value());
    CHECK(*v[1].count == 16384.0);
    REQUIRE(v[0].count.has_value());
    CHECK(*v[0].count > 0.0);  // task-clock: nanoseconds on CPU
    CHECK(v[0].running_fraction == doctest::Approx(1.0));
    if (st[2].state != CounterState::kOk) CHECK_FALSE(v[2].count.has_value());
  }
}

SuiteResult sample_suite() {
  SuiteResult suite;
  suite.timer = "tsc";
  suite.tsc_ghz = 2.5;
  suite.governor = "unknown";
  suite.energy_source = "n/a";
  suite.targets_run = {"AVX2"};
  suite.warnings = {"a \"quoted\"\nwarning"};
  BenchmarkResult r;
  r.name = "ops/dot/384";
  r.target = "AVX2";
  r.batch_size = 100;
  r.samples_ns = {10.0, 11.0, 12.0, 10.5, 10.25, 1e-3, 1e9};
  r.total_ops = r.batch_size * r.samples_ns.size();
  r.stats = compute_stats(r.samples_ns);
  r.cpu_ns_per_op = std::nan("");  // must not reach the JSON as NaN
  r.items_per_second = 1e8;
  r.bytes_per_op = 3072;
  r.bytes_per_second = std::numeric_limits<double>::infinity();
  r.targets = {{"ours", 20, 0}};
  r.counters = {{"cycles", std::nullopt, 0, "unsupported (ENOENT: ...)"},
                {"task-clock", 12.5, 1.0, "ok"}};
  suite.results.push_back(r);
  BenchmarkResult skipped;
  skipped.name = "tokenizer/gpt2";
  skipped.skipped = "no vocabulary";
  suite.results.push_back(skipped);
  return suite;
}

TEST_CASE("JSON is google/benchmark-shaped, strict, and round-trips samples") {
  const SuiteResult suite = sample_suite();
  const std::string text = format_json(suite);
  CHECK(text.find("NaN") == std::string::npos);
  CHECK(text.find("nan") == std::string::npos);
  CHECK(text.find("inf") == std::string::npos);
  auto doc = parse_json(text);
  REQUIRE(doc.ok());
  const JsonValue* context = doc->find("context");
  REQUIRE(context);
  REQUIRE(context->find("json_schema_version"));
  CHECK(context->find("json_schema_version")->number == 1);
  const JsonValue* benchmarks = doc->find("benchmarks");
  REQUIRE(benchmarks);
  REQUIRE(benchmarks->array.size() == 2);
  const JsonValue& b = benchmarks->array[0];
  CHECK(b.find("name")->string == "ops/dot/384");
  CHECK(b.find("run_type")->string == "iteration");
  CHECK(b.find("repetitions")->number == 1);
  CHECK(b.find("repetition_index")->number == 0);
  CHECK(b.find("iterations")->number == 700);
  CHECK(b.find("time_unit")->string == "ns");
  CHECK(b.find("real_time")->number == doctest::Approx(suite.results[0].stats.median));
  CHECK(b.find("cpu_time")->type == JsonValue::Type::kNull);  // NaN written as null
  CHECK(b.find("items_per_second")->number == 1e8);
  CHECK(b.find("bytes_per_second") == nullptr);  // infinite: left out
  CHECK(b.find("cycles") == nullptr);            // counter that did not run: absent, not 0
  CHECK(b.find("task-clock")->number == 12.5);
  CHECK(b.find("llmk")->find("counter_status")->array.size() == 2);
  CHECK(benchmarks->array[1].find("error_occurred")->boolean);
  CHECK(context->find("llmk")->find("warnings")->array[0].string == "a \"quoted\"\nwarning");

  auto baseline = parse_baseline(text);
  REQUIRE(baseline.ok());
  REQUIRE(baseline->count("ops/dot/384") == 1);
  // %.17g is exact: the one repetition's median comes back unchanged.
  CHECK(baseline->at("ops/dot/384").repetition_medians_ns ==
        std::vector<double>{suite.results[0].stats.median});
  CHECK(baseline->at("ops/dot/384").mean_ns == doctest::Approx(suite.results[0].stats.mean));
  CHECK(baseline->at("ops/dot/384").samples == suite.results[0].samples_ns.size());
  CHECK(baseline->count("tokenizer/gpt2") == 0);
}

TEST_CASE("the JSON parser is strict") {
  CHECK(parse_json(R"({"a": [1, 2.5e3, -0.5, true, null, "x\u00e9\ud83d\ude00"]})").ok());
  CHECK(parse_json(R"("\u00e9")")->string == "\xc3\xa9");
  for (const char* bad : {"{\"a\": NaN}", "[1, 2,]", "{\"a\" 1}", "[Infinity]", "01", "[1] x",
                          "\"\\ud800\"", "{'a': 1}", "[1e]", "\"tab\there\"", ""}) {
    CHECK_MESSAGE(!parse_json(bad).ok(), bad);
  }
  CHECK_FALSE(parse_baseline(R"({"benchmarks": [{"name": "x"}]})").ok());
  CHECK_FALSE(parse_baseline(R"({"context": {}})").ok());
}

TEST_CASE("CSV has one row per benchmark and empty cells for n/a") {
  const std::string csv = format_csv(sample_suite());
  size_t lines = 0;
  for (char c : csv) lines += c == '\n';
  CHECK(lines == 3);
  CHECK(csv.find("nan") == std::string::npos);
  CHECK(csv.find("inf") == std::string::npos);
}

TEST_CASE("speed targets and ratio targets") {
  SuiteResult suite;
  BenchmarkResult ours, theirs;
  ours.name = "ops/matvec/384x384";
  ours.target = theirs.target = "AVX2";
  ours.stats.n = theirs.stats.n = 10;
  ours.stats.median = 4000;
  ours.targets = {{"spec", 50000, 0}, {"tight", 3000, 0}};
  ours.ratio_targets = {RatioTarget{"openblas/sgemv/384x384", 1.2}};
  theirs.name = "openblas/sgemv/384x384";
  theirs.stats.median = 5000;
  suite.results = {ours, theirs};
  const auto checks = check_targets(suite.results[0], suite);
  REQUIRE(checks.size() == 3);
  CHECK(checks[0].pass);
  CHECK_FALSE(checks[1].pass);
  CHECK(checks[2].pass);  // 5000 / 4000 = 1.25 ≥ 1.2

  // By bytes: 1 GB in 50 ms (20 GB/s) against a probe reading 1 GB in 40 ms
  // (25 GB/s) is 80%; a 0.85 floor fails, 0.8 passes.
  BenchmarkResult stream, probe;
  stream.name = "generate/x/tg64";
  probe.name = "memory/bandwidth/read";
  stream.target = probe.target = "AVX2";
  stream.stats.n = probe.stats.n = 10;
  stream.stats.median = 50e6;
  probe.stats.median = 40e6;
  stream.bytes_per_op = probe.bytes_per_op = 1e9;
  stream.ratio_targets = {RatioTarget{"memory/bandwidth/read", 0.85, true}};
  SuiteResult bw;
  bw.results = {stream, probe};
  auto fail = check_targets(bw.results[0], bw);
  REQUIRE(fail.size() == 1);
  CHECK_FALSE(fail[0].pass);
  CHECK(fail[0].text.find("80% of memory/bandwidth/read GB/s") != std::string::npos);
  bw.results[0].ratio_targets[0].min_speedup = 0.8;
  CHECK(check_targets(bw.results[0], bw)[0].pass);
}

TEST_CASE("pinning is verified with sched_getaffinity") {
  const std::vector<int> original = allowed_cpus();
  REQUIRE_FALSE(original.empty());
  const int cpu = original.back();
  REQUIRE(pin_current_thread(cpu).ok());
  cpu_set_t set;
  CPU_ZERO(&set);
  REQUIRE(sched_getaffinity(0, sizeof set, &set) == 0);
  CHECK(CPU_COUNT(&set) == 1);
  CHECK(CPU_ISSET(cpu, &set));
  CHECK_FALSE(pin_current_thread(CPU_SETSIZE + 5).ok());
  REQUIRE(set_thread_cpus(original).ok());
  CHECK(allowed_cpus() == original);

  CHECK(*parse_cpu_list("0-3,8,10-11\n") == std::vector<int>{0, 1, 2, 3, 8, 10, 11});
  CHECK(parse_cpu_list("")->empty());
  CHECK_FALSE(parse_cpu_list("3-1").ok());
  CHECK_FALSE(parse_cpu_list("a").ok());
  CHECK_FALSE(cpu_governor(0).empty());  // a governor name or "unknown"
}

TEST_CASE("command line") {
  auto o = parse_cli({"--filter", "dot", "--iterations=50", "--counters", "--json", "out.json",
                      "--min-time", "1e-5", "--target", "all", "--cpu", "1"});
  REQUIRE(o.ok());
  CHECK(o->config.filter == "dot");
  CHECK(o->config.measurement_iterations == 50);
  CHECK(o->config.counters);
  CHECK(o->config.counter_events.empty());
  CHECK(o->json_path == "out.json");
  CHECK(o->config.min_sample_time_s == doctest::Approx(1e-5));
  CHECK(o->config.target == "all");
  CHECK(o->config.cpu == 1);
  auto c = parse_cli({"--counters", "task-clock,page-faults"});
  REQUIRE(c.ok());
  CHECK(c->config.counter_events == std::vector<std::string>{"task-clock", "page-faults"});
  CHECK_FALSE(parse_cli({"--iterations", "x"}).ok());
  CHECK_FALSE(parse_cli({"--iterations", "0"}).ok());
  CHECK_FALSE(parse_cli({"--bogus"}).ok());
  CHECK_FALSE(parse_cli({"--json"}).ok());
  CHECK_FALSE(parse_cli({"--min-time", "-1"}).ok());
}

TEST_CASE("the runner batches short operations and reports skipped setups") {
  uint64_t calls = 0;
  BenchmarkSpec fast;
  fast.name = "test/fast";
  fast.setup = [&calls](const BenchmarkConfig&) -> absl::StatusOr<BatchFn> {
    return BatchFn([&calls](uint64_t count) -> absl::Status {
      for (uint64_t i = 0; i < count; ++i) {
        ++calls;
        clobber_memory();
      }
      return absl::OkStatus();
    });
  };
  BenchmarkSpec missing;
  missing.name = "test/missing";
  missing.setup = [](const BenchmarkConfig&) -> absl::StatusOr<BatchFn> {
    return absl::NotFoundError("no vocabulary given (--vocab)");
  };
  BenchmarkConfig config;
  config.measurement_iterations = 25;
  config.warmup_iterations = 3;
  config.min_sample_time_s = 5e-6;
  config.progress = false;
  const std::vector<BenchmarkSpec> specs = {fast, missing};
  auto result = run_benchmarks(specs, config);
  REQUIRE(result.ok());
  REQUIRE(result->results.size() == 2);
  const BenchmarkResult& r = result->results[0];
  CHECK(r.skipped.empty());
  CHECK(r.samples_ns.size() == 25);
  CHECK(r.batch_size > 1);  // an increment is far below 5 µs
  CHECK(r.total_ops == 25 * r.batch_size);
  CHECK(calls > r.total_ops);  // plus calibration and warm-up
  CHECK(r.stats.n == 25);
  CHECK(result->results[1].skipped == "no vocabulary given (--vocab)");

  config.filter = "([";
  CHECK_FALSE(run_benchmarks(specs, config).ok());
  config.filter = "";
  config.target = "NOT_A_TARGET";
  CHECK_FALSE(run_benchmarks(specs, config).ok());
}

// Calls of a body that spins at least 1 µs per call, far above the 100 ns
// shortest sample: the runner never grows its batch beyond 1, so its calls
// are fixed: 1 untimed, 1 sizing, 1 per warm-up batch, 1 per sample. The
// body fails on call `fail_on` (1-based; 0: never).
BenchmarkSpec slow_spec(const std::string& name, uint64_t fail_on,
                        std::shared_ptr<uint64_t> calls) {
  BenchmarkSpec s;
  s.name = name;
  s.setup = [fail_on, calls](const BenchmarkConfig&) -> absl::StatusOr<BatchFn> {
    return BatchFn([fail_on, calls](uint64_t count) -> absl::Status {
      for (uint64_t i = 0; i < count; ++i) {
        if (++*calls == fail_on) {
          return absl::InternalError(absl::StrCat("kernel failed on call ", fail_on));
        }
        const uint64_t until = monotonic_ns() + 1000;
        while (monotonic_ns() < until) clobber_memory();
      }
      return absl::OkStatus();
    });
  };
  return s;
}

BenchmarkConfig small_run_config() {
  BenchmarkConfig config;
  config.warmup_iterations = 3;
  config.measurement_iterations = 5;
  config.min_sample_time_s = 1e-7;  // the runner's floor: 100 ns
  config.max_warmup_s = 10;         // never cut short: the call count must stay exact
  config.max_time_s = 10;
  config.progress = false;
  return config;
}

TEST_CASE("an error in a timed body ends its entry with the error and no samples") {
  const BenchmarkConfig config = small_run_config();
  // Calls: 1 first (untimed), 2 sizing, 3-5 warm-up, 6-10 samples.
  struct Case {
    uint64_t fail_on;
    const char* phase;
  };
  for (const Case& c : {Case{1, "first call: "}, Case{2, "batch sizing (batch of 1): "},
                        Case{4, "warm-up 2 (batch of 1): "}, Case{8, "sample 3 (batch of 1): "}}) {
    INFO("fails on call " << c.fail_on);
    auto failing_calls = std::make_shared<uint64_t>(0);
    auto next_calls = std::make_shared<uint64_t>(0);
    const std::vector<BenchmarkSpec> specs = {slow_spec("test/fails", c.fail_on, failing_calls),
                                              slow_spec("test/next", 0, next_calls)};
    auto result = run_benchmarks(specs, config);
    REQUIRE(result.ok());
    REQUIRE(result->results.size() == 2);
    const BenchmarkResult& failed = result->results[0];
    CHECK(failed.skipped.empty());
    CHECK(failed.error == absl::StrCat(c.phase, "INTERNAL: kernel failed on call ", c.fail_on));
    CHECK(*failing_calls == c.fail_on);  // ended at once: no call after the failing one
    CHECK(failed.samples_ns.empty());    // the samples before it are dropped too
    CHECK(failed.stats.n == 0);
    CHECK(failed.total_ops == 0);
    CHECK(failed.items_per_second == 0);
    CHECK(entry_error_exit_code(*result) == kExitEntryError);

    // The run goes on: the next entry is measured as usual, with exactly the
    // calls the failure cases above count on.
    const BenchmarkResult& next = result->results[1];
    CHECK(next.error.empty());
    CHECK(next.batch_size == 1);
    CHECK(next.samples_ns.size() == 5);
    CHECK(*next_calls == 10);
  }
}

TEST_CASE("an error while the batch grows ends the entry") {
  BenchmarkSpec spec;
  spec.name = "test/fails_in_batches";
  spec.setup = [](const BenchmarkConfig&) -> absl::StatusOr<BatchFn> {
    return BatchFn([](uint64_t count) -> absl::Status {
      if (count > 1) return absl::OutOfRangeError("no room for a batch");
      clobber_memory();
      return absl::OkStatus();
    });
  };
  BenchmarkConfig config = small_run_config();
  config.min_sample_time_s = 5e-6;  // one empty call is far shorter: the batch must grow
  const std::vector<BenchmarkSpec> specs = {spec};
  auto result = run_benchmarks(specs, config);
  REQUIRE(result.ok());
  const BenchmarkResult& r = result->results[0];
  CHECK(r.error.rfind("batch sizing (batch of ", 0) == 0);
  CHECK(r.error.find("): OUT_OF_RANGE: no room for a batch") != std::string::npos);
  CHECK(r.error.find("(batch of 1)") == std::string::npos);  // failed on a grown batch
  CHECK(r.samples_ns.empty());
}

TEST_CASE("a setup that fails for a missing input skips; any other setup error is an error") {
  auto setup_failing_with = [](absl::Status status) {
    BenchmarkSpec s;
    s.name = absl::StrCat("test/setup/", absl::StatusCodeToString(status.code()));
    s.setup = [status](const BenchmarkConfig&) -> absl::StatusOr<BatchFn> { return status; };
    return s;
  };
  BenchmarkSpec no_setup;
  no_setup.name = "test/setup/none";
  const std::vector<BenchmarkSpec> specs = {
      setup_failing_with(absl::NotFoundError("no vocabulary")),
      setup_failing_with(absl::FailedPreconditionError("context 64 < 128")),
      setup_failing_with(absl::InvalidArgumentError("quantize: bad block count")), no_setup};
  auto result = run_benchmarks(specs, small_run_config());
  REQUIRE(result.ok());
  REQUIRE(result->results.size() == 4);
  CHECK(result->results[0].skipped == "no vocabulary");
  CHECK(result->results[0].error.empty());
  CHECK(result->results[1].skipped == "context 64 < 128");
  CHECK(result->results[2].skipped.empty());
  CHECK(result->results[2].error == "setup: INVALID_ARGUMENT: quantize: bad block count");
  CHECK(result->results[3].error == "setup: INVALID_ARGUMENT: no setup function");
  CHECK(entry_error_exit_code(*result) == kExitEntryError);

  const std::vector<BenchmarkSpec> only_skipped = {specs[0], specs[1]};
  auto skipped = run_benchmarks(only_skipped, small_run_config());
  REQUIRE(skipped.ok());
  CHECK(entry_error_exit_code(*skipped) == 0);  // skipping is no failure
}

TEST_CASE("an errored entry is reported as an error in the console, JSON and CSV") {
  auto calls = std::make_shared<uint64_t>(0);
  BenchmarkSpec missing;
  missing.name = "test/missing";
  missing.setup = [](const BenchmarkConfig&) -> absl::StatusOr<BatchFn> {
    return absl::NotFoundError("no vocabulary");
  };
  const std::vector<BenchmarkSpec> specs = {slow_spec("test/fails", 7, calls), missing};
  auto result = run_benchmarks(specs, small_run_config());
  REQUIRE(result.ok());
  const std::string error = result->results[0].error;
  REQUIRE(error == "sample 2 (batch of 1): INTERNAL: kernel failed on call 7");

  char* buffer = nullptr;
  size_t size = 0;
  std::FILE* console = open_memstream(&buffer, &size);
  REQUIRE(console);
  print_summary(*result, console);
  std::fclose(console);
  const std::string table(buffer, size);
  std::free(buffer);
  CHECK(table.find("test/fails") != std::string::npos);
  CHECK(table.find("error: " + error) != std::string::npos);
  CHECK(table.find("skipped: no vocabulary") != std::string::npos);

  const std::string json = format_json(*result);
  auto doc = parse_json(json);
  REQUIRE(doc.ok());
  const JsonValue& failed = doc->find("benchmarks")->array[0];
  CHECK(failed.find("error_occurred")->boolean);
  CHECK(failed.find("error_message")->string == error);
  CHECK(failed.find("iterations")->number == 0);
  CHECK_FALSE(failed.find("llmk")->find("skipped")->boolean);
  const JsonValue& skipped = doc->find("benchmarks")->array[1];
  CHECK(skipped.find("error_occurred")->boolean);
  CHECK(skipped.find("llmk")->find("skipped")->boolean);
  auto baseline = parse_baseline(json);
  REQUIRE(baseline.ok());
  CHECK(baseline->empty());  // neither can become a baseline's samples

  const std::string csv = format_csv(*result);
  CHECK(csv.find(",skipped,error\n") != std::string::npos);
  // The failed row: no statistics, the message in the last column (its
  // commas, none here, would become spaces).
  CHECK(csv.find("test/fails,") != std::string::npos);
  CHECK(csv.find(",," + error + "\n") != std::string::npos);
  CHECK(csv.find(",no vocabulary,\n") != std::string::npos);
}

TEST_CASE("bench_main exits with kExitEntryError when an entry fails") {
  // Registered here, not at start-up, and selected by an exact filter, so no
  // other test's run contains them.
  register_benchmark(slow_spec("test/bench_main/fails", 2, std::make_shared<uint64_t>(0)));
  register_benchmark(slow_spec("test/bench_main/passes", 0, std::make_shared<uint64_t>(0)));
  auto run = [](const std::string& filter) {
    std::vector<std::string> args = {"llmk-bench", "--filter", filter, "--iterations", "3",
                                     "--warmup", "1", "--max-time", "1"};
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    return bench_main(static_cast<int>(argv.size()), argv.data());
  };
  CHECK(run("^test/bench_main/fails$") == kExitEntryError);
  CHECK(kExitEntryError == 4);  // documented in the usage text and bench.h
  CHECK(run("^test/bench_main/passes$") == 0);
  CHECK(std::string(cli_usage()).find("4 an entry ended with an error") != std::string::npos);
}

TEST_CASE("timer") {
  const Timer& t = Timer::instance();
  if (t.uses_tsc()) CHECK(t.tsc_ghz() > 0.1);
  const uint64_t a = t.now();
  const uint64_t b = t.now();
  CHECK(b >= a);
}

TEST_CASE("every ratio target of an entry is judged on its own and written to the JSON") {
  // ops/dot/384 at 10 ns under AVX2 (256 bits), beside its scalar
  // companion at 50 ns, OpenBLAS at 9 ns and a probe reading 2× its bytes/s.
  SuiteResult suite;
  BenchmarkResult ours, scalar, blas, probe;
  ours.name = "ops/dot/384";
  ours.target = "AVX2";
  ours.vector_bytes = 32;
  ours.stats.n = scalar.stats.n = blas.stats.n = probe.stats.n = 10;
  ours.stats.median = 10;
  ours.bytes_per_op = probe.bytes_per_op = 3072;
  scalar.name = "ops/dot/384/scalar";
  scalar.target = "SCALAR";
  scalar.stats.median = 50;
  blas.name = "openblas/sdot/384";
  blas.target = probe.target = "-";
  blas.stats.median = 9;
  probe.name = "memory/bandwidth/read";
  probe.stats.median = 5;
  ours.ratio_targets = {
      scalar_ratio_target("ops/dot/384", 2.0, 2.0),  // needs 2 + 2·log2(256/128) = 4x: 5x PASS
      scalar_ratio_target("ops/dot/384", 2.0, 6.0),  // needs 8x: FAIL
      RatioTarget{"openblas/sdot/384", 1.0},         // 0.9x: FAIL
      RatioTarget{"memory/bandwidth/read", 0.45, true},  // 50% of its GB/s: PASS
      RatioTarget{"ops/not_run", 1.0}};              // n/a, never PASS or FAIL
  suite.results = {ours, scalar, blas, probe};
  const std::vector<TargetCheck> checks = check_targets(suite.results[0], suite);
  REQUIRE(checks.size() == 5);
  CHECK(checks[0].pass);
  CHECK(checks[0].ratio == doctest::Approx(5.0));
  CHECK(checks[0].required == doctest::Approx(4.0));
  CHECK_FALSE(checks[1].pass);
  CHECK(checks[1].required == doctest::Approx(8.0));
  CHECK_FALSE(checks[2].pass);
  CHECK(checks[2].text.find("0.90x vs openblas/sdot/384 (>=1.00x) FAIL") != std::string::npos);
  CHECK(checks[3].pass);
  CHECK(checks[3].ratio == doctest::Approx(0.5));
  CHECK(checks[4].text == "vs ops/not_run: n/a (not run)");
  CHECK(count_failed_targets(suite) == 2);  // the n/a one is not a FAIL

  auto doc = parse_json(format_json(suite));
  REQUIRE(doc.ok());
  const JsonValue& row = doc->find("benchmarks")->array.at(0);
  const std::vector<JsonValue>& targets = row.find("llmk")->find("targets")->array;
  REQUIRE(targets.size() == 5);
  const bool expected_pass[] = {true, false, false, true, false};
  for (size_t i = 0; i < targets.size(); ++i) {
    INFO(i);
    REQUIRE(targets[i].find("vs") != nullptr);
    CHECK(targets[i].find("vs")->string == ours.ratio_targets[i].other);
    REQUIRE(targets[i].find("pass") != nullptr);
    CHECK(targets[i].find("pass")->boolean == expected_pass[i]);
  }
  CHECK(targets[0].find("ratio")->number == doctest::Approx(5.0));
  CHECK(targets[0].find("min_ratio")->number == doctest::Approx(4.0));
  CHECK(targets[4].find("ratio") == nullptr);  // not measured: no number

  // The required speedup follows the vector width the entry ran under:
  // under AVX-512 the first target needs 2 + 2·2 = 6x and fails; on a
  // 128-bit target its floor of 2x is all it asks.
  suite.results[0].vector_bytes = 64;
  CHECK(check_targets(suite.results[0], suite)[0].required == doctest::Approx(6.0));
  CHECK_FALSE(check_targets(suite.results[0], suite)[0].pass);
  suite.results[0].vector_bytes = 16;
  CHECK(check_targets(suite.results[0], suite)[0].required == doctest::Approx(2.0));
  CHECK(check_targets(suite.results[0], suite)[0].pass);
  // Under the scalar target itself (--target scalar) the ratio is not judged.
  suite.results[0].target = "SCALAR";
  const TargetCheck same = check_targets(suite.results[0], suite)[0];
  CHECK(same.text.find("n/a (same target SCALAR)") != std::string::npos);
  CHECK(same.ratio == 0);
}

TEST_CASE("a scalar companion runs once, under the scalar fallback, whatever --target says") {
  BenchmarkSpec spec;
  spec.name = "test/companion/sum";
  spec.targets = {{"spec", 1e9, 0}};
  spec.ratio_targets = {scalar_ratio_target(spec.name, 1.0, 0)};
  spec.setup = [](const BenchmarkConfig&) -> absl::StatusOr<BatchFn> {
    return BatchFn([](uint64_t count) -> absl::Status {
      // A chain of 1024 dependent steps per operation: an empty body's
      // median can be 0 after the timer's overhead is taken off, and a ratio
      // needs two positive medians. Under QEMU on a busy machine 64 steps
      // (about 150 ns there) were still read as 0 once.
      for (uint64_t i = 0; i < count; ++i) {
        uint64_t x = i;
        for (int j = 0; j < 1024; ++j) {
          x = x * 6364136223846793005ull + 1442695040888963407ull;
          do_not_optimize(x);
        }
      }
      return absl::OkStatus();
    });
  };
  const BenchmarkSpec companion = scalar_companion(spec);
  CHECK(companion.name == "test/companion/sum/scalar");
  CHECK(companion.fixed_target == "scalar");
  CHECK(companion.targets.empty());
  CHECK(companion.ratio_targets.empty());
  CHECK(spec.ratio_targets[0].other == companion.name);

  const std::vector<std::string> supported = supported_targets();
  BenchmarkConfig config = small_run_config();
  config.target = "all";
  config.filter = "^test/companion/sum$";  // the companion runs as the entry's partner
  auto suite = run_benchmarks(std::vector<BenchmarkSpec>{spec, companion}, config);
  REQUIRE(suite.ok());
  // One row per target for the entry, one row for its companion.
  REQUIRE(suite->results.size() == supported.size() + 1);
  const BenchmarkResult& last = suite->results.back();
  CHECK(last.name == "test/companion/sum/scalar");
  CHECK(last.target == supported.back());  // the fallback ends the list
  for (size_t i = 0; i + 1 < suite->results.size(); ++i) {
    CHECK(suite->results[i].name == absl::StrCat(spec.name, "@", supported[i]));
    const std::vector<TargetCheck> checks = check_targets(suite->results[i], *suite);
    REQUIRE(checks.size() == 2);
    INFO(supported[i] << ": " << checks[1].text << "; median " << suite->results[i].stats.median
                      << " ns, companion " << last.stats.median << " ns");
    // Judged against the companion except under the fallback itself.
    const bool same = supported[i] == supported.back();
    CHECK((checks[1].text.find("n/a (same target") != std::string::npos) == same);
    CHECK((checks[1].ratio > 0) == !same);
  }
}

}  // namespace
}  // namespace llmk::bench
