// llmk-tokenize: encode stdin to token ids, or decode ids to text.
//
//   llmk-tokenize --vocab FILE [--bos] [--eos] [--lines] [--pieces] [--special]
//   llmk-tokenize --vocab FILE --decode [--special]
//   llmk-tokenize --builtin ...        (the library's small built-in vocabulary)
//
// FILE is a GGUF file (recognised by its magic) or llama2.c's tokenizer.bin.
// tokenizer.bin does not store its token count: tokens are read to the end of
// the file unless --vocab-size N is given, which then must match exactly.
//
// Encoding prints the ids space-separated on one line (--lines: one output
// line per input line, the newline itself not encoded); --pieces prints each
// token's vocabulary text instead of its id. --special parses special-token
// text such as <|endoftext|> when encoding and prints special tokens' text
// when decoding. --decode reads whitespace-separated ids and writes the text.
//
// Exit codes: 0 success, 3 usage error, 4 the vocabulary could not be loaded
// or the input (ids, text) is not valid.
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "cli/args.h"
#include "llmk/tokenizer.h"

namespace {

using llmk::cli::kExitUsage;
// A bad input and an unloadable vocabulary are both the work failing.
constexpr int kExitInput = llmk::cli::kExitFailure, kExitVocab = llmk::cli::kExitFailure;

bool write_ids(const llmk::Tokenizer& tok, std::string_view text, const llmk::EncodeOptions& opts,
               bool pieces, std::string* out) {
  auto ids = tok.encode(text, opts);
  if (!ids.ok()) {
    std::fprintf(stderr, "llmk-tokenize: %s\n", std::string(ids.status().message()).c_str());
    return false;
  }
  for (size_t i = 0; i < ids->size(); ++i) {
    if (i) out->push_back(' ');
    if (pieces) {
      out->append(tok.token_text((*ids)[i]));
    } else {
      out->append(std::to_string((*ids)[i]));
    }
  }
  out->push_back('\n');
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::string vocab_path;
  bool builtin = false, bos = false, eos = false, lines = false, pieces = false, special = false,
       decode = false;
  int64_t vocab_size = 0;
  llmk::cli::ArgParser args("llmk-tokenize", "(--vocab FILE | --builtin) [options] < input",
                            "Encodes text on stdin to token ids, or decodes ids (--decode) to text.");
  args.text("--vocab", "FILE", &vocab_path, "GGUF file or llama2.c tokenizer.bin")
      .flag("--builtin", &builtin, "the library's small built-in vocabulary")
      .integer("--vocab-size", "N", &vocab_size, 1, INT32_MAX,
               "tokenizer.bin's token count (default: read to the end)")
      .flag("--bos", &bos, "begin with the beginning-of-sequence token")
      .flag("--eos", &eos, "end with the end-of-sequence token")
      .flag("--lines", &lines, "one output line per input line")
      .flag("--pieces", &pieces, "print each token's text, not its id")
      .flag("--special", &special, "parse special-token text when encoding, print it when decoding")
      .flag("--decode", &decode, "read whitespace-separated ids and write the text")
      .epilog("exit codes: 0 ok, 3 usage error, 4 the vocabulary could not be loaded or the\n"
              "  input is not valid (text, ids).\n");
  if (std::optional<int> exit_code = llmk::cli::parse_command_line(args, argc, argv)) return *exit_code;
  if (builtin == !vocab_path.empty()) {
    std::fprintf(stderr, "llmk-tokenize: give exactly one of --vocab FILE and --builtin\n%s",
                 args.usage().c_str());
    return kExitUsage;
  }
  auto tok = builtin ? llmk::Tokenizer::builtin() : llmk::Tokenizer::load(vocab_path, vocab_size);
  if (!tok.ok()) {
    std::fprintf(stderr, "llmk-tokenize: cannot load vocabulary: %s\n",
                 std::string(tok.status().message()).c_str());
    return kExitVocab;
  }
  const std::string input{std::istreambuf_iterator<char>(std::cin), {}};
  std::string out;
  if (decode) {
    std::vector<llmk::TokenId> ids;
    size_t p = 0;
    while (p < input.size()) {
      while (p < input.size() && std::isspace(static_cast<unsigned char>(input[p]))) ++p;
      if (p == input.size()) break;
      const size_t start = p;
      while (p < input.size() && !std::isspace(static_cast<unsigned char>(input[p]))) ++p;
      const std::string word = input.substr(start, p - start);
      char* end = nullptr;
      const long long id = std::strtoll(word.c_str(), &end, 10);
      if (*end != '\0' || id < INT32_MIN || id > INT32_MAX) {
        std::fprintf(stderr, "llmk-tokenize: '%s' is not a token id\n", word.c_str());
        return kExitInput;
      }
      ids.push_back(static_cast<llmk::TokenId>(id));
    }
    llmk::DecodeOptions opts;
    opts.render_special = special;
    auto st = tok->decode(ids, opts, &out);
    if (!st.ok()) {
      std::fprintf(stderr, "llmk-tokenize: %s\n", std::string(st.message()).c_str());
      return kExitInput;
    }
  } else {
    llmk::EncodeOptions opts;
    opts.add_bos = bos;
    opts.add_eos = eos;
    opts.parse_special = special;
    if (lines) {
      size_t p = 0;
      while (p < input.size()) {
        size_t eol = input.find('\n', p);
        if (eol == std::string::npos) eol = input.size();
        if (!write_ids(*tok, std::string_view(input).substr(p, eol - p), opts, pieces, &out)) {
          return kExitInput;
        }
        p = eol + 1;
      }
    } else if (!write_ids(*tok, input, opts, pieces, &out)) {
      return kExitInput;
    }
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return std::fflush(stdout) == 0 ? 0 : kExitInput;
}
