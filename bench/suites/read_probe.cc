// The read probe's kernels, compiled once per Highway target like the
// library's, so dispatch picks the widest loads this CPU has.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "suites/read_probe.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include <cstddef>
#include <cstdint>

#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace llmk::bench {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

constexpr size_t kLineWords = 64 / sizeof(uint64_t);

// One step at p: the next `step` words of each of kStreams slices `part`
// words apart, after asking for the lines `ahead` words further on in each
// (kLocality is __builtin_prefetch's: 3 is T0, 0 is NTA; −1 asks for
// nothing). Two sums take alternate slices, so neither chain of adds holds
// the loads back.
template <size_t kStreams, int kLocality, class D, class V>
HWY_INLINE void ReadStep(D d, const uint64_t* HWY_RESTRICT p, size_t part, size_t step,
                         size_t ahead, V& even, V& odd) {
  if constexpr (kLocality >= 0) {
    for (size_t s = 0; s < kStreams; ++s) {
      for (size_t w = 0; w < step; w += kLineWords) {
        __builtin_prefetch(p + s * part + ahead + w, /*rw=*/0, kLocality);
      }
    }
  }
  for (size_t w = 0; w < step; w += hn::Lanes(d)) {
    for (size_t s = 0; s < kStreams; s += 2) {
      even = hn::Add(even, hn::LoadU(d, p + s * part + w));
      if (s + 1 < kStreams) odd = hn::Add(odd, hn::LoadU(d, p + (s + 1) * part + w));
    }
  }
}

// The sum of p[0, n): kStreams slices of `part` words read side by side, then
// the words past the last slice one by one.
template <size_t kStreams, int kLocality>
uint64_t SumStreams(const uint64_t* HWY_RESTRICT p, size_t n, size_t ahead) {
  const hn::ScalableTag<uint64_t> d;
  const size_t step = HWY_MAX(kLineWords, hn::Lanes(d));
  const size_t part = n / kStreams / step * step;
  auto even = hn::Zero(d), odd = hn::Zero(d);
  size_t i = 0;
  if constexpr (kLocality >= 0) {
    // The last slice's prefetches stop at the end of the slices, so none of
    // them asks for memory outside the buffer.
    for (; i + ahead + step <= part; i += step) {
      ReadStep<kStreams, kLocality>(d, p + i, part, step, ahead, even, odd);
    }
  }
  for (; i < part; i += step) ReadStep<kStreams, -1>(d, p + i, part, step, ahead, even, odd);
  uint64_t sum = hn::ReduceSum(d, hn::Add(even, odd));
  for (size_t j = kStreams * part; j < n; ++j) sum += p[j];
  return sum;
}

template <size_t kStreams>
uint64_t SumWithPrefetch(const uint64_t* p, size_t n, int locality, size_t ahead) {
  switch (locality) {
    case 3: return SumStreams<kStreams, 3>(p, n, ahead);
    case 0: return SumStreams<kStreams, 0>(p, n, ahead);
    default: return SumStreams<kStreams, -1>(p, n, ahead);
  }
}

// locality as in ReadStep; ahead in words.
uint64_t ReadWords(const uint64_t* p, size_t n, size_t streams, int locality, size_t ahead) {
  switch (streams) {
    case 8: return SumWithPrefetch<8>(p, n, locality, ahead);
    case 4: return SumWithPrefetch<4>(p, n, locality, ahead);
    case 2: return SumWithPrefetch<2>(p, n, locality, ahead);
    default: return SumWithPrefetch<1>(p, n, locality, ahead);
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace llmk::bench
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "absl/strings/str_cat.h"
#include "suites/read_probe.h"

namespace llmk::bench {

HWY_EXPORT(ReadWords);

std::string method_name(const ReadMethod& m) {
  std::string name = m.streams == 1 ? "linear" : absl::StrCat("streams", m.streams);
  if (m.prefetch == ReadPrefetch::kNone) return name;
  const std::string ahead = m.ahead_bytes % 1024 == 0 ? absl::StrCat(m.ahead_bytes / 1024, "KiB")
                                                      : absl::StrCat(m.ahead_bytes, "B");
  return absl::StrCat(name, m.prefetch == ReadPrefetch::kT0 ? "+t0:" : "+nta:", ahead);
}

uint64_t read_words(std::span<const uint64_t> words, const ReadMethod& m) {
  HWY_ASSERT(m.streams == 1 || m.streams == 2 || m.streams == 4 || m.streams == 8);
  HWY_ASSERT(m.ahead_bytes % 64 == 0);
  const int locality = m.prefetch == ReadPrefetch::kT0 ? 3 : m.prefetch == ReadPrefetch::kNta ? 0 : -1;
  return HWY_DYNAMIC_DISPATCH(ReadWords)(words.data(), words.size(), m.streams, locality,
                                         m.ahead_bytes / sizeof(uint64_t));
}

}  // namespace llmk::bench
#endif  // HWY_ONCE
