// A run as Bencher Metric Format JSON (bencher.dev/docs/reference/
// bencher-metric-format): { "<benchmark>": { "<measure>": { "value": v,
// "lower_value": lo, "upper_value": hi } } }, the form Bencher's `json`
// adapter ingests. Measures (slugs, ≤ 64 characters):
//   latency               ns per operation: median of the repetition
//                         medians, lower/upper the smallest and largest
//   throughput            operations per second from the same three
//   items-per-second, bytes-per-second, flops-per-second (where the entry
//                         counts them), cpu-time (ns/op), tsc-cycles (per op),
//   energy-joules         per operation, where measured
//   ipc, cycles-per-item, instructions-per-item, cache-miss-rate,
//   l1d-miss-rate, branch-miss-rate, simd-share (where their counters ran)
//   counter-<event>       every counter that ran, per operation (event name
//                         lowercased, other characters '-')
// Skipped and failed entries are left out; a counter that did not run is
// left out, never written as 0.
#pragma once

#include <string>

#include "llmk/bench.h"

namespace llmk::bench::history {

std::string format_bmf(const SuiteResult& suite);
// "counter-" + the event as a slug, cut to 64 characters.
std::string counter_measure_slug(const std::string& event);

}  // namespace llmk::bench::history
