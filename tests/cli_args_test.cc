// The command-line parser every llmk program uses: values inline or
// separate, integers as integers with their range, switches, optional
// values, positionals, and errors that name the flag.
#include <cstdint>
#include <string>
#include <vector>

#include "cli/args.h"
#include "test_util.h"

namespace llmk::cli {
namespace {

struct Parsed {
  std::string model;
  int64_t threads = 1;
  uint64_t seed = 0;
  double temperature = 1.0;
  bool ids = false;
  bool counters = false;
  std::string counter_list;
};

ArgParser make_parser(Parsed& p) {
  ArgParser parser("prog", "--model FILE [options]", "A program.");
  parser.text("--model|-m", "FILE", &p.model, "the model")
      .integer("--threads", "N", &p.threads, 1, 1024, "threads")
      .unsigned_integer("--seed", "S", &p.seed, 0, UINT64_MAX, "seed")
      .real("--temperature|-t", "T", &p.temperature, 0, 100, "temperature\nsecond line")
      .flag("--ids", &p.ids, "ids")
      .optional_text("--counters", "LIST", &p.counters, &p.counter_list, "counters")
      .heading("more:")
      .epilog("exit codes: 0 ok\n");
  return parser;
}

absl::Status parse(std::vector<std::string> args, Parsed& p) {
  ArgParser parser = make_parser(p);
  return parser.parse(args);
}

TEST_CASE("values are taken inline or from the next word, by long or short name") {
  Parsed p;
  REQUIRE(parse({"--model", "a.gguf", "--threads=4", "-t", "0.5", "--ids", "--seed", "18446744073709551615"}, p)
              .ok());
  CHECK(p.model == "a.gguf");
  CHECK(p.threads == 4);
  CHECK(p.temperature == 0.5);
  CHECK(p.ids);
  CHECK(p.seed == UINT64_MAX);
  Parsed q;
  REQUIRE(parse({"-m", "b.gguf"}, q).ok());
  CHECK(q.model == "b.gguf");
}

TEST_CASE("integers are parsed as integers, within their range") {
  Parsed p;
  CHECK(parse({"--threads", "1.5"}, p).message() == "--threads: '1.5' is not an integer");
  CHECK(parse({"--threads", "0"}, p).message() == "--threads: '0' is out of range [1, 1024]");
  CHECK(parse({"--threads", "1025"}, p).message() == "--threads: '1025' is out of range [1, 1024]");
  CHECK(parse({"--threads", "4x"}, p).message() == "--threads: '4x' is not an integer");
  CHECK(parse({"--seed", "-1"}, p).message() == "--seed: '-1' is not an integer");
  CHECK_FALSE(parse({"--seed", "18446744073709551616"}, p).ok());  // 2^64
  CHECK(parse({"--temperature", "nan"}, p).message() == "--temperature: 'nan' is not a number");
  CHECK(parse({"--temperature", "101"}, p).message() == "--temperature: '101' is out of range [0, 100]");
  uint64_t v = 0;
  CHECK(parse_unsigned("42", 0, 100, &v).ok());
  CHECK(v == 42);
  int64_t w = 0;
  CHECK(parse_signed("-7", -10, 10, &w).ok());
  CHECK(w == -7);
}

TEST_CASE("errors name the flag: unknown, missing value, value on a switch") {
  Parsed p;
  CHECK(parse({"--bogus"}, p).message() == "unknown option '--bogus'");
  CHECK(parse({"--model"}, p).message() == "--model needs a value");
  CHECK(parse({"--model="}, p).message() == "--model needs a value");
  CHECK(parse({"--ids=1"}, p).message() == "--ids takes no value");
  CHECK(parse({"stray"}, p).message() == "unexpected argument 'stray'");
}

TEST_CASE("an optional value is taken inline, from a following word, or left out") {
  Parsed a;
  REQUIRE(parse({"--counters"}, a).ok());
  CHECK(a.counters);
  CHECK(a.counter_list.empty());
  Parsed b;
  REQUIRE(parse({"--counters", "x,y", "--ids"}, b).ok());
  CHECK(b.counter_list == "x,y");
  Parsed c;
  REQUIRE(parse({"--counters", "--ids"}, c).ok());
  CHECK(c.counter_list.empty());
  CHECK(c.ids);
  Parsed d;
  REQUIRE(parse({"--counters=z"}, d).ok());
  CHECK(d.counter_list == "z");
}

TEST_CASE("positionals are required in order; --help stops parsing") {
  std::string in, out;
  ArgParser parser("conv", "IN OUT");
  parser.positional("IN", &in, "input").positional("OUT", &out, "output");
  CHECK(parser.parse(std::vector<std::string>{"a"}).message() == "missing argument OUT");
  ArgParser again("conv", "IN OUT");
  again.positional("IN", &in, "input").positional("OUT", &out, "output");
  REQUIRE(again.parse(std::vector<std::string>{"a", "b"}).ok());
  CHECK(in == "a");
  CHECK(out == "b");

  Parsed p;
  ArgParser help = make_parser(p);
  REQUIRE(help.parse(std::vector<std::string>{"--help", "--bogus"}).ok());
  CHECK(help.help_requested());
  CHECK_FALSE(help.given("--model"));
  ArgParser given = make_parser(p);
  REQUIRE(given.parse(std::vector<std::string>{"-m", "x"}).ok());
  CHECK(given.given("--model"));
}

TEST_CASE("the usage lists every option with its value name and help") {
  Parsed p;
  const std::string usage = make_parser(p).usage();
  CHECK(usage.rfind("usage: prog --model FILE [options]\nA program.\n", 0) == 0);
  CHECK(usage.find("  --model, -m FILE      the model\n") != std::string::npos);
  CHECK(usage.find("  --counters[=LIST]     counters\n") != std::string::npos);
  CHECK(usage.find("temperature\n                        second line\n") != std::string::npos);
  CHECK(usage.find("\nmore:\n") != std::string::npos);
  CHECK(usage.find("  --help, -h            this text\n") != std::string::npos);
  CHECK(usage.size() >= 17);
  CHECK(usage.substr(usage.size() - 17) == "exit codes: 0 ok\n");
}

}  // namespace
}  // namespace llmk::cli
