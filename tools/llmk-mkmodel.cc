// llmk-mkmodel: write a GGUF model with random weights of a named shape,
// loadable by llama.cpp (its key and tensor names, a placeholder vocabulary).
//   llmk-mkmodel --shape stories15M [--type f32|f16|q8_0|q4_0] [--seed N] --out FILE
#include <cstdio>
#include <cstdlib>
#include <string>

#include "llmk/gguf.h"
#include "llmk/model.h"

int main(int argc, char** argv) {
  std::string shape = "stories15M", type_name = "f32", out;
  uint64_t seed = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if ((a == "--shape" || a == "--model") && has_value) shape = argv[++i];
    else if (a == "--type" && has_value) type_name = argv[++i];
    else if (a == "--seed" && has_value) seed = std::strtoull(argv[++i], nullptr, 10);
    else if ((a == "--out" || a == "-o") && has_value) out = argv[++i];
    else {
      std::fprintf(stderr,
                   "usage: llmk-mkmodel --shape NAME [--type f32|f16|q8_0|q4_0] [--seed N] "
                   "--out FILE\nshapes:");
      for (const std::string& s : llmk::synthetic_model_shapes()) std::fprintf(stderr, " %s", s.c_str());
      std::fprintf(stderr, "\n");
      return 2;
    }
  }
  llmk::TensorType type;
  if (type_name == "f32") type = llmk::TensorType::kF32;
  else if (type_name == "f16") type = llmk::TensorType::kF16;
  else if (type_name == "q8_0") type = llmk::TensorType::kQ8_0;
  else if (type_name == "q4_0") type = llmk::TensorType::kQ4_0;
  else {
    std::fprintf(stderr, "llmk-mkmodel: unknown type '%s'\n", type_name.c_str());
    return 2;
  }
  if (out.empty()) {
    std::fprintf(stderr, "llmk-mkmodel: --out FILE is required\n");
    return 2;
  }
  auto model = llmk::make_synthetic_model(shape, type, seed);
  if (!model.ok()) {
    std::fprintf(stderr, "llmk-mkmodel: %s\n", model.status().ToString().c_str());
    return 1;
  }
  if (auto st = llmk::write_model_gguf(*model, out, "llmk-" + shape); !st.ok()) {
    std::fprintf(stderr, "llmk-mkmodel: %s\n", st.ToString().c_str());
    return 1;
  }
  std::fprintf(stderr, "llmk-mkmodel: wrote %s (%s, %s, seed %llu)\n", out.c_str(), shape.c_str(),
               type_name.c_str(), static_cast<unsigned long long>(seed));
  return 0;
}
