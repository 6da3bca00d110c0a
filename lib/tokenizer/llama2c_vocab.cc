// llama2.c's tokenizer.bin → Vocabulary. run.c trusts the file; we check
// every field against the bytes that are actually there.
#include <cmath>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "llmk/tokenizer.h"
#include "tokenizer/tokenizer_data.h"

namespace llmk {
namespace {

int32_t read_i32(const uint8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

absl::Status error(const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat("tokenizer.bin: ", what));
}

}  // namespace

absl::StatusOr<Vocabulary> vocabulary_from_llama2c(std::span<const uint8_t> bytes,
                                                   int64_t vocab_size) {
  if (vocab_size < 0 || static_cast<uint64_t>(vocab_size) > Vocabulary::kMaxTokens) {
    return error(absl::StrCat("vocab_size ", vocab_size, " is outside 0..",
                              Vocabulary::kMaxTokens, " (0: read to the end of the file)"));
  }
  if (bytes.size() < 4) {
    return error(absl::StrCat("truncated header: max_token_length needs 4 bytes, the file has ",
                              bytes.size()));
  }
  const int32_t declared_max = read_i32(bytes.data());
  // Only its sign is checked: lengths come from the records themselves
  // (run.c sized a buffer from it and overflowed when it was too small).
  if (declared_max <= 0) {
    return error(absl::StrCat("max_token_length ", declared_max, " is not positive"));
  }
  Vocabulary v;
  v.kind = VocabKind::kLlama;
  v.add_bos = true;
  v.add_space_prefix = true;
  size_t offset = 4;
  while (vocab_size == 0 ? offset < bytes.size()
                         : v.tokens.size() < static_cast<size_t>(vocab_size)) {
    const size_t index = v.tokens.size();
    if (index >= Vocabulary::kMaxTokens) {
      return error(absl::StrCat("more than ", Vocabulary::kMaxTokens, " tokens"));
    }
    const size_t left = bytes.size() - offset;
    if (left < 8) {
      return error(absl::StrCat("token ", index, ": record header (score, length) at offset ",
                                offset, " needs 8 bytes, ", left, " left",
                                vocab_size > 0 ? absl::StrCat(" (vocab_size ", vocab_size, ")")
                                               : std::string()));
    }
    float score;
    std::memcpy(&score, bytes.data() + offset, 4);
    const int32_t length = read_i32(bytes.data() + offset + 4);
    offset += 8;
    if (std::isnan(score)) return error(absl::StrCat("token ", index, ": score is NaN"));
    if (length < 0) return error(absl::StrCat("token ", index, ": negative length ", length));
    if (static_cast<size_t>(length) > bytes.size() - offset) {
      return error(absl::StrCat("token ", index, ": length ", length, " at offset ", offset - 4,
                                " runs past the end of the file (", bytes.size() - offset,
                                " bytes left)"));
    }
    std::string text(reinterpret_cast<const char*>(bytes.data() + offset),
                     static_cast<size_t>(length));
    offset += static_cast<size_t>(length);
    // llama2.c's exporter wrote SentencePiece's "▁" as a plain space.
    std::string piece;
    piece.reserve(text.size() + 8);
    for (char c : text) {
      if (c == ' ') {
        piece += tok::kSpaceMarker;
      } else {
        piece.push_back(c);
      }
    }
    v.tokens.push_back(std::move(piece));
    v.scores.push_back(score);
  }
  if (offset != bytes.size()) {
    return error(absl::StrCat(bytes.size() - offset, " bytes after the last of ", vocab_size,
                              " tokens"));
  }
  if (v.tokens.empty()) return error("the file holds no tokens");
  // run.c's fixed roles: 0 <unk>, 1 BOS, 2 EOS; <0xHH> byte tokens.
  const size_t n = v.tokens.size();
  v.types.assign(n, TokenType::kNormal);
  for (size_t i = 0; i < n; ++i) {
    if (tok::parse_byte_token(v.tokens[i]) >= 0) v.types[i] = TokenType::kByte;
  }
  if (n > 0) {
    v.unknown_id = 0;
    v.types[0] = TokenType::kUnknown;
  }
  if (n > 1) {
    v.bos_id = 1;
    v.types[1] = TokenType::kControl;
  }
  if (n > 2) {
    v.eos_id = 2;
    v.types[2] = TokenType::kControl;
  }
  return v;
}

}  // namespace llmk
