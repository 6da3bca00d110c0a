// llmk-mkmodel: write a GGUF model with random weights of a named shape,
// loadable by llama.cpp (its key and tensor names, a placeholder vocabulary).
// (--help for the options).
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_join.h"
#include "cli/args.h"

#include "llmk/gguf.h"
#include "llmk/model.h"
#include "llmk/model_tools.h"

namespace {
constexpr llmk::TensorType kWeightTypes[] = {
    llmk::TensorType::kF32,  llmk::TensorType::kF16,  llmk::TensorType::kBF16,
    llmk::TensorType::kQ8_0, llmk::TensorType::kQ4_0, llmk::TensorType::kQ2_K,
    llmk::TensorType::kQ3_K, llmk::TensorType::kQ4_K, llmk::TensorType::kQ5_K,
    llmk::TensorType::kQ6_K};
constexpr const char* kTypeHelp =
    "f32, f16, bf16, q8_0, q4_0, q2_k, q3_k, q4_k, q5_k, q6_k (every matrix that type; "
    "K-quants need rows of a multiple of 256), or a llama.cpp mix q3_k_s, q3_k_m, q3_k_l, "
    "q4_k_s, q4_k_m, q5_k_s, q5_k_m";
}  // namespace

int main(int argc, char** argv) {
  std::string shape = "stories15M", type_name = "f32", out;
  uint64_t seed = 1;
  llmk::cli::ArgParser args("llmk-mkmodel", "--out FILE [--shape NAME] [--type T] [--seed N]",
                            "Writes a GGUF model with random weights that llama.cpp loads.");
  args.text("--out|-o", "FILE", &out, "the GGUF file to write")
      .text("--shape|--model", "NAME", &shape,
            "the model's shape (default stories15M): " + absl::StrJoin(llmk::synthetic_model_shapes(), ", "))
      .text("--type", "T", &type_name, std::string("weight type (default f32): ") + kTypeHelp)
      .unsigned_integer("--seed", "N", &seed, 0, UINT64_MAX, "seed of the random weights (default 1)")
      .epilog("exit codes: 0 ok, 3 usage error, 4 the model could not be made or written.\n");
  if (std::optional<int> exit_code = llmk::cli::parse_command_line(args, argc, argv)) return *exit_code;
  // A weight type gives every matrix that type; a llama.cpp mix name (_S,
  // _M, _L) quantizes the F32 model with llama.cpp's per-tensor choices.
  std::optional<llmk::TensorType> type;
  for (llmk::TensorType t : kWeightTypes) {
    if (absl::AsciiStrToUpper(type_name) == llmk::tensor_type_name(t)) type = t;
  }
  std::optional<llmk::QuantFileType> mix;
  if (!type) {
    auto file_type = llmk::parse_quant_file_type(type_name);
    if (file_type.ok()) mix = *file_type;
  }
  if (!type && !mix) {
    std::fprintf(stderr, "llmk-mkmodel: --type: '%s' is not one of %s\n%s", type_name.c_str(),
                 kTypeHelp, args.usage().c_str());
    return llmk::cli::kExitUsage;
  }
  if (out.empty()) {
    std::fprintf(stderr, "llmk-mkmodel: --out FILE is required\n%s", args.usage().c_str());
    return llmk::cli::kExitUsage;
  }
  auto model = llmk::make_synthetic_model(shape, type.value_or(llmk::TensorType::kF32), seed);
  if (!model.ok()) {
    std::fprintf(stderr, "llmk-mkmodel: %s\n", model.status().ToString().c_str());
    return llmk::cli::kExitFailure;
  }
  absl::Status written;
  if (!mix) {
    written = llmk::write_model_gguf(*model, out, "llmk-" + shape);
  } else {
    auto bytes = llmk::model_to_gguf(*model, "llmk-" + shape);
    auto f32_file = bytes.ok() ? llmk::GgufFile::parse(*bytes)
                               : absl::StatusOr<std::unique_ptr<llmk::GgufFile>>(bytes.status());
    llmk::GgufWriter writer;
    written = f32_file.ok() ? llmk::quantize_gguf(**f32_file, {*mix, /*pure=*/false}, writer)
                            : f32_file.status();
    if (written.ok()) written = writer.write(out);
  }
  if (!written.ok()) {
    std::fprintf(stderr, "llmk-mkmodel: %s\n", written.ToString().c_str());
    return llmk::cli::kExitFailure;
  }
  std::fprintf(stderr, "llmk-mkmodel: wrote %s (%s, %s, seed %llu)\n", out.c_str(), shape.c_str(),
               type_name.c_str(), static_cast<unsigned long long>(seed));
  return 0;
}
