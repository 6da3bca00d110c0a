// Validates a Vocabulary and builds the encode/decode tables.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "tokenizer/tokenizer_data.h"
#include "tokenizer/unicode.h"
#include "util/check.h"
#include "util/log.h"

namespace llmk::tok {
namespace {

using internal::to_absl;

std::atomic<uint64_t> g_next_serial{1};

absl::string_view av(std::string_view s) { return to_absl(s); }

TokenType type_of(const Vocabulary& v, size_t i) {
  return v.types.empty() ? TokenType::kNormal : v.types[i];
}

// Tokens the merge step may produce from plain text. Control, unknown, byte
// and unused tokens are reachable only by id (special parsing, byte
// fallback), as in SentencePiece.
bool mergeable(TokenType t) {
  return t == TokenType::kNormal || t == TokenType::kUserDefined || t == TokenType::kUndefined;
}

bool is_special(TokenType t) {
  return t == TokenType::kControl || t == TokenType::kUserDefined || t == TokenType::kUnknown;
}

absl::Status validate(const Vocabulary& v) {
  const size_t n = v.tokens.size();
  if (n == 0) return absl::InvalidArgumentError("vocabulary: tokens is empty");
  if (n > Vocabulary::kMaxTokens) {
    return absl::InvalidArgumentError(
        absl::StrCat("vocabulary: ", n, " tokens, more than the limit ", Vocabulary::kMaxTokens));
  }
  if (!v.scores.empty() && v.scores.size() != n) {
    return internal::size_error("vocabulary", "scores", v.scores.size(), n);
  }
  if (!v.types.empty() && v.types.size() != n) {
    return internal::size_error("vocabulary", "types", v.types.size(), n);
  }
  for (size_t i = 0; i < v.scores.size(); ++i) {
    if (std::isnan(v.scores[i])) {
      return absl::InvalidArgumentError(absl::StrCat("vocabulary: scores[", i, "] is NaN"));
    }
  }
  for (size_t i = 0; i < v.types.size(); ++i) {
    const auto t = static_cast<int32_t>(v.types[i]);
    if (t < 0 || t > static_cast<int32_t>(TokenType::kByte)) {
      return absl::InvalidArgumentError(
          absl::StrCat("vocabulary: types[", i, "] = ", t, " is not a token type (0..6)"));
    }
    if (v.types[i] == TokenType::kByte && parse_byte_token(v.tokens[i]) < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "vocabulary: token ", i, " has type byte but its text is not <0xHH>"));
    }
  }
  const std::pair<const char*, TokenId> ids[] = {{"bos_id", v.bos_id},
                                                 {"eos_id", v.eos_id},
                                                 {"unknown_id", v.unknown_id},
                                                 {"padding_id", v.padding_id}};
  for (const auto& [name, id] : ids) {
    if (id < -1 || (id >= 0 && static_cast<size_t>(id) >= n)) {
      return absl::InvalidArgumentError(absl::StrCat("vocabulary: ", name, " = ", id,
                                                     " is outside the vocabulary (", n,
                                                     " tokens)"));
    }
  }
  if (v.kind == VocabKind::kLlama && !v.merges.empty()) {
    return absl::InvalidArgumentError("vocabulary: merges are only used by kind gpt2");
  }
  return absl::OkStatus();
}

absl::Status build_pieces(TokenizerData* d) {
  const Vocabulary& v = d->vocab;
  d->piece_offsets.assign(1, 0);
  std::string raw;
  for (size_t i = 0; i < v.tokens.size(); ++i) {
    const std::string& text = v.tokens[i];
    const TokenType type = type_of(v, i);
    if (type == TokenType::kByte) {
      d->piece_bytes.push_back(static_cast<char>(parse_byte_token(text)));
    } else if (is_special(type) && type != TokenType::kUserDefined) {
      d->piece_bytes += text;
    } else if (v.kind == VocabKind::kGpt2) {
      // User-defined tokens are plain text; others are in mapped form.
      if (type != TokenType::kUserDefined && unmap_bytes(text, &raw)) {
        d->piece_bytes += raw;
      } else {
        d->piece_bytes += text;
      }
    } else {
      for (size_t p = 0; p < text.size();) {
        if (std::string_view(text).substr(p, 3) == kSpaceMarker) {
          d->piece_bytes.push_back(' ');
          p += 3;
        } else {
          d->piece_bytes.push_back(text[p++]);
        }
      }
    }
    if (d->piece_bytes.size() > std::numeric_limits<uint32_t>::max()) {
      return absl::InvalidArgumentError("vocabulary: token texts exceed 4 GiB in total");
    }
    d->piece_offsets.push_back(static_cast<uint32_t>(d->piece_bytes.size()));
  }
  return absl::OkStatus();
}

absl::Status build_gpt2(TokenizerData* d) {
  const Vocabulary& v = d->vocab;
  const auto n = static_cast<SymbolId>(v.tokens.size());
  // Symbols are raw byte strings: tokens (later ones win, as in llama.cpp's
  // text→id map) and, past n, texts that are no token.
  absl::flat_hash_map<std::string, SymbolId> symbol_of;
  std::string raw;
  for (SymbolId i = 0; i < n; ++i) {
    if (mergeable(type_of(v, i)) && type_of(v, i) != TokenType::kUserDefined &&
        unmap_bytes(v.tokens[i], &raw)) {
      symbol_of[raw] = i;
    }
  }
  SymbolId next_virtual = n;
  auto symbol_for = [&](const std::string& text) {
    auto [it, inserted] = symbol_of.try_emplace(text, next_virtual);
    if (inserted) ++next_virtual;
    return it->second;
  };
  for (int b = 0; b < 256; ++b) {
    const SymbolId s = symbol_for(std::string(1, static_cast<char>(b)));
    d->byte_symbol[b] = s;
    d->byte_token[b] = s < n ? s : -1;
  }
  struct ParsedMerge {
    std::string left, right;
  };
  std::vector<ParsedMerge> parsed(v.merges.size());
  size_t unusable = 0;
  for (size_t r = 0; r < v.merges.size(); ++r) {
    const std::string& m = v.merges[r];
    // The separator is the first space after the first character, as in
    // llama.cpp (a mapped token never holds U+0020 anyway).
    const size_t sep = m.size() > 1 ? m.find(' ', 1) : std::string::npos;
    if (sep == std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("vocabulary: merges[", r, "] has no space between its two parts"));
    }
    ParsedMerge& pm = parsed[r];
    if (!unmap_bytes(std::string_view(m).substr(0, sep), &pm.left) ||
        !unmap_bytes(std::string_view(m).substr(sep + 1), &pm.right) || pm.left.empty() ||
        pm.right.empty()) {
      pm.left.clear();  // can never apply
      ++unusable;
      continue;
    }
    symbol_for(pm.left + pm.right);
  }
  for (size_t r = 0; r < parsed.size(); ++r) {
    const ParsedMerge& pm = parsed[r];
    if (pm.left.empty()) continue;
    auto l = symbol_of.find(pm.left);
    auto rt = symbol_of.find(pm.right);
    if (l == symbol_of.end() || rt == symbol_of.end()) {
      ++unusable;  // a side that is neither a byte nor a merge result
      continue;
    }
    const SymbolId result = symbol_of.find(pm.left + pm.right)->second;
    d->pairs.insert(pair_key(l->second, rt->second), MergeRule{static_cast<uint32_t>(r), result});
  }
  if (unusable > 0) LLMK_LOG(warn, "tokenizer: {} merges can never apply", unusable);
  return absl::OkStatus();
}

// Character boundaries of a token's text, cut as encode() cuts input.
void cut_chars(std::string_view text, std::vector<size_t>* ends) {
  ends->clear();
  size_t p = 0;
  while (p < text.size()) {
    p += spm_char_len(reinterpret_cast<const uint8_t*>(text.data()) + p, text.size() - p);
    ends->push_back(p);
  }
}

absl::Status build_llama(TokenizerData* d) {
  const Vocabulary& v = d->vocab;
  const auto n = static_cast<SymbolId>(v.tokens.size());
  // Rank of each distinct score, best (highest) first.
  std::vector<float> distinct;
  for (SymbolId i = 0; i < n; ++i) distinct.push_back(v.scores.empty() ? 0.0f : v.scores[i]);
  std::sort(distinct.begin(), distinct.end(), std::greater<float>());
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  auto rank_of = [&](SymbolId id) {
    const float s = v.scores.empty() ? 0.0f : v.scores[id];
    return static_cast<uint32_t>(
        std::lower_bound(distinct.begin(), distinct.end(), s, std::greater<float>()) -
        distinct.begin());
  };

  absl::flat_hash_map<absl::string_view, SymbolId> token_of;
  for (SymbolId i = 0; i < n; ++i) {
    if (mergeable(type_of(v, i)) && !v.tokens[i].empty()) token_of[av(v.tokens[i])] = i;
  }
  d->single_byte_char_symbol.fill(-1);
  auto set_char = [&](std::string_view ch, SymbolId id) {
    if (ch.size() == 1) {
      d->single_byte_char_symbol[static_cast<uint8_t>(ch[0])] = id;
    } else {
      d->char_symbol[std::string(ch)] = id;
    }
  };
  std::vector<size_t> ends;
  for (const auto& [text, id] : token_of) {
    cut_chars(std::string_view(text.data(), text.size()), &ends);
    if (ends.size() == 1) set_char(std::string_view(text.data(), text.size()), id);
  }
  // Characters inside tokens that are no token themselves get symbols past n,
  // so that pairs made of them are found.
  SymbolId next_virtual = n;
  absl::flat_hash_map<std::string, SymbolId> virtual_chars;
  for (const auto& [text, id] : token_of) {
    const std::string_view t(text.data(), text.size());
    cut_chars(t, &ends);
    if (ends.size() < 2) continue;
    size_t begin = 0;
    for (size_t e : ends) {
      const std::string_view ch = t.substr(begin, e - begin);
      begin = e;
      if (token_of.contains(av(ch))) continue;
      auto [it, inserted] = virtual_chars.try_emplace(std::string(ch), next_virtual);
      if (inserted) set_char(ch, next_virtual++);
    }
  }
  auto symbol_of = [&](std::string_view s) -> SymbolId {
    if (auto it = token_of.find(av(s)); it != token_of.end()) return it->second;
    if (auto it = virtual_chars.find(av(s)); it != virtual_chars.end()) return it->second;
    return -1;
  };
  d->joinable.assign((TokenizerData::kClasses * TokenizerData::kClasses + 63) / 64, 0);
  for (int x = 0; x < TokenizerData::kClasses; ++x) {
    d->set_joinable(x, TokenizerData::kWideClass);
    d->set_joinable(TokenizerData::kWideClass, x);
  }
  auto class_of = [](std::string_view ch) {
    if (ch.size() == 1) return static_cast<int>(static_cast<uint8_t>(ch[0]));
    return ch == kSpaceMarker ? TokenizerData::kMarkerClass : TokenizerData::kWideClass;
  };
  for (const auto& [text, id] : token_of) {
    const std::string_view t(text.data(), text.size());
    cut_chars(t, &ends);
    for (size_t k = 0; k + 1 < ends.size(); ++k) {
      const SymbolId left = symbol_of(t.substr(0, ends[k]));
      const SymbolId right = symbol_of(t.substr(ends[k]));
      if (left >= 0 && right >= 0) {
        d->pairs.insert(pair_key(left, right), MergeRule{rank_of(id), id});
      }
      const size_t begin = k == 0 ? 0 : ends[k - 1];
      d->set_joinable(class_of(t.substr(begin, ends[k] - begin)),
                      class_of(t.substr(ends[k], ends[k + 1] - ends[k])));
    }
  }
  d->byte_token.fill(-1);
  for (int b = 0; b < 256; ++b) {
    const SymbolId s = d->single_byte_char_symbol[b];
    if (s >= 0 && s < n) d->byte_token[b] = s;  // fallback: the byte's own token
  }
  for (SymbolId i = 0; i < n; ++i) {
    if (type_of(v, i) == TokenType::kByte) d->byte_token[parse_byte_token(v.tokens[i])] = i;
  }
  return absl::OkStatus();
}

// Tokens whose text, encoded alone, gives back just the token.
void build_known_pieces(TokenizerData* d) {
  const Vocabulary& v = d->vocab;
  std::vector<std::pair<PieceKey, int32_t>> entries;
  std::vector<Symbol> symbols;
  MergeScratch scratch;
  std::string raw;
  for (TokenId id = 0; id < d->n_tokens; ++id) {
    if (!mergeable(type_of(v, id))) continue;
    std::string_view text = v.tokens[id];
    if (v.kind == VocabKind::kGpt2) {
      if (!unmap_bytes(text, &raw)) continue;
      text = raw;
    }
    PieceKey key;
    if (text.empty() || !PieceKey::make(text, &key)) continue;
    initial_symbols(*d, text, &symbols);
    merge_symbols(d->pairs, &symbols, &scratch);
    if (symbols.size() == 1 && symbols[0].id == id) entries.emplace_back(key, id);
  }
  d->known.build(entries);
}

}  // namespace

void initial_symbols(const TokenizerData& d, std::string_view piece,
                     std::vector<Symbol>* symbols) {
  symbols->clear();
  if (d.vocab.kind == VocabKind::kGpt2) {
    for (size_t i = 0; i < piece.size(); ++i) {
      symbols->push_back(
          {d.byte_symbol[static_cast<uint8_t>(piece[i])], static_cast<uint32_t>(i), 1});
    }
    return;
  }
  const auto* bytes = reinterpret_cast<const uint8_t*>(piece.data());
  for (size_t p = 0; p < piece.size();) {
    const size_t len = spm_char_len(bytes + p, piece.size() - p);
    SymbolId id;
    if (len == 1) {
      id = d.single_byte_char_symbol[bytes[p]];
    } else {
      auto it = d.char_symbol.find(to_absl(piece.substr(p, len)));
      id = it == d.char_symbol.end() ? -1 : it->second;
    }
    symbols->push_back({id, static_cast<uint32_t>(p), static_cast<uint32_t>(len)});
    p += len;
  }
}

int parse_byte_token(std::string_view t) {
  if (t.size() != 6 || t[0] != '<' || t[1] != '0' || t[2] != 'x' || t[5] != '>') return -1;
  auto hex = [](char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  const int hi = hex(t[3]), lo = hex(t[4]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

absl::StatusOr<std::unique_ptr<TokenizerData>> build_tokenizer_data(Vocabulary vocab) {
  LLMK_RETURN_IF_ERROR(validate(vocab));
  auto d = std::make_unique<TokenizerData>();
  d->vocab = std::move(vocab);
  d->serial = g_next_serial.fetch_add(1);
  d->n_tokens = static_cast<int32_t>(d->vocab.tokens.size());
  LLMK_RETURN_IF_ERROR(build_pieces(d.get()));
  if (d->vocab.kind == VocabKind::kGpt2) {
    LLMK_RETURN_IF_ERROR(build_gpt2(d.get()));
  } else {
    LLMK_RETURN_IF_ERROR(build_llama(d.get()));
  }
  build_known_pieces(d.get());
  for (TokenId i = 0; i < d->n_tokens; ++i) {
    if (is_special(type_of(d->vocab, i)) && !d->vocab.tokens[i].empty()) d->specials.push_back(i);
  }
  std::stable_sort(d->specials.begin(), d->specials.end(), [&](TokenId a, TokenId b) {
    return d->vocab.tokens[a].size() > d->vocab.tokens[b].size();
  });
  return d;
}

}  // namespace llmk::tok
