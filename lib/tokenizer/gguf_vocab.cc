// GGUF tokenizer.ggml.* metadata → Vocabulary.
#include <string>
#include <variant>
#include <vector>

#include "absl/strings/str_cat.h"
#include "llmk/gguf.h"
#include "llmk/tokenizer.h"
#include "util/check.h"

namespace llmk {
namespace {

using internal::to_absl;

absl::Status field_error(std::string_view key, std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(to_absl(key), ": ", to_absl(what)));
}

// The array under `key` if its elements are T; nullptr when absent.
template <class T>
absl::StatusOr<const std::vector<T>*> typed_array(const GgufFile& file, std::string_view key,
                                                  GgufType expected, size_t n_tokens,
                                                  bool required) {
  if (file.find(key) == nullptr) {
    if (required) return absl::NotFoundError(absl::StrCat(to_absl(key), " is missing"));
    return nullptr;
  }
  LLMK_ASSIGN_OR_RETURN(auto array, file.get_array(key));
  const auto* values = std::get_if<std::vector<T>>(&array->values);
  if (values == nullptr || array->element_type != expected) {
    return field_error(key, absl::StrCat("expected an array of ", to_absl(gguf_type_name(expected)),
                                         ", found ",
                                         to_absl(gguf_type_name(array->element_type))));
  }
  if (n_tokens != 0 && values->size() != n_tokens) {
    return field_error(key, absl::StrCat("has ", values->size(), " entries, expected one per token (",
                                         n_tokens, ")"));
  }
  return values;
}

// A token id under `key`: absent → fallback; present → must be < n_tokens.
absl::Status read_id(const GgufFile& file, std::string_view key, size_t n_tokens,
                     TokenId* id) {
  if (file.find(key) == nullptr) return absl::OkStatus();
  LLMK_ASSIGN_OR_RETURN(auto value, file.get_uint(key));
  // llama.cpp's converter writes −1 as a uint32 for "no such token" (the
  // model loader reads it the same way).
  if (value == 0xFFFFFFFFu) return absl::OkStatus();
  if (value >= n_tokens) {
    return field_error(key, absl::StrCat("token id ", value, " is outside the vocabulary (",
                                         n_tokens, " tokens)"));
  }
  *id = static_cast<TokenId>(value);
  return absl::OkStatus();
}

absl::Status read_flag(const GgufFile& file, std::string_view key, bool* flag) {
  if (file.find(key) == nullptr) return absl::OkStatus();
  LLMK_ASSIGN_OR_RETURN(auto value, file.get_bool(key));
  *flag = value;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Vocabulary> vocabulary_from_gguf(const GgufFile& file) {
  Vocabulary v;
  LLMK_ASSIGN_OR_RETURN(auto model, file.get_string("tokenizer.ggml.model"));
  if (model == "gpt2") {
    v.kind = VocabKind::kGpt2;
  } else if (model == "llama") {
    v.kind = VocabKind::kLlama;
    // llama.cpp's defaults for SentencePiece vocabularies.
    v.bos_id = 1;
    v.eos_id = 2;
    v.unknown_id = 0;
    v.add_bos = true;
    v.add_space_prefix = true;
  } else {
    return field_error("tokenizer.ggml.model",
                       absl::StrCat("'", model, "' is not supported (gpt2, llama)"));
  }
  if (file.find("tokenizer.ggml.pre") != nullptr) {
    LLMK_ASSIGN_OR_RETURN(auto pre, file.get_string("tokenizer.ggml.pre"));
    if (pre != "default" && pre != "gpt-2") {
      return field_error("tokenizer.ggml.pre",
                         absl::StrCat("pre-tokenizer '", pre,
                                      "' is not supported (default, gpt-2)"));
    }
  }
  LLMK_ASSIGN_OR_RETURN(
      auto tokens,
      typed_array<std::string>(file, "tokenizer.ggml.tokens", GgufType::kString, 0, true));
  const size_t n = tokens->size();
  if (n == 0) return field_error("tokenizer.ggml.tokens", "is empty");
  if (n > Vocabulary::kMaxTokens) {
    return field_error("tokenizer.ggml.tokens",
                       absl::StrCat(n, " tokens, more than the limit ", Vocabulary::kMaxTokens));
  }
  v.tokens = *tokens;

  LLMK_ASSIGN_OR_RETURN(
      auto scores, typed_array<float>(file, "tokenizer.ggml.scores", GgufType::kFloat32, n, false));
  if (scores != nullptr) v.scores = *scores;

  LLMK_ASSIGN_OR_RETURN(
      auto types,
      typed_array<int32_t>(file, "tokenizer.ggml.token_type", GgufType::kInt32, n, false));
  if (types != nullptr) {
    v.types.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      const int32_t t = (*types)[i];
      if (t < 0 || t > static_cast<int32_t>(TokenType::kByte)) {
        return field_error("tokenizer.ggml.token_type",
                           absl::StrCat("entry ", i, " = ", t, " is not a token type (0..6)"));
      }
      v.types.push_back(static_cast<TokenType>(t));
    }
  }

  if (v.kind == VocabKind::kGpt2) {
    LLMK_ASSIGN_OR_RETURN(
        auto merges,
        typed_array<std::string>(file, "tokenizer.ggml.merges", GgufType::kString, 0, true));
    v.merges = *merges;
  }
  if (v.bos_id >= 0 && static_cast<size_t>(v.bos_id) >= n) v.bos_id = -1;
  if (v.eos_id >= 0 && static_cast<size_t>(v.eos_id) >= n) v.eos_id = -1;
  if (v.unknown_id >= 0 && static_cast<size_t>(v.unknown_id) >= n) v.unknown_id = -1;
  LLMK_RETURN_IF_ERROR(read_id(file, "tokenizer.ggml.bos_token_id", n, &v.bos_id));
  LLMK_RETURN_IF_ERROR(read_id(file, "tokenizer.ggml.eos_token_id", n, &v.eos_id));
  LLMK_RETURN_IF_ERROR(read_id(file, "tokenizer.ggml.unknown_token_id", n, &v.unknown_id));
  LLMK_RETURN_IF_ERROR(read_id(file, "tokenizer.ggml.padding_token_id", n, &v.padding_id));
  LLMK_RETURN_IF_ERROR(read_flag(file, "tokenizer.ggml.add_bos_token", &v.add_bos));
  LLMK_RETURN_IF_ERROR(read_flag(file, "tokenizer.ggml.add_space_prefix", &v.add_space_prefix));
  return v;
}

}  // namespace llmk
