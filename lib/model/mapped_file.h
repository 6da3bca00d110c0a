// A read-only memory mapping of a whole file (internal to lib/model).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "absl/status/statusor.h"

namespace llmk::internal {

class MappedFile {
 public:
  // NotFoundError / InvalidArgumentError naming the path on failure. An empty
  // file maps to an empty span (mmap of length 0 is not allowed).
  static absl::StatusOr<std::unique_ptr<MappedFile>> open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  std::span<const uint8_t> bytes() const { return {data_, size_}; }

  // Gives the pages this process touched back (MADV_DONTNEED): they stay in
  // the page cache and fault in again if read. For a mapping kept alive only
  // in case something reads it again.
  void drop_resident_pages() const;

 private:
  MappedFile() = default;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  bool mapped_ = false;
};

// Reads out.size() bytes of `path` from `offset` with pread, in large chunks
// (not through a mapping, so no second view of the page cache's copy becomes
// resident here). InvalidArgumentError naming the path on a short read (the
// file shrank) or a read error.
absl::Status read_file_range(const std::string& path, uint64_t offset, std::span<uint8_t> out);

// Memory the kernel reports available now (MemAvailable), or the physical
// memory when that is unknown; 0 when neither is.
size_t available_memory_bytes();

}  // namespace llmk::internal
