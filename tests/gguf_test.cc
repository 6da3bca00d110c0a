// GGUF reader and writer: the shared reference files parse with the facts
// their README states, and the writer round-trips every value and tensor type
// byte for byte. Hostile inputs are in malformed_test.cc.
#include <unistd.h>

#include <cstdint>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "doctest/doctest.h"
#include "llmk/gguf.h"
#include "test_util.h"

namespace llmk {
namespace {

using test::shared_file_or_skip;

const char* const kSharedGgufFiles[] = {
    "models/stories260K-f32.gguf", "models/t1m-f32.gguf",
    "models/t1m-q8_0.gguf",        "models/t1m-q4_0.gguf",
    "vocab/ggml-vocab-gpt-2.gguf", "vocab/ggml-vocab-llama-spm.gguf",
};

std::unique_ptr<GgufFile> open_or_fail(const std::filesystem::path& path) {
  auto file = GgufFile::open(path.string());
  INFO("path: " << path.string());
  REQUIRE_MESSAGE(file.ok(), file.status().ToString());
  return std::move(*file);
}

uint64_t uint_of(const GgufFile& f, const char* key) {
  auto v = f.get_uint(key);
  INFO("key: " << key);
  REQUIRE_MESSAGE(v.ok(), v.status().ToString());
  return *v;
}

const std::vector<std::string>& strings_of(const GgufFile& f, const char* key) {
  auto array = f.get_array(key);
  INFO("key: " << key);
  REQUIRE_MESSAGE(array.ok(), array.status().ToString());
  REQUIRE((*array)->element_type == GgufType::kString);
  return std::get<std::vector<std::string>>((*array)->values);
}

void check_dims(const GgufTensorInfo* t, std::vector<uint64_t> dims, TensorType type) {
  REQUIRE(t != nullptr);
  INFO("tensor: " << t->name);
  CHECK(t->dims == dims);
  CHECK(t->type == type);
}

// Copies every key/value and tensor of `file` into a writer, in file order.
GgufWriter rewrite(const GgufFile& file) {
  GgufWriter writer;
  for (const GgufKeyValue& kv : file.metadata()) writer.add(kv.key, kv.value);
  for (const GgufTensorInfo& t : file.tensors()) {
    absl::Status st = writer.add_tensor(t.name, t.dims, t.type, file.tensor_data(t));
    REQUIRE_MESSAGE(st.ok(), st.ToString());
  }
  return writer;
}

TEST_CASE("every shared GGUF file parses with tensors inside their data section") {
  for (const char* name : kSharedGgufFiles) {
    auto path = shared_file_or_skip(name);
    if (!path) return;
    auto file = open_or_fail(*path);
    INFO("file: " << name);
    CHECK(file->version() == 3);
    CHECK(file->alignment() == GgufFile::kDefaultAlignment);
    CHECK_FALSE(file->metadata().empty());
    CHECK(file->get_string("general.architecture").ok());
    uint64_t total_bytes = 0;
    for (const GgufTensorInfo& t : file->tensors()) {
      INFO("tensor: " << t.name);
      CHECK(file->find_tensor(t.name) == &t);
      CHECK(t.offset % file->alignment() == 0);
      const auto data = file->tensor_data(t);
      CHECK(data.size() == t.bytes);
      uint64_t elements = 1;
      for (uint64_t d : t.dims) elements *= d;
      CHECK(t.elements == elements);
      CHECK(*tensor_bytes(t.type, t.elements) == t.bytes);
      total_bytes += t.bytes;
    }
    for (const GgufKeyValue& kv : file->metadata()) CHECK(file->find(kv.key) == &kv.value);
    CHECK(file->find("no.such.key") == nullptr);
    CHECK(file->find_tensor("no.such.tensor") == nullptr);
    const auto size = std::filesystem::file_size(*path);
    CHECK(total_bytes < size);
  }
}

TEST_CASE("t1m GGUF files: llama hyperparameters and tensor types per quantization") {
  struct Case {
    const char* name;
    TensorType matrix_type;
    uint64_t file_type;  // general.file_type, absent in the f32 file
  };
  for (const Case& c : {Case{"models/t1m-f32.gguf", TensorType::kF32, 0},
                        Case{"models/t1m-q8_0.gguf", TensorType::kQ8_0, 7},
                        Case{"models/t1m-q4_0.gguf", TensorType::kQ4_0, 2}}) {
    auto path = shared_file_or_skip(c.name);
    if (!path) return;
    auto file = open_or_fail(*path);
    INFO("file: " << c.name);
    CHECK(*file->get_string("general.architecture") == "llama");
    CHECK(uint_of(*file, "llama.block_count") == 4);
    CHECK(uint_of(*file, "llama.embedding_length") == 128);
    CHECK(uint_of(*file, "llama.feed_forward_length") == 384);
    CHECK(uint_of(*file, "llama.attention.head_count") == 4);
    CHECK(uint_of(*file, "llama.attention.head_count_kv") == 2);
    CHECK(*file->get_float("llama.attention.layer_norm_rms_epsilon") ==
          doctest::Approx(1e-5));
    if (c.file_type != 0) CHECK(uint_of(*file, "general.file_type") == c.file_type);

    // 4 layers × (7 matrices + 2 norms) + embedding, output and output norm.
    REQUIRE(file->tensors().size() == 39);
    size_t matrices = 0, norms = 0;
    for (const GgufTensorInfo& t : file->tensors()) {
      if (t.dims.size() == 2) {
        CHECK(t.type == c.matrix_type);
        ++matrices;
      } else {
        CHECK(t.type == TensorType::kF32);
        ++norms;
      }
    }
    CHECK(matrices == 30);
    CHECK(norms == 9);
    check_dims(file->find_tensor("token_embd.weight"), {128, 512}, c.matrix_type);
    check_dims(file->find_tensor("blk.3.ffn_down.weight"), {384, 128}, c.matrix_type);
    check_dims(file->find_tensor("blk.0.attn_k.weight"), {128, 64}, c.matrix_type);
    check_dims(file->find_tensor("output_norm.weight"), {128}, TensorType::kF32);
    const uint64_t embd_bytes = file->find_tensor("token_embd.weight")->bytes;
    CHECK(embd_bytes == *tensor_bytes(c.matrix_type, 128 * 512));

    // Token i's text is "<i>" (README).
    const auto& tokens = strings_of(*file, "tokenizer.ggml.tokens");
    REQUIRE(tokens.size() == 512);
    CHECK(tokens[7] == "<7>");
    CHECK(tokens[511] == "<511>");
    auto scores = file->get_array("tokenizer.ggml.scores");
    REQUIRE(scores.ok());
    CHECK((*scores)->element_type == GgufType::kFloat32);
    CHECK((*scores)->size() == 512);
  }
}

TEST_CASE("stories260K-f32.gguf: shapes and the same weights as stories260K.bin") {
  auto gguf_path = shared_file_or_skip("models/stories260K-f32.gguf");
  if (!gguf_path) return;
  auto bin_path = shared_file_or_skip("models/stories260K.bin");
  if (!bin_path) return;
  auto file = open_or_fail(*gguf_path);
  CHECK(uint_of(*file, "llama.embedding_length") == 64);
  CHECK(uint_of(*file, "llama.feed_forward_length") == 172);
  CHECK(uint_of(*file, "llama.block_count") == 5);
  CHECK(uint_of(*file, "llama.attention.head_count") == 8);
  CHECK(uint_of(*file, "llama.attention.head_count_kv") == 4);
  CHECK(uint_of(*file, "tokenizer.ggml.bos_token_id") == 1);
  REQUIRE(file->tensors().size() == 3 + 5 * 9);
  for (const GgufTensorInfo& t : file->tensors()) CHECK(t.type == TensorType::kF32);
  check_dims(file->find_tensor("token_embd.weight"), {64, 512}, TensorType::kF32);
  check_dims(file->find_tensor("output.weight"), {64, 512}, TensorType::kF32);
  check_dims(file->find_tensor("blk.4.attn_k.weight"), {64, 32}, TensorType::kF32);
  check_dims(file->find_tensor("blk.4.ffn_gate.weight"), {64, 172}, TensorType::kF32);
  check_dims(file->find_tensor("blk.2.ffn_down.weight"), {172, 64}, TensorType::kF32);

  // llama2.c layout: 7 int32 header, token embedding [vocab][dim], then the
  // attention RMSNorm weights [layers][dim]. The converter copies both as is.
  auto bin = test::read_file(*bin_path);
  REQUIRE(bin.has_value());
  constexpr size_t kHeader = 7 * 4, kEmbdBytes = 512 * 64 * 4, kNormBytes = 64 * 4;
  REQUIRE(bin->size() > kHeader + kEmbdBytes + 5 * kNormBytes);
  const auto embd = file->tensor_data(*file->find_tensor("token_embd.weight"));
  REQUIRE(embd.size() == kEmbdBytes);
  CHECK(std::memcmp(embd.data(), bin->data() + kHeader, kEmbdBytes) == 0);
  for (int layer = 0; layer < 5; ++layer) {
    INFO("layer " << layer);
    const std::string name = "blk." + std::to_string(layer) + ".attn_norm.weight";
    const auto norm = file->tensor_data(*file->find_tensor(name));
    REQUIRE(norm.size() == kNormBytes);
    CHECK(std::memcmp(norm.data(), bin->data() + kHeader + kEmbdBytes + layer * kNormBytes,
                      kNormBytes) == 0);
  }
}

TEST_CASE("vocabulary-only GGUF files: token lists, merges and special ids") {
  auto gpt2_path = shared_file_or_skip("vocab/ggml-vocab-gpt-2.gguf");
  if (!gpt2_path) return;
  auto spm_path = shared_file_or_skip("vocab/ggml-vocab-llama-spm.gguf");
  if (!spm_path) return;

  auto gpt2 = open_or_fail(*gpt2_path);
  CHECK(gpt2->tensors().empty());
  CHECK(*gpt2->get_string("tokenizer.ggml.model") == "gpt2");
  const auto& tokens = strings_of(*gpt2, "tokenizer.ggml.tokens");
  REQUIRE(tokens.size() == 50257);
  CHECK(tokens[0] == "!");
  CHECK(tokens[50256] == "<|endoftext|>");
  CHECK(strings_of(*gpt2, "tokenizer.ggml.merges").size() == 50000);
  CHECK(uint_of(*gpt2, "tokenizer.ggml.bos_token_id") == 50256);

  auto spm = open_or_fail(*spm_path);
  const auto& pieces = strings_of(*spm, "tokenizer.ggml.tokens");
  REQUIRE(pieces.size() == 32000);
  CHECK(pieces[0] == "<unk>");
  CHECK(pieces[1] == "<s>");
  CHECK(pieces[2] == "</s>");
  CHECK(*spm->get_bool("tokenizer.ggml.add_bos_token") == true);
  CHECK(*spm->get_bool("tokenizer.ggml.add_eos_token") == false);
  auto types = spm->get_array("tokenizer.ggml.token_type");
  REQUIRE(types.ok());
  CHECK((*types)->element_type == GgufType::kInt32);
  CHECK((*types)->size() == 32000);
}

TEST_CASE("re-writing each shared file with GgufWriter reproduces it byte for byte") {
  for (const char* name : kSharedGgufFiles) {
    auto path = shared_file_or_skip(name);
    if (!path) return;
    auto original = test::read_file(*path);
    REQUIRE(original.has_value());
    auto file = GgufFile::parse(*original);
    REQUIRE(file.ok());
    auto bytes = rewrite(**file).to_bytes();
    REQUIRE(bytes.ok());
    INFO("file: " << name);
    CHECK(bytes->size() == original->size());
    CHECK(*bytes == *original);
  }
}

// A writer holding one key per value type, one array per element type and
// one tensor per tensor type, with a non-default alignment.
GgufWriter every_type_writer() {
  GgufWriter w;
  w.set_alignment(64);
  w.add("t.u8", {GgufType::kUint8, uint8_t{200}});
  w.add("t.i8", {GgufType::kInt8, int8_t{-100}});
  w.add("t.u16", {GgufType::kUint16, uint16_t{60000}});
  w.add("t.i16", {GgufType::kInt16, int16_t{-30000}});
  w.add_uint32("t.u32", 4000000000u);
  w.add("t.i32", {GgufType::kInt32, int32_t{-2000000000}});
  w.add_float32("t.f32", 3.25f);
  w.add_bool("t.bool", true);
  w.add_string("t.string", std::string("h\xC3\xA9llo\0x", 8));  // UTF-8 and an inner NUL
  w.add("t.u64", {GgufType::kUint64, uint64_t{0xFEDCBA9876543210ull}});
  w.add("t.i64", {GgufType::kInt64, int64_t{std::numeric_limits<int64_t>::min()}});
  w.add("t.f64", {GgufType::kFloat64, -1.0 / 3.0});
  w.add_string("t.empty_string", "");
  w.add_array("a.u8", {GgufType::kUint8, std::vector<uint8_t>{0, 1, 255}});
  w.add_array("a.i8", {GgufType::kInt8, std::vector<int8_t>{-128, 127}});
  w.add_array("a.u16", {GgufType::kUint16, std::vector<uint16_t>{1, 65535}});
  w.add_array("a.i16", {GgufType::kInt16, std::vector<int16_t>{-32768, 5}});
  w.add_array("a.u32", {GgufType::kUint32, std::vector<uint32_t>{7, 0xFFFFFFFFu}});
  w.add_array("a.i32", {GgufType::kInt32, std::vector<int32_t>{-1, 2, -3}});
  w.add_array("a.f32", {GgufType::kFloat32, std::vector<float>{0.5f, -0.0f, 1e30f}});
  w.add_array("a.bool", {GgufType::kBool, std::vector<bool>{true, false, true}});
  w.add_array("a.string", {GgufType::kString, std::vector<std::string>{"a", "", "<0x0A>"}});
  w.add_array("a.u64", {GgufType::kUint64, std::vector<uint64_t>{1ull << 63}});
  w.add_array("a.i64", {GgufType::kInt64, std::vector<int64_t>{-5}});
  w.add_array("a.f64", {GgufType::kFloat64, std::vector<double>{2.5, -1e300}});
  w.add_array("a.empty", {GgufType::kUint32, std::vector<uint32_t>{}});

  std::vector<uint8_t> f32(3 * 5 * 4), f16(7 * 2), q4(2 * 18 * 3), q8(34);
  for (size_t i = 0; i < f32.size(); ++i) f32[i] = static_cast<uint8_t>(i * 7 + 1);
  for (size_t i = 0; i < f16.size(); ++i) f16[i] = static_cast<uint8_t>(i * 13 + 2);
  for (size_t i = 0; i < q4.size(); ++i) q4[i] = static_cast<uint8_t>(i * 31 + 3);
  for (size_t i = 0; i < q8.size(); ++i) q8[i] = static_cast<uint8_t>(i * 17 + 4);
  REQUIRE(w.add_tensor("w.f32", {3, 5}, TensorType::kF32, f32).ok());
  REQUIRE(w.add_tensor("w.f16", {7}, TensorType::kF16, f16).ok());
  REQUIRE(w.add_tensor("w.q4_0", {64, 1, 3}, TensorType::kQ4_0, q4).ok());
  REQUIRE(w.add_tensor("w.q8_0", {32, 1, 1, 1}, TensorType::kQ8_0, q8).ok());
  return w;
}

template <class T>
T scalar(const GgufFile& f, const char* key) {
  const GgufValue* v = f.find(key);
  REQUIRE_MESSAGE(v != nullptr, key);
  REQUIRE_MESSAGE(std::holds_alternative<T>(v->value), key);
  return std::get<T>(v->value);
}

template <class T>
std::vector<T> array(const GgufFile& f, const char* key) {
  auto a = f.get_array(key);
  REQUIRE_MESSAGE(a.ok(), key);
  REQUIRE_MESSAGE(std::holds_alternative<std::vector<T>>((*a)->values), key);
  return std::get<std::vector<T>>((*a)->values);
}

TEST_CASE("writer round trip: every value type, array type and tensor type") {
  GgufWriter writer = every_type_writer();
  auto bytes = writer.to_bytes();
  REQUIRE_MESSAGE(bytes.ok(), bytes.status().ToString());
  auto parsed = GgufFile::parse(*bytes);
  REQUIRE_MESSAGE(parsed.ok(), parsed.status().ToString());
  const GgufFile& f = **parsed;

  CHECK(f.version() == 3);
  CHECK(f.alignment() == 64);
  CHECK(f.find("general.alignment")->type == GgufType::kUint32);
  CHECK(bytes->size() % 64 == 0);
  CHECK(scalar<uint8_t>(f, "t.u8") == 200);
  CHECK(scalar<int8_t>(f, "t.i8") == -100);
  CHECK(scalar<uint16_t>(f, "t.u16") == 60000);
  CHECK(scalar<int16_t>(f, "t.i16") == -30000);
  CHECK(scalar<uint32_t>(f, "t.u32") == 4000000000u);
  CHECK(scalar<int32_t>(f, "t.i32") == -2000000000);
  CHECK(scalar<float>(f, "t.f32") == 3.25f);
  CHECK(scalar<bool>(f, "t.bool") == true);
  CHECK(scalar<std::string>(f, "t.string") == std::string("h\xC3\xA9llo\0x", 8));
  CHECK(scalar<uint64_t>(f, "t.u64") == 0xFEDCBA9876543210ull);
  CHECK(scalar<int64_t>(f, "t.i64") == std::numeric_limits<int64_t>::min());
  CHECK(scalar<double>(f, "t.f64") == -1.0 / 3.0);
  CHECK(scalar<std::string>(f, "t.empty_string").empty());
  CHECK(array<uint8_t>(f, "a.u8") == std::vector<uint8_t>{0, 1, 255});
  CHECK(array<int8_t>(f, "a.i8") == std::vector<int8_t>{-128, 127});
  CHECK(array<uint16_t>(f, "a.u16") == std::vector<uint16_t>{1, 65535});
  CHECK(array<int16_t>(f, "a.i16") == std::vector<int16_t>{-32768, 5});
  CHECK(array<uint32_t>(f, "a.u32") == std::vector<uint32_t>{7, 0xFFFFFFFFu});
  CHECK(array<int32_t>(f, "a.i32") == std::vector<int32_t>{-1, 2, -3});
  const auto floats = array<float>(f, "a.f32");
  REQUIRE(floats.size() == 3);
  CHECK(floats[0] == 0.5f);
  CHECK(std::signbit(floats[1]));
  CHECK(floats[2] == 1e30f);
  CHECK(array<bool>(f, "a.bool") == std::vector<bool>{true, false, true});
  CHECK(array<std::string>(f, "a.string") == std::vector<std::string>{"a", "", "<0x0A>"});
  CHECK(array<uint64_t>(f, "a.u64") == std::vector<uint64_t>{1ull << 63});
  CHECK(array<int64_t>(f, "a.i64") == std::vector<int64_t>{-5});
  CHECK(array<double>(f, "a.f64") == std::vector<double>{2.5, -1e300});
  CHECK(array<uint32_t>(f, "a.empty").empty());
  CHECK((*f.get_array("a.string"))->size() == 3);

  REQUIRE(f.tensors().size() == 4);
  const TensorType types[] = {TensorType::kF32, TensorType::kF16, TensorType::kQ4_0,
                              TensorType::kQ8_0};
  const uint64_t expected_bytes[] = {60, 14, 108, 34};
  for (size_t i = 0; i < 4; ++i) {
    const GgufTensorInfo& t = f.tensors()[i];
    INFO("tensor " << t.name);
    CHECK(t.type == types[i]);
    CHECK(t.bytes == expected_bytes[i]);
    CHECK(t.offset % 64 == 0);
  }
  CHECK(f.find_tensor("w.q4_0")->dims == std::vector<uint64_t>{64, 1, 3});
  CHECK(f.find_tensor("w.q8_0")->dims == std::vector<uint64_t>{32, 1, 1, 1});
  const auto q4 = f.tensor_data(*f.find_tensor("w.q4_0"));
  REQUIRE(q4.size() == 108);
  for (size_t i = 0; i < q4.size(); ++i) CHECK(q4[i] == static_cast<uint8_t>(i * 31 + 3));

  // Parsing and writing again gives the identical bytes.
  auto again = rewrite(f).to_bytes();
  REQUIRE(again.ok());
  CHECK(*again == *bytes);
}

TEST_CASE("writer: write() then open() maps the same file; version 2 reads too") {
  GgufWriter writer = every_type_writer();
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("llmk_gguf_test_" + std::to_string(::getpid()) + ".gguf"))
                               .string();
  REQUIRE(writer.write(path).ok());
  auto expected = writer.to_bytes();
  REQUIRE(expected.ok());
  {
    auto file = GgufFile::open(path);
    REQUIRE_MESSAGE(file.ok(), file.status().ToString());
    CHECK((*file)->tensors().size() == 4);
    const auto data = (*file)->tensor_data(*(*file)->find_tensor("w.f32"));
    REQUIRE(data.size() == 60);
    CHECK(data[59] == static_cast<uint8_t>(59 * 7 + 1));
    auto on_disk = test::read_file(path);
    REQUIRE(on_disk.has_value());
    CHECK(*on_disk == *expected);
  }
  std::filesystem::remove(path);

  // Version 2 has the same layout as version 3.
  std::vector<uint8_t> v2 = *expected;
  v2[4] = 2;
  auto parsed = GgufFile::parse(v2);
  REQUIRE_MESSAGE(parsed.ok(), parsed.status().ToString());
  CHECK((*parsed)->version() == 2);
  CHECK((*parsed)->metadata().size() == (*GgufFile::parse(*expected))->metadata().size());
}

TEST_CASE("open(): missing file, directory and empty file are errors") {
  auto missing = GgufFile::open("/nonexistent/dir/model.gguf");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().code() == absl::StatusCode::kNotFound);
  CHECK(std::string(missing.status().message()).find("/nonexistent/dir/model.gguf") !=
        std::string::npos);

  auto dir = GgufFile::open(std::filesystem::temp_directory_path().string());
  REQUIRE_FALSE(dir.ok());
  CHECK(std::string(dir.status().message()).find("not a regular file") != std::string::npos);

  const std::string empty = (std::filesystem::temp_directory_path() /
                             ("llmk_gguf_empty_" + std::to_string(::getpid()) + ".gguf"))
                                .string();
  { std::ofstream(empty).flush(); }
  auto e = GgufFile::open(empty);
  std::filesystem::remove(empty);
  REQUIRE_FALSE(e.ok());
  CHECK(e.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(e.status().message()).find("truncated") != std::string::npos);
}

TEST_CASE("typed getters: missing keys, wrong types and negative integers") {
  GgufWriter w;
  w.add("neg", {GgufType::kInt32, int32_t{-4}});
  w.add("pos", {GgufType::kInt16, int16_t{12}});
  w.add("f64", {GgufType::kFloat64, 0.25});
  w.add_string("s", "text");
  auto bytes = w.to_bytes();
  REQUIRE(bytes.ok());
  auto f = GgufFile::parse(*bytes);
  REQUIRE(f.ok());
  CHECK((*f)->get_uint("missing").status().code() == absl::StatusCode::kNotFound);
  CHECK((*f)->get_uint("pos").value() == 12);
  auto neg = (*f)->get_uint("neg");
  REQUIRE_FALSE(neg.ok());
  CHECK(std::string(neg.status().message()).find("'neg' = -4 must not be negative") !=
        std::string::npos);
  auto wrong = (*f)->get_uint("s");
  REQUIRE_FALSE(wrong.ok());
  CHECK(wrong.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(wrong.status().message()).find("'s' has type STRING") != std::string::npos);
  CHECK((*f)->get_float("f64").value() == 0.25);
  CHECK_FALSE((*f)->get_float("s").ok());
  CHECK_FALSE((*f)->get_string("f64").ok());
  CHECK_FALSE((*f)->get_bool("s").ok());
  CHECK_FALSE((*f)->get_array("s").ok());
  CHECK((*f)->alignment() == GgufFile::kDefaultAlignment);
}

TEST_CASE("writer rejects what the reader would reject") {
  const auto message = [](const absl::StatusOr<std::vector<uint8_t>>& r) {
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == absl::StatusCode::kInvalidArgument);
    return std::string(r.status().message());
  };
  {
    GgufWriter w;
    w.set_alignment(13);
    CHECK(message(w.to_bytes()).find("alignment 13 is not a power of two") != std::string::npos);
  }
  {
    GgufWriter w;
    w.add("general.alignment", {GgufType::kInt32, int32_t{32}});
    CHECK(message(w.to_bytes()).find("type INT32, expected UINT32") != std::string::npos);
  }
  {
    GgufWriter w;
    w.add_uint32("k", 1);
    w.add_uint32("k", 2);
    CHECK(message(w.to_bytes()).find("duplicate key") != std::string::npos);
  }
  {
    GgufWriter w;
    w.add_uint32("", 1);
    CHECK(message(w.to_bytes()).find("key is empty") != std::string::npos);
  }
  {
    GgufWriter w;
    w.add("k", {GgufType::kUint64, uint32_t{1}});  // tag and value disagree
    CHECK(message(w.to_bytes()).find("does not hold a UINT64") != std::string::npos);
  }
  {
    GgufWriter w;
    w.add_array("k", {GgufType::kArray, std::vector<uint8_t>{}});
    CHECK(message(w.to_bytes()).find("nested arrays") != std::string::npos);
  }
  {
    GgufWriter w;
    w.add_array("k", {GgufType::kString, std::vector<uint8_t>{1}});
    CHECK(message(w.to_bytes()).find("do not match element type") != std::string::npos);
  }
  GgufWriter w;
  std::vector<uint8_t> data(32 * 4);
  CHECK(w.add_tensor("t", {32}, TensorType::kF32, data).ok());
  absl::Status dup = w.add_tensor("t", {32}, TensorType::kF32, data);
  CHECK(std::string(dup.message()).find("duplicate tensor name") != std::string::npos);
  absl::Status size = w.add_tensor("u", {31}, TensorType::kF32, data);
  CHECK(std::string(size.message()).find("data has 128 bytes, expected 124") !=
        std::string::npos);
  absl::Status row = w.add_tensor("v", {16, 2}, TensorType::kQ8_0, data);
  CHECK(std::string(row.message()).find("row length dims[0] = 16") != std::string::npos);
  absl::Status bad_type = w.add_tensor("x", {32}, static_cast<TensorType>(3), data);
  CHECK(std::string(bad_type.message()).find("tensor type 3 (Q4_1)") != std::string::npos);
  absl::Status long_name = w.add_tensor(std::string(64, 'n'), {32}, TensorType::kF32, data);
  CHECK(std::string(long_name.message()).find("too long") != std::string::npos);
  absl::Status zero = w.add_tensor("z", {32, 0}, TensorType::kF32, data);
  CHECK(std::string(zero.message()).find("dims[1] = 0 must be ≥ 1") != std::string::npos);
  CHECK(w.to_bytes().ok());  // the rejected tensors left the writer unchanged
}

TEST_CASE("tensor_bytes, type names and GgufArray::size") {
  CHECK(*tensor_bytes(TensorType::kF32, 10) == 40);
  CHECK(*tensor_bytes(TensorType::kF16, 10) == 20);
  CHECK(*tensor_bytes(TensorType::kQ4_0, 64) == 36);
  CHECK(*tensor_bytes(TensorType::kQ8_0, 96) == 102);
  CHECK_FALSE(tensor_bytes(TensorType::kQ4_0, 48).ok());
  CHECK_FALSE(tensor_bytes(TensorType::kF32, 1ull << 62).ok());
  CHECK(tensor_bytes(TensorType::kF32, (1ull << 62) - 1).ok());
  CHECK_FALSE(tensor_bytes(static_cast<TensorType>(3), 32).ok());
  CHECK(tensor_type_name(TensorType::kQ4_0) == "Q4_0");
  CHECK(tensor_type_name(TensorType::kQ8_0) == "Q8_0");
  CHECK(tensor_type_name(TensorType::kF16) == "F16");
  CHECK(gguf_type_name(GgufType::kFloat64) == "FLOAT64");
  CHECK(gguf_type_name(GgufType::kBool) == "BOOL");
  CHECK(gguf_type_name(static_cast<GgufType>(99)) == "unknown");
  GgufArray a{GgufType::kString, std::vector<std::string>{"x", "y"}};
  CHECK(a.size() == 2);
  GgufArray b{GgufType::kBool, std::vector<bool>(5)};
  CHECK(b.size() == 5);
}

}  // namespace
}  // namespace llmk
