// Tokenizer tests: llama.cpp's conformance vectors, llama2.c's tokenizer.bin,
// round trips, hostile input, malformed files, and the pre-tokenizer and
// merge engine against plain reference implementations.
#include <pthread.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "llmk/gguf.h"
#include "llmk/tokenizer.h"
#include "test_util.h"
#include "tokenizer/gpt2_split.h"

namespace llmk {
namespace {

using test::shared_file_or_skip;

std::string read_text(const std::filesystem::path& p) {
  auto bytes = test::read_file(p);
  REQUIRE(bytes.has_value());
  return std::string(bytes->begin(), bytes->end());
}

// llama.cpp's .inp/.out pairs: strings separated by "\n__ggml_vocab_test__\n",
// one line of ids per string.
struct Vectors {
  std::vector<std::string> inputs;
  std::vector<std::vector<TokenId>> expected;
};

Vectors read_vectors(const std::filesystem::path& inp, const std::filesystem::path& out) {
  Vectors v;
  const std::string text = read_text(inp);
  const std::string sep = "\n__ggml_vocab_test__\n";
  size_t pos = 0;
  for (size_t hit; (hit = text.find(sep, pos)) != std::string::npos; pos = hit + sep.size()) {
    v.inputs.push_back(text.substr(pos, hit - pos));
  }
  std::istringstream lines(read_text(out));
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream ids(line);
    std::vector<TokenId> row;
    for (TokenId id; ids >> id;) row.push_back(id);
    v.expected.push_back(row);
  }
  return v;
}

Tokenizer load_or_fail(const std::filesystem::path& p) {
  auto tok = Tokenizer::load(p.string());
  REQUIRE_MESSAGE(tok.ok(), tok.status().ToString());
  return std::move(*tok);
}

void check_vectors(const char* vocab_name) {
  const std::string base = std::string("vocab/") + vocab_name;
  auto gguf = shared_file_or_skip(base);
  if (!gguf) return;
  auto inp = shared_file_or_skip(base + ".inp");
  auto out = shared_file_or_skip(base + ".out");
  if (!inp || !out) return;
  const Tokenizer tok = load_or_fail(*gguf);
  const Vectors v = read_vectors(*inp, *out);
  REQUIRE(v.inputs.size() == v.expected.size());
  REQUIRE(v.inputs.size() >= 40);
  size_t matched = 0;
  for (size_t i = 0; i < v.inputs.size(); ++i) {
    auto ids = tok.encode(v.inputs[i]);
    REQUIRE(ids.ok());
    CHECK_MESSAGE(*ids == v.expected[i], "vector " << i << ": '" << v.inputs[i] << "'");
    matched += *ids == v.expected[i];
    auto text = tok.decode(*ids);
    REQUIRE(text.ok());
    CHECK_MESSAGE(*text == v.inputs[i], "round trip of vector " << i);
  }
  CHECK(matched == v.inputs.size());
}

TEST_CASE("gpt-2 vocabulary matches llama.cpp's vectors") { check_vectors("ggml-vocab-gpt-2.gguf"); }
TEST_CASE("llama spm vocabulary matches llama.cpp's vectors") {
  check_vectors("ggml-vocab-llama-spm.gguf");
}

TEST_CASE("gguf vocabulary metadata") {
  auto gpt2 = shared_file_or_skip("vocab/ggml-vocab-gpt-2.gguf");
  auto spm = shared_file_or_skip("vocab/ggml-vocab-llama-spm.gguf");
  if (!gpt2 || !spm) return;
  const Tokenizer g = load_or_fail(*gpt2);
  CHECK(g.kind() == VocabKind::kGpt2);
  CHECK(g.vocab_size() == 50257);
  CHECK(g.bos_id() == 50256);
  CHECK(g.eos_id() == 50256);
  CHECK(g.token_type(50256) == TokenType::kControl);
  const Tokenizer l = load_or_fail(*spm);
  CHECK(l.kind() == VocabKind::kLlama);
  CHECK(l.vocab_size() == 32000);
  CHECK(l.bos_id() == 1);
  CHECK(l.eos_id() == 2);
  CHECK(l.unknown_id() == 0);
  CHECK(l.add_bos());
}

Tokenizer tokenizer_bin_or_skip(bool* ok) {
  *ok = false;
  auto path = shared_file_or_skip("models/tokenizer.bin");
  if (!path) return std::move(*Tokenizer::builtin());
  *ok = true;
  return load_or_fail(*path);
}

TEST_CASE("tokenizer.bin encodes as llama2.c") {
  bool ok;
  const Tokenizer tok = tokenizer_bin_or_skip(&ok);
  if (!ok) return;
  CHECK(tok.vocab_size() == 32000);
  EncodeOptions bos;
  bos.add_bos = true;
  auto ids = tok.encode("I believe the meaning of life is", bos);
  REQUIRE(ids.ok());
  CHECK(*ids == std::vector<TokenId>{1, 306, 4658, 278, 6593, 310, 2834, 338});
  auto empty = tok.encode("", bos);
  REQUIRE(empty.ok());
  CHECK(*empty == std::vector<TokenId>{1});
  bos.add_eos = true;
  auto both = tok.encode("", bos);
  REQUIRE(both.ok());
  CHECK(*both == std::vector<TokenId>{1, 2});
  auto text = tok.decode(*ids);
  REQUIRE(text.ok());
  CHECK(*text == "I believe the meaning of life is");
  // The file's BOS text is "\n<s>\n"; rendered only when asked.
  DecodeOptions render;
  render.render_special = true;
  CHECK(*tok.decode(std::vector<TokenId>{1}, render) == "\n<s>\n");
  // Byte tokens assemble multi-byte UTF-8: U+1F999 is not in the vocabulary.
  auto llama = tok.encode("🦙");
  REQUIRE(llama.ok());
  CHECK(*llama == std::vector<TokenId>{29871, 243, 162, 169, 156});
  CHECK(*tok.decode(*llama) == "🦙");
}

// Random strings of words, spaces, digits, punctuation and multi-byte
// characters (no "▁", which SentencePiece decodes as a space).
std::string random_text(std::mt19937& rng, size_t max_parts) {
  static const std::vector<std::string> parts = {
      "the", " the", "Hello", " world", "  ", "\n", "\n\n", "\t", " ", "'s", "'ll", "'RE", "don't",
      "123", " 4567", "3.14", "!!", "?", " (", ")", "é", "Führer", " naïve", "日本語", "🦙",
      "😶‍🌫️", "Ωμέγα", " кошка", "ក្រុង", "\u00a0", "\u3000", "\u2028", "x", "Z", "_", "<", "s>",
      "<|", "endoftext", "|>", "\r\n", "  \t "};
  std::uniform_int_distribution<size_t> count(0, max_parts), pick(0, parts.size() - 1);
  std::string s;
  for (size_t n = count(rng); n > 0; --n) s += parts[pick(rng)];
  return s;
}

void check_round_trips(const Tokenizer& tok) {
  std::mt19937 rng(1234);
  for (int i = 0; i < 400; ++i) {
    const std::string s = random_text(rng, 40);
    auto ids = tok.encode(s);
    REQUIRE(ids.ok());
    auto back = tok.decode(*ids);
    REQUIRE(back.ok());
    CHECK_MESSAGE(*back == s, "input '" << s << "'");
    // Encoding is deterministic, cache or not.
    CHECK(*tok.encode(s) == *ids);
  }
}

TEST_CASE("decode(encode(s)) == s on valid UTF-8") {
  auto gpt2 = shared_file_or_skip("vocab/ggml-vocab-gpt-2.gguf");
  auto spm = shared_file_or_skip("vocab/ggml-vocab-llama-spm.gguf");
  auto bin = shared_file_or_skip("models/tokenizer.bin");
  check_round_trips(*Tokenizer::builtin());
  if (gpt2) check_round_trips(load_or_fail(*gpt2));
  if (spm) check_round_trips(load_or_fail(*spm));
  if (bin) check_round_trips(load_or_fail(*bin));
}

void check_every_id_decodes(const Tokenizer& tok) {
  for (TokenId id = 0; id < static_cast<TokenId>(tok.vocab_size()); ++id) {
    const TokenId one[] = {id};
    auto text = tok.decode(one, DecodeOptions{.render_special = true, .remove_prefix_space = false});
    REQUIRE_MESSAGE(text.ok(), "id " << id);
    if (tok.token_type(id) == TokenType::kByte) {
      CHECK(text->size() == 1);
    } else if (tok.kind() == VocabKind::kGpt2 && tok.token_type(id) == TokenType::kNormal) {
      // Each mapped character is one byte.
      size_t chars = 0;
      for (unsigned char c : tok.token_text(id)) chars += (c & 0xC0) != 0x80;
      CHECK(text->size() == chars);
    } else {
      CHECK(!text->empty());
    }
  }
  const TokenId n = static_cast<TokenId>(tok.vocab_size());
  for (TokenId bad : {-1, n, n + 1, std::numeric_limits<TokenId>::min()}) {
    const TokenId ids[] = {0, bad};
    auto text = tok.decode(ids);
    CHECK(!text.ok());
    CHECK(text.status().message().find("ids[1]") != std::string::npos);
  }
}

TEST_CASE("every token id decodes; out-of-range ids are errors") {
  check_every_id_decodes(*Tokenizer::builtin());
  auto gpt2 = shared_file_or_skip("vocab/ggml-vocab-gpt-2.gguf");
  auto spm = shared_file_or_skip("vocab/ggml-vocab-llama-spm.gguf");
  if (gpt2) check_every_id_decodes(load_or_fail(*gpt2));
  if (spm) check_every_id_decodes(load_or_fail(*spm));
}

std::vector<Tokenizer> all_tokenizers() {
  std::vector<Tokenizer> toks;
  toks.push_back(std::move(*Tokenizer::builtin()));
  for (const char* p : {"vocab/ggml-vocab-gpt-2.gguf", "vocab/ggml-vocab-llama-spm.gguf",
                        "models/tokenizer.bin"}) {
    if (auto path = shared_file_or_skip(p)) toks.push_back(load_or_fail(*path));
  }
  return toks;
}

bool contains_space_marker(const std::string& s) { return s.find("\xE2\x96\x81") != std::string::npos; }

TEST_CASE("random bytes, invalid UTF-8, surrogates and NULs round-trip") {
  const std::vector<std::string> hostile = {
      "",
      std::string("\0", 1),
      std::string("a\0b\0\0 c", 7),
      "\xff\xfe\xfd",
      "\x80",
      "abc\xc3",           // truncated 2-byte sequence at the end
      "\xe2\x82",          // truncated 3-byte sequence
      "\xe2 a",            // a lead byte followed by a space
      "\xed\xa0\x80",      // CESU-8 lone high surrogate
      "\xed\xa0\xbd\xed\xb8\x80",  // a CESU-8 surrogate pair
      "\xc0\x80",          // overlong NUL
      "\xf4\x90\x80\x80",  // past U+10FFFF
      "x\xf0\x9f\xa6",     // truncated emoji
      " \xa0 \xc2",
  };
  for (const Tokenizer& tok : all_tokenizers()) {
    for (const std::string& s : hostile) {
      auto ids = tok.encode(s);
      REQUIRE(ids.ok());
      CHECK(s.empty() == ids->empty());
      CHECK_MESSAGE(*tok.decode(*ids) == s, "input bytes of length " << s.size());
    }
    std::mt19937 rng(99);
    std::uniform_int_distribution<int> byte(0, 255), len(0, 64);
    for (int i = 0; i < 300; ++i) {
      std::string s;
      for (int n = len(rng); n > 0; --n) s.push_back(static_cast<char>(byte(rng)));
      auto ids = tok.encode(s);
      REQUIRE(ids.ok());
      if (tok.kind() == VocabKind::kLlama && contains_space_marker(s)) continue;
      CHECK(*tok.decode(*ids) == s);
    }
  }
}

struct StackRun {
  const Tokenizer* tok;
  std::string text;
  absl::Status status;
  std::vector<TokenId> ids;
};

// Runs encode on a thread with a 256 KiB stack: deep recursion would crash.
void encode_on_small_stack(StackRun* run) {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  pthread_t thread;
  auto body = [](void* arg) -> void* {
    auto* r = static_cast<StackRun*>(arg);
    r->status = r->tok->encode(r->text, EncodeOptions{}, &r->ids);
    return nullptr;
  };
  REQUIRE(pthread_create(&thread, &attr, body, run) == 0);
  pthread_join(thread, nullptr);
  pthread_attr_destroy(&attr);
}

TEST_CASE("1 MiB of one repeated character: bounded stack, exact round trip") {
  for (const Tokenizer& tok : all_tokenizers()) {
    for (const std::string unit : {"a", " ", "1", "!", "\n", "é"}) {
      StackRun run{&tok, {}, {}, {}};
      while (run.text.size() < (size_t{1} << 20)) run.text += unit;
      encode_on_small_stack(&run);
      REQUIRE(run.status.ok());
      CHECK(!run.ids.empty());
      CHECK(run.ids.size() <= run.text.size() + 1);  // at most one token per byte, plus "▁"
      auto back = tok.decode(run.ids);
      REQUIRE(back.ok());
      CHECK_MESSAGE(*back == run.text, "unit '" << unit << "'");
    }
  }
}

TEST_CASE("special tokens: BOS/EOS and parsing only when asked") {
  auto gpt2 = shared_file_or_skip("vocab/ggml-vocab-gpt-2.gguf");
  auto spm = shared_file_or_skip("vocab/ggml-vocab-llama-spm.gguf");
  if (!gpt2 || !spm) return;
  const Tokenizer g = load_or_fail(*gpt2);
  const std::string text = "Hello<|endoftext|> world";
  auto plain = g.encode(text);
  REQUIRE(plain.ok());
  CHECK(std::count(plain->begin(), plain->end(), 50256) == 0);
  EncodeOptions special;
  special.parse_special = true;
  auto parsed = g.encode(text, special);
  REQUIRE(parsed.ok());
  CHECK(*parsed == std::vector<TokenId>{15496, 50256, 995});
  CHECK(*g.decode(*parsed) == "Hello world");
  DecodeOptions render;
  render.render_special = true;
  CHECK(*g.decode(*parsed, render) == text);

  const Tokenizer l = load_or_fail(*spm);
  auto lp = l.encode("<s>Hello</s>", special);
  REQUIRE(lp.ok());
  // After a special token the text run gets the "▁" prefix again.
  CHECK(*lp == std::vector<TokenId>{1, 15043, 2});
  auto ll = l.encode("<s>Hello");
  REQUIRE(ll.ok());
  CHECK(std::count(ll->begin(), ll->end(), 1) == 0);
  EncodeOptions both;
  both.add_bos = true;
  both.add_eos = true;
  auto wrapped = l.encode("Hello world", both);
  REQUIRE(wrapped.ok());
  CHECK(*wrapped == std::vector<TokenId>{1, 15043, 3186, 2});
  CHECK(*l.decode(*wrapped) == "Hello world");
}

TEST_CASE("built-in vocabulary: seed benchmark string") {
  auto tok = Tokenizer::builtin();
  REQUIRE(tok.ok());
  CHECK(tok->kind() == VocabKind::kGpt2);
  const std::string text = "Hello World, Hello World, Hello World";
  auto ids = tok->encode(text);
  REQUIRE(ids.ok());
  std::vector<std::string> pieces;
  for (TokenId id : *ids) pieces.push_back(*tok->decode(std::vector<TokenId>{id}));
  CHECK(pieces == std::vector<std::string>{"Hello", " World", ",", " Hello", " World", ",",
                                           " Hello", " World"});
  CHECK(*tok->decode(*ids) == text);
  EncodeOptions eos;
  eos.add_eos = true;
  auto with_eos = tok->encode("", eos);
  REQUIRE(with_eos.ok());
  CHECK(with_eos->size() == 1);
  CHECK(tok->token_text(with_eos->front()) == "<|endoftext|>");
}

TEST_CASE("load_from_text: formats and errors") {
  auto spm = Tokenizer::load_from_text(
      "model llama\nunk <unk>\nbos <s>\neos </s>\nbytes\ntoken \\sa -1\ntoken b -2\n"
      "token \\sab -0.5\n");
  REQUIRE_MESSAGE(spm.ok(), spm.status().ToString());
  CHECK(spm->kind() == VocabKind::kLlama);
  auto ids = spm->encode("ab c");
  REQUIRE(ids.ok());
  // "▁ab" is a token; "▁" and "c" are not and fall back to the bytes of " "
  // and "c".
  const TokenId sab = 261, space_byte = 3 + ' ', c_byte = 3 + 'c';
  CHECK(*ids == std::vector<TokenId>{sab, space_byte, c_byte});
  CHECK(*spm->decode(*ids) == "ab c");

  const std::pair<const char*, const char*> bad[] = {
      {"", "no 'model' line"},
      {"token a\n", "line 1: expected 'model"},
      {"model bert\n", "gpt2 or llama"},
      {"model gpt2\nfrobnicate\n", "unknown directive 'frobnicate'"},
      {"model llama\nmerge a b\n", "merge needs model gpt2"},
      {"model gpt2\ntoken \\q\n", "bad token text"},
      {"model llama\ntoken a nan\n", "bad score"},
      {"model gpt2\n", "tokens is empty"},
  };
  for (const auto& [text, message] : bad) {
    auto t = Tokenizer::load_from_text(text);
    REQUIRE(!t.ok());
    CHECK_MESSAGE(t.status().message().find(message) != std::string_view::npos,
                  t.status().message());
  }
}

TEST_CASE("vocabulary validation") {
  Vocabulary v;
  v.kind = VocabKind::kLlama;
  v.tokens = {"<unk>", "a", "<0x4G>"};
  v.types = {TokenType::kUnknown, TokenType::kNormal, TokenType::kByte};
  auto t = Tokenizer::create(v);
  REQUIRE(!t.ok());
  CHECK(t.status().message().find("token 2 has type byte") != std::string_view::npos);
  v.types[2] = TokenType::kNormal;
  v.scores = {0, 0};
  t = Tokenizer::create(v);
  REQUIRE(!t.ok());
  CHECK(t.status().message().find("scores") != std::string_view::npos);
  v.scores = {0, 0, std::nanf("")};
  t = Tokenizer::create(v);
  REQUIRE(!t.ok());
  CHECK(t.status().message().find("scores[2] is NaN") != std::string_view::npos);
  v.scores.clear();
  v.bos_id = 3;
  t = Tokenizer::create(v);
  REQUIRE(!t.ok());
  CHECK(t.status().message().find("bos_id = 3") != std::string_view::npos);
  v.bos_id = -1;
  v.types[0] = static_cast<TokenType>(9);
  t = Tokenizer::create(v);
  REQUIRE(!t.ok());
  CHECK(t.status().message().find("types[0]") != std::string_view::npos);
  v.types[0] = TokenType::kUnknown;
  v.unknown_id = 0;
  REQUIRE(Tokenizer::create(v).ok());

  Vocabulary g;
  g.kind = VocabKind::kGpt2;
  g.tokens = {"a", "b", "ab"};
  g.merges = {"ab"};
  t = Tokenizer::create(g);
  REQUIRE(!t.ok());
  CHECK(t.status().message().find("merges[0]") != std::string_view::npos);
  // Bytes without a token and no unknown token: encode reports it.
  g.merges = {"a b"};
  auto gt = Tokenizer::create(g);
  REQUIRE(gt.ok());
  CHECK(*gt->encode("ab") == std::vector<TokenId>{2});
  auto missing = gt->encode("abc");
  REQUIRE(!missing.ok());
  CHECK(missing.status().message().find("byte 0x63") != std::string_view::npos);
}

// --- tokenizer.bin: malformed files --------------------------------------------

struct BinWriter {
  std::vector<uint8_t> bytes;
  void raw(const void* p, size_t n) {
    const size_t at = bytes.size();
    bytes.resize(at + n);
    if (n != 0) std::memcpy(bytes.data() + at, p, n);
  }
  void i32(int32_t v) { raw(&v, 4); }
  void f32(float v) { raw(&v, 4); }
  void token(float score, const std::string& text) {
    f32(score);
    i32(static_cast<int32_t>(text.size()));
    raw(text.data(), text.size());
  }
};

BinWriter small_bin() {
  BinWriter w;
  w.i32(1);  // declared max_token_length, smaller than the real one
  w.token(0, "<unk>");
  w.token(0, "\n<s>\n");
  w.token(0, "\n</s>\n");
  w.token(-1, " a");
  w.token(-2, "b");
  return w;
}

TEST_CASE("tokenizer.bin: a small valid file") {
  const BinWriter w = small_bin();
  auto v = vocabulary_from_llama2c(w.bytes);
  REQUIRE_MESSAGE(v.ok(), v.status().ToString());
  CHECK(v->tokens.size() == 5);
  CHECK(v->tokens[3] == "\xE2\x96\x81" "a");
  auto exact = vocabulary_from_llama2c(w.bytes, 5);
  CHECK(exact.ok());
  auto tok = Tokenizer::create(*v);
  REQUIRE(tok.ok());
  EncodeOptions bos;
  bos.add_bos = true;
  CHECK(*tok->encode("ab", bos) == std::vector<TokenId>{1, 3, 4});
}

TEST_CASE("tokenizer.bin: malformed files give specific errors") {
  struct Case {
    const char* name;
    std::vector<uint8_t> bytes;
    int64_t vocab_size;
    const char* message;
  };
  std::vector<Case> cases;
  cases.push_back({"empty file", {}, 0, "truncated header"});
  cases.push_back({"3-byte header", {1, 0, 0}, 0, "truncated header"});
  {
    BinWriter w;
    w.i32(0);
    cases.push_back({"zero max_token_length", w.bytes, 0, "max_token_length 0 is not positive"});
  }
  {
    BinWriter w;
    w.i32(-7);
    w.token(0, "a");
    cases.push_back({"negative max_token_length", w.bytes, 0, "max_token_length -7"});
  }
  {
    BinWriter w;
    w.i32(4);
    cases.push_back({"zero tokens", w.bytes, 0, "no tokens"});
  }
  {
    BinWriter w = small_bin();
    w.bytes.resize(w.bytes.size() + 5);  // 5 bytes: less than a record header
    cases.push_back({"truncated record header", w.bytes, 0, "token 5: record header"});
  }
  {
    BinWriter w = small_bin();
    w.f32(0);
    w.i32(-3);
    cases.push_back({"negative length", w.bytes, 0, "token 5: negative length -3"});
  }
  {
    BinWriter w = small_bin();
    w.f32(0);
    w.i32(100);
    w.bytes.push_back('x');
    cases.push_back({"length past the end", w.bytes, 0, "token 5: length 100 at offset"});
  }
  {
    BinWriter w = small_bin();
    w.f32(0);
    w.i32(std::numeric_limits<int32_t>::max());
    cases.push_back({"huge length", w.bytes, 0, "runs past the end of the file"});
  }
  {
    BinWriter w = small_bin();
    w.token(std::nanf(""), "c");
    cases.push_back({"NaN score", w.bytes, 0, "token 5: score is NaN"});
  }
  cases.push_back({"fewer tokens than vocab_size", small_bin().bytes, 6, "token 5: record header"});
  cases.push_back({"bytes after vocab_size tokens", small_bin().bytes, 4, "bytes after the last of 4"});
  cases.push_back({"negative vocab_size", small_bin().bytes, -1, "vocab_size -1"});
  for (const Case& c : cases) {
    auto v = vocabulary_from_llama2c(c.bytes, c.vocab_size);
    INFO(c.name);
    REQUIRE(!v.ok());
    CHECK_MESSAGE(v.status().message().find(c.message) != std::string_view::npos,
                  v.status().message());
  }
  CHECK(cases.size() >= 8);
  // Every truncation of a valid file is an error or a shorter valid prefix,
  // never a crash.
  const BinWriter w = small_bin();
  for (size_t n = 0; n < w.bytes.size(); ++n) {
    auto v = vocabulary_from_llama2c(std::span<const uint8_t>(w.bytes.data(), n));
    if (v.ok()) CHECK(v->tokens.size() < 5);
  }
}

// --- GGUF vocabulary metadata errors ------------------------------------------

absl::StatusOr<Vocabulary> vocab_from_writer(const GgufWriter& w, std::vector<uint8_t>* storage) {
  auto bytes = w.to_bytes();
  if (!bytes.ok()) return bytes.status();
  *storage = std::move(*bytes);
  auto file = GgufFile::parse(*storage);
  if (!file.ok()) return file.status();
  return vocabulary_from_gguf(**file);
}

GgufWriter base_writer(const char* model) {
  GgufWriter w;
  w.add_string("tokenizer.ggml.model", model);
  GgufArray tokens;
  tokens.element_type = GgufType::kString;
  tokens.values = std::vector<std::string>{"<unk>", "<s>", "</s>", "a", "b", "ab"};
  w.add_array("tokenizer.ggml.tokens", tokens);
  return w;
}

TEST_CASE("gguf vocabulary: metadata errors name the key") {
  std::vector<uint8_t> storage;
  {
    GgufWriter w = base_writer("llama");
    auto v = vocab_from_writer(w, &storage);
    REQUIRE_MESSAGE(v.ok(), v.status().ToString());
    CHECK(v->bos_id == 1);
    CHECK(v->add_space_prefix);
  }
  struct Case {
    const char* name;
    GgufWriter writer;
    const char* message;
  };
  std::vector<Case> cases;
  cases.push_back({"unknown model", base_writer("bert"), "tokenizer.ggml.model: 'bert'"});
  {
    GgufWriter w = base_writer("gpt2");
    w.add_string("tokenizer.ggml.pre", "llama3");
    cases.push_back({"unknown pre-tokenizer", std::move(w), "tokenizer.ggml.pre: pre-tokenizer 'llama3'"});
  }
  cases.push_back({"gpt2 without merges", base_writer("gpt2"), "tokenizer.ggml.merges is missing"});
  {
    GgufWriter w = base_writer("llama");
    GgufArray scores;
    scores.element_type = GgufType::kFloat32;
    scores.values = std::vector<float>{0, 0, 0};
    w.add_array("tokenizer.ggml.scores", scores);
    cases.push_back({"short scores", std::move(w), "tokenizer.ggml.scores: has 3 entries"});
  }
  {
    GgufWriter w = base_writer("llama");
    GgufArray types;
    types.element_type = GgufType::kUint8;
    types.values = std::vector<uint8_t>{1, 1, 1, 1, 1, 1};
    w.add_array("tokenizer.ggml.token_type", types);
    cases.push_back({"wrongly typed token_type", std::move(w), "tokenizer.ggml.token_type: expected"});
  }
  {
    GgufWriter w = base_writer("llama");
    GgufArray types;
    types.element_type = GgufType::kInt32;
    types.values = std::vector<int32_t>{1, 1, 1, 1, 1, 17};
    w.add_array("tokenizer.ggml.token_type", types);
    cases.push_back({"bad token type", std::move(w), "entry 5 = 17"});
  }
  {
    GgufWriter w = base_writer("llama");
    w.add_uint32("tokenizer.ggml.eos_token_id", 6);
    cases.push_back({"eos out of range", std::move(w), "tokenizer.ggml.eos_token_id: token id 6"});
  }
  cases.push_back({"tokens missing", GgufWriter{}, "tokenizer.ggml.model"});
  for (Case& c : cases) {
    INFO(c.name);
    auto v = vocab_from_writer(c.writer, &storage);
    REQUIRE(!v.ok());
    CHECK_MESSAGE(v.status().message().find(c.message) != std::string_view::npos,
                  v.status().message());
  }
}

// --- the pre-tokenizer ----------------------------------------------------------

std::vector<std::string> split(std::string_view text) {
  std::vector<std::string> pieces;
  tok::split_gpt2(text, [&](size_t offset, size_t length) {
    pieces.emplace_back(text.substr(offset, length));
    return true;
  });
  return pieces;
}

TEST_CASE("gpt-2 pre-tokenizer follows the pattern") {
  using P = std::vector<std::string>;
  CHECK(split("") == P{});
  CHECK(split("Hello world") == P{"Hello", " world"});
  CHECK(split("   Hello") == P{"  ", " Hello"});
  CHECK(split("\t\tHi") == P{"\t", "\t", "Hi"});
  CHECK(split("a  ") == P{"a", "  "});
  CHECK(split("a \n b") == P{"a", " \n", " b"});
  CHECK(split("I'm here'll") == P{"I", "'m", " here", "'ll"});
  CHECK(split("'RE 's") == P{"'", "RE", " '", "s"});
  CHECK(split("it'") == P{"it", "'"});
  CHECK(split("3.14 x2") == P{"3", ".", "14", " x", "2"});
  CHECK(split(" !!?a") == P{" !!?", "a"});
  CHECK(split("\u00a0x") == P{"\u00a0", "x"});  // NBSP is \s but not the optional space
  CHECK(split("é1½ ۳") == P{"é", "1½", " ۳"});  // \p{N} includes No and other scripts' digits
  CHECK(split("naïve café") == P{"naïve", " café"});
  CHECK(split("a\xff\xfe b") == P{"a", "\xff\xfe", " b"});
  CHECK(split("ក្រុង") == P{"ក", "្", "រ", "ុ", "ង"});  // marks are not \p{L}
  CHECK(split("x\u3000\u3000y") == P{"x", "\u3000", "\u3000", "y"});
}

// --- the merge engine against a plain quadratic implementation ----------------

// Plain GPT-2 BPE on mapped text: merge the lowest-ranked adjacent pair
// (leftmost on ties) until none applies.
std::vector<std::string> reference_bpe(const std::vector<std::string>& chars,
                                       const std::map<std::pair<std::string, std::string>, size_t>& ranks) {
  std::vector<std::string> sym = chars;
  while (sym.size() > 1) {
    size_t best = SIZE_MAX, at = 0;
    for (size_t i = 0; i + 1 < sym.size(); ++i) {
      auto it = ranks.find({sym[i], sym[i + 1]});
      if (it != ranks.end() && it->second < best) {
        best = it->second;
        at = i;
      }
    }
    if (best == SIZE_MAX) break;
    sym[at] += sym[at + 1];
    sym.erase(sym.begin() + static_cast<std::ptrdiff_t>(at) + 1);
  }
  return sym;
}

TEST_CASE("long words: heap merge equals the quadratic reference") {
  auto path = shared_file_or_skip("vocab/ggml-vocab-gpt-2.gguf");
  if (!path) return;
  const Tokenizer tok = load_or_fail(*path);
  const Vocabulary& v = tok.vocabulary();
  std::map<std::pair<std::string, std::string>, size_t> ranks;
  for (size_t r = 0; r < v.merges.size(); ++r) {
    const size_t sep = v.merges[r].find(' ', 1);
    ranks.emplace(std::make_pair(v.merges[r].substr(0, sep), v.merges[r].substr(sep + 1)), r);
  }
  std::map<std::string, TokenId> id_of;
  for (size_t i = 0; i < v.tokens.size(); ++i) id_of[v.tokens[i]] = static_cast<TokenId>(i);
  std::mt19937 rng(7);
  const std::string letters = "etaoinshrdlucmfwypvbgkqjxz";
  std::uniform_int_distribution<size_t> len(1, 300), letter(0, 7), any(0, letters.size() - 1);
  for (int trial = 0; trial < 60; ++trial) {
    std::string word;
    for (size_t n = len(rng); n > 0; --n) word.push_back(letters[trial % 2 ? any(rng) : letter(rng)]);
    std::vector<std::string> chars;
    for (char c : word) chars.emplace_back(1, c);  // ASCII letters map to themselves
    std::vector<TokenId> expected;
    for (const std::string& s : reference_bpe(chars, ranks)) expected.push_back(id_of.at(s));
    CHECK_MESSAGE(*tok.encode(word) == expected, "word of " << word.size() << " letters");
  }
}

// Plain SentencePiece BPE: merge the adjacent pair whose concatenation is the
// normal token of highest score (leftmost on ties).
TEST_CASE("long chunks: SentencePiece merge equals the quadratic reference") {
  auto path = shared_file_or_skip("vocab/ggml-vocab-llama-spm.gguf");
  if (!path) return;
  const Tokenizer tok = load_or_fail(*path);
  const Vocabulary& v = tok.vocabulary();
  std::map<std::string, TokenId> id_of;
  for (size_t i = 0; i < v.tokens.size(); ++i) {
    if (v.types[i] == TokenType::kNormal) id_of[v.tokens[i]] = static_cast<TokenId>(i);
  }
  std::mt19937 rng(11);
  const std::string letters = "etaoinshrdlucmfwypvbgkqjxz";
  std::uniform_int_distribution<size_t> len(1, 300), letter(0, 7), any(0, letters.size() - 1);
  for (int trial = 0; trial < 40; ++trial) {
    std::string word;
    for (size_t n = len(rng); n > 0; --n) word.push_back(letters[trial % 2 ? any(rng) : letter(rng)]);
    std::vector<std::string> sym = {"\xE2\x96\x81"};
    for (char c : word) sym.emplace_back(1, c);
    while (sym.size() > 1) {
      float best = -INFINITY;
      size_t at = SIZE_MAX;
      for (size_t i = 0; i + 1 < sym.size(); ++i) {
        auto it = id_of.find(sym[i] + sym[i + 1]);
        if (it != id_of.end() && (at == SIZE_MAX || v.scores[it->second] > best)) {
          best = v.scores[it->second];
          at = i;
        }
      }
      if (at == SIZE_MAX) break;
      sym[at] += sym[at + 1];
      sym.erase(sym.begin() + static_cast<std::ptrdiff_t>(at) + 1);
    }
    std::vector<TokenId> expected;
    for (const std::string& s : sym) expected.push_back(id_of.at(s));
    CHECK_MESSAGE(*tok.encode(word) == expected, "word of " << word.size() << " letters");
  }
}

}  // namespace
}  // namespace llmk
