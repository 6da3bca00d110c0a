// The merge engine both tokenizer kinds share, and the per-thread scratch
// (piece cache, buffers) encode() uses.
//
// Both kinds reduce to one rule: a symbol sequence, and a table from adjacent
// symbol pairs to (rank, merged symbol); the pair of lowest rank merges
// first, the leftmost on ties, until no pair is in the table. GPT-2's rank is
// the merge's line number; SentencePiece's is the position of the merged
// token's score in descending score order (equal scores, equal rank).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>


namespace llmk::tok {

// A symbol id: a token id, or an id ≥ the vocabulary size for a text that is
// not a token (a byte or character absent from the vocabulary, or a merge
// result that is no token); -1 for a character that can merge with nothing.
using SymbolId = int32_t;

struct MergeRule {
  uint32_t rank;
  SymbolId result;
};

inline uint64_t pair_key(SymbolId left, SymbolId right) {
  return (uint64_t{static_cast<uint32_t>(left)} << 32) | static_cast<uint32_t>(right);
}

// Symbol pair → MergeRule. Open addressing with linear probing and a
// multiplicative hash: lookups dominate encoding of unseen pieces, and this
// is about twice as fast as a general-purpose map for 64-bit keys.
class PairTable {
 public:
  // Adds the rule unless the pair is present (the first rule wins).
  void insert(uint64_t key, MergeRule rule);
  const MergeRule* find(uint64_t key) const {
    if (slots_.empty()) return nullptr;
    for (size_t i = index(key);; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.key == key) return &s.rule;
      if (s.key == kEmpty) return nullptr;
    }
  }
  size_t size() const { return size_; }

 private:
  // No real pair has this key: symbol ids are below 2^31.
  static constexpr uint64_t kEmpty = ~uint64_t{0};
  struct Slot {
    uint64_t key = kEmpty;
    MergeRule rule{};
  };
  size_t index(uint64_t key) const {
    return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> shift_);
  }
  void grow();
  std::vector<Slot> slots_;
  size_t mask_ = 0;
  int shift_ = 64;
  size_t size_ = 0;
};

struct Symbol {
  SymbolId id;
  uint32_t start;  // byte offset in the piece
  uint32_t bytes;  // 0 marks a symbol merged into its left neighbour
};

struct HeapEntry {
  uint32_t rank;
  uint32_t left;  // index of the left symbol
  SymbolId left_id;
  SymbolId right_id;
  SymbolId result;
};

struct MergeScratch {
  std::vector<HeapEntry> heap;
  std::vector<int32_t> prev, next;
};

// Merges *symbols in place (on return it holds the surviving symbols in
// order). Iterative; O(n log n) time for long sequences.
void merge_symbols(const PairTable& pairs, std::vector<Symbol>* symbols, MergeScratch* scratch);

// A piece of up to 24 bytes as three zero-padded little-endian words: built
// in one pass, compared in three instructions.
struct PieceKey {
  static constexpr size_t kMaxBytes = 24;
  uint64_t w[3];
  uint32_t bytes;

  // False when the piece is too long to have a key.
  static bool make(std::string_view piece, PieceKey* key) {
    const size_t n = piece.size();
    if (n > kMaxBytes) return false;
    const auto* p = reinterpret_cast<const unsigned char*>(piece.data());
    key->w[0] = key->w[1] = key->w[2] = 0;
    key->bytes = static_cast<uint32_t>(n);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) std::memcpy(&key->w[i / 8], p + i, 8);
    const size_t tail = n - i;
    if (tail != 0) key->w[i / 8] = load_tail(p + i, tail);
    return true;
  }
  uint64_t hash() const {
    uint64_t h = (w[0] ^ 0x9E3779B97F4A7C15ull) * 0xBF58476D1CE4E5B9ull;
    h ^= (w[1] + bytes) * 0x94D049BB133111EBull;
    h ^= w[2] * 0xD6E8FEB86659FD93ull;
    return h ^ (h >> 32);
  }
  bool operator==(const PieceKey& o) const {
    return bytes == o.bytes && w[0] == o.w[0] && w[1] == o.w[1] && w[2] == o.w[2];
  }

 private:
  // 1 to 7 bytes, zero-padded, without reading past p + n.
  static uint64_t load_tail(const unsigned char* p, size_t n) {
    if (n >= 4) {
      uint32_t lo, hi;
      std::memcpy(&lo, p, 4);
      std::memcpy(&hi, p + n - 4, 4);
      return uint64_t{lo} | (uint64_t{hi} << (8 * (n - 4)));
    }
    return uint64_t{p[0]} | (uint64_t{p[n / 2]} << (8 * (n / 2))) |
           (uint64_t{p[n - 1]} << (8 * (n - 1)));
  }
};

// Pieces whose whole text is one token that encoding reproduces ("Ġthe",
// "▁the"): most pieces of real text. Built once per tokenizer, read-only.
class KnownPieces {
 public:
  void build(const std::vector<std::pair<PieceKey, int32_t>>& entries);
  int32_t find(const PieceKey& key, uint64_t hash) const {
    if (slots_.empty()) return -1;
    for (size_t i = hash & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.id < 0) return -1;
      if (s.key == key) return s.id;
    }
  }

 private:
  struct Slot {
    PieceKey key{};
    int32_t id = -1;
  };
  std::vector<Slot> slots_;
  size_t mask_ = 0;
};

// A direct-mapped cache of recently encoded pieces (piece → ids), private to
// one thread. Entries carry the tokenizer's serial number so that several
// tokenizers can share a thread's cache.
class PieceCache {
 public:
  static constexpr size_t kSlots = 8192;
  static constexpr size_t kMaxIds = 6;

  // Appends the cached ids to *out and returns true on a hit.
  bool lookup(uint64_t owner, const PieceKey& key, uint64_t hash,
              std::vector<int32_t>* out) const {
    if (slots_.empty()) return false;
    const Slot& s = slots_[hash & (kSlots - 1)];
    if (s.owner != owner || !(s.key == key)) return false;
    out->insert(out->end(), s.ids, s.ids + s.n_ids);
    return true;
  }

  void store(uint64_t owner, const PieceKey& key, uint64_t hash, const int32_t* ids,
             size_t n_ids) {
    if (n_ids > kMaxIds) return;
    if (slots_.empty()) slots_.resize(kSlots);
    Slot& s = slots_[hash & (kSlots - 1)];
    s.owner = owner;
    s.key = key;
    s.n_ids = static_cast<uint32_t>(n_ids);
    std::memcpy(s.ids, ids, n_ids * sizeof(int32_t));
  }

 private:
  struct Slot {
    uint64_t owner = 0;
    PieceKey key{};
    uint32_t n_ids = 0;
    int32_t ids[kMaxIds] = {};
  };
  std::vector<Slot> slots_;
};

struct EncodeScratch {
  PieceCache cache;
  MergeScratch merge;
  std::vector<Symbol> symbols;
  std::string escaped;
};

// This thread's scratch (allocated on first use).
EncodeScratch& thread_scratch();

}  // namespace llmk::tok
