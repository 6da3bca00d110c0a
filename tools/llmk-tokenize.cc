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
// Exit codes: 0 success, 1 bad input (ids, text), 2 usage error, 3 the
// vocabulary could not be loaded.
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "llmk/tokenizer.h"

namespace {

constexpr int kExitInput = 1, kExitUsage = 2, kExitVocab = 3;

void usage() {
  std::fprintf(stderr,
               "usage: llmk-tokenize (--vocab FILE | --builtin) [--vocab-size N] [--bos] [--eos]\n"
               "                     [--lines] [--pieces] [--special] [--decode]\n"
               "Reads text (or ids with --decode) from stdin.\n");
}

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
  long long vocab_size = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--vocab" && i + 1 < argc) {
      vocab_path = argv[++i];
    } else if (arg == "--vocab-size" && i + 1 < argc) {
      char* end = nullptr;
      vocab_size = std::strtoll(argv[++i], &end, 10);
      if (*end != '\0' || vocab_size <= 0) {
        std::fprintf(stderr, "llmk-tokenize: --vocab-size needs a positive integer\n");
        return kExitUsage;
      }
    } else if (arg == "--builtin") {
      builtin = true;
    } else if (arg == "--bos") {
      bos = true;
    } else if (arg == "--eos") {
      eos = true;
    } else if (arg == "--lines") {
      lines = true;
    } else if (arg == "--pieces") {
      pieces = true;
    } else if (arg == "--special") {
      special = true;
    } else if (arg == "--decode") {
      decode = true;
    } else if (arg == "-h" || arg == "--help") {
      usage();
      return 0;
    } else {
      std::fprintf(stderr, "llmk-tokenize: unknown or incomplete argument '%s'\n", arg.c_str());
      usage();
      return kExitUsage;
    }
  }
  if (builtin == !vocab_path.empty()) {
    std::fprintf(stderr, "llmk-tokenize: give exactly one of --vocab FILE and --builtin\n");
    usage();
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
