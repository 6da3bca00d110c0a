// Small helpers for validating arguments into absl::Status errors.
#pragma once

#include <cstddef>
#include <string_view>
#include <utility>

#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace llmk::internal {

// Debian's Abseil (20220623) has its own absl::string_view, distinct from
// std::string_view: convert explicitly before handing text to absl::StrCat.
inline absl::string_view to_absl(std::string_view s) { return {s.data(), s.size()}; }

// InvalidArgumentError("<fn>: <what> has <actual> elements, expected <expected>").
inline absl::Status size_error(absl::string_view fn, absl::string_view what, size_t actual,
                               size_t expected) {
  return absl::InvalidArgumentError(absl::StrCat(fn, ": ", what, " has ", actual,
                                                 " elements, expected ", expected));
}

// a·b, or false when it overflows size_t.
inline bool checked_mul(size_t a, size_t b, size_t* out) {
  return !__builtin_mul_overflow(a, b, out);
}
inline bool checked_add(size_t a, size_t b, size_t* out) {
  return !__builtin_add_overflow(a, b, out);
}

}  // namespace llmk::internal

// Returns the status from the enclosing function when it is not OK.
#define LLMK_RETURN_IF_ERROR(expr)                   \
  do {                                               \
    if (absl::Status _llmk_st = (expr); !_llmk_st.ok()) \
      return _llmk_st;                               \
  } while (0)

// `LLMK_ASSIGN_OR_RETURN(lhs, expr);` evaluates expr (an absl::StatusOr),
// returns its status from the enclosing function when it is not OK, and
// otherwise moves its value into lhs, which may declare a variable
// (`auto x`) or name an existing one. It expands to several statements:
// give it braces under an if.
#define LLMK_ASSIGN_OR_RETURN(lhs, expr) \
  LLMK_ASSIGN_OR_RETURN_IMPL_(LLMK_CONCAT_(_llmk_status_or_, __LINE__), lhs, expr)
#define LLMK_ASSIGN_OR_RETURN_IMPL_(status_or, lhs, expr) \
  auto status_or = (expr);                                \
  if (!status_or.ok()) return std::move(status_or).status(); \
  lhs = std::move(*status_or)
#define LLMK_CONCAT_INNER_(a, b) a##b
#define LLMK_CONCAT_(a, b) LLMK_CONCAT_INNER_(a, b)
