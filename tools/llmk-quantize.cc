// llmk-quantize: re-encode a GGUF model's weight matrices as one of
// llama.cpp's file types (Q8_0, Q4_0, the K-quant mixes Q4_K_M and friends,
// BF16, …), with llama.cpp's per-tensor choices, or every matrix as the main
// type with --pure.
#include <cstdio>
#include <optional>
#include <string>

#include "absl/strings/str_join.h"
#include "cli/args.h"

#include "llmk/gguf.h"
#include "llmk/model.h"
#include "llmk/model_tools.h"

int main(int argc, char** argv) {
  std::string in_path, out_path, type_name;
  bool pure = false;
  std::vector<std::string> names;
  for (llmk::QuantFileType t : llmk::quant_file_types()) {
    names.emplace_back(llmk::quant_file_type_name(t));
  }
  const std::string type_list = absl::StrJoin(names, ", ");
  llmk::cli::ArgParser args(
      "llmk-quantize", "[--pure] IN.gguf OUT.gguf TYPE",
      "Re-encodes the weight matrices of a GGUF model as llama.cpp's llama-quantize does:\n"
      "the type's main type, with more bits for the matrices llama.cpp gives more bits\n"
      "(output, some attn_v and ffn_down); norms and other 1-D tensors are copied.");
  args.flag("--pure", &pure, "every weight matrix gets the main type (llama-quantize --pure)")
      .positional("IN.gguf", &in_path, "the model to read (F32, F16 or BF16 matrices)")
      .positional("OUT.gguf", &out_path, "the model to write")
      .positional("TYPE", &type_name, "one of " + type_list + " (case-insensitive)")
      .epilog("docs/quantization.md lists each type's per-tensor choices.\n"
              "exit codes: 0 ok, 3 usage error, 4 the input could not be read, quantized or "
              "the output written.\n");
  if (std::optional<int> exit_code = llmk::cli::parse_command_line(args, argc, argv)) return *exit_code;
  auto file_type = llmk::parse_quant_file_type(type_name);
  if (!file_type.ok()) {
    std::fprintf(stderr, "llmk-quantize: %s\n%s", std::string(file_type.status().message()).c_str(),
                 args.usage().c_str());
    return llmk::cli::kExitUsage;
  }
  auto in = llmk::GgufFile::open(in_path);
  if (!in.ok()) {
    std::fprintf(stderr, "llmk-quantize: %s\n", in.status().ToString().c_str());
    return llmk::cli::kExitFailure;
  }
  llmk::GgufWriter out;
  if (auto st = llmk::quantize_gguf(**in, {*file_type, pure}, out); !st.ok()) {
    std::fprintf(stderr, "llmk-quantize: %s\n", st.ToString().c_str());
    return llmk::cli::kExitFailure;
  }
  if (auto st = out.write(out_path); !st.ok()) {
    std::fprintf(stderr, "llmk-quantize: %s\n", st.ToString().c_str());
    return llmk::cli::kExitFailure;
  }
  return 0;
}
