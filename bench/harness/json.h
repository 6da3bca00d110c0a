// Just enough JSON for the reports and baselines: a writer that cannot emit
// NaN or infinity (such values are left out), and a strict RFC 8259 parser
// used to read baselines back and, in tests, to validate what we wrote.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace llmk::bench {

struct JsonValue {
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };
  Type type = Type::kNull;
  bool boolean = false;
  double number = 0;
  std::string string;
  std::vector<JsonValue> array;
  std::vector<std::pair<std::string, JsonValue>> object;  // in file order

  const JsonValue* find(std::string_view key) const;  // objects only; nullptr if absent
};

// Strict: one value, no trailing commas, no comments, no NaN/Infinity,
// string escapes checked (\uXXXX pairs into UTF-8). Errors give the offset.
absl::StatusOr<JsonValue> parse_json(std::string_view text);

// Streaming writer with two-space indentation.
class JsonWriter {
 public:
  void begin_object();
  void end_object();
  void begin_array();
  void end_array();
  void key(std::string_view k);  // inside an object, before its value
  void value(std::string_view s);
  void value(const char* s) { value(std::string_view(s)); }
  void value(double d);  // a non-finite number is written as null
  void value(long long i);
  void value(unsigned long long u);
  void value(bool b);
  // key + value, the value skipped entirely (key too) when not finite.
  void number_field(std::string_view k, double d);
  const std::string& text() const { return out_; }

 private:
  void before_value();
  void newline();
  std::string out_;
  std::vector<bool> first_;  // per open container: nothing written yet
  bool after_key_ = false;
};

std::string json_escape(std::string_view s);

}  // namespace llmk::bench
