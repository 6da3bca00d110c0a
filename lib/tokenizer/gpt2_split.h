// GPT-2's pre-tokenizer, written out by hand (no regex engine, no recursion):
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// Alternatives are tried in that order at each position, as the regex does.
// Invalid UTF-8 bytes are one-byte characters of the [^\s\p{L}\p{N}] class.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "tokenizer/unicode.h"

namespace llmk::tok {

// Calls on_piece(offset, length) for each piece, in order; the pieces cover
// the text exactly. on_piece returns false to stop early.
template <class OnPiece>
void split_gpt2(std::string_view text, OnPiece&& on_piece) {
  const auto* s = reinterpret_cast<const uint8_t*>(text.data());
  const size_t n = text.size();
  auto info = [&](size_t p) -> CharInfo {
    return p < n ? classify(s + p, n - p) : CharInfo{CharClass::kEnd, 0};
  };
  size_t pos = 0;
  while (pos < n) {
    const size_t start = pos;
    // Contractions ('s 't 'm 'd 're 've 'll), case-sensitive as in GPT-2.
    if (s[pos] == '\'' && pos + 1 < n) {
      const uint8_t c1 = s[pos + 1];
      size_t len = 0;
      if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') {
        len = 2;
      } else if (pos + 2 < n) {
        const uint8_t c2 = s[pos + 2];
        if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l'))
          len = 3;
      }
      if (len != 0) {
        if (!on_piece(start, len)) return;
        pos += len;
        continue;
      }
    }
    CharInfo c = info(pos);
    size_t p = pos;
    // " ?X+": a single U+0020 joins the run of letters, numbers or symbols after it.
    if (s[pos] == ' ') {
      const CharInfo next = info(pos + 1);
      if (next.cls == CharClass::kLetter || next.cls == CharClass::kNumber ||
          next.cls == CharClass::kOther) {
        c = next;
        p = pos + 1;
      }
    }
    if (c.cls != CharClass::kSpace) {
      const CharClass run = c.cls;
      p += c.bytes;
      while (p < n) {
        // ASCII letters, the common case, skip the general classifier.
        if (s[p] < 0x80) {
          if (kAsciiClass[s[p]] != run) break;
          ++p;
          continue;
        }
        const CharInfo d = classify_non_ascii(s + p, n - p);
        if (d.cls != run) break;
        p += d.bytes;
      }
      if (!on_piece(start, p - start)) return;
      pos = p;
      continue;
    }
    // Whitespace: "\s+(?!\S)" leaves the run's last character for the next
    // piece when non-space follows (so " word" keeps its space); at the end
    // of the text, or for a run of one, the whole run is taken ("\s+").
    size_t end = pos, last = pos;
    while (end < n) {
      const CharInfo d = classify(s + end, n - end);
      if (d.cls != CharClass::kSpace) break;
      last = end;
      end += d.bytes;
    }
    const size_t stop = (end < n && last > pos) ? last : end;
    if (!on_piece(start, stop - start)) return;
    pos = stop;
  }
}

}  // namespace llmk::tok
