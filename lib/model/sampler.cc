// Sampler: validation, repetition penalty, greedy and random selection.
// Probabilities are computed with scalar std::exp and summed in double so the
// token drawn for a seed does not depend on the SIMD target.
#include "llmk/sampler.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "util/check.h"

namespace llmk {
namespace {

uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

// The helpers below keep independent per-lane partial results in a fixed
// order so the compiler can vectorize them (no -ffast-math needed) while the
// result stays the same on every machine.
constexpr size_t kLanes = 16;

// Largest value; x has no NaN.
float max_value(std::span<const float> x) {
  float lanes[kLanes];
  std::fill(lanes, lanes + kLanes, -std::numeric_limits<float>::infinity());
  size_t i = 0;
  for (; i + kLanes <= x.size(); i += kLanes) {
    for (size_t j = 0; j < kLanes; ++j) lanes[j] = x[i + j] > lanes[j] ? x[i + j] : lanes[j];
  }
  float m = -std::numeric_limits<float>::infinity();
  for (; i < x.size(); ++i) m = x[i] > m ? x[i] : m;
  for (float l : lanes) m = l > m ? l : m;
  return m;
}

// First index of the largest value (−inf allowed, no NaN).
int32_t argmax_first(std::span<const float> x) {
  const float m = max_value(x);
  size_t i = 0;
  while (x[i] != m) ++i;
  return static_cast<int32_t>(i);
}

// True when some entry is NaN or +inf (both fail x < +inf).
bool has_nan_or_pos_inf(std::span<const float> x) {
  int bad = 0;
  for (float v : x) bad |= !(v < std::numeric_limits<float>::infinity());
  return bad != 0;
}

// Sum in double with kLanes partial sums.
double lane_sum(const float* x, size_t n) {
  double lanes[kLanes] = {};
  size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (size_t j = 0; j < kLanes; ++j) lanes[j] += x[i + j];
  }
  double total = 0.0;
  for (; i < n; ++i) total += x[i];
  for (double l : lanes) total += l;
  return total;
}

// Sum of the entries ≥ t, with the same lanes as lane_sum (a mask instead of
// ?: so that it vectorizes; see exp_nonpositive).
double mass_at_or_above(const float* x, size_t n, float t) {
  double lanes[kLanes] = {};
  const auto masked = [t](float v) {
    const uint32_t keep = 0u - static_cast<uint32_t>(v >= t);
    return std::bit_cast<float>(std::bit_cast<uint32_t>(v) & keep);
  };
  size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (size_t j = 0; j < kLanes; ++j) lanes[j] += masked(x[i + j]);
  }
  double total = 0.0;
  for (; i < n; ++i) total += masked(x[i]);
  for (double l : lanes) total += l;
  return total;
}

// e^x for x ≤ 0 (−inf included) to about 2 ulp, in plain arithmetic that
// vectorizes: x = n·ln2 + r with |r| ≤ ln2/2, e^r by its degree-6 Taylor
// polynomial, 2^n through the exponent bits. e^x below e^−86 (≈ 4·10^−38)
// becomes 0, so masked (−inf) tokens get exactly zero probability. Selects
// are bit masks, not ?:, because with -ftrapping-math (GCC's default) a
// float ?: keeps the loop from being vectorized.
float exp_nonpositive(float x) {
  constexpr float kMin = -86.0f;  // e^−86 is still a normal float
  const uint32_t keep = 0u - static_cast<uint32_t>(x > kMin);  // all ones or zero
  const float xc = std::bit_cast<float>((std::bit_cast<uint32_t>(x) & keep) |
                                        (std::bit_cast<uint32_t>(kMin) & ~keep));
  // Adding 1.5·2^23 rounds to an integer, which then sits in the low
  // mantissa bits of t.
  constexpr float kRound = 12582912.0f;
  const float t = xc * 1.44269504f + kRound;
  const float n = t - kRound;
  const int32_t n_int = std::bit_cast<int32_t>(t) - std::bit_cast<int32_t>(kRound);
  const float r = (xc - n * 0.693145752f) - n * 1.42860677e-6f;  // ln2 split hi + lo
  float p = 1.0f / 720;
  p = p * r + 1.0f / 120;
  p = p * r + 1.0f / 24;
  p = p * r + 1.0f / 6;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const float scale = std::bit_cast<float>(static_cast<uint32_t>(n_int + 127) << 23);
  return std::bit_cast<float>(std::bit_cast<uint32_t>(p * scale) & keep);
}

}  // namespace

Sampler::Sampler(SamplerConfig config, size_t vocab_size)
    : config_(config),
      vocab_size_(vocab_size),
      order_(vocab_size),
      seen_(vocab_size, 0),
      block_mass_((vocab_size + kDrawBlock - 1) / kDrawBlock) {
  reseed(config.seed);
}

absl::StatusOr<Sampler> Sampler::create(SamplerConfig config, size_t vocab_size) {
  if (!(config.temperature >= 0.0f) || !std::isfinite(config.temperature)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Sampler::create: temperature = ", config.temperature, " must be finite and ≥ 0"));
  }
  if (!(config.top_p > 0.0f && config.top_p <= 1.0f)) {
    return absl::InvalidArgumentError(
        absl::StrCat("Sampler::create: top_p = ", config.top_p, " must be in (0, 1]"));
  }
  if (!(config.repetition_penalty > 0.0f) || !std::isfinite(config.repetition_penalty)) {
    return absl::InvalidArgumentError(absl::StrCat("Sampler::create: repetition_penalty = ",
                                                   config.repetition_penalty,
                                                   " must be finite and > 0"));
  }
  if (vocab_size == 0 || vocab_size > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Sampler::create: vocab_size = ", vocab_size, " must be in [1, 2^31 − 1]"));
  }
  return Sampler(config, vocab_size);
}

void Sampler::reseed(uint64_t seed) {
  uint64_t x = seed;
  for (uint64_t& s : state_) s = splitmix64(x);
}

// xoshiro256** (Blackman & Vigna).
uint64_t Sampler::next_u64() {
  const uint64_t result = rotl(state_[1] * 5, 7) * 9;
  const uint64_t t = state_[1] << 17;
  state_[2] ^= state_[0];
  state_[3] ^= state_[1];
  state_[1] ^= state_[2];
  state_[0] ^= state_[3];
  state_[2] ^= t;
  state_[3] = rotl(state_[3], 45);
  return result;
}

double Sampler::next_unit() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

absl::StatusOr<int32_t> Sampler::sample(std::span<float> logits,
                                        std::span<const int32_t> recent_tokens) {
  if (logits.size() != vocab_size_) {
    return internal::size_error("Sampler::sample", "logits", logits.size(), vocab_size_);
  }
  if (has_nan_or_pos_inf(logits)) {
    size_t i = 0;
    while (logits[i] < std::numeric_limits<float>::infinity()) ++i;
    return absl::InvalidArgumentError(
        absl::StrCat("Sampler::sample: logits[", i, "] = ", logits[i], " (NaN or +inf)"));
  }
  if (max_value(logits) == -std::numeric_limits<float>::infinity()) {
    return absl::InvalidArgumentError("Sampler::sample: every logit is -inf");
  }

  const size_t window = std::min(config_.repetition_window, recent_tokens.size());
  const std::span<const int32_t> recent = recent_tokens.last(window);
  for (size_t i = 0; i < recent.size(); ++i) {
    if (recent[i] < 0 || static_cast<size_t>(recent[i]) >= vocab_size_) {
      return absl::InvalidArgumentError(absl::StrCat(
          "Sampler::sample: recent_tokens[", recent_tokens.size() - window + i, "] = ",
          recent[i], " is outside the vocabulary of ", vocab_size_));
    }
  }
  if (config_.repetition_penalty != 1.0f) {
    const float penalty = config_.repetition_penalty;
    for (int32_t t : recent) {
      if (seen_[t]) continue;  // once per distinct token
      seen_[t] = 1;
      float& l = logits[t];
      l = l > 0.0f ? l / penalty : l * penalty;
    }
    for (int32_t t : recent) seen_[t] = 0;
  }

  if (config_.temperature == 0.0f || config_.top_k == 1) return argmax_first(logits);
  return draw(logits);
}

// Turns logits into unnormalized probabilities e^((l − max)/T) in place (for
// the candidates; top-k converts only its k), narrows the candidates by top-k
// and top-p, and draws one of them.
int32_t Sampler::draw(std::span<float> logits) {
  const float max_logit = max_value(logits);
  // Divide rather than multiply by 1/T: a tiny T would make 1/T infinite and
  // 0·inf a NaN for the maximum itself.
  const float temperature = config_.temperature;
  const auto to_prob = [max_logit, temperature](float l) {
    return exp_nonpositive((l - max_logit) / temperature);
  };
  float* const x = logits.data();
  // Most likely first, ties by lower id: a strict total order, so the
  // candidate order is the same with every standard library.
  const auto before = [x](int32_t a, int32_t b) {
    return x[a] > x[b] || (x[a] == x[b] && a < b);
  };
  const size_t vocab = vocab_size_;
  const bool use_top_k = config_.top_k > 0 && config_.top_k < vocab;
  const bool use_top_p = config_.top_p < 1.0f;

  if (!use_top_k && !use_top_p) {
    for (float& l : logits) l = to_prob(l);
    return draw_from_all(logits);
  }

  size_t n_candidates = 0;
  if (use_top_k) {
    // Chosen and ordered on the logits (the same order as the
    // probabilities), then only the k survivors are exponentiated.
    // partial_sort (a heap) rather than nth_element: nth_element's time
    // swung 5× with small changes to the logits (bad pivots).
    std::iota(order_.begin(), order_.end(), 0);
    n_candidates = config_.top_k;
    std::partial_sort(order_.begin(), order_.begin() + n_candidates, order_.end(), before);
    for (size_t i = 0; i < n_candidates; ++i) x[order_[i]] = to_prob(x[order_[i]]);
  } else {
    for (float& l : logits) l = to_prob(l);
    // Only tokens at or above a probability cut t are sorted, where the
    // tokens above t already hold p of the mass (so the nucleus lies among
    // them). t is tried at 2^−1, 2^−4, 2^−16 … of the largest probability (1),
    // then (1 − p)/(n − 1) of the total, a cut that always works: the tokens
    // below it hold less than 1 − p together.
    const double total = lane_sum(x, vocab);
    const double needed = config_.top_p * total;
    const double safe_cut =
        vocab > 1 ? (1.0 - config_.top_p) / static_cast<double>(vocab - 1) * total : 0.0;
    float cut = static_cast<float>(safe_cut);
    for (float t : {0x1p-1f, 0x1p-4f, 0x1p-16f}) {
      if (t > safe_cut && mass_at_or_above(x, vocab, t) >= needed) {
        cut = t;
        break;
      }
    }
    for (size_t i = 0; i < vocab; ++i) {
      if (x[i] >= cut) order_[n_candidates++] = static_cast<int32_t>(i);
    }
    std::sort(order_.begin(), order_.begin() + n_candidates, before);
  }

  if (use_top_p) {
    double mass = 0.0;
    for (size_t i = 0; i < n_candidates; ++i) mass += x[order_[i]];
    // The smallest prefix (most likely first) whose share reaches top_p; all
    // candidates if rounding keeps the sum just below.
    const double target = config_.top_p * mass;
    double cum = 0.0;
    for (size_t i = 0; i < n_candidates; ++i) {
      cum += x[order_[i]];
      if (cum >= target) {
        n_candidates = i + 1;
        break;
      }
    }
  }

  double mass = 0.0;
  for (size_t i = 0; i < n_candidates; ++i) mass += x[order_[i]];
  const double r = next_unit() * mass;
  double cum = 0.0;
  int32_t last_nonzero = order_[0];  // the most likely: its probability is 1
  for (size_t i = 0; i < n_candidates; ++i) {
    const int32_t token = order_[i];
    if (x[token] <= 0.0f) continue;
    cum += x[token];
    last_nonzero = token;
    if (r < cum) return token;
  }
  return last_nonzero;  // r landed past the sum through rounding
}

// Draws from unnormalized probabilities over the whole vocabulary. Sums by
// blocks first so the walk skips whole blocks instead of adding 1 value at a
// time; block sums and the walk inside a block agree up to rounding, and a
// draw that falls past a block's last element through rounding takes it.
int32_t Sampler::draw_from_all(std::span<const float> prob) {
  const size_t n = prob.size();
  const size_t n_blocks = (n + kDrawBlock - 1) / kDrawBlock;
  double mass = 0.0;
  for (size_t b = 0; b < n_blocks; ++b) {
    const size_t begin = b * kDrawBlock;
    block_mass_[b] = lane_sum(prob.data() + begin, std::min(kDrawBlock, n - begin));
    mass += block_mass_[b];
  }
  const double r = next_unit() * mass;
  double cum = 0.0;
  for (size_t b = 0; b < n_blocks; ++b) {
    if (block_mass_[b] <= 0.0 || r >= cum + block_mass_[b]) {
      cum += block_mass_[b];
      continue;
    }
    const size_t begin = b * kDrawBlock, end = std::min(n, begin + kDrawBlock);
    size_t last_nonzero = begin;
    for (size_t i = begin; i < end; ++i) {
      if (prob[i] <= 0.0f) continue;
      cum += prob[i];
      last_nonzero = i;
      if (r < cum) break;
    }
    return static_cast<int32_t>(last_nonzero);
  }
  // r ≥ the sum of the block sums through rounding: the last token with mass.
  size_t i = n - 1;
  while (i > 0 && prob[i] <= 0.0f) --i;
  return static_cast<int32_t>(i);
}

}  // namespace llmk
