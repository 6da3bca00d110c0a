// The tables a Tokenizer encodes and decodes with, built once from a
// Vocabulary (tokenizer_build.cc).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "llmk/tokenizer.h"
#include "tokenizer/bpe.h"

namespace llmk::tok {

// "▁" (U+2581), SentencePiece's space marker.
inline constexpr std::string_view kSpaceMarker = "\xE2\x96\x81";

struct TokenizerData {
  Vocabulary vocab;
  uint64_t serial = 0;  // distinguishes tokenizers in the per-thread piece cache
  int32_t n_tokens = 0;

  // Decoded bytes of token i: piece_bytes[piece_offsets[i], piece_offsets[i + 1]).
  std::string piece_bytes;
  std::vector<uint32_t> piece_offsets;

  PairTable pairs;
  KnownPieces known;
  // kGpt2: the symbol of each byte.
  std::array<SymbolId, 256> byte_symbol{};
  // kLlama: the symbol of each one-byte character, and of longer characters.
  std::array<SymbolId, 256> single_byte_char_symbol{};
  absl::flat_hash_map<std::string, SymbolId> char_symbol;
  // kLlama: whether two characters appear side by side in some token that
  // merging can produce. Where they never do, no merge joins them, so the
  // text is cut there and the parts are merged (and cached) independently.
  // Characters are numbered by class: a one-byte character by its byte,
  // kMarkerClass for "▁", kWideClass for any other (always joinable).
  static constexpr int kMarkerClass = 256;
  static constexpr int kWideClass = 257;
  static constexpr int kClasses = 258;
  std::vector<uint64_t> joinable;  // kClasses × kClasses bits
  bool can_join(int left, int right) const {
    const size_t bit = static_cast<size_t>(left) * kClasses + static_cast<size_t>(right);
    return (joinable[bit / 64] >> (bit % 64)) & 1;
  }
  void set_joinable(int left, int right) {
    const size_t bit = static_cast<size_t>(left) * kClasses + static_cast<size_t>(right);
    joinable[bit / 64] |= uint64_t{1} << (bit % 64);
  }

  // Token written for a byte that forms no token: kLlama <0xHH>, kGpt2 the
  // byte's own token; -1 when none (then the unknown token, else an error).
  std::array<TokenId, 256> byte_token{};

  // Control, user-defined and unknown tokens with text, longest text first.
  std::vector<TokenId> specials;
};

absl::StatusOr<std::unique_ptr<TokenizerData>> build_tokenizer_data(Vocabulary vocab);

// The symbols a piece (kGpt2) or chunk (kLlama) starts as, before merging.
void initial_symbols(const TokenizerData& d, std::string_view piece, std::vector<Symbol>* symbols);

// Parses "<0xHH>" (exactly two hex digits); -1 otherwise.
int parse_byte_token(std::string_view text);

}  // namespace llmk::tok
