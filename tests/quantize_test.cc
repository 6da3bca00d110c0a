// llama-quantize-style re-encoding (quantize_gguf): llama.cpp's per-tensor
// type choices for each file type, the bytes written, and clear errors for
// shapes the chosen types can't hold.
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "doctest/doctest.h"
#include "llmk/gguf.h"
#include "llmk/kquant.h"
#include "llmk/model.h"
#include "llmk/model_tools.h"
#include "llmk/quant.h"

namespace llmk {
namespace {

// An F32 GGUF file of a synthetic shape, parsed.
struct F32File {
  std::vector<uint8_t> bytes;
  std::unique_ptr<GgufFile> file;
};

F32File f32_file(const std::string& shape) {
  auto model = make_synthetic_model(shape, TensorType::kF32, 11);
  REQUIRE_MESSAGE(model.ok(), model.status().ToString());
  auto bytes = model_to_gguf(*model);
  REQUIRE(bytes.ok());
  F32File f{std::move(*bytes), nullptr};
  auto parsed = GgufFile::parse(f.bytes);
  REQUIRE(parsed.ok());
  f.file = std::move(*parsed);
  return f;
}

struct Quantized {
  std::vector<uint8_t> bytes;
  std::unique_ptr<GgufFile> file;
};

Quantized quantize(const GgufFile& in, QuantFileType type, bool pure) {
  GgufWriter w;
  const absl::Status st = quantize_gguf(in, {type, pure}, w);
  REQUIRE_MESSAGE(st.ok(), st.ToString());
  auto bytes = w.to_bytes();
  REQUIRE(bytes.ok());
  Quantized q{std::move(*bytes), nullptr};
  auto parsed = GgufFile::parse(q.bytes);
  REQUIRE(parsed.ok());
  q.file = std::move(*parsed);
  return q;
}

TensorType type_of(const GgufFile& f, const std::string& name) {
  const GgufTensorInfo* t = f.find_tensor(name);
  REQUIRE_MESSAGE(t != nullptr, name);
  return t->type;
}

std::string layer_tensor(size_t layer, const char* what) {
  return "blk." + std::to_string(layer) + "." + what + ".weight";
}

// tiny-llama-256 has 8 layers: llama.cpp's "more bits" layers are the first
// and last eighth (0 and 7) and every third one after the first eighth
// (3 and 6).
const std::set<size_t> kMoreBitsLayers = {0, 3, 6, 7};

}  // namespace

TEST_CASE("quant file types: names parse case-insensitively and unknown ones list the valid") {
  for (QuantFileType t : quant_file_types()) {
    const std::string name(quant_file_type_name(t));
    auto parsed = parse_quant_file_type(name);
    REQUIRE(parsed.ok());
    CHECK(*parsed == t);
    std::string lower = name;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    CHECK(*parse_quant_file_type(lower) == t);
  }
  CHECK(static_cast<uint32_t>(*parse_quant_file_type("Q4_K_M")) == 15);  // llama_ftype number
  auto bad = parse_quant_file_type("Q4_K_X");
  REQUIRE(!bad.ok());
  CHECK(std::string(bad.status().message()).find("Q5_K_M") != std::string::npos);
}

TEST_CASE("quantize_gguf Q4_K_M: llama.cpp's choices for output, attn_v and ffn_down") {
  const F32File f = f32_file("tiny-llama-256");
  const Quantized q = quantize(*f.file, QuantFileType::kQ4_K_M, false);
  CHECK(*q.file->get_uint("general.file_type") == 15);
  CHECK(type_of(*q.file, "output.weight") == TensorType::kQ6_K);
  CHECK(type_of(*q.file, "token_embd.weight") == TensorType::kQ4_K);
  CHECK(type_of(*q.file, "output_norm.weight") == TensorType::kF32);
  for (size_t l = 0; l < 8; ++l) {
    INFO("layer " << l);
    const TensorType more = kMoreBitsLayers.count(l) ? TensorType::kQ6_K : TensorType::kQ4_K;
    CHECK(type_of(*q.file, layer_tensor(l, "attn_v")) == more);
    CHECK(type_of(*q.file, layer_tensor(l, "ffn_down")) == more);
    for (const char* plain : {"attn_q", "attn_k", "attn_output", "ffn_gate", "ffn_up"}) {
      CHECK(type_of(*q.file, layer_tensor(l, plain)) == TensorType::kQ4_K);
    }
    CHECK(type_of(*q.file, layer_tensor(l, "attn_norm")) == TensorType::kF32);
  }
}

TEST_CASE("quantize_gguf: the other K-quant mixes") {
  const F32File f = f32_file("tiny-llama-256");
  SUBCASE("Q2_K: attn_v Q4_K under 4-way GQA, ffn_down and attn_output Q3_K") {
    const Quantized q = quantize(*f.file, QuantFileType::kQ2_K, false);
    CHECK(type_of(*q.file, "output.weight") == TensorType::kQ6_K);
    for (size_t l = 0; l < 8; ++l) {
      CHECK(type_of(*q.file, layer_tensor(l, "attn_v")) == TensorType::kQ4_K);
      CHECK(type_of(*q.file, layer_tensor(l, "ffn_down")) == TensorType::kQ3_K);
      CHECK(type_of(*q.file, layer_tensor(l, "attn_output")) == TensorType::kQ3_K);
      CHECK(type_of(*q.file, layer_tensor(l, "attn_q")) == TensorType::kQ2_K);
    }
  }
  SUBCASE("Q3_K_M: the first two attn_v Q5_K, the rest Q4_K; ffn_down and attn_output Q4_K") {
    const Quantized q = quantize(*f.file, QuantFileType::kQ3_K_M, false);
    for (size_t l = 0; l < 8; ++l) {
      CHECK(type_of(*q.file, layer_tensor(l, "attn_v")) ==
            (l < 2 ? TensorType::kQ5_K : TensorType::kQ4_K));
      CHECK(type_of(*q.file, layer_tensor(l, "ffn_down")) == TensorType::kQ4_K);
      CHECK(type_of(*q.file, layer_tensor(l, "attn_output")) == TensorType::kQ4_K);
      CHECK(type_of(*q.file, layer_tensor(l, "ffn_up")) == TensorType::kQ3_K);
    }
  }
  SUBCASE("Q4_K_S: the first four attn_v and the first eighth's ffn_down Q5_K") {
    const Quantized q = quantize(*f.file, QuantFileType::kQ4_K_S, false);
    for (size_t l = 0; l < 8; ++l) {
      CHECK(type_of(*q.file, layer_tensor(l, "attn_v")) ==
            (l < 4 ? TensorType::kQ5_K : TensorType::kQ4_K));
      CHECK(type_of(*q.file, layer_tensor(l, "ffn_down")) ==
            (l < 1 ? TensorType::kQ5_K : TensorType::kQ4_K));
    }
  }
  SUBCASE("Q5_K_M: attn_v and ffn_down Q6_K on the more-bits layers") {
    const Quantized q = quantize(*f.file, QuantFileType::kQ5_K_M, false);
    for (size_t l = 0; l < 8; ++l) {
      const TensorType more = kMoreBitsLayers.count(l) ? TensorType::kQ6_K : TensorType::kQ5_K;
      CHECK(type_of(*q.file, layer_tensor(l, "attn_v")) == more);
      CHECK(type_of(*q.file, layer_tensor(l, "ffn_down")) == more);
    }
  }
  SUBCASE("Q4_0 without --pure: only the output matrix changes, to Q6_K") {
    const Quantized q = quantize(*f.file, QuantFileType::kQ4_0, false);
    CHECK(type_of(*q.file, "output.weight") == TensorType::kQ6_K);
    CHECK(type_of(*q.file, layer_tensor(3, "attn_v")) == TensorType::kQ4_0);
  }
}

TEST_CASE("quantize_gguf --pure: every matrix the main type, bytes equal the public quantizers") {
  const F32File f = f32_file("tiny-llama-256");
  struct Case {
    QuantFileType file_type;
    TensorType type;
  };
  for (const Case c : {Case{QuantFileType::kQ2_K, TensorType::kQ2_K},
                       Case{QuantFileType::kQ3_K_M, TensorType::kQ3_K},
                       Case{QuantFileType::kQ4_K_M, TensorType::kQ4_K},
                       Case{QuantFileType::kQ5_K_S, TensorType::kQ5_K},
                       Case{QuantFileType::kQ6_K, TensorType::kQ6_K},
                       Case{QuantFileType::kBF16, TensorType::kBF16}}) {
    INFO("type " << quant_file_type_name(c.file_type));
    const Quantized q = quantize(*f.file, c.file_type, true);
    for (const GgufTensorInfo& t : f.file->tensors()) {
      INFO("tensor " << t.name);
      const GgufTensorInfo* out = q.file->find_tensor(t.name);
      REQUIRE(out != nullptr);
      const auto src = f.file->tensor_data(t);
      const auto got = q.file->tensor_data(*out);
      if (t.dims.size() == 1) {
        CHECK(out->type == TensorType::kF32);
        CHECK(std::equal(src.begin(), src.end(), got.begin(), got.end()));
        continue;
      }
      REQUIRE(out->type == c.type);
      const std::span<const float> x(reinterpret_cast<const float*>(src.data()), t.elements);
      std::vector<uint8_t> expect(*tensor_bytes(c.type, t.elements));
      const size_t blocks = t.elements / kSuperBlock;
      absl::Status st;
      switch (c.type) {
        case TensorType::kQ2_K:
          st = quantize_q2_k(x, {reinterpret_cast<Q2_KBlock*>(expect.data()), blocks});
          break;
        case TensorType::kQ3_K:
          st = quantize_q3_k(x, {reinterpret_cast<Q3_KBlock*>(expect.data()), blocks});
          break;
        case TensorType::kQ4_K:
          st = quantize_q4_k(x, {reinterpret_cast<Q4_KBlock*>(expect.data()), blocks});
          break;
        case TensorType::kQ5_K:
          st = quantize_q5_k(x, {reinterpret_cast<Q5_KBlock*>(expect.data()), blocks});
          break;
        case TensorType::kQ6_K:
          st = quantize_q6_k(x, {reinterpret_cast<Q6_KBlock*>(expect.data()), blocks});
          break;
        default:
          for (size_t i = 0; i < x.size(); ++i) {
            const uint16_t h = f32_to_bf16(x[i]);
            std::memcpy(expect.data() + 2 * i, &h, 2);
          }
      }
      REQUIRE(st.ok());
      CHECK(std::equal(expect.begin(), expect.end(), got.begin(), got.end()));
    }
  }
}

TEST_CASE("quantize_gguf: rows that don't fit 256-value blocks") {
  const F32File f = f32_file("tiny-llama");  // rows of 64 and 160 values
  GgufWriter w;
  // llama.cpp would substitute Q5_0, a type llmk does not write.
  absl::Status st = quantize_gguf(*f.file, {QuantFileType::kQ4_K_M, false}, w);
  CHECK(st.code() == absl::StatusCode::kUnimplemented);
  CHECK(std::string(st.message()).find("Q5_0") != std::string::npos);
  GgufWriter pure;
  st = quantize_gguf(*f.file, {QuantFileType::kQ6_K, true}, pure);
  CHECK(st.code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(st.message()).find("not a multiple of 256") != std::string::npos);
  // Q6_K's substitute is Q8_0, which llmk writes: a Q6_K mix of this model works.
  const Quantized q = quantize(*f.file, QuantFileType::kQ6_K, false);
  CHECK(type_of(*q.file, layer_tensor(0, "attn_q")) == TensorType::kQ8_0);
}

}  // namespace llmk
