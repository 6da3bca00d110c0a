#include "harness/json.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "util/check.h"
#include "util/utf8.h"

namespace llmk::bench {

const JsonValue* JsonValue::find(std::string_view key) const {
  if (type != Type::kObject) return nullptr;
  for (const auto& [k, v] : object) {
    if (k == key) return &v;
  }
  return nullptr;
}

namespace {

class Parser {
 public:
  explicit Parser(std::string_view text) : s_(text) {}

  absl::StatusOr<JsonValue> parse_document() {
    JsonValue v;
    if (absl::Status st = parse_value(&v, 0); !st.ok()) return st;
    skip_ws();
    if (pos_ != s_.size()) return error("trailing characters after the value");
    return v;
  }

 private:
  absl::Status error(std::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat("json: ", std::string(what), " at offset ", pos_));
  }
  void skip_ws() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) {
      ++pos_;
    }
  }
  bool consume(std::string_view word) {
    if (s_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  absl::Status parse_value(JsonValue* v, int depth) {
    if (depth > 200) return error("nesting too deep");
    skip_ws();
    if (pos_ >= s_.size()) return error("unexpected end");
    const char c = s_[pos_];
    if (c == '{') return parse_object(v, depth);
    if (c == '[') return parse_array(v, depth);
    if (c == '"') {
      v->type = JsonValue::Type::kString;
      return parse_string(&v->string);
    }
    if (consume("true")) { v->type = JsonValue::Type::kBool; v->boolean = true; return absl::OkStatus(); }
    if (consume("false")) { v->type = JsonValue::Type::kBool; v->boolean = false; return absl::OkStatus(); }
    if (consume("null")) { v->type = JsonValue::Type::kNull; return absl::OkStatus(); }
    return parse_number(v);
  }

  absl::Status parse_number(JsonValue* v) {
    const size_t start = pos_;
    auto digits = [&] {
      const size_t from = pos_;
      while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
      return pos_ - from;
    };
    if (pos_ < s_.size() && s_[pos_] == '-') ++pos_;
    if (pos_ < s_.size() && s_[pos_] == '0') {
      ++pos_;
    } else if (digits() == 0) {
      return error("invalid value");
    }
    if (pos_ < s_.size() && s_[pos_] == '.') {
      ++pos_;
      if (digits() == 0) return error("digits expected after '.'");
    }
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
      if (digits() == 0) return error("digits expected in exponent");
    }
    const std::string text(s_.substr(start, pos_ - start));
    v->type = JsonValue::Type::kNumber;
    v->number = std::strtod(text.c_str(), nullptr);
    if (!std::isfinite(v->number)) return error("number out of range");
    return absl::OkStatus();
  }

  bool hex4(uint32_t* out) {
    if (pos_ + 4 > s_.size()) return false;
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = s_[pos_++];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= static_cast<uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f') v |= static_cast<uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') v |= static_cast<uint32_t>(c - 'A' + 10);
      else return false;
    }
    *out = v;
    return true;
  }

  absl::Status parse_string(std::string* out) {
    ++pos_;  // opening quote
    while (true) {
      if (pos_ >= s_.size()) return error("unterminated string");
      const char c = s_[pos_++];
      if (c == '"') return absl::OkStatus();
      if (static_cast<unsigned char>(c) < 0x20) return error("control character in string");
      if (c != '\\') {
        out->push_back(c);
        continue;
      }
      if (pos_ >= s_.size()) return error("unterminated escape");
      const char e = s_[pos_++];
      switch (e) {
        case '"': out->push_back('"'); break;
        case '\\': out->push_back('\\'); break;
        case '/': out->push_back('/'); break;
        case 'b': out->push_back('\b'); break;
        case 'f': out->push_back('\f'); break;
        case 'n': out->push_back('\n'); break;
        case 'r': out->push_back('\r'); break;
        case 't': out->push_back('\t'); break;
        case 'u': {
          uint32_t cp = 0;
          if (!hex4(&cp)) return error("bad \\u escape");
          if (cp >= 0xD800 && cp < 0xDC00) {
            uint32_t low = 0;
            if (!consume("\\u") || !hex4(&low) || low < 0xDC00 || low >= 0xE000) {
              return error("unpaired surrogate");
            }
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          } else if (cp >= 0xDC00 && cp < 0xE000) {
            return error("unpaired surrogate");
          }
          internal::append_utf8(cp, out);
          break;
        }
        default: return error("unknown escape");
      }
    }
  }

  absl::Status parse_array(JsonValue* v, int depth) {
    v->type = JsonValue::Type::kArray;
    ++pos_;
    skip_ws();
    if (pos_ < s_.size() && s_[pos_] == ']') { ++pos_; return absl::OkStatus(); }
    while (true) {
      JsonValue item;
      LLMK_RETURN_IF_ERROR(parse_value(&item, depth + 1));
      v->array.push_back(std::move(item));
      skip_ws();
      if (pos_ < s_.size() && s_[pos_] == ',') { ++pos_; continue; }
      if (pos_ < s_.size() && s_[pos_] == ']') { ++pos_; return absl::OkStatus(); }
      return error("',' or ']' expected");
    }
  }

  absl::Status parse_object(JsonValue* v, int depth) {
    v->type = JsonValue::Type::kObject;
    ++pos_;
    skip_ws();
    if (pos_ < s_.size() && s_[pos_] == '}') { ++pos_; return absl::OkStatus(); }
    while (true) {
      skip_ws();
      if (pos_ >= s_.size() || s_[pos_] != '"') return error("string key expected");
      std::string k;
      LLMK_RETURN_IF_ERROR(parse_string(&k));
      skip_ws();
      if (pos_ >= s_.size() || s_[pos_] != ':') return error("':' expected");
      ++pos_;
      JsonValue item;
      LLMK_RETURN_IF_ERROR(parse_value(&item, depth + 1));
      v->object.emplace_back(std::move(k), std::move(item));
      skip_ws();
      if (pos_ < s_.size() && s_[pos_] == ',') { ++pos_; continue; }
      if (pos_ < s_.size() && s_[pos_] == '}') { ++pos_; return absl::OkStatus(); }
      return error("',' or '}' expected");
    }
  }

  std::string_view s_;
  size_t pos_ = 0;
};

}  // namespace

absl::StatusOr<JsonValue> parse_json(std::string_view text) { return Parser(text).parse_document(); }

std::string json_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
          out += buf;
        } else {
          out.push_back(c);
        }
    }
  }
  return out;
}

void JsonWriter::newline() {
  out_.push_back('\n');
  out_.append(2 * first_.size(), ' ');
}

void JsonWriter::before_value() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (!first_.empty()) {
    if (!first_.back()) out_.push_back(',');
    first_.back() = false;
    newline();
  }
}

void JsonWriter::begin_object() { before_value(); out_.push_back('{'); first_.push_back(true); }
void JsonWriter::begin_array() { before_value(); out_.push_back('['); first_.push_back(true); }

void JsonWriter::end_object() {
  const bool empty = first_.back();
  first_.pop_back();
  if (!empty) newline();
  out_.push_back('}');
}
void JsonWriter::end_array() {
  const bool empty = first_.back();
  first_.pop_back();
  if (!empty) newline();
  out_.push_back(']');
}

void JsonWriter::key(std::string_view k) {
  before_value();
  out_ += '"';
  out_ += json_escape(k);
  out_ += "\": ";
  after_key_ = true;
}

void JsonWriter::value(std::string_view s) {
  before_value();
  out_ += '"';
  out_ += json_escape(s);
  out_ += '"';
}

void JsonWriter::value(double d) {
  before_value();
  if (!std::isfinite(d)) {
    out_ += "null";
    return;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", d);
  out_ += buf;
}

void JsonWriter::value(long long i) { before_value(); out_ += std::to_string(i); }
void JsonWriter::value(unsigned long long u) { before_value(); out_ += std::to_string(u); }
void JsonWriter::value(bool b) { before_value(); out_ += b ? "true" : "false"; }

void JsonWriter::number_field(std::string_view k, double d) {
  if (!std::isfinite(d)) return;
  key(k);
  value(d);
}

}  // namespace llmk::bench
