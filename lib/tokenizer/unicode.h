// Character classes for GPT-2's pre-tokenizer, UTF-8 helpers and GPT-2's
// byte→unicode mapping.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "util/utf8.h"

namespace llmk::tok {

// The classes GPT-2's pattern distinguishes: \p{L}, \p{N}, \s, and the rest.
enum class CharClass : uint8_t { kLetter = 0, kNumber = 1, kSpace = 2, kOther = 3, kEnd = 4 };

struct CharInfo {
  CharClass cls;
  uint8_t bytes;  // length of the character in the input
};

constexpr std::array<CharClass, 128> make_ascii_classes() {
  std::array<CharClass, 128> t{};
  for (int c = 0; c < 128; ++c) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')) {
      t[c] = CharClass::kLetter;
    } else if (c >= '0' && c <= '9') {
      t[c] = CharClass::kNumber;
    } else if (c == ' ' || (c >= 0x09 && c <= 0x0D)) {
      t[c] = CharClass::kSpace;
    } else {
      t[c] = CharClass::kOther;
    }
  }
  return t;
}
inline constexpr std::array<CharClass, 128> kAsciiClass = make_ascii_classes();

// Decodes one character starting with a byte ≥ 0x80 (avail ≥ 1). Strict
// UTF-8: overlong forms, surrogates and values past U+10FFFF are invalid, and
// an invalid byte is a one-byte character of class kOther.
CharInfo classify_non_ascii(const uint8_t* p, size_t avail);

inline CharInfo classify(const uint8_t* p, size_t avail) {
  if (*p < 0x80) return {kAsciiClass[*p], 1};
  return classify_non_ascii(p, avail);
}

// Length of the character SentencePiece encoding cuts at p: the length its
// lead byte announces (as llama.cpp cuts text), but 1 when the continuation
// bytes are not all there. llama.cpp would swallow the following bytes
// instead, even the first byte of a "▁", which breaks the round trip; on
// valid UTF-8 both cut the same.
inline size_t spm_char_len(const uint8_t* p, size_t avail) {
  static constexpr uint8_t kLen[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  const size_t len = kLen[p[0] >> 4];
  if (len > avail) return 1;
  for (size_t i = 1; i < len; ++i) {
    if ((p[i] & 0xC0) != 0x80) return 1;
  }
  return len;
}

using internal::append_utf8;

// GPT-2's bytes_to_unicode: printable Latin-1 bytes map to themselves, the
// other 68 bytes to U+0100 onwards in byte order.
uint32_t byte_to_codepoint(uint8_t byte);
// The byte a mapped code point stands for, or -1.
int codepoint_to_byte(uint32_t codepoint);
// Maps raw bytes to GPT-2's unicode form, and back. unmap returns false when
// the text holds a character outside the mapping (or invalid UTF-8).
std::string map_bytes(std::string_view raw);
bool unmap_bytes(std::string_view mapped, std::string* raw);

}  // namespace llmk::tok
