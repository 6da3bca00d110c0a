// llama.cpp's llama-bench as a same-run peer: the command line for one
// test, a child process run under a given CPU mask, and its JSON report.
//
// One run measures one test: prompt processing (n_prompt tokens in one
// batch, n_gen = 0), generation (n_gen single-token steps from an empty
// context, n_prompt = 0), or both in turn (-pg), with -r 1 so every call of a benchmark body
// is one sample, interleaved with ours by the runner's shuffled order.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace llmk::bench {

struct LlamaBenchTest {
  std::string model_path;  // a GGUF file llama.cpp loads
  size_t n_prompt = 0;     // -p
  size_t n_gen = 0;        // -n
  size_t threads = 1;      // -t
  // One test of the prompt followed by the generation, like llama-bench's
  // -pg P,N (its items are P + N tokens): run as -p 0 -n 0 -pg P,N, since
  // -p and -n default to 512 and 128 and would add tests of their own.
  bool combined = false;
  // -ctk/-ctv: the KV cache type ("f32", "f16"); empty: llama-bench's
  // default (f16).
  std::string cache_type = "";
};

// argv for `binary -m FILE -o json -p P -n N -t T -r 1`, or with -p 0 -n 0
// -pg P,N for a combined test, then -ctk C -ctv C when cache_type is set.
std::vector<std::string> llama_bench_args(const std::string& binary, const LlamaBenchTest& test);

// One test as llama-bench reports it (its fields "build_commit",
// "build_number", "n_prompt", "n_gen", "n_threads", "avg_ns", "avg_ts",
// "samples_ns").
struct LlamaBenchResult {
  std::string build_commit;
  long long build_number = 0;
  size_t n_prompt = 0, n_gen = 0, n_threads = 0;
  double avg_ns = 0;               // per test run (all its tokens)
  double avg_tokens_per_s = 0;     // avg_ts
  std::vector<double> samples_ns;  // one per repetition (-r)
  // "c392e509 (build 4567)", or the commit alone when build_number is 0:
  // what the reports record as the peer's version.
  std::string version() const;
};

// Parses `-o json` output: an array of test objects. Errors name the field.
absl::StatusOr<std::vector<LlamaBenchResult>> parse_llama_bench_json(std::string_view text);

// Runs argv[0] with argv (no shell) with stdin from /dev/null, stdout
// captured and stderr written to `stderr_path`, the child's CPU mask set
// to `cpus` (empty: inherited). A non-zero exit is an error quoting the end
// of stderr.
absl::StatusOr<std::string> run_captured(const std::vector<std::string>& argv,
                                         const std::vector<int>& cpus,
                                         const std::string& stderr_path);

// Runs one test and checks that llama-bench ran what was asked (prompt,
// generated tokens, threads) and reported one sample.
absl::StatusOr<LlamaBenchResult> run_llama_bench(const std::string& binary,
                                                 const LlamaBenchTest& test,
                                                 const std::vector<int>& cpus,
                                                 const std::string& stderr_path);

// Whether `path` starts with GGUF's magic (a file llama.cpp can load as
// it is; llama2.c checkpoints are written out as GGUF first).
bool is_gguf_file(const std::string& path);

// A directory created on first use under $TMPDIR (or /tmp), removed with
// its files at process exit; the peers' GGUF files live there.
absl::StatusOr<std::string> peer_scratch_dir();

}  // namespace llmk::bench
