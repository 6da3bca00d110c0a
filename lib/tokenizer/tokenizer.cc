// Tokenizer: encode (special-token partition, GPT-2 pieces or SentencePiece
// chunks, merge, byte fallback) and decode.
#include "llmk/tokenizer.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>

#include "absl/strings/str_cat.h"
#include "llmk/gguf.h"
#include "tokenizer/gpt2_split.h"
#include "tokenizer/tokenizer_data.h"
#include "tokenizer/unicode.h"
#include "util/check.h"

namespace llmk {

struct Tokenizer::Impl : tok::TokenizerData {};

namespace {

using tok::EncodeScratch;
using tok::PieceKey;
using tok::Symbol;
using tok::TokenizerData;

// Symbol offsets are 32-bit.
constexpr size_t kMaxInputBytes = size_t{1} << 31;

// Appends the token of each byte of `bytes` (byte fallback).
absl::Status emit_bytes(const TokenizerData& d, std::string_view bytes,
                        std::vector<TokenId>* out) {
  for (char c : bytes) {
    TokenId t = d.byte_token[static_cast<uint8_t>(c)];
    if (t < 0) t = d.vocab.unknown_id;
    if (t < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("encode: byte 0x", absl::Hex(static_cast<uint8_t>(c), absl::kZeroPad2),
                       " forms no token and the vocabulary has no byte or unknown token"));
    }
    out->push_back(t);
  }
  return absl::OkStatus();
}

// Encodes one piece (kGpt2) or chunk (kLlama): a known single token, a
// cached result, or merging from scratch (then cached).
absl::Status encode_piece(const TokenizerData& d, std::string_view piece, EncodeScratch& s,
                          std::vector<TokenId>* out) {
  PieceKey key;
  const bool has_key = PieceKey::make(piece, &key);
  uint64_t hash = 0;
  if (has_key) {
    hash = key.hash();
    const int32_t id = d.known.find(key, hash);
    if (id >= 0) {
      out->push_back(id);
      return absl::OkStatus();
    }
    if (s.cache.lookup(d.serial, key, hash, out)) return absl::OkStatus();
  }
  tok::initial_symbols(d, piece, &s.symbols);
  tok::merge_symbols(d.pairs, &s.symbols, &s.merge);
  const size_t first = out->size();
  for (const Symbol& sym : s.symbols) {
    if (sym.id >= 0 && sym.id < d.n_tokens) {
      out->push_back(sym.id);
    } else {
      std::string_view bytes = piece.substr(sym.start, sym.bytes);
      // A "▁" that is no token stands for a space: write the space's byte.
      if (d.vocab.kind == VocabKind::kLlama && bytes == tok::kSpaceMarker) bytes = " ";
      LLMK_RETURN_IF_ERROR(emit_bytes(d, bytes, out));
    }
  }
  if (has_key) s.cache.store(d.serial, key, hash, out->data() + first, out->size() - first);
  return absl::OkStatus();
}

absl::Status encode_gpt2(const TokenizerData& d, std::string_view text, EncodeScratch& s,
                         std::vector<TokenId>* out) {
  absl::Status status;
  tok::split_gpt2(text, [&](size_t offset, size_t length) {
    if (length == 1) {
      // A lone byte: its token, without hashing.
      const tok::SymbolId id = d.byte_symbol[static_cast<uint8_t>(text[offset])];
      if (id < d.n_tokens) {
        out->push_back(id);
        return true;
      }
    }
    status = encode_piece(d, text.substr(offset, length), s, out);
    return status.ok();
  });
  return status;
}

size_t char_bytes(std::string_view text, size_t p) {
  return tok::spm_char_len(reinterpret_cast<const uint8_t*>(text.data()) + p, text.size() - p);
}

// One run of plain text: spaces become "▁", the run gets a "▁" prefix when
// the vocabulary asks, and it is cut between characters that no token joins.
absl::Status encode_llama(const TokenizerData& d, std::string_view text, bool prefix_space,
                          EncodeScratch& s, std::vector<TokenId>* out) {
  std::string& esc = s.escaped;
  esc.clear();
  if (prefix_space) esc += tok::kSpaceMarker;
  for (char c : text) {
    if (c == ' ') {
      esc += tok::kSpaceMarker;
    } else {
      esc.push_back(c);
    }
  }
  const std::string_view all(esc);
  const auto* bytes = reinterpret_cast<const uint8_t*>(all.data());
  auto emit = [&](size_t begin, size_t end) -> absl::Status {
    if (end - begin == 1) {
      // A one-byte chunk: its token, without hashing.
      const tok::SymbolId id = d.single_byte_char_symbol[bytes[begin]];
      if (id >= 0 && id < d.n_tokens) {
        out->push_back(id);
        return absl::OkStatus();
      }
    }
    return encode_piece(d, all.substr(begin, end - begin), s, out);
  };
  size_t chunk_start = 0;
  int prev_class = -1;
  for (size_t p = 0; p < all.size();) {
    int cls;
    size_t len;
    if (bytes[p] < 0x80) {
      cls = bytes[p];
      len = 1;
    } else {
      len = char_bytes(all, p);
      cls = len == 1   ? bytes[p]
            : len == 3 && all.compare(p, 3, tok::kSpaceMarker) == 0 ? TokenizerData::kMarkerClass
                                                                    : TokenizerData::kWideClass;
    }
    if (prev_class >= 0 && !d.can_join(prev_class, cls)) {
      LLMK_RETURN_IF_ERROR(emit(chunk_start, p));
      chunk_start = p;
    }
    prev_class = cls;
    p += len;
  }
  if (chunk_start < all.size()) LLMK_RETURN_IF_ERROR(emit(chunk_start, all.size()));
  return absl::OkStatus();
}

absl::Status encode_text(const TokenizerData& d, std::string_view text, bool after_special,
                         EncodeScratch& s, std::vector<TokenId>* out) {
  if (text.empty()) return absl::OkStatus();
  if (d.vocab.kind == VocabKind::kGpt2) return encode_gpt2(d, text, s, out);
  return encode_llama(d, text, d.vocab.add_space_prefix && after_special, s, out);
}

struct Fragment {
  TokenId token;  // -1: text
  size_t offset, length;
};

// Cuts text at occurrences of special-token text, longest tokens first (as
// llama.cpp's partition does).
void partition_specials(const TokenizerData& d, std::string_view text,
                        std::vector<Fragment>* fragments) {
  fragments->assign(1, {-1, 0, text.size()});
  std::vector<Fragment> next;
  for (TokenId id : d.specials) {
    const std::string& special = d.vocab.tokens[id];
    next.clear();
    for (const Fragment& f : *fragments) {
      if (f.token >= 0) {
        next.push_back(f);
        continue;
      }
      const std::string_view part = text.substr(f.offset, f.length);
      size_t from = 0;
      for (size_t hit; (hit = part.find(special, from)) != std::string_view::npos;) {
        if (hit > from) next.push_back({-1, f.offset + from, hit - from});
        next.push_back({id, f.offset + hit, special.size()});
        from = hit + special.size();
      }
      if (from < part.size()) next.push_back({-1, f.offset + from, part.size() - from});
    }
    fragments->swap(next);
  }
}

}  // namespace

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

absl::StatusOr<Tokenizer> Tokenizer::create(Vocabulary vocab) {
  LLMK_ASSIGN_OR_RETURN(auto data, tok::build_tokenizer_data(std::move(vocab)));
  auto impl = std::make_unique<Impl>();
  static_cast<TokenizerData&>(*impl) = std::move(*data);
  return Tokenizer(std::move(impl));
}

absl::StatusOr<Tokenizer> Tokenizer::from_gguf(const GgufFile& file) {
  LLMK_ASSIGN_OR_RETURN(auto vocab, vocabulary_from_gguf(file));
  return create(std::move(vocab));
}

absl::StatusOr<Tokenizer> Tokenizer::load(const std::string& path, int64_t llama2c_vocab_size) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("tokenizer: cannot open '", path, "'"));
  char magic[4] = {};
  in.read(magic, 4);
  if (in.gcount() == 4 && std::memcmp(magic, "GGUF", 4) == 0) {
    LLMK_ASSIGN_OR_RETURN(auto file, GgufFile::open(path));
    return from_gguf(*file);
  }
  in.clear();
  in.seekg(0);
  const std::vector<uint8_t> bytes{std::istreambuf_iterator<char>(in), {}};
  if (in.bad()) return absl::DataLossError(absl::StrCat("tokenizer: error reading '", path, "'"));
  auto vocab = vocabulary_from_llama2c(bytes, llama2c_vocab_size);
  if (!vocab.ok()) {
    return absl::Status(vocab.status().code(),
                        absl::StrCat(path, ": ", vocab.status().message()));
  }
  return create(std::move(*vocab));
}

absl::StatusOr<Tokenizer> Tokenizer::load_from_text(std::string_view text) {
  LLMK_ASSIGN_OR_RETURN(auto vocab, vocabulary_from_text(text));
  return create(std::move(vocab));
}

absl::StatusOr<Tokenizer> Tokenizer::builtin() { return load_from_text(builtin_vocabulary_text()); }

absl::Status Tokenizer::encode(std::string_view text, const EncodeOptions& options,
                               std::vector<TokenId>* out) const {
  const TokenizerData& d = *impl_;
  out->clear();
  if (text.size() >= kMaxInputBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("encode: text of ", text.size(), " bytes exceeds the limit ", kMaxInputBytes));
  }
  if (options.add_bos) {
    if (d.vocab.bos_id < 0) return absl::FailedPreconditionError("encode: vocabulary has no BOS");
    out->push_back(d.vocab.bos_id);
  }
  EncodeScratch& s = tok::thread_scratch();
  if (options.parse_special && !d.specials.empty()) {
    std::vector<Fragment> fragments;
    partition_specials(d, text, &fragments);
    bool after_special = true;
    for (const Fragment& f : fragments) {
      if (f.token >= 0) {
        out->push_back(f.token);
        after_special = true;
      } else {
        LLMK_RETURN_IF_ERROR(encode_text(d, text.substr(f.offset, f.length), after_special, s, out));
        after_special = false;
      }
    }
  } else {
    LLMK_RETURN_IF_ERROR(encode_text(d, text, true, s, out));
  }
  if (options.add_eos) {
    if (d.vocab.eos_id < 0) return absl::FailedPreconditionError("encode: vocabulary has no EOS");
    out->push_back(d.vocab.eos_id);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<TokenId>> Tokenizer::encode(std::string_view text,
                                                       const EncodeOptions& options) const {
  std::vector<TokenId> ids;
  LLMK_RETURN_IF_ERROR(encode(text, options, &ids));
  return ids;
}

absl::Status Tokenizer::decode(std::span<const TokenId> ids, const DecodeOptions& options,
                               std::string* out) const {
  const TokenizerData& d = *impl_;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= d.n_tokens) {
      return absl::OutOfRangeError(absl::StrCat("decode: ids[", i, "] = ", ids[i],
                                                " is outside the vocabulary (", d.n_tokens,
                                                " tokens)"));
    }
  }
  bool strip_space = options.remove_prefix_space && d.vocab.kind == VocabKind::kLlama &&
                     d.vocab.add_space_prefix;
  for (TokenId id : ids) {
    const TokenType type = d.vocab.types.empty() ? TokenType::kNormal : d.vocab.types[id];
    std::string_view piece(d.piece_bytes.data() + d.piece_offsets[id],
                           d.piece_offsets[id + 1] - d.piece_offsets[id]);
    if (!options.render_special) {
      if (type == TokenType::kControl || type == TokenType::kUnused) continue;
      if (type == TokenType::kUnknown) piece = "\xE2\x81\x87";  // ⁇
    }
    if (piece.empty()) continue;
    if (strip_space && piece[0] == ' ') piece.remove_prefix(1);
    strip_space = false;
    out->append(piece.data(), piece.size());
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> Tokenizer::decode(std::span<const TokenId> ids,
                                              const DecodeOptions& options) const {
  std::string text;
  LLMK_RETURN_IF_ERROR(decode(ids, options, &text));
  return text;
}

VocabKind Tokenizer::kind() const { return impl_->vocab.kind; }
size_t Tokenizer::vocab_size() const { return impl_->vocab.tokens.size(); }
TokenId Tokenizer::bos_id() const { return impl_->vocab.bos_id; }
TokenId Tokenizer::eos_id() const { return impl_->vocab.eos_id; }
TokenId Tokenizer::unknown_id() const { return impl_->vocab.unknown_id; }
TokenId Tokenizer::padding_id() const { return impl_->vocab.padding_id; }
bool Tokenizer::add_bos() const { return impl_->vocab.add_bos; }
const Vocabulary& Tokenizer::vocabulary() const { return impl_->vocab; }

std::string_view Tokenizer::token_text(TokenId id) const {
  if (id < 0 || id >= impl_->n_tokens) return {};
  return impl_->vocab.tokens[id];
}

TokenType Tokenizer::token_type(TokenId id) const {
  if (id < 0 || id >= impl_->n_tokens) return TokenType::kUndefined;
  return impl_->vocab.types.empty() ? TokenType::kNormal : impl_->vocab.types[id];
}

float Tokenizer::token_score(TokenId id) const {
  if (id < 0 || id >= impl_->n_tokens || impl_->vocab.scores.empty()) return 0.0f;
  return impl_->vocab.scores[id];
}

}  // namespace llmk
