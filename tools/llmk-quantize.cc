// llmk-quantize: re-encode a GGUF model's F32/F16 weight matrices as Q8_0 or
// Q4_0 (norms and other 1-D tensors stay as they are), like llama.cpp's
// `llama-quantize --pure`.
#include <cstdio>
#include <optional>
#include <string>

#include "cli/args.h"

#include "llmk/gguf.h"
#include "llmk/model.h"
#include "llmk/model_tools.h"

int main(int argc, char** argv) {
  std::string in_path, out_path, type_name;
  llmk::cli::ArgParser args("llmk-quantize", "IN.gguf OUT.gguf q8_0|q4_0",
                            "Re-encodes every 2-D F32/F16 weight matrix (like llama-quantize --pure).");
  args.positional("IN.gguf", &in_path, "the model to read")
      .positional("OUT.gguf", &out_path, "the model to write")
      .positional("TYPE", &type_name, "q8_0 or q4_0")
      .epilog("exit codes: 0 ok, 3 usage error, 4 the input could not be read or the output written.\n");
  if (std::optional<int> exit_code = llmk::cli::parse_command_line(args, argc, argv)) return *exit_code;
  llmk::TensorType type;
  if (type_name == "q8_0" || type_name == "Q8_0") type = llmk::TensorType::kQ8_0;
  else if (type_name == "q4_0" || type_name == "Q4_0") type = llmk::TensorType::kQ4_0;
  else {
    std::fprintf(stderr, "llmk-quantize: TYPE must be q8_0 or q4_0, not '%s'\n%s", type_name.c_str(),
                 args.usage().c_str());
    return llmk::cli::kExitUsage;
  }
  auto in = llmk::GgufFile::open(in_path);
  if (!in.ok()) {
    std::fprintf(stderr, "llmk-quantize: %s\n", in.status().ToString().c_str());
    return llmk::cli::kExitFailure;
  }
  llmk::GgufWriter out;
  if (auto st = llmk::quantize_gguf(**in, type, out); !st.ok()) {
    std::fprintf(stderr, "llmk-quantize: %s\n", st.ToString().c_str());
    return llmk::cli::kExitFailure;
  }
  if (auto st = out.write(out_path); !st.ok()) {
    std::fprintf(stderr, "llmk-quantize: %s\n", st.ToString().c_str());
    return llmk::cli::kExitFailure;
  }
  return 0;
}
