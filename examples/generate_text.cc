// Load a GGUF model, tokenize a prompt with the file's vocabulary, generate
// greedily and print the text. Without an argument it writes and uses a
// small synthetic model (random weights: the text is gibberish).
#include <cstdio>
#include <string>

#include "llmk/llmk.h"
#include "llmk/model_tools.h"

static int fail(const absl::Status& status) {
  std::fprintf(stderr, "generate_text: %s\n", status.ToString().c_str());
  return 1;
}

int main(int argc, char** argv) {
  const std::string path = argc > 1 ? argv[1] : "generate_text_synthetic.gguf";
  if (argc <= 1) {
    auto synthetic = llmk::make_synthetic_model("tiny-llama", llmk::TensorType::kF32, 1);
    if (!synthetic.ok()) return fail(synthetic.status());
    if (auto written = llmk::write_model_gguf(*synthetic, path); !written.ok()) return fail(written);
  }
  auto model = llmk::load_model(path);
  if (!model.ok()) return fail(model.status());
  auto tokenizer = llmk::Tokenizer::from_gguf(*model->gguf());
  if (!tokenizer.ok()) return fail(tokenizer.status());
  auto transformer = llmk::Transformer::create(*model, llmk::TransformerOptions());
  if (!transformer.ok()) return fail(transformer.status());

  llmk::EncodeOptions encode;
  encode.add_bos = tokenizer->bos_id() >= 0;
  auto prompt = tokenizer->encode("Once upon a time", encode);
  if (!prompt.ok()) return fail(prompt.status());
  llmk::GenerateOptions options;  // greedy
  options.max_new_tokens = 32;
  auto result = llmk::generate(**transformer, *prompt, options);
  if (!result.ok()) return fail(result.status());
  auto text = tokenizer->decode(result->tokens);
  if (!text.ok()) return fail(text.status());
  std::printf("Once upon a time%s\n", text->c_str());
  return 0;
}
