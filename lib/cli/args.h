// Command-line parsing shared by llmk's programs (tools/ and llmk-bench), so
// every one of them takes --flag VALUE and --flag=VALUE alike, parses
// integers as integers with their range checked, answers --help, and exits
// with the same code for the same kind of error. Not part of libllmk.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace llmk::cli {

// Exit codes every llmk program uses for these kinds of outcome.
inline constexpr int kExitOk = 0;
inline constexpr int kExitUsage = 3;    // a bad flag or value; the usage is printed
inline constexpr int kExitFailure = 4;  // the input could not be used or the work failed

// The integer parsing the parser's integer options use, for custom options:
// decimal, the whole text, within [min, max]; the error says which is wrong.
absl::Status parse_unsigned(const std::string& text, uint64_t min, uint64_t max, uint64_t* out);
absl::Status parse_signed(const std::string& text, int64_t min, int64_t max, int64_t* out);

class ArgParser {
 public:
  // `synopsis` follows the program name in the usage's first line, e.g.
  // "--model FILE [options]"; `about` is printed under it.
  ArgParser(std::string program, std::string synopsis, std::string about = "");

  // `names` is the long name, optionally followed by short aliases, separated
  // by '|': "--model|-m". `value_name` is shown in the usage ("FILE"); help
  // may have several lines ('\n').
  ArgParser& flag(const std::string& names, bool* out, const std::string& help);
  ArgParser& text(const std::string& names, const std::string& value_name, std::string* out,
                  const std::string& help);
  // Integers in [min, max]; anything else (a fraction, a sign where min ≥ 0,
  // trailing text) is an error naming the flag.
  ArgParser& integer(const std::string& names, const std::string& value_name, int64_t* out,
                     int64_t min, int64_t max, const std::string& help);
  ArgParser& unsigned_integer(const std::string& names, const std::string& value_name,
                              uint64_t* out, uint64_t min, uint64_t max, const std::string& help);
  ArgParser& real(const std::string& names, const std::string& value_name, double* out, double min,
                  double max, const std::string& help);
  // A value that may be left out: "--counters", "--counters=LIST" and
  // "--counters LIST" (a following word that does not start with "--").
  ArgParser& optional_text(const std::string& names, const std::string& value_name, bool* given,
                           std::string* out, const std::string& help);
  // Any other kind of value: `parse` stores it or returns why not (its
  // message is prefixed with the flag). An empty value_name makes a switch
  // whose parse receives "".
  ArgParser& custom(const std::string& names, const std::string& value_name,
                    std::function<absl::Status(const std::string& value)> parse,
                    const std::string& help);
  // Required positional arguments, in order.
  ArgParser& positional(const std::string& name, std::string* out, const std::string& help);
  // A line of its own among the options in the usage, e.g. "options of the suites:".
  ArgParser& heading(const std::string& text);
  // Extra usage text after the options (exit codes, examples).
  ArgParser& epilog(const std::string& text);

  // OK, or InvalidArgument naming the flag. --help/-h sets help_requested()
  // and stops parsing.
  absl::Status parse(std::span<const std::string> args);
  bool help_requested() const { return help_; }
  // Whether the option was given (by its long name, "--model").
  bool given(const std::string& long_name) const { return given_.count(long_name) > 0; }
  std::string usage() const;
  const std::string& program() const { return program_; }

 private:
  enum class Kind { kSwitch, kValue, kOptionalValue, kHeading };
  struct Option {
    std::vector<std::string> names;  // long name first
    std::string value_name, help;
    Kind kind = Kind::kValue;
    std::function<absl::Status(const std::string&)> store;  // value → out
  };
  struct Positional {
    std::string name, help;
    std::string* out;
  };
  ArgParser& add(const std::string& names, const std::string& value_name, Kind kind,
                 std::function<absl::Status(const std::string&)> store, const std::string& help);
  const Option* find(const std::string& name) const;

  std::string program_, synopsis_, about_, epilog_;
  std::vector<Option> options_;
  std::vector<Positional> positionals_;
  std::set<std::string> given_;
  bool help_ = false;
};

// For main(): parses argv; on --help prints the usage to stdout and returns
// kExitOk, on an error prints "<program>: <why>" and the usage to stderr and
// returns kExitUsage; nullopt when the program should go on.
std::optional<int> parse_command_line(ArgParser& parser, int argc, char** argv);

}  // namespace llmk::cli
