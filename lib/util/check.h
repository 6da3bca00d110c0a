// Small helpers for validating arguments into absl::Status errors.
#pragma once

#include <cstddef>
#include <string_view>

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
