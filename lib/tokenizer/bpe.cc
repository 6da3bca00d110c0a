#include "tokenizer/bpe.h"

#include <algorithm>
#include <limits>
#include <memory>

namespace llmk::tok {
namespace {

constexpr uint32_t kNoRank = std::numeric_limits<uint32_t>::max();
// Up to this many symbols a linear scan for the best pair beats a heap.
constexpr size_t kScanLimit = 48;

inline const MergeRule* find_rule(const PairTable& pairs, SymbolId left, SymbolId right) {
  if (left < 0 || right < 0) return nullptr;
  return pairs.find(pair_key(left, right));
}

// Short sequences: keep the rank of every adjacent pair in an array, merge
// the first minimum, update the two neighbours' ranks.
void merge_by_scan(const PairTable& pairs, std::vector<Symbol>* symbols) {
  std::vector<Symbol>& sym = *symbols;
  size_t n = sym.size();
  uint32_t ranks[kScanLimit];
  SymbolId results[kScanLimit];
  auto set_pair = [&](size_t i) {
    const MergeRule* r = find_rule(pairs, sym[i].id, sym[i + 1].id);
    ranks[i] = r ? r->rank : kNoRank;
    results[i] = r ? r->result : -1;
  };
  for (size_t i = 0; i + 1 < n; ++i) set_pair(i);
  while (n > 1) {
    size_t best = 0;
    uint32_t best_rank = ranks[0];
    for (size_t i = 1; i + 1 < n; ++i) {
      if (ranks[i] < best_rank) {
        best_rank = ranks[i];
        best = i;
      }
    }
    if (best_rank == kNoRank) break;
    sym[best].id = results[best];
    sym[best].bytes += sym[best + 1].bytes;
    for (size_t i = best + 1; i + 1 < n; ++i) sym[i] = sym[i + 1];
    for (size_t i = best; i + 2 < n; ++i) {
      ranks[i] = ranks[i + 1];
      results[i] = results[i + 1];
    }
    --n;
    if (best + 1 < n) set_pair(best);
    if (best > 0) set_pair(best - 1);
  }
  sym.resize(n);
}

// Lower rank first, then the leftmost; std heap functions keep the largest
// on top, so "greater" means "worse".
struct Worse {
  bool operator()(const HeapEntry& a, const HeapEntry& b) const {
    return a.rank != b.rank ? a.rank > b.rank : a.left > b.left;
  }
};
constexpr Worse worse;

// Long sequences: a doubly linked list of symbols and a heap of candidate
// pairs. An entry is stale once either side changed; the ids it recorded
// then no longer match (ids only change by growing, and a symbol's start and
// id fix its text).
void merge_by_heap(const PairTable& pairs, std::vector<Symbol>* symbols, MergeScratch* s) {
  std::vector<Symbol>& sym = *symbols;
  const size_t n = sym.size();
  s->prev.resize(n);
  s->next.resize(n);
  s->heap.clear();
  for (size_t i = 0; i < n; ++i) {
    s->prev[i] = static_cast<int32_t>(i) - 1;
    s->next[i] = i + 1 < n ? static_cast<int32_t>(i + 1) : -1;
  }
  auto push = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const MergeRule* r = find_rule(pairs, sym[left].id, sym[right].id);
    if (!r) return;
    s->heap.push_back({r->rank, static_cast<uint32_t>(left), sym[left].id, sym[right].id,
                       r->result});
    std::push_heap(s->heap.begin(), s->heap.end(), worse);
  };
  for (size_t i = 0; i + 1 < n; ++i) push(static_cast<int32_t>(i), static_cast<int32_t>(i + 1));
  while (!s->heap.empty()) {
    std::pop_heap(s->heap.begin(), s->heap.end(), worse);
    const HeapEntry e = s->heap.back();
    s->heap.pop_back();
    const int32_t left = static_cast<int32_t>(e.left);
    if (sym[left].bytes == 0 || sym[left].id != e.left_id) continue;
    const int32_t right = s->next[left];
    if (right < 0 || sym[right].id != e.right_id) continue;
    sym[left].id = e.result;
    sym[left].bytes += sym[right].bytes;
    sym[right].bytes = 0;
    const int32_t after = s->next[right];
    s->next[left] = after;
    if (after >= 0) s->prev[after] = left;
    push(s->prev[left], left);
    push(left, after);
  }
  size_t out = 0;
  for (int32_t i = 0; i >= 0; i = s->next[i]) sym[out++] = sym[i];
  sym.resize(out);
}

}  // namespace

void PairTable::grow() {
  std::vector<Slot> old = std::move(slots_);
  const size_t capacity = old.empty() ? 1024 : old.size() * 2;
  slots_.assign(capacity, Slot{});
  mask_ = capacity - 1;
  shift_ = 64 - __builtin_ctzll(capacity);
  for (const Slot& s : old) {
    if (s.key == kEmpty) continue;
    size_t i = index(s.key);
    while (slots_[i].key != kEmpty) i = (i + 1) & mask_;
    slots_[i] = s;
  }
}

void PairTable::insert(uint64_t key, MergeRule rule) {
  if ((size_ + 1) * 2 > slots_.size()) grow();  // load factor ≤ 1/2
  size_t i = index(key);
  for (; slots_[i].key != kEmpty; i = (i + 1) & mask_) {
    if (slots_[i].key == key) return;
  }
  slots_[i] = Slot{key, rule};
  ++size_;
}

void KnownPieces::build(const std::vector<std::pair<PieceKey, int32_t>>& entries) {
  size_t capacity = 16;
  while (capacity < entries.size() * 2) capacity *= 2;
  slots_.assign(capacity, Slot{});
  mask_ = capacity - 1;
  for (const auto& [key, id] : entries) {
    size_t i = key.hash() & mask_;
    for (; slots_[i].id >= 0; i = (i + 1) & mask_) {
      if (slots_[i].key == key) break;
    }
    slots_[i] = Slot{key, id};
  }
}

void merge_symbols(const PairTable& pairs, std::vector<Symbol>* symbols, MergeScratch* scratch) {
  if (symbols->size() < 2) return;
  if (symbols->size() <= kScanLimit) {
    merge_by_scan(pairs, symbols);
  } else {
    merge_by_heap(pairs, symbols, scratch);
  }
}

EncodeScratch& thread_scratch() {
  // Heap-allocated so the shared library's static TLS block stays small.
  thread_local std::unique_ptr<EncodeScratch> scratch;
  if (!scratch) scratch = std::make_unique<EncodeScratch>();
  return *scratch;
}

}  // namespace llmk::tok
