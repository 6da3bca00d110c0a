// GGUF writer (version 3). The layout matches ggml's: key/values in the order
// added, tensor infos in the order added, zero padding to the alignment, then
// each tensor's data padded to the alignment. It applies the reader's rules,
// so whatever it writes reads back.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "gguf/gguf_format.h"
#include "llmk/gguf.h"
#include "util/check.h"

namespace llmk {

using gguf_internal::printable;
using internal::to_absl;

namespace {

class ByteSink {
 public:
  template <class T>
  void put(T value) {
    const size_t at = out_.size();
    out_.resize(at + sizeof(T));
    std::memcpy(out_.data() + at, &value, sizeof(T));
  }
  void put_bytes(const void* data, size_t n) {
    const auto* p = static_cast<const uint8_t*>(data);
    out_.insert(out_.end(), p, p + n);
  }
  void put_string(std::string_view s) {
    put<uint64_t>(s.size());
    put_bytes(s.data(), s.size());
  }
  void pad_to(uint64_t alignment) {
    out_.resize(*gguf_internal::align_up(out_.size(), alignment), 0);
  }
  size_t size() const { return out_.size(); }
  void reserve(size_t n) { out_.reserve(n); }
  std::vector<uint8_t> take() { return std::move(out_); }

 private:
  std::vector<uint8_t> out_;
};

// The variant alternative must be the one `type` names, or the writer would
// emit bytes that disagree with the type tag.
absl::Status check_value(const GgufValue& value, std::string_view what) {
  const auto raw = static_cast<uint32_t>(value.type);
  if (!gguf_internal::is_known_value_type(raw)) {
    return absl::InvalidArgumentError(
        absl::StrCat(to_absl(what), ": value type ", raw, " is not a GGUF type"));
  }
  if (value.value.index() != raw) {
    return absl::InvalidArgumentError(
        absl::StrCat(to_absl(what), ": value does not hold a ",
                     to_absl(gguf_type_name(value.type)), " as its type says"));
  }
  if (const auto* s = std::get_if<std::string>(&value.value);
      s && s->size() > GgufFile::kMaxStringBytes) {
    return absl::InvalidArgumentError(absl::StrCat(to_absl(what), ": string of ", s->size(),
                                                   " bytes exceeds the limit"));
  }
  const auto* array = std::get_if<GgufArray>(&value.value);
  if (!array) return absl::OkStatus();
  if (array->element_type == GgufType::kArray) {
    return absl::InvalidArgumentError(
        absl::StrCat(to_absl(what), ": nested arrays are not supported"));
  }
  const std::optional<size_t> index = gguf_internal::array_variant_index(array->element_type);
  if (!index || array->values.index() != *index) {
    return absl::InvalidArgumentError(
        absl::StrCat(to_absl(what), ": array values do not match element type ",
                     static_cast<uint32_t>(array->element_type)));
  }
  if (array->size() > GgufFile::kMaxArrayElements) {
    return absl::InvalidArgumentError(absl::StrCat(to_absl(what), ": array of ", array->size(),
                                                   " elements exceeds the limit"));
  }
  if (const auto* strings = std::get_if<std::vector<std::string>>(&array->values)) {
    for (const std::string& s : *strings) {
      if (s.size() > GgufFile::kMaxStringBytes) {
        return absl::InvalidArgumentError(absl::StrCat(to_absl(what), ": array string of ",
                                                       s.size(), " bytes exceeds the limit"));
      }
    }
  }
  return absl::OkStatus();
}

template <class T>
void put_scalars(ByteSink& sink, const std::vector<T>& values) {
  sink.put_bytes(values.data(), values.size() * sizeof(T));
}

void put_array(ByteSink& sink, const GgufArray& array) {
  sink.put<uint32_t>(static_cast<uint32_t>(array.element_type));
  sink.put<uint64_t>(array.size());
  std::visit(
      [&](const auto& values) {
        using T = typename std::decay_t<decltype(values)>::value_type;
        if constexpr (std::is_same_v<T, std::string>) {
          for (const std::string& s : values) sink.put_string(s);
        } else if constexpr (std::is_same_v<T, bool>) {
          for (bool b : values) sink.put<uint8_t>(b ? 1 : 0);
        } else {
          put_scalars(sink, values);
        }
      },
      array.values);
}

void put_value(ByteSink& sink, const GgufValue& value) {
  sink.put<uint32_t>(static_cast<uint32_t>(value.type));
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string>) {
          sink.put_string(v);
        } else if constexpr (std::is_same_v<T, GgufArray>) {
          put_array(sink, v);
        } else if constexpr (std::is_same_v<T, bool>) {
          sink.put<uint8_t>(v ? 1 : 0);
        } else {
          sink.put<T>(v);
        }
      },
      value.value);
}

}  // namespace

void GgufWriter::set_alignment(uint32_t alignment) {
  alignment_ = alignment;
  alignment_set_ = true;
  for (GgufKeyValue& kv : metadata_) {
    if (kv.key == gguf_internal::kAlignmentKey) {
      kv.value = GgufValue{GgufType::kUint32, alignment};
      return;
    }
  }
  metadata_.push_back({std::string(gguf_internal::kAlignmentKey),
                       GgufValue{GgufType::kUint32, alignment}});
}

void GgufWriter::add(std::string key, GgufValue value) {
  // general.alignment added as a plain key still sets the layout; to_bytes()
  // rejects it when it is not a valid UINT32.
  if (key == gguf_internal::kAlignmentKey && value.type == GgufType::kUint32) {
    if (const auto* a = std::get_if<uint32_t>(&value.value)) {
      alignment_ = *a;
      alignment_set_ = true;
    }
  }
  metadata_.push_back({std::move(key), std::move(value)});
}

void GgufWriter::add_string(std::string key, std::string value) {
  add(std::move(key), GgufValue{GgufType::kString, std::move(value)});
}
void GgufWriter::add_uint32(std::string key, uint32_t value) {
  add(std::move(key), GgufValue{GgufType::kUint32, value});
}
void GgufWriter::add_float32(std::string key, float value) {
  add(std::move(key), GgufValue{GgufType::kFloat32, value});
}
void GgufWriter::add_bool(std::string key, bool value) {
  add(std::move(key), GgufValue{GgufType::kBool, value});
}
void GgufWriter::add_array(std::string key, GgufArray array) {
  add(std::move(key), GgufValue{GgufType::kArray, std::move(array)});
}

absl::Status GgufWriter::add_tensor(std::string name, std::vector<uint64_t> dims,
                                    TensorType type, std::span<const uint8_t> data) {
  const std::string what = absl::StrCat("GgufWriter::add_tensor '", printable(name), "'");
  LLMK_RETURN_IF_ERROR(gguf_internal::check_tensor_name(name, what));
  if (tensors_.size() >= GgufFile::kMaxTensors) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": more than ", GgufFile::kMaxTensors, " tensors"));
  }
  // A linear scan: real models have a few hundred tensors.
  for (const PendingTensor& t : tensors_) {
    if (t.info.name == name) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": duplicate tensor name"));
    }
  }
  GgufTensorInfo info;
  info.name = std::move(name);
  info.dims = std::move(dims);
  LLMK_RETURN_IF_ERROR(
      gguf_internal::check_tensor_shape(what, static_cast<uint32_t>(type), &info));
  if (data.size() != info.bytes) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": data has ", data.size(),
                                                   " bytes, expected ", info.bytes, " for ",
                                                   info.elements, " ",
                                                   to_absl(tensor_type_name(type))));
  }
  tensors_.push_back({std::move(info), std::vector<uint8_t>(data.begin(), data.end())});
  return absl::OkStatus();
}

absl::StatusOr<std::vector<uint8_t>> GgufWriter::to_bytes() const {
  if (metadata_.size() > GgufFile::kMaxKeys) {
    return absl::InvalidArgumentError(absl::StrCat("GgufWriter: ", metadata_.size(),
                                                   " keys exceed the limit of ",
                                                   GgufFile::kMaxKeys));
  }
  uint32_t alignment = GgufFile::kDefaultAlignment;
  absl::flat_hash_set<absl::string_view> seen;
  for (size_t i = 0; i < metadata_.size(); ++i) {
    const GgufKeyValue& kv = metadata_[i];
    LLMK_RETURN_IF_ERROR(gguf_internal::check_key(kv.key, absl::StrCat("GgufWriter key #", i)));
    const std::string what = absl::StrCat("GgufWriter key '", printable(kv.key), "'");
    if (!seen.insert(to_absl(kv.key)).second) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": duplicate key"));
    }
    LLMK_RETURN_IF_ERROR(check_value(kv.value, what));
    if (kv.key == gguf_internal::kAlignmentKey) {
      if (kv.value.type != GgufType::kUint32) {
        return absl::InvalidArgumentError(absl::StrCat(
            what, ": type ", to_absl(gguf_type_name(kv.value.type)), ", expected UINT32"));
      }
      alignment = std::get<uint32_t>(kv.value.value);
      LLMK_RETURN_IF_ERROR(gguf_internal::check_alignment(alignment, what));
    }
  }

  // Offsets relative to the data section, each tensor starting aligned.
  std::vector<uint64_t> offsets(tensors_.size());
  uint64_t data_bytes = 0;
  for (size_t i = 0; i < tensors_.size(); ++i) {
    offsets[i] = data_bytes;
    const std::optional<uint64_t> end =
        gguf_internal::align_up(data_bytes + tensors_[i].data.size(), alignment);
    if (!end) return absl::InvalidArgumentError("GgufWriter: total tensor data overflows");
    data_bytes = *end;
  }

  ByteSink sink;
  sink.reserve(data_bytes + 4096);
  sink.put<uint32_t>(gguf_internal::kMagic);
  sink.put<uint32_t>(3);
  sink.put<uint64_t>(tensors_.size());
  sink.put<uint64_t>(metadata_.size());
  for (const GgufKeyValue& kv : metadata_) {
    sink.put_string(kv.key);
    put_value(sink, kv.value);
  }
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const GgufTensorInfo& info = tensors_[i].info;
    sink.put_string(info.name);
    sink.put<uint32_t>(static_cast<uint32_t>(info.dims.size()));
    for (uint64_t d : info.dims) sink.put<uint64_t>(d);
    sink.put<uint32_t>(static_cast<uint32_t>(info.type));
    sink.put<uint64_t>(offsets[i]);
  }
  // ggml pads after the infos only when there is a data section to align.
  if (!tensors_.empty()) sink.pad_to(alignment);
  for (const PendingTensor& t : tensors_) {
    sink.put_bytes(t.data.data(), t.data.size());
    sink.pad_to(alignment);
  }
  return sink.take();
}

absl::Status GgufWriter::write(const std::string& path) const {
  LLMK_ASSIGN_OR_RETURN(auto bytes, to_bytes());
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return absl::UnavailableError(absl::StrCat(path, ": open failed: ", std::strerror(errno)));
  }
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      return absl::UnavailableError(absl::StrCat(path, ": write failed: ", std::strerror(err)));
    }
    done += static_cast<size_t>(n);
  }
  if (::close(fd) != 0) {
    return absl::UnavailableError(absl::StrCat(path, ": close failed: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace llmk
