// Helpers shared by the libFuzzer targets in tests/fuzz.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <span>
#include <string>

#include "absl/status/status.h"

namespace llmk::fuzz {

// Exit code meson reports as "skipped"; .ci/fuzz.sh reads it the same way.
inline constexpr int kExitSkip = 77;

// The shared reference data folder: $LLMK_SHARED, else ../shared beside the
// source tree (LLMK_SOURCE_ROOT is set by tests/fuzz/meson.build).
inline std::optional<std::filesystem::path> shared_dir() {
  if (const char* env = std::getenv("LLMK_SHARED"); env != nullptr && *env != '\0') {
    if (std::filesystem::is_directory(env)) return std::filesystem::path(env);
    return std::nullopt;
  }
  std::filesystem::path beside = std::filesystem::path(LLMK_SOURCE_ROOT) / ".." / "shared";
  if (std::filesystem::is_directory(beside)) return beside;
  return std::nullopt;
}

// shared_dir()/relative, or exits with kExitSkip (and says why) when it is
// absent: a target without its fixed input has nothing to fuzz. Call it from
// LLVMFuzzerInitialize only.
inline std::string shared_file_or_exit(const std::string& relative) {
  if (auto dir = shared_dir()) {
    std::filesystem::path p = *dir / relative;
    if (std::filesystem::is_regular_file(p)) return p.string();
  }
  std::fprintf(stderr, "llmk-fuzz: skipped: shared file %s not found (set LLMK_SHARED)\n",
               relative.c_str());
  std::exit(kExitSkip);
}

// A file in memory (memfd) reachable through /proc/self/fd/N, so loaders that
// take a path can be fed the fuzzer's bytes without touching the disk. One
// instance is reused across inputs.
class MemFile {
 public:
  MemFile() {
    fd_ = memfd_create("llmk-fuzz", MFD_CLOEXEC);
    if (fd_ < 0) {
      std::perror("memfd_create");
      std::abort();  // the harness itself is broken, not the library
    }
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  ~MemFile() { close(fd_); }
  MemFile(const MemFile&) = delete;
  MemFile& operator=(const MemFile&) = delete;

  // Replaces the contents with `bytes`; returns the path to open.
  const std::string& set(std::span<const uint8_t> bytes) {
    if (ftruncate(fd_, 0) != 0) std::abort();
    size_t done = 0;
    while (done < bytes.size()) {
      ssize_t n = pwrite(fd_, bytes.data() + done, bytes.size() - done, static_cast<off_t>(done));
      if (n <= 0) std::abort();
      done += static_cast<size_t>(n);
    }
    return path_;
  }

 private:
  int fd_ = -1;
  std::string path_;
};

// With LLMK_FUZZ_VERBOSE set, targets print each rejection's message: useful
// to check that a seed gets as deep as intended.
inline void note(const char* what, const std::string& message) {
  static const bool verbose = std::getenv("LLMK_FUZZ_VERBOSE") != nullptr;
  if (verbose) std::fprintf(stderr, "llmk-fuzz: %s: %s\n", what, message.c_str());
}

// Checks that a rejection carries a message (every error must name what is
// wrong) and notes it.
inline void rejected(const char* target, const absl::Status& status) {
  if (status.ok() || status.message().empty()) {
    std::fprintf(stderr, "%s: an error without a message\n", target);
    std::abort();
  }
  note(target, status.ToString());
}

// Reads little-endian integers off the front of the input; zero once it runs out.
class ByteReader {
 public:
  explicit ByteReader(std::span<const uint8_t> bytes) : bytes_(bytes) {}
  bool empty() const { return pos_ >= bytes_.size(); }
  size_t left() const { return bytes_.size() - pos_; }
  template <class T>
  T read() {
    T value{};
    const size_t n = std::min(sizeof(T), left());
    std::memcpy(&value, bytes_.data() + pos_, n);
    pos_ += n;
    return value;
  }
  std::span<const uint8_t> rest() const { return bytes_.subspan(pos_); }

 private:
  std::span<const uint8_t> bytes_;
  size_t pos_ = 0;
};

}  // namespace llmk::fuzz
