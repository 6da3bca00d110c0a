// KVCache: round trip per sequence, layer and position; views alias the
// storage; size and index errors; clear, truncate and set_pos.
#include "llmk/kv_cache.h"

#include <cstdint>
#include <utility>
#include <vector>

#include "doctest/doctest.h"

namespace llmk {
namespace {

// A value unique to (seq, layer, pos, i) and to keys versus values.
float tag(size_t seq, size_t layer, size_t pos, size_t i, bool is_value) {
  return static_cast<float>(seq * 1000000 + layer * 10000 + pos * 100 + i) *
         (is_value ? -1.0f : 1.0f) - 0.5f;
}

std::vector<float> row(size_t seq, size_t layer, size_t pos, size_t kv_dim, bool is_value) {
  std::vector<float> out(kv_dim);
  for (size_t i = 0; i < kv_dim; ++i) out[i] = tag(seq, layer, pos, i, is_value);
  return out;
}

// Writes positions [from, to) of every layer of `seq`, advancing after each.
void fill(KVCache& cache, size_t seq, size_t from, size_t to) {
  for (size_t pos = from; pos < to; ++pos) {
    REQUIRE(cache.pos(seq) == pos);
    for (size_t layer = 0; layer < cache.n_layers(); ++layer) {
      const auto k = row(seq, layer, pos, cache.kv_dim(), false);
      const auto v = row(seq, layer, pos, cache.kv_dim(), true);
      REQUIRE(cache.update(layer, k, v, seq).ok());
    }
    REQUIRE(cache.advance(seq).ok());
  }
}

// Every position below pos(seq) holds what fill() wrote.
void check_contents(const KVCache& cache, size_t seq) {
  const size_t d = cache.kv_dim();
  for (size_t layer = 0; layer < cache.n_layers(); ++layer) {
    const KVCache::LayerView view = cache.get(layer, seq);
    REQUIRE(view.keys.size() == cache.pos(seq) * d);
    REQUIRE(view.values.size() == cache.pos(seq) * d);
    size_t mismatches = 0;
    for (size_t pos = 0; pos < cache.pos(seq); ++pos) {
      for (size_t i = 0; i < d; ++i) {
        mismatches += view.keys[pos * d + i] != tag(seq, layer, pos, i, false);
        mismatches += view.values[pos * d + i] != tag(seq, layer, pos, i, true);
      }
    }
    INFO("seq = " << seq << ", layer = " << layer);
    CHECK(mismatches == 0);
  }
}

TEST_CASE("kv cache: sizes and bytes") {
  auto cache = KVCache::create(6, 256, 384);
  REQUIRE(cache.ok());
  CHECK(cache->n_layers() == 6);
  CHECK(cache->max_ctx() == 256);
  CHECK(cache->kv_dim() == 384);
  CHECK(cache->n_seqs() == 1);
  CHECK(cache->pos() == 0);
  CHECK(cache->bytes() == 2u * 6 * 256 * 384 * sizeof(float));
  CHECK(cache->get(0).keys.empty());
  auto batched = KVCache::create(2, 16, 8, 3);
  REQUIRE(batched.ok());
  CHECK(batched->n_seqs() == 3);
  CHECK(batched->bytes() == 2u * 2 * 16 * 8 * 3 * sizeof(float));
  // Fresh storage reads as zeros.
  const float* k = batched->key_rows(1, 2);
  REQUIRE(k != nullptr);
  for (size_t i = 0; i < 16 * 8; ++i) CHECK(k[i] == 0.0f);
}

TEST_CASE("kv cache: create rejects zero sizes and overflowing totals") {
  CHECK(KVCache::create(0, 4, 4).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(KVCache::create(4, 0, 4).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(KVCache::create(4, 4, 0).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(KVCache::create(4, 4, 4, 0).status().code() == absl::StatusCode::kInvalidArgument);
  const size_t big = size_t{1} << 32;
  CHECK(KVCache::create(big, big, 4).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(KVCache::create(1, SIZE_MAX, 2).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(KVCache::create(2, 2, 2, SIZE_MAX / 4).status().code() ==
        absl::StatusCode::kInvalidArgument);
  // Elements fit in size_t but bytes (×2 for values, ×4 per float) do not.
  CHECK(KVCache::create(1, size_t{1} << 31, size_t{1} << 31).status().code() ==
        absl::StatusCode::kInvalidArgument);
  const absl::Status err = KVCache::create(big, big, 4).status();
  CHECK(err.message().find("overflow") != absl::string_view::npos);
}

TEST_CASE("kv cache: round trip per sequence, layer and position") {
  const size_t n_layers = 3, max_ctx = 9, kv_dim = 7, n_seqs = 3;
  auto made = KVCache::create(n_layers, max_ctx, kv_dim, n_seqs);
  REQUIRE(made.ok());
  KVCache& cache = *made;
  // Interleave sequences and leave them at different positions.
  fill(cache, 0, 0, 4);
  fill(cache, 2, 0, 9);
  fill(cache, 1, 0, 2);
  fill(cache, 0, 4, 6);
  CHECK(cache.pos(0) == 6);
  CHECK(cache.pos(1) == 2);
  CHECK(cache.pos(2) == 9);
  for (size_t seq = 0; seq < n_seqs; ++seq) check_contents(cache, seq);
  // at() gives the same views as get().
  for (size_t seq = 0; seq < n_seqs; ++seq) {
    for (size_t layer = 0; layer < n_layers; ++layer) {
      auto checked = cache.at(layer, seq);
      REQUIRE(checked.ok());
      CHECK(checked->keys.data() == cache.get(layer, seq).keys.data());
      CHECK(checked->values.data() == cache.get(layer, seq).values.data());
      CHECK(checked->keys.size() == cache.pos(seq) * kv_dim);
    }
  }
}

TEST_CASE("kv cache: views and rows alias the storage") {
  auto made = KVCache::create(2, 5, 4, 2);
  REQUIRE(made.ok());
  KVCache& cache = *made;
  fill(cache, 1, 0, 3);
  for (size_t layer = 0; layer < 2; ++layer) {
    const auto view = cache.get(layer, 1);
    CHECK(view.keys.data() == cache.key_rows(layer, 1));
    CHECK(view.values.data() == cache.value_rows(layer, 1));
    for (size_t pos = 0; pos < 5; ++pos) {
      CHECK(cache.key_row(layer, pos, 1) == cache.key_rows(layer, 1) + pos * 4);
      CHECK(cache.value_row(layer, pos, 1) == cache.value_rows(layer, 1) + pos * 4);
    }
  }
  // A write through key_row/value_row is visible in a view taken earlier.
  const auto before = cache.get(1, 1);
  cache.key_row(1, 2, 1)[3] = 42.0f;
  cache.value_row(1, 0, 1)[0] = -7.0f;
  CHECK(before.keys[2 * 4 + 3] == 42.0f);
  CHECK(before.values[0] == -7.0f);
  // The forward pass may write a row in place and hand the same row to update().
  float* k = cache.key_row(0, 3, 1);
  float* v = cache.value_row(0, 3, 1);
  for (size_t i = 0; i < 4; ++i) {
    k[i] = 1.0f + static_cast<float>(i);
    v[i] = 2.0f;
  }
  REQUIRE(cache.update(0, {k, 4}, {v, 4}, 1).ok());
  REQUIRE(cache.advance(1).ok());
  CHECK(cache.get(0, 1).keys[3 * 4 + 2] == 3.0f);
  CHECK(cache.get(0, 1).values[3 * 4 + 2] == 2.0f);
  // Sequence 0 is untouched.
  CHECK(cache.pos(0) == 0);
  for (size_t i = 0; i < 5 * 4; ++i) CHECK(cache.key_rows(1, 0)[i] == 0.0f);
}

TEST_CASE("kv cache: writing past max_ctx is an error and writes nothing") {
  const size_t n_layers = 2, max_ctx = 4, kv_dim = 3;
  auto made = KVCache::create(n_layers, max_ctx, kv_dim, 2);
  REQUIRE(made.ok());
  KVCache& cache = *made;
  fill(cache, 0, 0, max_ctx);
  CHECK(cache.pos(0) == max_ctx);
  const std::vector<float> k(kv_dim, 99.0f), v(kv_dim, 98.0f);
  for (size_t layer = 0; layer < n_layers; ++layer) {
    CHECK(cache.update(layer, k, v, 0).code() == absl::StatusCode::kOutOfRange);
  }
  CHECK(cache.advance(0).code() == absl::StatusCode::kOutOfRange);
  CHECK(cache.pos(0) == max_ctx);
  check_contents(cache, 0);
  // The next layer / sequence was not written into.
  CHECK(cache.pos(1) == 0);
  for (size_t i = 0; i < max_ctx * kv_dim; ++i) {
    CHECK(cache.key_rows(0, 1)[i] == 0.0f);
    CHECK(cache.value_rows(0, 1)[i] == 0.0f);
  }
}

TEST_CASE("kv cache: wrong sizes and bad indices") {
  auto made = KVCache::create(2, 4, 3, 2);
  REQUIRE(made.ok());
  KVCache& cache = *made;
  const std::vector<float> good(3, 1.0f), short_row(2, 1.0f), long_row(4, 1.0f);
  CHECK(cache.update(0, short_row, good).code() == absl::StatusCode::kInvalidArgument);
  CHECK(cache.update(0, good, long_row).code() == absl::StatusCode::kInvalidArgument);
  CHECK(cache.update(0, {}, good).code() == absl::StatusCode::kInvalidArgument);
  const absl::Status v_error = cache.update(0, good, short_row);
  CHECK(v_error.message().find("v has 2 elements") != absl::string_view::npos);
  CHECK(cache.update(2, good, good).code() == absl::StatusCode::kOutOfRange);
  CHECK(cache.update(0, good, good, 2).code() == absl::StatusCode::kOutOfRange);
  CHECK(cache.update(SIZE_MAX, good, good).code() == absl::StatusCode::kOutOfRange);
  CHECK(cache.advance(2).code() == absl::StatusCode::kOutOfRange);
  CHECK(cache.at(2).status().code() == absl::StatusCode::kOutOfRange);
  CHECK(cache.at(0, 5).status().code() == absl::StatusCode::kOutOfRange);
  CHECK(cache.key_row(2, 0) == nullptr);
  CHECK(cache.key_row(0, 4) == nullptr);
  CHECK(cache.key_row(0, 0, 2) == nullptr);
  CHECK(cache.value_row(0, SIZE_MAX) == nullptr);
  CHECK(cache.key_rows(2) == nullptr);
  CHECK(cache.value_rows(0, 2) == nullptr);
  CHECK(cache.set_pos(5).code() == absl::StatusCode::kOutOfRange);
  CHECK(cache.set_pos(1, 2).code() == absl::StatusCode::kOutOfRange);
  CHECK(cache.truncate(1).code() == absl::StatusCode::kOutOfRange);  // pos is 0
  CHECK(cache.truncate(0, 3).code() == absl::StatusCode::kOutOfRange);
  // Nothing above changed any state.
  CHECK(cache.pos(0) == 0);
  CHECK(cache.pos(1) == 0);
}

TEST_CASE("kv cache: clear, truncate and set_pos") {
  auto made = KVCache::create(2, 8, 5, 2);
  REQUIRE(made.ok());
  KVCache& cache = *made;
  fill(cache, 0, 0, 6);
  fill(cache, 1, 0, 3);

  REQUIRE(cache.truncate(4, 0).ok());
  CHECK(cache.pos(0) == 4);
  CHECK(cache.get(1, 0).keys.size() == 4 * 5);
  check_contents(cache, 0);
  // The next update lands at position 4 again.
  const std::vector<float> k(5, 123.0f), v(5, -123.0f);
  REQUIRE(cache.update(1, k, v, 0).ok());
  CHECK(cache.key_row(1, 4, 0)[0] == 123.0f);
  CHECK(cache.value_row(1, 4, 0)[4] == -123.0f);
  CHECK(cache.truncate(4, 0).ok());  // n == pos is allowed

  cache.clear(1);
  CHECK(cache.pos(1) == 0);
  CHECK(cache.pos(0) == 4);
  CHECK(cache.get(0, 1).keys.empty());
  cache.clear(7);  // ignored
  CHECK(cache.pos(0) == 4);

  REQUIRE(cache.set_pos(8, 1).ok());
  CHECK(cache.advance(1).code() == absl::StatusCode::kOutOfRange);
  REQUIRE(cache.set_pos(2, 1).ok());
  CHECK(cache.get(1, 1).keys.size() == 2 * 5);
  cache.clear();
  CHECK(cache.pos(0) == 0);
  CHECK(cache.pos(1) == 0);
  fill(cache, 0, 0, 8);
  check_contents(cache, 0);
}

TEST_CASE("kv cache: move keeps the storage") {
  auto made = KVCache::create(1, 4, 2);
  REQUIRE(made.ok());
  fill(*made, 0, 0, 2);
  const float* keys = made->key_rows(0);
  KVCache moved = std::move(*made);
  CHECK(moved.key_rows(0) == keys);
  CHECK(moved.pos() == 2);
  check_contents(moved, 0);
  auto other = KVCache::create(3, 3, 3);
  REQUIRE(other.ok());
  *other = std::move(moved);
  CHECK(other->n_layers() == 1);
  CHECK(other->key_rows(0) == keys);
  check_contents(*other, 0);
}

}  // namespace
}  // namespace llmk
