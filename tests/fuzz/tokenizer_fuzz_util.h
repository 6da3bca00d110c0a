// Loading the reference vocabularies once for the tokenizer fuzz targets.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

#include "fuzz_util.h"
#include "llmk/tokenizer.h"

namespace llmk::fuzz {

// Loads a tokenizer from the first of `relative_paths` present in ../shared
// (exits as skipped when none is, fails when one does not load). Never freed:
// it lives for the whole fuzzing run.
inline const Tokenizer* load_shared_tokenizer(std::initializer_list<const char*> relative_paths) {
  std::string found;
  if (auto dir = shared_dir()) {
    for (const char* rel : relative_paths) {
      if (std::filesystem::is_regular_file(*dir / rel)) {
        found = (*dir / rel).string();
        break;
      }
    }
  }
  if (found.empty()) {
    std::fprintf(stderr, "llmk-fuzz: skipped: no vocabulary found in ../shared (set LLMK_SHARED)\n");
    std::exit(kExitSkip);
  }
  absl::StatusOr<Tokenizer> tok = Tokenizer::load(found);
  if (!tok.ok()) {
    std::fprintf(stderr, "llmk-fuzz: cannot load %s: %s\n", found.c_str(),
                 tok.status().ToString().c_str());
    std::exit(1);
  }
  return new Tokenizer(*std::move(tok));
}

}  // namespace llmk::fuzz
