// BPE tokenizers: GPT-2 byte-level BPE and Llama SentencePiece BPE.
//
// A Tokenizer is built from a plain Vocabulary, which comes from GGUF
// metadata, from llama2.c's tokenizer.bin, or from the small text format of
// load_from_text (builtin() is a tiny GPT-2-style vocabulary embedded in the
// library, so benchmarks run without files).
//
// Kinds:
// - kGpt2: text is split with GPT-2's pre-tokenizer pattern
//     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//   (Unicode categories from utf8proc; \s is the Unicode White_Space set),
//   each piece's bytes are merged by merge rank (lowest first, leftmost on
//   ties). Token texts are stored in GPT-2's byte→unicode form. Bytes that are
//   not valid UTF-8 count as symbols ([^\s\p{L}\p{N}]) and keep their value,
//   so decode(encode(bytes)) == bytes for any input.
// - kLlama: SentencePiece BPE as llama.cpp runs it: spaces become U+2581 "▁",
//   a "▁" is prefixed to each text run when add_space_prefix is set, the text
//   is cut into UTF-8 characters (a byte that starts no complete sequence is
//   a character of its own), then the adjacent pair whose concatenation is a
//   normal or user-defined token of the highest score is merged first
//   (leftmost on ties). Characters that end up as no token are written as
//   <0xHH> byte tokens (or the unknown token when the vocabulary has none),
//   so any bytes round-trip except a literal "▁" in the input, which decodes
//   as a space.
//
// Encoding and decoding are const and thread-safe; each thread keeps its own
// cache of recently encoded pieces.
#pragma once

#include "llmk/export.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace llmk LLMK_API {

class GgufFile;

using TokenId = int32_t;

enum class VocabKind { kGpt2, kLlama };

// Numbered as in GGUF (llama.cpp's llama_token_type).
enum class TokenType : int32_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

// Everything a tokenizer needs, as plain data. Vectors left empty take the
// defaults noted.
struct Vocabulary {
  static constexpr size_t kMaxTokens = size_t{1} << 24;

  VocabKind kind = VocabKind::kGpt2;
  // kGpt2: byte→unicode mapped text ("Ġthe"); kLlama: "▁the", "<0x0A>".
  std::vector<std::string> tokens;
  std::vector<float> scores;      // kLlama: one per token (empty: all 0); NaN rejected
  std::vector<TokenType> types;   // one per token (empty: all kNormal)
  std::vector<std::string> merges;  // kGpt2: "left right" in rank order
  TokenId bos_id = -1;  // -1: none
  TokenId eos_id = -1;
  TokenId unknown_id = -1;
  TokenId padding_id = -1;
  bool add_bos = false;           // what the model expects; encode() asks explicitly
  bool add_space_prefix = false;  // kLlama: prefix "▁" to each text run
};

struct EncodeOptions {
  bool add_bos = false;  // error when the vocabulary has no BOS token
  bool add_eos = false;  // error when the vocabulary has no EOS token
  // Match the text of control, user-defined and unknown tokens in the input
  // (longest first) and emit their ids; otherwise such text is plain text.
  bool parse_special = false;
};

struct DecodeOptions {
  // Write the text of control/unknown/unused tokens. Otherwise control and
  // unused tokens give nothing and the unknown token gives "⁇" (U+2047).
  bool render_special = false;
  // kLlama with add_space_prefix: drop the one space that encoding prefixed,
  // from the first token that gives text. Turn off when decoding a stream
  // token by token after its first token.
  bool remove_prefix_space = true;
};

// Loaders of the plain Vocabulary.
//
// GGUF keys: tokenizer.ggml.model ("gpt2" or "llama"), .tokens (string
// array), .scores (f32 array, optional), .token_type (i32 array, optional),
// .merges (string array, required for gpt2), .bos_token_id / .eos_token_id /
// .unknown_token_id / .padding_token_id, .add_bos_token,
// .add_space_prefix, .pre ("default" or "gpt-2" or absent; anything else is
// an error). Arrays must have exactly one entry per token; ids must be below
// the token count.
absl::StatusOr<Vocabulary> vocabulary_from_gguf(const GgufFile& file);

// llama2.c's tokenizer.bin: int32 max_token_length, then per token f32
// score, int32 byte length, bytes (spaces stand for "▁"). The file does not
// store the token count: with vocab_size 0 tokens are read until the end of
// the file; otherwise exactly vocab_size tokens and nothing after them. Every
// length is checked against the file; the declared max_token_length must be
// positive but is otherwise recomputed from the data. Token 0 is <unk>, 1 BOS,
// 2 EOS (as llama2.c assumes); "<0xHH>" tokens are byte tokens.
absl::StatusOr<Vocabulary> vocabulary_from_llama2c(std::span<const uint8_t> bytes,
                                                   int64_t vocab_size = 0);

// A line-based text format for small vocabularies (# starts a comment):
//   model gpt2|llama          first directive
//   bytes                     gpt2: the 256 byte tokens in byte order;
//                             llama: the 256 tokens <0x00>..<0xFF>
//   token TEXT [SCORE]        a normal token
//   merge LEFT RIGHT          gpt2: a merge rule (rank = order), and the token
//                             LEFT+RIGHT unless it exists
//   bos|eos|unk|pad TEXT      a control (unk: unknown) token, marked as BOS...
//   add_bos true|false, add_space_prefix true|false
// TEXT is raw text with escapes: \s space, \n, \t, \\, \xHH; for llama a space
// in a token is written \s and stored as "▁".
absl::StatusOr<Vocabulary> vocabulary_from_text(std::string_view text);

class Tokenizer {
 public:
  // Validates the vocabulary (sizes, ids, byte tokens, merges) and builds the
  // lookup tables.
  static absl::StatusOr<Tokenizer> create(Vocabulary vocab);
  static absl::StatusOr<Tokenizer> from_gguf(const GgufFile& file);
  // A GGUF file (by its magic) or llama2.c's tokenizer.bin.
  static absl::StatusOr<Tokenizer> load(const std::string& path, int64_t llama2c_vocab_size = 0);
  static absl::StatusOr<Tokenizer> load_from_text(std::string_view text);
  // A small GPT-2-style byte-level vocabulary embedded in the library.
  static absl::StatusOr<Tokenizer> builtin();
  static std::string_view builtin_vocabulary_text();

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // Replaces *out with the ids of text. Output capacity is reused.
  absl::Status encode(std::string_view text, const EncodeOptions& options,
                      std::vector<TokenId>* out) const;
  absl::StatusOr<std::vector<TokenId>> encode(std::string_view text,
                                              const EncodeOptions& options = {}) const;

  // Appends the bytes of ids to *out; an id outside [0, vocab_size) is an
  // error (nothing is appended then).
  absl::Status decode(std::span<const TokenId> ids, const DecodeOptions& options,
                      std::string* out) const;
  absl::StatusOr<std::string> decode(std::span<const TokenId> ids,
                                     const DecodeOptions& options = {}) const;

  VocabKind kind() const;
  size_t vocab_size() const;
  TokenId bos_id() const;  // -1 when none
  TokenId eos_id() const;
  TokenId unknown_id() const;
  TokenId padding_id() const;
  bool add_bos() const;
  // The token's text as stored in the vocabulary ("Ġthe", "▁the"); empty for
  // an out-of-range id.
  std::string_view token_text(TokenId id) const;
  TokenType token_type(TokenId id) const;  // kUndefined for an out-of-range id
  float token_score(TokenId id) const;     // 0 for an out-of-range id
  const Vocabulary& vocabulary() const;

 private:
  struct Impl;
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace llmk
