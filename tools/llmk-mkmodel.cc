// llmk-mkmodel: write a GGUF model with random weights of a named shape,
// loadable by llama.cpp (its key and tensor names, a placeholder vocabulary).
// (--help for the options).
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

#include "absl/strings/str_join.h"
#include "cli/args.h"

#include "llmk/gguf.h"
#include "llmk/model.h"
#include "llmk/model_tools.h"

int main(int argc, char** argv) {
  std::string shape = "stories15M", type_name = "f32", out;
  uint64_t seed = 1;
  llmk::cli::ArgParser args("llmk-mkmodel", "--out FILE [--shape NAME] [--type T] [--seed N]",
                            "Writes a GGUF model with random weights that llama.cpp loads.");
  args.text("--out|-o", "FILE", &out, "the GGUF file to write")
      .text("--shape|--model", "NAME", &shape,
            "the model's shape (default stories15M): " + absl::StrJoin(llmk::synthetic_model_shapes(), ", "))
      .text("--type", "T", &type_name, "weight type: f32, f16, q8_0 or q4_0 (default f32)")
      .unsigned_integer("--seed", "N", &seed, 0, UINT64_MAX, "seed of the random weights (default 1)")
      .epilog("exit codes: 0 ok, 3 usage error, 4 the model could not be made or written.\n");
  if (std::optional<int> exit_code = llmk::cli::parse_command_line(args, argc, argv)) return *exit_code;
  llmk::TensorType type;
  if (type_name == "f32") type = llmk::TensorType::kF32;
  else if (type_name == "f16") type = llmk::TensorType::kF16;
  else if (type_name == "q8_0") type = llmk::TensorType::kQ8_0;
  else if (type_name == "q4_0") type = llmk::TensorType::kQ4_0;
  else {
    std::fprintf(stderr, "llmk-mkmodel: --type: '%s' is not f32, f16, q8_0 or q4_0\n%s", type_name.c_str(),
                 args.usage().c_str());
    return llmk::cli::kExitUsage;
  }
  if (out.empty()) {
    std::fprintf(stderr, "llmk-mkmodel: --out FILE is required\n%s", args.usage().c_str());
    return llmk::cli::kExitUsage;
  }
  auto model = llmk::make_synthetic_model(shape, type, seed);
  if (!model.ok()) {
    std::fprintf(stderr, "llmk-mkmodel: %s\n", model.status().ToString().c_str());
    return llmk::cli::kExitFailure;
  }
  if (auto st = llmk::write_model_gguf(*model, out, "llmk-" + shape); !st.ok()) {
    std::fprintf(stderr, "llmk-mkmodel: %s\n", st.ToString().c_str());
    return llmk::cli::kExitFailure;
  }
  std::fprintf(stderr, "llmk-mkmodel: wrote %s (%s, %s, seed %llu)\n", out.c_str(), shape.c_str(),
               type_name.c_str(), static_cast<unsigned long long>(seed));
  return 0;
}
