// LLMK_API marks the public API. libllmk is compiled with hidden visibility,
// so only what the public headers declare inside `namespace llmk LLMK_API`
// is exported from libllmk.so; everything in lib/ outside them (kernels,
// internals) stays private to the library.
#pragma once

#define LLMK_API __attribute__((visibility("default")))

// For the few internal types a public header must name (a pimpl's state, a
// friend): they stay out of libllmk.so's exports.
#define LLMK_HIDDEN __attribute__((visibility("hidden")))
