// <regex> for the harness's name filters. libstdc++ 12's header trips
// -Wmaybe-uninitialized (a false positive in its std::function moves) when
// built with -fsanitize=address, which -Werror would turn into a failure.
#pragma once

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <regex>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
