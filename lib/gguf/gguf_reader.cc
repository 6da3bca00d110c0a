// GGUF reader: validates an untrusted buffer field by field. Every length is
// checked against the bytes left before anything is allocated, so the memory
// a parse uses is bounded by a small multiple of the input's size.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <numeric>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "gguf/gguf_format.h"
#include "llmk/gguf.h"
#include "util/check.h"

namespace llmk {

using gguf_internal::printable;
using internal::to_absl;

struct GgufFile::Index {
  absl::flat_hash_map<std::string, size_t> keys;     // key → metadata_ index
  absl::flat_hash_map<std::string, size_t> tensors;  // name → tensors_ index
};

class GgufParser {
 public:
  explicit GgufParser(std::span<const uint8_t> bytes) : bytes_(bytes) {}

  absl::StatusOr<std::unique_ptr<GgufFile>> run() {
    file_.reset(new GgufFile());
    file_->index_ = std::make_unique<GgufFile::Index>();
    uint64_t tensor_count = 0, kv_count = 0;
    LLMK_RETURN_IF_ERROR(read_header(&tensor_count, &kv_count));
    LLMK_RETURN_IF_ERROR(read_metadata(kv_count));
    LLMK_RETURN_IF_ERROR(read_tensor_infos(tensor_count));
    LLMK_RETURN_IF_ERROR(place_data());
    return std::move(file_);
  }

 private:
  uint64_t left() const { return bytes_.size() - pos_; }

  absl::Status truncated(uint64_t needed, std::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat(to_absl(what), ": truncated file: needs ", needed, " bytes at offset ",
                     pos_, ", but the file has ", bytes_.size(), " bytes"));
  }

  // Copies a little-endian scalar; the caller has checked left() ≥ sizeof(T).
  template <class T>
  T take() {
    T value{};
    std::memcpy(&value, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return value;
  }

  template <class T>
  absl::Status read(T* out, std::string_view what) {
    if (left() < sizeof(T)) return truncated(sizeof(T), what);
    *out = take<T>();
    return absl::OkStatus();
  }

  // A GGUF string: u64 length, then bytes. The length is checked against the
  // cap and the bytes left before the string is allocated. `element` ≥ 0
  // names an array element in errors.
  absl::Status read_string(std::string* out, uint64_t max_bytes, std::string_view what,
                           int64_t element = -1) {
    const auto where = [&] {
      return element < 0 ? std::string(what)
                         : absl::StrCat(to_absl(what), ": array element ", element);
    };
    if (left() < sizeof(uint64_t)) return truncated(sizeof(uint64_t), where() + " length");
    const auto length = take<uint64_t>();
    if (length > max_bytes) {
      return absl::InvalidArgumentError(absl::StrCat(where(), ": string length ", length,
                                                     " exceeds the limit of ", max_bytes));
    }
    if (length > left()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where(), ": string length ", length, " at offset ", pos_,
                       " exceeds the ", left(), " bytes left in the file"));
    }
    out->assign(reinterpret_cast<const char*>(bytes_.data() + pos_), length);
    pos_ += length;
    return absl::OkStatus();
  }

  absl::Status read_header(uint64_t* tensor_count, uint64_t* kv_count) {
    uint32_t magic = 0, version = 0;
    LLMK_RETURN_IF_ERROR(read(&magic, "GGUF header magic"));
    if (magic != gguf_internal::kMagic) {
      std::string shown(reinterpret_cast<const char*>(&magic), sizeof(magic));
      return absl::InvalidArgumentError(
          absl::StrCat("GGUF header: bad magic '", printable(shown), "', expected 'GGUF'"));
    }
    LLMK_RETURN_IF_ERROR(read(&version, "GGUF header version"));
    if (version != 2 && version != 3) {
      const uint32_t swapped = __builtin_bswap32(version);
      if (swapped == 2 || swapped == 3) {
        return absl::InvalidArgumentError(absl::StrCat(
            "GGUF header: version field reads ", version, " (", swapped,
            " byte-swapped): big-endian GGUF files are not supported"));
      }
      return absl::InvalidArgumentError(absl::StrCat(
          "GGUF header: version ", version, " is not supported (versions 2 and 3 are)"));
    }
    file_->version_ = version;
    // Versions 2 and 3 both store the counts as u64.
    LLMK_RETURN_IF_ERROR(read(tensor_count, "GGUF header tensor count"));
    LLMK_RETURN_IF_ERROR(read(kv_count, "GGUF header key/value count"));
    if (*tensor_count > GgufFile::kMaxTensors) {
      return absl::InvalidArgumentError(absl::StrCat("GGUF header: tensor count ",
                                                     *tensor_count, " exceeds the limit of ",
                                                     GgufFile::kMaxTensors));
    }
    if (*kv_count > GgufFile::kMaxKeys) {
      return absl::InvalidArgumentError(absl::StrCat("GGUF header: key/value count ",
                                                     *kv_count, " exceeds the limit of ",
                                                     GgufFile::kMaxKeys));
    }
    // Both counts are ≤ 2^16 now, so these products cannot overflow.
    const uint64_t kv_min = *kv_count * gguf_internal::kMinKeyValueBytes;
    const uint64_t tensor_min = *tensor_count * gguf_internal::kMinTensorInfoBytes;
    if (kv_min > left()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "GGUF header: key/value count ", *kv_count, " needs at least ", kv_min,
          " bytes, but only ", left(), " bytes follow the header"));
    }
    if (tensor_min > left() - kv_min) {
      return absl::InvalidArgumentError(absl::StrCat(
          "GGUF header: tensor count ", *tensor_count, " needs at least ", tensor_min,
          " bytes of tensor infos, but only ", left() - kv_min,
          " bytes follow the header and the smallest possible key/values"));
    }
    return absl::OkStatus();
  }

  absl::Status read_metadata(uint64_t kv_count) {
    // Bounded by the bytes left (checked in read_header).
    file_->metadata_.reserve(kv_count);
    for (uint64_t i = 0; i < kv_count; ++i) {
      const std::string record = absl::StrCat("GGUF key #", i);
      GgufKeyValue kv;
      LLMK_RETURN_IF_ERROR(read_string(&kv.key, GgufFile::kMaxKeyBytes, record));
      LLMK_RETURN_IF_ERROR(gguf_internal::check_key(kv.key, record));
      const std::string what = absl::StrCat("GGUF key '", printable(kv.key), "'");
      if (file_->index_->keys.contains(kv.key)) {
        return absl::InvalidArgumentError(absl::StrCat(what, ": duplicate key"));
      }
      uint32_t raw_type = 0;
      LLMK_RETURN_IF_ERROR(read(&raw_type, what + " value type"));
      if (!gguf_internal::is_known_value_type(raw_type)) {
        return absl::InvalidArgumentError(
            absl::StrCat(what, ": value type ", raw_type, " is not a GGUF type"));
      }
      kv.value.type = static_cast<GgufType>(raw_type);
      LLMK_RETURN_IF_ERROR(read_value(kv.value.type, &kv.value, what));
      if (kv.key == gguf_internal::kAlignmentKey) LLMK_RETURN_IF_ERROR(set_alignment(kv.value));
      file_->index_->keys.emplace(kv.key, file_->metadata_.size());
      file_->metadata_.push_back(std::move(kv));
    }
    return absl::OkStatus();
  }

  absl::Status set_alignment(const GgufValue& value) {
    const std::string what = absl::StrCat("GGUF key '", gguf_internal::kAlignmentKey, "'");
    if (value.type != GgufType::kUint32) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": type ",
                                                     to_absl(gguf_type_name(value.type)),
                                                     ", expected UINT32"));
    }
    const uint32_t alignment = std::get<uint32_t>(value.value);
    LLMK_RETURN_IF_ERROR(gguf_internal::check_alignment(alignment, what));
    file_->alignment_ = alignment;
    return absl::OkStatus();
  }

  absl::Status read_bool(bool* out, std::string_view what) {
    uint8_t byte = 0;
    LLMK_RETURN_IF_ERROR(read(&byte, what));
    if (byte > 1) {
      return absl::InvalidArgumentError(
          absl::StrCat(to_absl(what), ": bool value ", static_cast<int>(byte), " is not 0 or 1"));
    }
    *out = byte == 1;
    return absl::OkStatus();
  }

  // One scalar or string of `type` into `out` (a GgufValue or GgufArray
  // element). ARRAY is handled by the caller.
  template <class T>
  absl::Status read_scalar(GgufValue* out, std::string_view what) {
    T v{};
    LLMK_RETURN_IF_ERROR(read(&v, what));
    out->value = v;
    return absl::OkStatus();
  }

  absl::Status read_value(GgufType type, GgufValue* out, const std::string& what) {
    switch (type) {
      case GgufType::kUint8: return read_scalar<uint8_t>(out, what);
      case GgufType::kInt8: return read_scalar<int8_t>(out, what);
      case GgufType::kUint16: return read_scalar<uint16_t>(out, what);
      case GgufType::kInt16: return read_scalar<int16_t>(out, what);
      case GgufType::kUint32: return read_scalar<uint32_t>(out, what);
      case GgufType::kInt32: return read_scalar<int32_t>(out, what);
      case GgufType::kFloat32: return read_scalar<float>(out, what);
      case GgufType::kUint64: return read_scalar<uint64_t>(out, what);
      case GgufType::kInt64: return read_scalar<int64_t>(out, what);
      case GgufType::kFloat64: return read_scalar<double>(out, what);
      case GgufType::kBool: {
        bool b = false;
        LLMK_RETURN_IF_ERROR(read_bool(&b, what));
        out->value = b;
        return absl::OkStatus();
      }
      case GgufType::kString: {
        std::string s;
        LLMK_RETURN_IF_ERROR(read_string(&s, GgufFile::kMaxStringBytes, what));
        out->value = std::move(s);
        return absl::OkStatus();
      }
      case GgufType::kArray: {
        GgufArray array;
        LLMK_RETURN_IF_ERROR(read_array(&array, what));
        out->value = std::move(array);
        return absl::OkStatus();
      }
    }
    return absl::InternalError("unreachable GGUF type");
  }

  // count little-endian scalars, copied in one go (the bytes are checked).
  template <class T>
  void take_scalars(uint64_t count, GgufArray* out) {
    std::vector<T> values(count);
    if (count != 0) std::memcpy(values.data(), bytes_.data() + pos_, count * sizeof(T));
    pos_ += count * sizeof(T);
    out->values = std::move(values);
  }

  absl::Status read_array(GgufArray* out, const std::string& what) {
    uint32_t raw_type = 0;
    uint64_t count = 0;
    LLMK_RETURN_IF_ERROR(read(&raw_type, what + " array element type"));
    if (raw_type == static_cast<uint32_t>(GgufType::kArray)) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": nested arrays (an array of ARRAY) are not supported"));
    }
    if (!gguf_internal::is_known_value_type(raw_type)) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": array element type ", raw_type, " is not a GGUF type"));
    }
    const auto type = static_cast<GgufType>(raw_type);
    const std::string_view type_name = gguf_type_name(type);
    LLMK_RETURN_IF_ERROR(read(&count, what + " array length"));
    if (count > GgufFile::kMaxArrayElements) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": array of ", count, " ", to_absl(type_name),
                       " elements exceeds the limit of ", GgufFile::kMaxArrayElements));
    }
    // A string element takes at least its u64 length. count ≤ 2^28, so the
    // product cannot overflow.
    const uint64_t min_element_bytes =
        type == GgufType::kString ? 8 : gguf_internal::scalar_file_bytes(type);
    if (count * min_element_bytes > left()) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, ": array of ", count, " ", to_absl(type_name), " elements needs at least ",
          count * min_element_bytes, " bytes, but only ", left(), " bytes are left"));
    }
    out->element_type = type;
    switch (type) {
      case GgufType::kUint8: take_scalars<uint8_t>(count, out); break;
      case GgufType::kInt8: take_scalars<int8_t>(count, out); break;
      case GgufType::kUint16: take_scalars<uint16_t>(count, out); break;
      case GgufType::kInt16: take_scalars<int16_t>(count, out); break;
      case GgufType::kUint32: take_scalars<uint32_t>(count, out); break;
      case GgufType::kInt32: take_scalars<int32_t>(count, out); break;
      case GgufType::kFloat32: take_scalars<float>(count, out); break;
      case GgufType::kUint64: take_scalars<uint64_t>(count, out); break;
      case GgufType::kInt64: take_scalars<int64_t>(count, out); break;
      case GgufType::kFloat64: take_scalars<double>(count, out); break;
      case GgufType::kBool: {
        std::vector<bool> values(count);
        for (uint64_t i = 0; i < count; ++i) {
          const uint8_t byte = take<uint8_t>();
          if (byte > 1) {
            return absl::InvalidArgumentError(absl::StrCat(
                what, ": array element ", i, ": bool value ", static_cast<int>(byte), " is not 0 or 1"));
          }
          values[i] = byte == 1;
        }
        out->values = std::move(values);
        break;
      }
      case GgufType::kString: {
        std::vector<std::string> values(count);
        for (uint64_t i = 0; i < count; ++i) {
          LLMK_RETURN_IF_ERROR(read_string(&values[i], GgufFile::kMaxStringBytes, what,
                                           static_cast<int64_t>(i)));
        }
        out->values = std::move(values);
        break;
      }
      case GgufType::kArray: break;  // rejected above
    }
    return absl::OkStatus();
  }

  absl::Status read_tensor_infos(uint64_t tensor_count) {
    if (tensor_count * gguf_internal::kMinTensorInfoBytes > left()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "GGUF header: tensor count ", tensor_count, " needs at least ",
          tensor_count * gguf_internal::kMinTensorInfoBytes, " bytes of tensor infos, but only ",
          left(), " bytes follow the metadata"));
    }
    file_->tensors_.reserve(tensor_count);
    for (uint64_t i = 0; i < tensor_count; ++i) {
      const std::string record = absl::StrCat("GGUF tensor #", i);
      GgufTensorInfo info;
      LLMK_RETURN_IF_ERROR(read_string(&info.name, GgufFile::kMaxStringBytes, record));
      LLMK_RETURN_IF_ERROR(gguf_internal::check_tensor_name(info.name, record));
      const std::string what = absl::StrCat("GGUF tensor '", printable(info.name), "'");
      if (file_->index_->tensors.contains(info.name)) {
        return absl::InvalidArgumentError(absl::StrCat(what, ": duplicate tensor name"));
      }
      uint32_t n_dims = 0;
      LLMK_RETURN_IF_ERROR(read(&n_dims, what + " n_dims"));
      if (n_dims < 1 || n_dims > gguf_internal::kMaxDims) {
        return absl::InvalidArgumentError(absl::StrCat(
            what, ": n_dims = ", n_dims, " must be between 1 and ", gguf_internal::kMaxDims));
      }
      info.dims.resize(n_dims);
      for (uint32_t d = 0; d < n_dims; ++d) {
        LLMK_RETURN_IF_ERROR(read(&info.dims[d], absl::StrCat(what, " dims[", d, "]")));
      }
      uint32_t raw_type = 0;
      LLMK_RETURN_IF_ERROR(read(&raw_type, what + " type"));
      LLMK_RETURN_IF_ERROR(read(&info.offset, what + " offset"));
      LLMK_RETURN_IF_ERROR(gguf_internal::check_tensor_shape(what, raw_type, &info));
      file_->index_->tensors.emplace(info.name, file_->tensors_.size());
      file_->tensors_.push_back(std::move(info));
    }
    return absl::OkStatus();
  }

  // The data section starts at the first aligned offset after the tensor
  // infos; every tensor must lie inside it, aligned, without overlap.
  absl::Status place_data() {
    const uint32_t alignment = file_->alignment_;
    const std::optional<uint64_t> start = gguf_internal::align_up(pos_, alignment);
    if (!start || *start > bytes_.size()) {
      if (file_->tensors_.empty()) return absl::OkStatus();  // vocab-only files may end here
      return absl::InvalidArgumentError(absl::StrCat(
          "GGUF data section: truncated file: the data section starts at offset ", start.value_or(pos_),
          " (tensor infos end at ", pos_, ", alignment ", alignment, "), but the file has ",
          bytes_.size(), " bytes"));
    }
    file_->data_ = bytes_.subspan(*start);
    const uint64_t data_bytes = file_->data_.size();
    for (const GgufTensorInfo& t : file_->tensors_) {
      const std::string what = absl::StrCat("GGUF tensor '", printable(t.name), "'");
      if (t.offset % alignment != 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            what, ": data offset ", t.offset, " is not a multiple of the alignment ", alignment));
      }
      uint64_t end;
      if (__builtin_add_overflow(t.offset, t.bytes, &end)) {
        return absl::InvalidArgumentError(absl::StrCat(what, ": data offset ", t.offset, " + ",
                                                       t.bytes, " bytes wraps around 2^64"));
      }
      if (end > data_bytes) {
        return absl::InvalidArgumentError(absl::StrCat(
            what, ": data [", t.offset, ", ", end, ") extends past the end of the data section (",
            data_bytes, " bytes from file offset ", *start, ")"));
      }
    }
    std::vector<size_t> order(file_->tensors_.size());
    std::iota(order.begin(), order.end(), size_t{0});
    const auto& tensors = file_->tensors_;
    std::sort(order.begin(), order.end(),
              [&](size_t a, size_t b) { return tensors[a].offset < tensors[b].offset; });
    for (size_t k = 1; k < order.size(); ++k) {
      const GgufTensorInfo& prev = tensors[order[k - 1]];
      const GgufTensorInfo& cur = tensors[order[k]];
      if (prev.offset + prev.bytes > cur.offset) {  // both checked above: no overflow
        return absl::InvalidArgumentError(absl::StrCat(
            "GGUF tensor '", printable(cur.name), "': data [", cur.offset, ", ",
            cur.offset + cur.bytes, ") overlaps tensor '", printable(prev.name), "' [",
            prev.offset, ", ", prev.offset + prev.bytes, ")"));
      }
    }
    return absl::OkStatus();
  }

  std::span<const uint8_t> bytes_;
  uint64_t pos_ = 0;
  std::unique_ptr<GgufFile> file_;
};

absl::StatusOr<std::unique_ptr<GgufFile>> GgufFile::parse(std::span<const uint8_t> bytes) {
  return GgufParser(bytes).run();
}

absl::StatusOr<std::unique_ptr<GgufFile>> GgufFile::open(const std::string& path) {
  const auto os_error = [&](std::string_view call, int err) {
    const std::string message =
        absl::StrCat(path, ": ", to_absl(call), " failed: ", std::strerror(err));
    if (err == ENOENT) return absl::NotFoundError(message);
    if (err == EACCES || err == EPERM) return absl::PermissionDeniedError(message);
    return absl::UnavailableError(message);
  };
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return os_error("open", errno);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return os_error("fstat", err);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a regular file"));
  }
  const auto size = static_cast<size_t>(st.st_size);
  void* mapping = nullptr;
  if (size > 0) {
    mapping = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (mapping == MAP_FAILED) {
      const int err = errno;
      ::close(fd);
      return os_error("mmap", err);
    }
  }
  ::close(fd);  // the mapping keeps the file alive
  std::span<const uint8_t> bytes;
  if (mapping) bytes = {static_cast<const uint8_t*>(mapping), size};
  absl::StatusOr<std::unique_ptr<GgufFile>> file = parse(bytes);
  if (!file.ok()) {
    if (mapping) ::munmap(mapping, size);
    return absl::Status(file.status().code(), absl::StrCat(path, ": ", file.status().message()));
  }
  (*file)->mapping_ = mapping;
  (*file)->mapping_size_ = size;
  return file;
}

GgufFile::~GgufFile() {
  if (mapping_) ::munmap(mapping_, mapping_size_);
}

const GgufValue* GgufFile::find(std::string_view key) const {
  auto it = index_->keys.find(to_absl(key));
  return it == index_->keys.end() ? nullptr : &metadata_[it->second].value;
}

const GgufTensorInfo* GgufFile::find_tensor(std::string_view name) const {
  auto it = index_->tensors.find(to_absl(name));
  return it == index_->tensors.end() ? nullptr : &tensors_[it->second];
}

namespace {

absl::Status wrong_type(std::string_view key, GgufType stored, std::string_view expected) {
  return absl::InvalidArgumentError(
      absl::StrCat("GGUF key '", printable(key), "' has type ",
                   to_absl(gguf_type_name(stored)), ", expected ", to_absl(expected)));
}

absl::Status missing(std::string_view key) {
  return absl::NotFoundError(absl::StrCat("GGUF key '", printable(key), "' is missing"));
}

}  // namespace

absl::StatusOr<std::string> GgufFile::get_string(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return missing(key);
  if (v->type != GgufType::kString) return wrong_type(key, v->type, "STRING");
  return std::get<std::string>(v->value);
}

absl::StatusOr<uint64_t> GgufFile::get_uint(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return missing(key);
  int64_t signed_value = 0;
  switch (v->type) {
    case GgufType::kUint8: return std::get<uint8_t>(v->value);
    case GgufType::kUint16: return std::get<uint16_t>(v->value);
    case GgufType::kUint32: return std::get<uint32_t>(v->value);
    case GgufType::kUint64: return std::get<uint64_t>(v->value);
    case GgufType::kInt8: signed_value = std::get<int8_t>(v->value); break;
    case GgufType::kInt16: signed_value = std::get<int16_t>(v->value); break;
    case GgufType::kInt32: signed_value = std::get<int32_t>(v->value); break;
    case GgufType::kInt64: signed_value = std::get<int64_t>(v->value); break;
    default: return wrong_type(key, v->type, "an integer");
  }
  if (signed_value < 0) {
    return absl::InvalidArgumentError(absl::StrCat("GGUF key '", printable(key), "' = ",
                                                   signed_value, " must not be negative"));
  }
  return static_cast<uint64_t>(signed_value);
}

absl::StatusOr<double> GgufFile::get_float(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return missing(key);
  if (v->type == GgufType::kFloat32) return std::get<float>(v->value);
  if (v->type == GgufType::kFloat64) return std::get<double>(v->value);
  return wrong_type(key, v->type, "FLOAT32 or FLOAT64");
}

absl::StatusOr<bool> GgufFile::get_bool(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return missing(key);
  if (v->type != GgufType::kBool) return wrong_type(key, v->type, "BOOL");
  return std::get<bool>(v->value);
}

absl::StatusOr<const GgufArray*> GgufFile::get_array(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return missing(key);
  if (v->type != GgufType::kArray) return wrong_type(key, v->type, "ARRAY");
  return &std::get<GgufArray>(v->value);
}

std::span<const uint8_t> GgufFile::tensor_data(const GgufTensorInfo& info) const {
  // The parser checked every tensor of this file; this guards against an info
  // from elsewhere.
  if (info.offset > data_.size() || info.bytes > data_.size() - info.offset) return {};
  return data_.subspan(info.offset, info.bytes);
}

}  // namespace llmk
