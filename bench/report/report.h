// Report writers. They share one record (SuiteResult) and differ only in
// formatting: the console tables (console.cc; print_summary is in
// llmk/bench.h), google/benchmark-compatible JSON (json_report.cc) and CSV
// (csv_report.cc); reporters.cc puts them behind llmk/bench_reporter.h.
#pragma once

#include <cstdio>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "harness/baseline.h"
#include "harness/units.h"
#include "llmk/bench.h"

namespace llmk::bench {


// Derived metrics from the counters present (IPC, miss rates); nullopt when
// an operand did not run.
std::optional<double> counter_per_op(const BenchmarkResult& r, const std::string& event);

// Package energy per item (J/token and tokens/J for token entries); nothing
// when no entry has energy or a reason it is missing. print_summary calls it.
void print_energy(const SuiteResult& suite, std::FILE* out);
// energy_joules_per_op / items_per_op; nullopt when energy was not measured.
std::optional<double> energy_joules_per_item(const BenchmarkResult& r);

// Per-item latency percentiles and phase rates (e.g. per token; prefill
// and decode tokens/s); nothing when no entry reported them. print_summary
// calls it, then the registered report sections.
void print_item_latencies(const SuiteResult& suite, std::FILE* out);
std::vector<ReportSectionFn>& report_sections();

void print_target_table(const SuiteResult& suite, std::FILE* out);
// With more than one repetition: each entry's median of repetition medians,
// their range and coefficient of variation.
void print_repetitions(const SuiteResult& suite, std::FILE* out);
void print_counters(const SuiteResult& suite, std::FILE* out);
// The baseline comparison table: each entry's medians, ratio, p and verdict.
void print_comparisons(std::span<const Comparison> comparisons, std::FILE* out,
                       const RegressionRule& rule = {});

// google/benchmark JSON (context + benchmarks[]), our statistics, raw
// samples and counter status under each benchmark's "llmk" key. An entry of
// N > 1 repetitions writes N "iteration" rows (repetition_index 0..N−1, each
// with its repetition's samples and statistics), then "aggregate" rows
// <name>_mean, _median, _stddev, _cv; the _median row's "llmk" holds the
// repetition medians and the statistics of all samples pooled.
std::string format_json(const SuiteResult& suite);
std::string format_csv(const SuiteResult& suite);
absl::Status write_text_file(const std::string& path, const std::string& text);

}  // namespace llmk::bench
