// Sampler: greedy, reproducibility, top-k/top-p limits, the empirical
// distribution of temperature sampling, repetition penalty, bad input.
#include "llmk/sampler.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include "doctest/doctest.h"
#include "test_util.h"

namespace llmk {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

Sampler make(SamplerConfig config, size_t vocab) {
  auto s = Sampler::create(config, vocab);
  REQUIRE(s.ok());
  return std::move(*s);
}

int32_t first_argmax(const std::vector<float>& x) {
  return static_cast<int32_t>(std::max_element(x.begin(), x.end()) - x.begin());
}

// softmax(logits / T) in double, restricted to `allowed` (renormalized).
std::vector<double> expected_probs(const std::vector<float>& logits, double temperature,
                                   const std::vector<bool>& allowed) {
  const double mx = *std::max_element(logits.begin(), logits.end());
  std::vector<double> p(logits.size(), 0.0);
  double sum = 0.0;
  for (size_t i = 0; i < logits.size(); ++i) {
    if (!allowed[i]) continue;
    p[i] = std::exp((logits[i] - mx) / temperature);
    sum += p[i];
  }
  for (double& x : p) x /= sum;
  return p;
}

// Pearson's chi-square statistic of `counts` against `probs` (cells with
// zero probability must have zero counts; that is checked separately).
double chi_square(const std::vector<int>& counts, const std::vector<double>& probs, int draws) {
  double chi2 = 0.0;
  for (size_t i = 0; i < counts.size(); ++i) {
    if (probs[i] == 0.0) continue;
    const double e = probs[i] * draws;
    chi2 += (counts[i] - e) * (counts[i] - e) / e;
  }
  return chi2;
}

std::vector<int> histogram(Sampler& sampler, const std::vector<float>& logits, int draws) {
  std::vector<int> counts(logits.size(), 0);
  std::vector<float> scratch(logits.size());
  int failures = 0;
  for (int i = 0; i < draws; ++i) {
    scratch = logits;
    auto t = sampler.sample(scratch);
    if (!t.ok() || *t < 0 || static_cast<size_t>(*t) >= logits.size()) {
      ++failures;
      continue;
    }
    ++counts[*t];
  }
  CHECK(failures == 0);
  return counts;
}

std::vector<float> random_logits(size_t n, uint32_t seed) {
  std::vector<float> x(n);
  llmk::test::fill_uniform(x, seed, -6.0f, 6.0f);
  return x;
}

TEST_CASE("sampler: temperature 0 is argmax, first index on ties") {
  Sampler s = make({.temperature = 0.0f}, 1000);
  for (uint32_t seed = 1; seed <= 20; ++seed) {
    auto logits = random_logits(1000, seed);
    const int32_t want = first_argmax(logits);
    auto got = s.sample(logits);
    REQUIRE(got.ok());
    CHECK(*got == want);
  }
  Sampler small = make({.temperature = 0.0f}, 5);
  std::vector<float> ties = {1.0f, 3.0f, -kInf, 3.0f, 2.0f};
  CHECK(*small.sample(ties) == 1);
  std::vector<float> masked = {-kInf, -kInf, -5.0f, -kInf, -kInf};
  CHECK(*small.sample(masked) == 2);
}

TEST_CASE("sampler: top_k = 1 and a tiny top_p equal greedy") {
  const size_t vocab = 2000;
  Sampler top1 = make({.temperature = 1.3f, .top_k = 1, .seed = 5}, vocab);
  Sampler tiny_p = make({.temperature = 0.9f, .top_p = 1e-6f, .seed = 6}, vocab);
  Sampler both = make({.temperature = 2.0f, .top_k = 40, .top_p = 1e-6f, .seed = 7}, vocab);
  for (uint32_t seed = 100; seed < 150; ++seed) {
    const auto logits = random_logits(vocab, seed);
    const int32_t want = first_argmax(logits);
    for (Sampler* s : {&top1, &tiny_p, &both}) {
      auto scratch = logits;
      auto got = s->sample(scratch);
      REQUIRE(got.ok());
      CHECK(*got == want);
    }
  }
}

TEST_CASE("sampler: a fixed seed reproduces the same tokens") {
  const size_t vocab = 500;
  const SamplerConfig configs[] = {
      {.temperature = 1.0f, .seed = 42},
      {.temperature = 0.7f, .top_k = 40, .seed = 42},
      {.temperature = 1.1f, .top_p = 0.9f, .seed = 42},
      {.temperature = 0.8f, .top_k = 50, .top_p = 0.95f, .repetition_penalty = 1.3f,
       .seed = 42},
  };
  for (const SamplerConfig& config : configs) {
    Sampler a = make(config, vocab);
    Sampler b = make(config, vocab);
    SamplerConfig other_seed = config;
    other_seed.seed = 43;
    Sampler c = make(other_seed, vocab);
    std::vector<int32_t> ta, tb, tc;
    for (uint32_t step = 0; step < 200; ++step) {
      const auto logits = random_logits(vocab, 1000 + step % 3);  // few distinct inputs
      auto la = logits, lb = logits, lc = logits;
      auto xa = a.sample(la, ta), xb = b.sample(lb, tb), xc = c.sample(lc, tc);
      REQUIRE(xa.ok());
      REQUIRE(xb.ok());
      REQUIRE(xc.ok());
      ta.push_back(*xa);
      tb.push_back(*xb);
      tc.push_back(*xc);
    }
    CHECK(ta == tb);
    CHECK(ta != tc);
    // reseed restarts the stream.
    a.reseed(42);
    std::vector<int32_t> again;
    for (uint32_t step = 0; step < 200; ++step) {
      auto logits = random_logits(vocab, 1000 + step % 3);
      auto x = a.sample(logits, again);
      REQUIRE(x.ok());
      again.push_back(*x);
    }
    CHECK(again == ta);
  }
}

// With 200k draws the chi-square statistic under a correct sampler is
// χ²(df); the bounds are near its 99.99th percentile (df 5: 25.7, df 2: 18.4,
// df 3: 21.1), and the seed is fixed, so the test is deterministic. A wrong
// temperature (e.g. 1/T applied twice) gives values in the thousands.
TEST_CASE("sampler: temperature sampling follows softmax(logits / T)") {
  const std::vector<float> logits = {1.0f, 2.0f, 0.5f, -1.0f, 3.0f, 0.0f};
  const int draws = 200000;
  for (float temperature : {0.5f, 1.0f, 1.7f}) {
    INFO("temperature = " << temperature);
    Sampler s = make({.temperature = temperature, .seed = 2024}, logits.size());
    const auto counts = histogram(s, logits, draws);
    const auto probs = expected_probs(logits, temperature, std::vector<bool>(6, true));
    const double chi2 = chi_square(counts, probs, draws);
    INFO("chi2 = " << chi2);
    CHECK(chi2 < 25.7);
  }
}

TEST_CASE("sampler: top-k keeps the k most likely, renormalized") {
  const std::vector<float> logits = {1.0f, 2.0f, 0.5f, -1.0f, 3.0f, 0.0f};
  const int draws = 200000;
  Sampler s = make({.temperature = 1.0f, .top_k = 3, .seed = 9}, logits.size());
  const auto counts = histogram(s, logits, draws);
  const std::vector<bool> allowed = {true, true, false, false, true, false};
  for (size_t i = 0; i < counts.size(); ++i) {
    if (!allowed[i]) CHECK(counts[i] == 0);
  }
  const double chi2 = chi_square(counts, expected_probs(logits, 1.0, allowed), draws);
  INFO("chi2 = " << chi2);
  CHECK(chi2 < 18.4);
}

TEST_CASE("sampler: top-p keeps the smallest set reaching p, renormalized") {
  // softmax of these logits ≈ {0.0818, 0.2225, 0.0496, 0.0111, 0.6048, 0.0301};
  // most likely first: tokens 4, 1, 0, 2, … with cumulative 0.6048, 0.8273,
  // 0.9092, 0.9588, …
  const std::vector<float> logits = {1.0f, 2.0f, 0.5f, -1.0f, 3.0f, 0.0f};
  const int draws = 200000;
  struct Case {
    float top_p;
    std::vector<bool> allowed;
    double chi2_bound;  // 99.99th percentile for df = |nucleus| − 1
  };
  const Case cases[] = {
      {0.8f, {false, true, false, false, true, false}, 15.1},
      {0.9f, {true, true, false, false, true, false}, 18.4},
      {0.95f, {true, true, true, false, true, false}, 21.1},
  };
  for (const Case& c : cases) {
    INFO("top_p = " << c.top_p);
    Sampler s = make({.temperature = 1.0f, .top_p = c.top_p, .seed = 11}, logits.size());
    const auto counts = histogram(s, logits, draws);
    for (size_t i = 0; i < counts.size(); ++i) {
      if (!c.allowed[i]) CHECK(counts[i] == 0);
    }
    const double chi2 = chi_square(counts, expected_probs(logits, 1.0, c.allowed), draws);
    INFO("chi2 = " << chi2);
    CHECK(chi2 < c.chi2_bound);
  }
}

TEST_CASE("sampler: top-p on a large vocabulary only draws from the nucleus") {
  const size_t vocab = 5000;
  const auto logits = random_logits(vocab, 77);
  // Peaked and flat distributions, small and large p: the nucleus ranges from
  // a few tokens to most of the vocabulary.
  for (double temperature : {0.3, 1.0, 4.0}) {
    for (float top_p : {0.3f, 0.9f, 0.999f}) {
      INFO("temperature = " << temperature << ", top_p = " << top_p);
      // The nucleus computed independently: sort by probability, cumulate.
      const auto probs = expected_probs(logits, temperature, std::vector<bool>(vocab, true));
      std::vector<size_t> order(vocab);
      std::iota(order.begin(), order.end(), 0);
      std::sort(order.begin(), order.end(),
                [&](size_t a, size_t b) { return probs[a] > probs[b]; });
      std::vector<bool> in_nucleus(vocab, false);
      double cum = 0.0;
      size_t nucleus_size = 0;
      for (size_t i : order) {
        in_nucleus[i] = true;
        ++nucleus_size;
        cum += probs[i];
        if (cum >= top_p) break;
      }
      INFO("nucleus size = " << nucleus_size);
      Sampler s = make({.temperature = static_cast<float>(temperature), .top_p = top_p,
                        .seed = 3},
                       vocab);
      size_t outside = 0;
      std::vector<float> scratch;
      for (int i = 0; i < 1000; ++i) {
        scratch = logits;
        auto t = s.sample(scratch);
        REQUIRE(t.ok());
        outside += !in_nucleus[*t];
      }
      CHECK(outside == 0);
    }
  }
}

TEST_CASE("sampler: top-p with a long flat tail") {
  // One dominant token and many tiny equal ones: a large p needs the tail.
  const size_t vocab = 3000;
  std::vector<float> logits(vocab, 0.0f);
  logits[17] = 12.0f;  // e^−12 ≈ 6.1e−6 per tail token, tail mass ≈ 1.8%
  Sampler s = make({.temperature = 1.0f, .top_p = 0.995f, .seed = 21}, vocab);
  const auto counts = histogram(s, logits, 20000);
  size_t tail_draws = 0;
  for (size_t i = 0; i < vocab; ++i) tail_draws += i == 17 ? 0 : counts[i];
  // The nucleus is the top token (0.9819) plus ≈ 2170 tail tokens (0.0131),
  // so the tail gets ≈ 1.32% of the draws (263 ± 16), against 1.8% (362)
  // without top-p. Equal probabilities are ordered by id, so the tail tokens
  // kept are the lowest ids.
  CHECK(tail_draws > 200);
  CHECK(tail_draws < 330);
  size_t high_ids = 0;
  for (size_t i = 2300; i < vocab; ++i) high_ids += counts[i];
  CHECK(high_ids == 0);
  Sampler narrow = make({.temperature = 1.0f, .top_p = 0.9f, .seed = 21}, vocab);
  const auto only_top = histogram(narrow, logits, 2000);
  CHECK(only_top[17] == 2000);
}

TEST_CASE("sampler: masked (-inf) tokens are never drawn") {
  std::vector<float> logits = {-kInf, 0.0f, -kInf, 0.1f, -kInf};
  Sampler s = make({.temperature = 5.0f, .seed = 1}, logits.size());
  const auto counts = histogram(s, logits, 5000);
  CHECK(counts[0] == 0);
  CHECK(counts[2] == 0);
  CHECK(counts[4] == 0);
  CHECK(counts[1] > 0);
  CHECK(counts[3] > 0);
}

TEST_CASE("sampler: repetition penalty divides positive and multiplies negative logits") {
  const std::vector<float> base = {2.0f, 1.5f, -1.0f, 0.0f};
  Sampler greedy = make({.temperature = 0.0f}, 4);
  Sampler penalized = make({.temperature = 0.0f, .repetition_penalty = 2.0f}, 4);
  {
    auto l = base;
    CHECK(*greedy.sample(l, std::vector<int32_t>{0}) == 0);  // penalty off by default
    CHECK(l[0] == 2.0f);
  }
  {
    auto l = base;
    CHECK(*penalized.sample(l, std::vector<int32_t>{0, 2, 0, 0}) == 1);
    CHECK(l[0] == 1.0f);   // once, however often token 0 occurs
    CHECK(l[1] == 1.5f);
    CHECK(l[2] == -2.0f);  // negative: multiplied
    CHECK(l[3] == 0.0f);
  }
  {
    // Only the last repetition_window tokens count.
    Sampler windowed =
        make({.temperature = 0.0f, .repetition_penalty = 2.0f, .repetition_window = 2}, 4);
    auto l = base;
    CHECK(*windowed.sample(l, std::vector<int32_t>{0, 3, 2}) == 0);
    CHECK(l[0] == 2.0f);
    CHECK(l[2] == -2.0f);
  }
  {
    // A penalty below 1 favours repeats.
    Sampler boost = make({.temperature = 0.0f, .repetition_penalty = 0.5f}, 4);
    auto l = base;
    CHECK(*boost.sample(l, std::vector<int32_t>{1}) == 1);
    CHECK(l[1] == 3.0f);
  }
  {
    // In sampling mode the penalized token becomes rarer.
    const std::vector<float> flat = {0.0f, 0.0f, 1.0f, 1.0f};
    Sampler plain = make({.temperature = 1.0f, .seed = 4}, 4);
    Sampler pen = make({.temperature = 1.0f, .repetition_penalty = 3.0f, .seed = 4}, 4);
    int plain_hits = 0, pen_hits = 0;
    const std::vector<int32_t> recent = {2};
    for (int i = 0; i < 20000; ++i) {
      auto a = flat, b = flat;
      plain_hits += *plain.sample(a, recent) == 2;
      pen_hits += *pen.sample(b, recent) == 2;
    }
    // Expected shares: e/(2+2e) ≈ 0.366 versus e^(1/3)/(2+e+e^(1/3)) ≈ 0.228.
    CHECK(plain_hits > 6900);
    CHECK(pen_hits < 5000);
  }
}

TEST_CASE("sampler: invalid configs are rejected") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const SamplerConfig bad[] = {
      {.temperature = -0.1f}, {.temperature = nan}, {.temperature = kInf},
      {.top_p = 0.0f},        {.top_p = 1.5f},      {.top_p = -0.5f},
      {.top_p = nan},         {.repetition_penalty = 0.0f},
      {.repetition_penalty = -1.0f}, {.repetition_penalty = nan},
      {.repetition_penalty = kInf},
  };
  for (const SamplerConfig& c : bad) {
    INFO("temperature = " << c.temperature << ", top_p = " << c.top_p
                          << ", repetition_penalty = " << c.repetition_penalty);
    CHECK(Sampler::create(c, 10).status().code() == absl::StatusCode::kInvalidArgument);
  }
  CHECK(Sampler::create({}, 0).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(Sampler::create({}, size_t{1} << 32).status().code() ==
        absl::StatusCode::kInvalidArgument);
  const absl::Status top_p_error = Sampler::create({.top_p = 2.0f}, 10).status();
  CHECK(top_p_error.message().find("top_p") != absl::string_view::npos);
  // Edge values that are valid.
  CHECK(Sampler::create({.temperature = 0.0f, .top_p = 1.0f}, 1).ok());
  CHECK(Sampler::create({.top_k = 1000}, 10).ok());  // larger than vocab: no-op
}

TEST_CASE("sampler: invalid inputs to sample are errors") {
  Sampler s = make({.temperature = 1.0f}, 4);
  std::vector<float> short_logits = {1.0f, 2.0f, 3.0f};
  CHECK(s.sample(short_logits).status().code() == absl::StatusCode::kInvalidArgument);
  std::vector<float> with_nan = {1.0f, std::numeric_limits<float>::quiet_NaN(), 0.0f, 0.0f};
  auto r = s.sample(with_nan);
  CHECK(r.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(r.status().message().find("logits[1]") != std::string::npos);
  std::vector<float> with_inf = {1.0f, 0.0f, kInf, 0.0f};
  CHECK(s.sample(with_inf).status().code() == absl::StatusCode::kInvalidArgument);
  std::vector<float> all_masked(4, -kInf);
  CHECK(s.sample(all_masked).status().code() == absl::StatusCode::kInvalidArgument);
  Sampler greedy = make({.temperature = 0.0f}, 4);
  std::vector<float> all_masked2(4, -kInf);
  CHECK(greedy.sample(all_masked2).status().code() == absl::StatusCode::kInvalidArgument);
  std::vector<float> ok = {0.0f, 1.0f, 2.0f, 3.0f};
  CHECK(s.sample(ok, std::vector<int32_t>{1, 4}).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(s.sample(ok, std::vector<int32_t>{-1}).status().code() ==
        absl::StatusCode::kInvalidArgument);
  // Tokens outside the window are not looked at.
  Sampler windowed = make({.temperature = 0.0f, .repetition_window = 1}, 4);
  auto t = windowed.sample(ok, std::vector<int32_t>{99, 2});
  REQUIRE(t.ok());
  CHECK(*t == 3);
}

TEST_CASE("sampler: vocabulary of one and extreme temperatures") {
  Sampler one = make({.temperature = 1.0f, .top_p = 0.5f}, 1);
  std::vector<float> l = {-3.0f};
  CHECK(*one.sample(l) == 0);
  // A very small temperature behaves like greedy (no NaN from 0 × inf).
  Sampler cold = make({.temperature = 1e-30f, .seed = 8}, 1000);
  for (uint32_t seed = 0; seed < 10; ++seed) {
    auto logits = random_logits(1000, seed);
    const int32_t want = first_argmax(logits);
    CHECK(*cold.sample(logits) == want);
  }
  // A huge temperature is close to uniform and never fails.
  Sampler hot = make({.temperature = 1e30f, .seed = 8}, 4);
  const auto counts = histogram(hot, {0.0f, 100.0f, -100.0f, 5.0f}, 40000);
  for (int c : counts) CHECK(c > 9000);
}

}  // namespace
}  // namespace llmk
