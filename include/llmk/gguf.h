// GGUF (versions 2 and 3): a reader that memory-maps the file and validates
// every size and offset before use, and a writer.
//
// The file is untrusted input. Limits the reader enforces (each violation is
// an absl::Status error naming the field):
// - magic "GGUF", version 2 or 3;
// - tensor count ≤ kMaxTensors and key count ≤ kMaxKeys, and each bounded by
//   the bytes left in the file divided by the smallest record size;
// - keys non-empty, ASCII, without NUL, at most kMaxKeyBytes, unique; tensor
//   names non-empty, at most kMaxNameBytes bytes, without NUL, unique;
// - every string and array length checked against the bytes left (before
//   anything is allocated) and against kMaxStringBytes / kMaxArrayElements;
//   no nested arrays; value types only those the spec defines; bool bytes 0
//   or 1;
// - 1 to 4 dimensions, each ≥ 1; element counts (at most INT64_MAX, as in
//   ggml) and byte sizes computed in checked 64-bit arithmetic; quantized
//   rows (dims[0]) a multiple of the 32-element block;
// - tensor types only F32, F16, Q4_0, Q8_0;
// - general.alignment, when present, a UINT32 power of two ≤ 65536;
// - tensor data aligned, inside the file (offset + size ≤ file size, no wrap),
//   and no two tensors overlapping.
// A file with no tensors may end right after its metadata (vocabulary-only
// files do). Malformed content is an InvalidArgumentError whose message names
// the record and field, e.g. "GGUF tensor 'blk.0.attn_q.weight': dims[1] = 0
// must be ≥ 1"; open() adds the path in front and reports a missing file as
// NotFoundError. A parse allocates at most a small multiple of the input size.
#pragma once

#include "llmk/export.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "llmk/tensor_type.h"

namespace llmk LLMK_API {

// Bytes taken by `elements` values of `type` (elements a multiple of the
// block size for quantized types), or an error on overflow / bad count.
absl::StatusOr<uint64_t> tensor_bytes(TensorType type, uint64_t elements);
std::string_view tensor_type_name(TensorType type);

// GGUF metadata value types, numbered as in the spec.
enum class GgufType : uint32_t {
  kUint8 = 0, kInt8 = 1, kUint16 = 2, kInt16 = 3, kUint32 = 4, kInt32 = 5,
  kFloat32 = 6, kBool = 7, kString = 8, kArray = 9, kUint64 = 10, kInt64 = 11,
  kFloat64 = 12,
};
std::string_view gguf_type_name(GgufType type);

// One metadata value. Arrays hold scalars or strings (GGUF forbids nothing
// else that real files use; nested arrays are rejected).
struct GgufArray {
  GgufType element_type = GgufType::kUint8;
  std::variant<std::vector<uint8_t>, std::vector<int8_t>, std::vector<uint16_t>,
               std::vector<int16_t>, std::vector<uint32_t>, std::vector<int32_t>,
               std::vector<float>, std::vector<bool>, std::vector<std::string>,
               std::vector<uint64_t>, std::vector<int64_t>, std::vector<double>>
      values;
  size_t size() const;
};

struct GgufValue {
  GgufType type = GgufType::kUint8;
  std::variant<uint8_t, int8_t, uint16_t, int16_t, uint32_t, int32_t, float, bool,
               std::string, GgufArray, uint64_t, int64_t, double>
      value;
};

struct GgufKeyValue {
  std::string key;
  GgufValue value;
};

struct GgufTensorInfo {
  std::string name;
  std::vector<uint64_t> dims;  // GGUF order: dims[0] is the row length (ne0)
  TensorType type = TensorType::kF32;
  uint64_t offset = 0;  // relative to the start of the data section
  uint64_t elements = 0;
  uint64_t bytes = 0;
};

class LLMK_HIDDEN GgufParser;  // lib/gguf: fills a GgufFile

class GgufFile {
 public:
  static constexpr uint64_t kMaxTensors = 1u << 16;
  static constexpr uint64_t kMaxKeys = 1u << 16;
  static constexpr uint64_t kMaxNameBytes = 63;  // ggml's GGML_MAX_NAME − 1
  static constexpr uint64_t kMaxKeyBytes = 65535;  // the GGUF spec's key limit
  static constexpr uint64_t kMaxStringBytes = 1u << 30;
  static constexpr uint64_t kMaxArrayElements = 1u << 28;
  static constexpr uint32_t kDefaultAlignment = 32;
  static constexpr uint32_t kMaxAlignment = 65536;

  // Memory-maps `path` read-only and parses it.
  static absl::StatusOr<std::unique_ptr<GgufFile>> open(const std::string& path);
  // Parses a buffer the caller keeps alive for the GgufFile's lifetime.
  static absl::StatusOr<std::unique_ptr<GgufFile>> parse(std::span<const uint8_t> bytes);

  ~GgufFile();
  GgufFile(const GgufFile&) = delete;
  GgufFile& operator=(const GgufFile&) = delete;

  uint32_t version() const { return version_; }
  uint32_t alignment() const { return alignment_; }
  const std::vector<GgufKeyValue>& metadata() const { return metadata_; }
  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }

  // nullptr when absent.
  const GgufValue* find(std::string_view key) const;
  const GgufTensorInfo* find_tensor(std::string_view name) const;

  // Typed getters: NotFoundError when absent, InvalidArgumentError naming the
  // key when the stored type differs. get_uint accepts any unsigned or
  // non-negative signed integer type; get_float accepts float32 and float64.
  absl::StatusOr<std::string> get_string(std::string_view key) const;
  absl::StatusOr<uint64_t> get_uint(std::string_view key) const;
  absl::StatusOr<double> get_float(std::string_view key) const;
  absl::StatusOr<bool> get_bool(std::string_view key) const;
  absl::StatusOr<const GgufArray*> get_array(std::string_view key) const;

  // The tensor's bytes inside the mapping (no copy).
  std::span<const uint8_t> tensor_data(const GgufTensorInfo& info) const;

 private:
  GgufFile() = default;
  friend class GgufParser;
  uint32_t version_ = 3;
  uint32_t alignment_ = kDefaultAlignment;
  std::vector<GgufKeyValue> metadata_;
  std::vector<GgufTensorInfo> tensors_;
  std::span<const uint8_t> data_;  // the data section
  void* mapping_ = nullptr;        // owned mmap, if opened from a path
  size_t mapping_size_ = 0;
  // Hash indexes for find() / find_tensor(), kept out of this header.
  struct Index;
  std::unique_ptr<Index> index_;
};

// Builds a GGUF file (version 3) in memory or on disk, laid out as ggml does:
// key/values and tensors in the order added, each tensor's data aligned and
// zero-padded to the alignment. Keys, values and tensors are checked against
// the reader's rules (add_tensor() at once, key/values in to_bytes()), so a
// written file always reads back. Re-writing a parsed file (every key/value,
// then every tensor in file order) reproduces ggml-written files byte for byte.
class GgufWriter {
 public:
  // Written as the UINT32 key general.alignment (updated in place when that
  // key was already added). add() of a UINT32 general.alignment also sets the
  // layout; adding that key twice is a duplicate key.
  void set_alignment(uint32_t alignment);
  void add(std::string key, GgufValue value);
  // Convenience setters.
  void add_string(std::string key, std::string value);
  void add_uint32(std::string key, uint32_t value);
  void add_float32(std::string key, float value);
  void add_bool(std::string key, bool value);
  void add_array(std::string key, GgufArray array);
  // dims in GGUF order (dims[0] = row length). data must hold exactly
  // tensor_bytes(type, product of dims) bytes; it is copied.
  absl::Status add_tensor(std::string name, std::vector<uint64_t> dims, TensorType type,
                          std::span<const uint8_t> data);

  absl::StatusOr<std::vector<uint8_t>> to_bytes() const;
  absl::Status write(const std::string& path) const;

 private:
  uint32_t alignment_ = GgufFile::kDefaultAlignment;
  bool alignment_set_ = false;
  std::vector<GgufKeyValue> metadata_;
  struct PendingTensor {
    GgufTensorInfo info;
    std::vector<uint8_t> data;
  };
  std::vector<PendingTensor> tensors_;
};

}  // namespace llmk
