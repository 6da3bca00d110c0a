// Fuzz target: GgufFile::parse on arbitrary bytes. A file the parser accepts
// must be fully readable (every getter, every tensor's bytes), and the writer
// must be able to write it back into a file that parses to the same content.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>

#include "fuzz_util.h"
#include "llmk/gguf.h"

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_gguf: %s\n", what);
  std::abort();
}

// Touches every byte of an accepted file's views, so ASan sees any span that
// points outside the input.
uint64_t read_everything(const llmk::GgufFile& file) {
  uint64_t sum = 0;
  for (const llmk::GgufKeyValue& kv : file.metadata()) {
    if (file.find(kv.key) == nullptr) fail("find() misses a parsed key");
    // Each getter either succeeds or returns an error; both are fine.
    sum += file.get_string(kv.key).ok();
    sum += file.get_uint(kv.key).ok();
    sum += file.get_float(kv.key).ok();
    sum += file.get_bool(kv.key).ok();
    if (auto array = file.get_array(kv.key); array.ok()) sum += (*array)->size();
  }
  for (const llmk::GgufTensorInfo& info : file.tensors()) {
    if (file.find_tensor(info.name) == nullptr) fail("find_tensor() misses a parsed tensor");
    std::span<const uint8_t> data = file.tensor_data(info);
    if (data.size() != info.bytes) fail("tensor_data() size differs from the tensor's bytes");
    for (uint8_t b : data) sum += b;
  }
  return sum;
}

void round_trip(const llmk::GgufFile& file) {
  llmk::GgufWriter writer;
  for (const llmk::GgufKeyValue& kv : file.metadata()) writer.add(kv.key, kv.value);
  for (const llmk::GgufTensorInfo& info : file.tensors()) {
    if (!writer.add_tensor(info.name, info.dims, info.type, file.tensor_data(info)).ok()) {
      fail("the writer rejects a tensor the reader accepted");
    }
  }
  absl::StatusOr<std::vector<uint8_t>> bytes = writer.to_bytes();
  if (!bytes.ok()) fail("the writer cannot write a file the reader accepted");
  absl::StatusOr<std::unique_ptr<llmk::GgufFile>> again = llmk::GgufFile::parse(*bytes);
  if (!again.ok()) {
    std::fprintf(stderr, "%s\n", again.status().ToString().c_str());
    fail("the reader rejects what the writer wrote");
  }
  if ((*again)->metadata().size() != file.metadata().size() ||
      (*again)->tensors().size() != file.tensors().size()) {
    fail("round trip changed the number of keys or tensors");
  }
  for (size_t i = 0; i < file.tensors().size(); ++i) {
    const llmk::GgufTensorInfo& a = file.tensors()[i];
    const llmk::GgufTensorInfo& b = (*again)->tensors()[i];
    if (a.name != b.name || a.dims != b.dims || a.type != b.type || a.bytes != b.bytes) {
      fail("round trip changed a tensor's name, shape or type");
    }
    std::span<const uint8_t> da = file.tensor_data(a), db = (*again)->tensor_data(b);
    if (!std::equal(da.begin(), da.end(), db.begin(), db.end())) {
      fail("round trip changed a tensor's data");
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::StatusOr<std::unique_ptr<llmk::GgufFile>> file =
      llmk::GgufFile::parse(std::span<const uint8_t>(data, size));
  if (!file.ok()) {
    llmk::fuzz::rejected("fuzz_gguf", file.status());
    return 0;
  }
  volatile uint64_t sink = read_everything(**file);
  (void)sink;
  round_trip(**file);
  return 0;
}
