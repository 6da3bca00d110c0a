// The read-bandwidth probe's kernels (bench/suites/bandwidth.cc): ways for
// one thread to pull a buffer through the cache hierarchy as fast as it can,
// so the probe is a roof that the model's weight streaming can be held
// against. Each returns the wrapping sum of the words it read: that keeps
// every load live, and lets a test check that every word was read once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace llmk::bench {

enum class ReadPrefetch {
  kNone,  // the hardware prefetchers alone
  kT0,    // software prefetch into every cache level (hwy::Prefetch's hint)
  kNta,   // non-temporal: into L1 only where the CPU honours it, sparing L2/L3
};

// How a thread reads its part: `streams` equal slices of it side by side, one
// 64-byte line (or one vector, where wider) of each per step, each slice
// prefetched `ahead_bytes` ahead of its loads unless `prefetch` is kNone.
struct ReadMethod {
  size_t streams = 1;  // 1, 2, 4 or 8
  ReadPrefetch prefetch = ReadPrefetch::kNone;
  size_t ahead_bytes = 0;
};

// "linear", "streams8+nta:2KiB": the suffix of a variant's entry name.
std::string method_name(const ReadMethod& method);

// Sum (mod 2^64) of `words`, read with `method` under the Highway target that
// dispatch picks now. Any length and 8-byte alignment work.
uint64_t read_words(std::span<const uint64_t> words, const ReadMethod& method);

}  // namespace llmk::bench
