#include "tokenizer/unicode.h"

#include <array>
#include <string_view>

#include "utf8proc.h"

namespace llmk::tok {
namespace {

// Unicode's White_Space property (PropList.txt); utf8proc has categories
// only, and Zs/Zl/Zp plus these controls are exactly that set.
bool is_white_space(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 ||
         cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
         cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

CharClass class_of(uint32_t cp) {
  if (is_white_space(cp)) return CharClass::kSpace;
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(cp))) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
      return CharClass::kLetter;
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
      return CharClass::kNumber;
    default:
      return CharClass::kOther;
  }
}

bool is_continuation(uint8_t b) { return (b & 0xC0) == 0x80; }

// Decodes a strict UTF-8 sequence; returns its length or 0 when invalid.
size_t decode_utf8(const uint8_t* p, size_t avail, uint32_t* cp) {
  const uint8_t b0 = p[0];
  if (b0 < 0x80) {
    *cp = b0;
    return 1;
  }
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    if (avail < 2 || !is_continuation(p[1])) return 0;
    *cp = ((b0 & 0x1Fu) << 6) | (p[1] & 0x3Fu);
    return 2;
  }
  if (b0 >= 0xE0 && b0 <= 0xEF) {
    if (avail < 3 || !is_continuation(p[1]) || !is_continuation(p[2])) return 0;
    const uint32_t v = ((b0 & 0x0Fu) << 12) | ((p[1] & 0x3Fu) << 6) | (p[2] & 0x3Fu);
    if (v < 0x800 || (v >= 0xD800 && v <= 0xDFFF)) return 0;  // overlong, surrogate
    *cp = v;
    return 3;
  }
  if (b0 >= 0xF0 && b0 <= 0xF4) {
    if (avail < 4 || !is_continuation(p[1]) || !is_continuation(p[2]) ||
        !is_continuation(p[3]))
      return 0;
    const uint32_t v = ((b0 & 0x07u) << 18) | ((p[1] & 0x3Fu) << 12) |
                       ((p[2] & 0x3Fu) << 6) | (p[3] & 0x3Fu);
    if (v < 0x10000 || v > 0x10FFFF) return 0;
    *cp = v;
    return 4;
  }
  return 0;
}

struct ByteMap {
  std::array<uint32_t, 256> to_cp{};
  std::array<int16_t, 512> from_cp{};  // mapped code points are all < 324
  ByteMap() {
    from_cp.fill(-1);
    uint32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable =
          (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      to_cp[b] = printable ? static_cast<uint32_t>(b) : next++;
      from_cp[to_cp[b]] = static_cast<int16_t>(b);
    }
  }
};
const ByteMap& byte_map() {
  static const ByteMap map;
  return map;
}

}  // namespace

CharInfo classify_non_ascii(const uint8_t* p, size_t avail) {
  uint32_t cp = 0;
  const size_t n = decode_utf8(p, avail, &cp);
  if (n == 0) return {CharClass::kOther, 1};
  return {class_of(cp), static_cast<uint8_t>(n)};
}

uint32_t byte_to_codepoint(uint8_t byte) { return byte_map().to_cp[byte]; }

int codepoint_to_byte(uint32_t cp) {
  if (cp >= byte_map().from_cp.size()) return -1;
  return byte_map().from_cp[cp];
}

std::string map_bytes(std::string_view raw) {
  std::string out;
  out.reserve(raw.size() * 2);
  for (char c : raw) append_utf8(byte_to_codepoint(static_cast<uint8_t>(c)), &out);
  return out;
}

bool unmap_bytes(std::string_view mapped, std::string* raw) {
  raw->clear();
  const auto* p = reinterpret_cast<const uint8_t*>(mapped.data());
  size_t i = 0;
  while (i < mapped.size()) {
    uint32_t cp = 0;
    const size_t n = decode_utf8(p + i, mapped.size() - i, &cp);
    if (n == 0) return false;
    const int b = codepoint_to_byte(cp);
    if (b < 0) return false;
    raw->push_back(static_cast<char>(b));
    i += n;
  }
  return true;
}

}  // namespace llmk::tok
