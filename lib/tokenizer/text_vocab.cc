// The small text vocabulary format (see vocabulary_from_text) and the
// built-in vocabulary written in it.
#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "llmk/tokenizer.h"
#include "tokenizer/tokenizer_data.h"
#include "tokenizer/unicode.h"
#include "util/check.h"

namespace llmk {
namespace {

using internal::to_absl;

// A GPT-2-style byte-level vocabulary: the 256 bytes and merges for common
// English, enough that the spec's tokenizer benchmark text ("Hello World,
// Hello World, Hello World") becomes whole-word tokens.
constexpr std::string_view kBuiltin = R"(# llmk built-in vocabulary: GPT-2-style byte-level BPE
model gpt2
bytes
merge \s t
merge \s a
merge h e
merge i n
merge r e
merge o n
merge \st he
merge e r
merge \s s
merge a t
merge \s w
merge \s o
merge e n
merge \s c
merge i t
merge i s
merge a n
merge o r
merge e s
merge \s b
merge e d
merge \s f
merge in g
merge \s p
merge o u
merge \sa n
merge a l
merge a r
merge \s m
merge \so f
merge \s in
merge \s d
merge \s h
merge \san d
merge l l
merge \s H
merge H e
merge \sH e
merge He ll
merge \sHe ll
merge Hell o
merge \sHell o
merge \s W
merge W or
merge \sW or
merge l d
merge Wor ld
merge \sWor ld
merge \s is
merge \s it
merge \s T
merge T he
merge \sT he
merge \s y
merge \sy ou
merge \s re
merge \s on
merge \s I
merge \n \n
merge \s \s
merge \s\s \s\s
merge \s ,
eos <|endoftext|>
bos <|endoftext|>
)";

absl::Status line_error(size_t line, std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("vocabulary text, line ", line, ": ", to_absl(what)));
}

// Undoes the escapes \s \n \t \\ \xHH.
bool unescape(std::string_view in, std::string* out) {
  out->clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '\\') {
      out->push_back(in[i]);
      continue;
    }
    if (++i == in.size()) return false;
    switch (in[i]) {
      case 's': out->push_back(' '); break;
      case 'n': out->push_back('\n'); break;
      case 't': out->push_back('\t'); break;
      case '\\': out->push_back('\\'); break;
      case 'x': {
        if (i + 2 >= in.size()) return false;
        const int b = tok::parse_byte_token(absl::StrCat("<0x", to_absl(in.substr(i + 1, 2)), ">"));
        if (b < 0) return false;
        out->push_back(static_cast<char>(b));
        i += 2;
        break;
      }
      default: return false;
    }
  }
  return true;
}

std::vector<std::string_view> split_words(std::string_view line) {
  std::vector<std::string_view> words;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
    const size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t' && line[i] != '\r') ++i;
    if (i > start) words.push_back(line.substr(start, i - start));
  }
  return words;
}

}  // namespace

std::string_view Tokenizer::builtin_vocabulary_text() { return kBuiltin; }

absl::StatusOr<Vocabulary> vocabulary_from_text(std::string_view text) {
  Vocabulary v;
  bool have_model = false;
  // Text of each token in stored form → id, to add merge results once.
  absl::flat_hash_map<std::string, TokenId> id_of;
  auto stored = [&](const std::string& raw) {
    if (v.kind == VocabKind::kGpt2) return tok::map_bytes(raw);
    std::string s;
    for (char c : raw) {
      if (c == ' ') {
        s += tok::kSpaceMarker;
      } else {
        s.push_back(c);
      }
    }
    return s;
  };
  auto add_token = [&](std::string text, float score, TokenType type) {
    const auto id = static_cast<TokenId>(v.tokens.size());
    id_of.try_emplace(text, id);
    v.tokens.push_back(std::move(text));
    v.scores.push_back(score);
    v.types.push_back(type);
    return id;
  };
  size_t line_no = 0;
  std::string a, b;
  for (size_t pos = 0; pos <= text.size();) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    const std::string_view line = text.substr(pos, eol - pos);
    pos = eol + 1;
    ++line_no;
    const auto words = split_words(line);
    if (words.empty() || words[0][0] == '#') continue;
    const std::string_view cmd = words[0];
    if (!have_model) {
      if (cmd != "model" || words.size() != 2) return line_error(line_no, "expected 'model gpt2|llama' first");
      if (words[1] == "gpt2") {
        v.kind = VocabKind::kGpt2;
      } else if (words[1] == "llama") {
        v.kind = VocabKind::kLlama;
        v.add_space_prefix = true;
      } else {
        return line_error(line_no, "model must be gpt2 or llama");
      }
      have_model = true;
      continue;
    }
    if (cmd == "bytes" && words.size() == 1) {
      for (int c = 0; c < 256; ++c) {
        if (v.kind == VocabKind::kGpt2) {
          add_token(tok::map_bytes(std::string(1, static_cast<char>(c))), 0.0f, TokenType::kNormal);
        } else {
          add_token(absl::StrFormat("<0x%02X>", c), 0.0f, TokenType::kByte);
        }
      }
    } else if (cmd == "token" && (words.size() == 2 || words.size() == 3)) {
      if (!unescape(words[1], &a) || a.empty()) return line_error(line_no, "bad token text");
      float score = 0.0f;
      if (words.size() == 3) {
        const std::string s(words[2]);
        char* end = nullptr;
        score = std::strtof(s.c_str(), &end);
        if (end != s.c_str() + s.size() || std::isnan(score)) {
          return line_error(line_no, "bad score");
        }
      }
      add_token(stored(a), score, TokenType::kNormal);
    } else if (cmd == "merge" && words.size() == 3) {
      if (v.kind != VocabKind::kGpt2) return line_error(line_no, "merge needs model gpt2");
      if (!unescape(words[1], &a) || !unescape(words[2], &b) || a.empty() || b.empty()) {
        return line_error(line_no, "bad merge text");
      }
      const std::string left = stored(a), right = stored(b);
      v.merges.push_back(absl::StrCat(left, " ", right));
      if (!id_of.contains(left + right)) add_token(left + right, 0.0f, TokenType::kNormal);
    } else if ((cmd == "bos" || cmd == "eos" || cmd == "unk" || cmd == "pad") &&
               words.size() == 2) {
      if (!unescape(words[1], &a) || a.empty()) return line_error(line_no, "bad token text");
      auto it = id_of.find(a);
      TokenId id = it != id_of.end() ? it->second
                                     : add_token(a, 0.0f,
                                                 cmd == "unk" ? TokenType::kUnknown
                                                              : TokenType::kControl);
      (cmd == "bos" ? v.bos_id : cmd == "eos" ? v.eos_id : cmd == "unk" ? v.unknown_id
                                                                        : v.padding_id) = id;
    } else if ((cmd == "add_bos" || cmd == "add_space_prefix") && words.size() == 2 &&
               (words[1] == "true" || words[1] == "false")) {
      (cmd == "add_bos" ? v.add_bos : v.add_space_prefix) = words[1] == "true";
    } else {
      return line_error(line_no, absl::StrCat("unknown directive '", to_absl(cmd), "'"));
    }
  }
  if (!have_model) return absl::InvalidArgumentError("vocabulary text: no 'model' line");
  if (v.kind == VocabKind::kGpt2) v.scores.clear();
  return v;
}

}  // namespace llmk
