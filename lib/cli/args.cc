#include "cli/args.h"

#include <charconv>
#include <cmath>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace llmk::cli {
namespace {

absl::Status not_a(const std::string& what, const std::string& value) {
  return absl::InvalidArgumentError(absl::StrCat("'", value, "' is not ", what));
}

template <class T>
absl::Status parse_integer(const std::string& value, T min, T max, T* out) {
  T parsed{};
  const char* end = value.data() + value.size();
  const auto [ptr, ec] = std::from_chars(value.data(), end, parsed);
  if (ec == std::errc::result_out_of_range || (ec == std::errc() && ptr == end &&
                                               (parsed < min || parsed > max))) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", value, "' is out of range [", min, ", ", max, "]"));
  }
  if (ec != std::errc() || ptr != end || value.empty()) return not_a("an integer", value);
  *out = parsed;
  return absl::OkStatus();
}

}  // namespace

absl::Status parse_unsigned(const std::string& text, uint64_t min, uint64_t max, uint64_t* out) {
  return parse_integer(text, min, max, out);
}
absl::Status parse_signed(const std::string& text, int64_t min, int64_t max, int64_t* out) {
  return parse_integer(text, min, max, out);
}

ArgParser::ArgParser(std::string program, std::string synopsis, std::string about)
    : program_(std::move(program)), synopsis_(std::move(synopsis)), about_(std::move(about)) {}

ArgParser& ArgParser::add(const std::string& names, const std::string& value_name, Kind kind,
                          std::function<absl::Status(const std::string&)> store,
                          const std::string& help) {
  Option o;
  o.names = absl::StrSplit(names, '|');
  o.value_name = value_name;
  o.kind = kind;
  o.store = std::move(store);
  o.help = help;
  options_.push_back(std::move(o));
  return *this;
}

ArgParser& ArgParser::flag(const std::string& names, bool* out, const std::string& help) {
  return add(names, "", Kind::kSwitch, [out](const std::string&) {
    *out = true;
    return absl::OkStatus();
  }, help);
}

ArgParser& ArgParser::text(const std::string& names, const std::string& value_name,
                           std::string* out, const std::string& help) {
  return add(names, value_name, Kind::kValue, [out](const std::string& v) {
    *out = v;
    return absl::OkStatus();
  }, help);
}

ArgParser& ArgParser::integer(const std::string& names, const std::string& value_name,
                              int64_t* out, int64_t min, int64_t max, const std::string& help) {
  return add(names, value_name, Kind::kValue, [=](const std::string& v) {
    return parse_integer(v, min, max, out);
  }, help);
}

ArgParser& ArgParser::unsigned_integer(const std::string& names, const std::string& value_name,
                                       uint64_t* out, uint64_t min, uint64_t max,
                                       const std::string& help) {
  return add(names, value_name, Kind::kValue, [=](const std::string& v) {
    return parse_integer(v, min, max, out);
  }, help);
}

ArgParser& ArgParser::real(const std::string& names, const std::string& value_name, double* out,
                           double min, double max, const std::string& help) {
  return add(names, value_name, Kind::kValue, [=](const std::string& v) -> absl::Status {
    double parsed = 0;
    const char* end = v.data() + v.size();
    const auto [ptr, ec] = std::from_chars(v.data(), end, parsed);
    if (ec != std::errc() || ptr != end || v.empty() || !std::isfinite(parsed)) {
      return not_a("a number", v);
    }
    if (parsed < min || parsed > max) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", v, "' is out of range [", min, ", ", max, "]"));
    }
    *out = parsed;
    return absl::OkStatus();
  }, help);
}

ArgParser& ArgParser::optional_text(const std::string& names, const std::string& value_name,
                                    bool* given, std::string* out, const std::string& help) {
  return add(names, value_name, Kind::kOptionalValue, [given, out](const std::string& v) {
    *given = true;
    *out = v;
    return absl::OkStatus();
  }, help);
}

ArgParser& ArgParser::custom(const std::string& names, const std::string& value_name,
                             std::function<absl::Status(const std::string&)> parse,
                             const std::string& help) {
  return add(names, value_name, value_name.empty() ? Kind::kSwitch : Kind::kValue,
             std::move(parse), help);
}

ArgParser& ArgParser::positional(const std::string& name, std::string* out,
                                 const std::string& help) {
  positionals_.push_back({name, help, out});
  return *this;
}

ArgParser& ArgParser::heading(const std::string& text) {
  Option o;
  o.kind = Kind::kHeading;
  o.help = text;
  options_.push_back(std::move(o));
  return *this;
}

ArgParser& ArgParser::epilog(const std::string& text) {
  epilog_ = text;
  return *this;
}

const ArgParser::Option* ArgParser::find(const std::string& name) const {
  for (const Option& o : options_) {
    if (o.kind == Kind::kHeading) continue;
    for (const std::string& n : o.names) {
      if (n == name) return &o;
    }
  }
  return nullptr;
}

absl::Status ArgParser::parse(std::span<const std::string> args) {
  size_t next_positional = 0;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h") {
      help_ = true;
      return absl::OkStatus();
    }
    if (arg.size() < 2 || arg[0] != '-') {
      if (next_positional == positionals_.size()) {
        return absl::InvalidArgumentError(absl::StrCat("unexpected argument '", arg, "'"));
      }
      *positionals_[next_positional++].out = arg;
      continue;
    }
    std::string name = arg, value;
    bool has_inline = false;
    if (const size_t eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
      has_inline = true;
    }
    const Option* option = find(name);
    if (option == nullptr) return absl::InvalidArgumentError(absl::StrCat("unknown option '", arg, "'"));
    const std::string& long_name = option->names.front();
    given_.insert(long_name);
    switch (option->kind) {
      case Kind::kSwitch:
        if (has_inline) return absl::InvalidArgumentError(absl::StrCat(name, " takes no value"));
        break;
      case Kind::kValue:
        if (!has_inline) {
          if (i + 1 >= args.size()) return absl::InvalidArgumentError(absl::StrCat(name, " needs a value"));
          value = args[++i];
        }
        if (value.empty()) return absl::InvalidArgumentError(absl::StrCat(name, " needs a value"));
        break;
      case Kind::kHeading:
        break;
      case Kind::kOptionalValue:
        if (!has_inline && i + 1 < args.size() && args[i + 1].rfind("--", 0) != 0) value = args[++i];
        break;
    }
    if (absl::Status st = option->store(value); !st.ok()) {
      return absl::Status(st.code(), absl::StrCat(name, ": ", st.message()));
    }
  }
  if (next_positional < positionals_.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("missing argument ", positionals_[next_positional].name));
  }
  return absl::OkStatus();
}

std::string ArgParser::usage() const {
  std::string out = absl::StrCat("usage: ", program_, " ", synopsis_, "\n");
  if (!about_.empty()) absl::StrAppend(&out, about_, "\n");
  auto line = [&out](std::string left, const std::string& help) {
    // Help starts in column 24, or on the next line when the left part is longer.
    if (left.size() + 1 > 24) {
      absl::StrAppend(&out, left, "\n");
      left.clear();
    }
    left.resize(24, ' ');
    for (absl::string_view help_line : absl::StrSplit(help, '\n')) {
      absl::StrAppend(&out, left, help_line, "\n");
      left.assign(24, ' ');
    }
  };
  for (const Positional& p : positionals_) line(absl::StrCat("  ", p.name), p.help);
  for (const Option& o : options_) {
    if (o.kind == Kind::kHeading) {
      absl::StrAppend(&out, o.help, "\n");
      continue;
    }
    std::string left = absl::StrCat("  ", absl::StrJoin(o.names, ", "));
    if (o.kind == Kind::kValue) absl::StrAppend(&left, " ", o.value_name);
    if (o.kind == Kind::kOptionalValue) absl::StrAppend(&left, "[=", o.value_name, "]");
    line(left, o.help);
  }
  line("  --help, -h", "this text");
  absl::StrAppend(&out, epilog_);
  return out;
}

std::optional<int> parse_command_line(ArgParser& parser, int argc, char** argv) {
  std::vector<std::string> args(argv + (argc > 0 ? 1 : 0), argv + argc);
  if (absl::Status st = parser.parse(args); !st.ok()) {
    std::fprintf(stderr, "%s: %s\n%s", parser.program().c_str(), std::string(st.message()).c_str(),
                 parser.usage().c_str());
    return kExitUsage;
  }
  if (parser.help_requested()) {
    std::printf("%s", parser.usage().c_str());
    return kExitOk;
  }
  return std::nullopt;
}

}  // namespace llmk::cli
