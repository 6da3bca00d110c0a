// llmk-quantize: re-encode a GGUF model's F32/F16 weight matrices as Q8_0 or
// Q4_0 (norms and other 1-D tensors stay as they are), like llama.cpp's
// `llama-quantize --pure`.
//   llmk-quantize IN.gguf OUT.gguf q8_0|q4_0
#include <cstdio>
#include <string>

#include "llmk/gguf.h"
#include "llmk/model.h"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: llmk-quantize IN.gguf OUT.gguf q8_0|q4_0\n");
    return 2;
  }
  const std::string type_name = argv[3];
  llmk::TensorType type;
  if (type_name == "q8_0" || type_name == "Q8_0") type = llmk::TensorType::kQ8_0;
  else if (type_name == "q4_0" || type_name == "Q4_0") type = llmk::TensorType::kQ4_0;
  else {
    std::fprintf(stderr, "llmk-quantize: type must be q8_0 or q4_0, not '%s'\n", argv[3]);
    return 2;
  }
  auto in = llmk::GgufFile::open(argv[1]);
  if (!in.ok()) {
    std::fprintf(stderr, "llmk-quantize: %s\n", in.status().ToString().c_str());
    return 1;
  }
  llmk::GgufWriter out;
  if (auto st = llmk::quantize_gguf(**in, type, out); !st.ok()) {
    std::fprintf(stderr, "llmk-quantize: %s\n", st.ToString().c_str());
    return 1;
  }
  if (auto st = out.write(argv[2]); !st.ok()) {
    std::fprintf(stderr, "llmk-quantize: %s\n", st.ToString().c_str());
    return 1;
  }
  return 0;
}
