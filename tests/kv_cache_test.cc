// KVCache: round trip per sequence, layer and position; views alias the
// storage; size and index errors; clear, truncate and set_pos; the F16
// element type.
#include "llmk/kv_cache.h"

#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "doctest/doctest.h"
#include "llmk/quant.h"  // f32_to_f16, f16_to_f32

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

TEST_CASE("kv cache: F16 stores halves, rounded to nearest even, read back as f32") {
  const size_t n_layers = 2, max_ctx = 5, kv_dim = 7, n_seqs = 2;
  auto f16 = KVCache::create(n_layers, max_ctx, kv_dim, n_seqs, KvType::kF16);
  auto f32 = KVCache::create(n_layers, max_ctx, kv_dim, n_seqs);
  REQUIRE(f16.ok());
  REQUIRE(f32.ok());
  CHECK(f16->type() == KvType::kF16);
  CHECK(f32->type() == KvType::kF32);
  CHECK(f16->element_bytes() == 2);
  CHECK(f16->bytes() * 2 == f32->bytes());
  // Exact halves round-trip; 1 + 2⁻¹¹ is a tie that rounds to even (1), and
  // 1 + 3·2⁻¹¹ one that rounds up (1 + 2⁻⁹); 70000 overflows to infinity.
  const std::vector<float> k = {0.5f, -2.0f, 1.0f + 0x1p-11f, 1.0f + 3 * 0x1p-11f, 65504.0f,
                                70000.0f, -0.0f};
  const std::vector<float> k_half = {0.5f, -2.0f, 1.0f, 1.0f + 0x1p-9f, 65504.0f,
                                     std::numeric_limits<float>::infinity(), -0.0f};
  const std::vector<float> v = {3.0f, -0.25f, 1024.0f, 6e-8f, -1.5f, 7.0f, 0.125f};
  REQUIRE(f16->set_pos(3, 1).ok());
  REQUIRE(f16->update(1, k, v, 1).ok());
  std::vector<float> k_out(kv_dim), v_out(kv_dim);
  REQUIRE(f16->read(1, 3, k_out, v_out, 1).ok());
  CHECK(k_out == k_half);
  CHECK(v_out[0] == 3.0f);
  CHECK(v_out[3] == 0x1p-24f);  // 6e-8 is nearest to the smallest subnormal half
  // The raw row holds the half bits (1.0 is 0x3C00).
  uint16_t bits;
  std::memcpy(&bits, f16->key_data(1, 3, 1) + 2 * 2, 2);
  CHECK(bits == 0x3C00);
  // No f32 view of an F16 cache; the byte rows are there.
  CHECK(f16->key_row(1, 3, 1) == nullptr);
  CHECK(f16->value_rows(1, 1) == nullptr);
  CHECK(f16->get(1, 1).keys.empty());
  CHECK(f16->at(1, 1).status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(f16->value_data(1, 3, 1) != nullptr);
  CHECK(f16->key_data(1, max_ctx, 1) == nullptr);
  // read() checks like update(); on an F32 cache it copies the row.
  CHECK(f16->read(1, max_ctx, k_out, v_out, 1).code() == absl::StatusCode::kOutOfRange);
  CHECK(f16->read(2, 0, k_out, v_out).code() == absl::StatusCode::kOutOfRange);
  CHECK(f16->read(0, 0, std::span<float>(k_out).first(3), v_out).code() ==
        absl::StatusCode::kInvalidArgument);
  REQUIRE(f32->update(0, k, v).ok());
  REQUIRE(f32->read(0, 0, k_out, v_out).ok());
  CHECK(k_out == k);
  CHECK(v_out == v);
}

TEST_CASE("kv cache: F16 fills up, truncates and writes parts of rows like F32") {
  const size_t kv_dim = 5, max_ctx = 3;
  auto cache = KVCache::create(1, max_ctx, kv_dim, 1, KvType::kF16);
  REQUIRE(cache.ok());
  auto row = [](float base) {
    std::vector<float> r(kv_dim);
    for (size_t i = 0; i < kv_dim; ++i) r[i] = base + 0.1f * static_cast<float>(i);
    return r;
  };
  auto halves = [](const std::vector<float>& x) {
    std::vector<float> r(x.size());
    for (size_t i = 0; i < x.size(); ++i) r[i] = f16_to_f32(f32_to_f16(x[i]));
    return r;
  };
  for (size_t p = 0; p < max_ctx; ++p) {
    REQUIRE(cache->update(0, row(float(p)), row(-float(p)), 0).ok());
    REQUIRE(cache->advance().ok());
  }
  // Full: both update and advance say so, and nothing is written.
  const absl::Status full = cache->update(0, row(9), row(9));
  CHECK(full.code() == absl::StatusCode::kOutOfRange);
  CHECK(full.message() == "KVCache::update: sequence 0 is full (pos = max_ctx = 3)");
  CHECK(cache->advance().code() == absl::StatusCode::kOutOfRange);
  // Truncate to 1 and overwrite position 1; position 0 is kept.
  REQUIRE(cache->truncate(1).ok());
  CHECK(cache->pos() == 1);
  CHECK(cache->truncate(2).code() == absl::StatusCode::kOutOfRange);
  REQUIRE(cache->update(0, row(5), row(-5)).ok());
  std::vector<float> k(kv_dim), v(kv_dim);
  REQUIRE(cache->read(0, 0, k, v).ok());
  CHECK(k == halves(row(0)));
  REQUIRE(cache->read(0, 1, k, v).ok());
  CHECK(k == halves(row(5)));
  CHECK(v == halves(row(-5)));
  // write_rows: elements [2, 4) of position 2 only.
  const std::vector<float> part_k = {7.3f, 7.7f}, part_v = {-7.3f, -7.7f};
  cache->write_rows(0, 2, 0, 2, part_k, part_v);
  REQUIRE(cache->read(0, 2, k, v).ok());
  CHECK(k[2] == halves(part_k)[0]);
  CHECK(k[3] == halves(part_k)[1]);
  CHECK(v[3] == halves(part_v)[1]);
  CHECK(k[4] == halves(row(2))[4]);  // untouched
  CHECK(k[1] == halves(row(2))[1]);
  // Wrong sizes are errors, not crashes.
  CHECK(cache->update(0, std::vector<float>(kv_dim + 1), row(0)).code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("kv cache: type names parse, unknown ones are a clear error") {
  CHECK(*parse_kv_type("f32") == KvType::kF32);
  CHECK(*parse_kv_type("f16") == KvType::kF16);
  CHECK(std::string(kv_type_name(KvType::kF16)) == "f16");
  CHECK(std::string(kv_type_name(KvType::kF32)) == "f32");
  const absl::Status bad = parse_kv_type("q8_0").status();
  CHECK(bad.code() == absl::StatusCode::kInvalidArgument);
  CHECK(bad.message() == "KV cache type 'q8_0' is not one of f32, f16");
  CHECK(KVCache::create(1, 1, 1, 1, static_cast<KvType>(7)).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace llmk
