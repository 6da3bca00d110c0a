// The read probe's kernels read every word once: each way of reading, under
// every target, sums odd-sized and misaligned buffers as a plain loop does.
// Their speed is the benchmark's business, not this file's.
#include <cstdint>
#include <span>
#include <vector>

#include "suites/read_probe.h"
#include "test_util.h"

namespace llmk::bench {
namespace {

uint64_t plain_sum(std::span<const uint64_t> words) {
  uint64_t sum = 0;
  for (uint64_t w : words) sum += w;
  return sum;
}

TEST_CASE("read probe: every method sums every word once") {
  // Words with high bits set, so the sum wraps and a word read twice or
  // skipped changes it.
  std::vector<uint64_t> buffer(40'000 + 3);
  for (size_t i = 0; i < buffer.size(); ++i) buffer[i] = (i + 1) * 0x9E3779B97F4A7C15ull;
  const ReadMethod methods[] = {
      {1, ReadPrefetch::kNone, 0},  {2, ReadPrefetch::kT0, 64},     {4, ReadPrefetch::kNone, 0},
      {8, ReadPrefetch::kT0, 2048}, {8, ReadPrefetch::kNta, 4096},  {8, ReadPrefetch::kNta, 0},
  };
  // Shorter than one step of eight slices, around a step's multiples, and a
  // size whose prefetch distance reaches past the end.
  const size_t lengths[] = {0, 1, 7, 8, 9, 63, 64, 65, 127, 513, 4099, 40'000};
  test::for_each_target([&](const std::string&) {
    for (const ReadMethod& m : methods) {
      for (size_t n : lengths) {
        for (size_t offset : {0, 1, 3}) {  // words: aligned or not to a line
          const std::span<const uint64_t> words(buffer.data() + offset, n);
          INFO(method_name(m) << ", " << n << " words at +" << offset);
          CHECK(read_words(words, m) == plain_sum(words));
        }
      }
    }
  });
}

TEST_CASE("read probe: method names") {
  CHECK(method_name({1, ReadPrefetch::kNone, 0}) == "linear");
  CHECK(method_name({8, ReadPrefetch::kNone, 0}) == "streams8");
  CHECK(method_name({8, ReadPrefetch::kNta, 2048}) == "streams8+nta:2KiB");
  CHECK(method_name({4, ReadPrefetch::kT0, 512}) == "streams4+t0:512B");
}

}  // namespace
}  // namespace llmk::bench
