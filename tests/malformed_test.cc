// The malformed-input suite: every hostile file must be rejected with a
// specific absl::Status error, without a crash, an out-of-bounds read (run it
// under -Dsanitize_ub_address=true) or an allocation the file does not
// justify (every heap block is counted, alloc_counter.h).
//
// Sections: GGUF (this part), then llama2.c checkpoints and model metadata.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <vector>

#include "doctest/doctest.h"
#include "llmk/gguf.h"
#include "alloc_counter.h"
#include "test_util.h"

// ---------------------------------------------------------------------------
// Allocation accounting (alloc_counter.h counts new, malloc and the aligned
// allocators alike), so a test can assert the peak heap use of one call.
namespace {

// Peak bytes allocated (above what was live at construction) while alive.
class PeakAllocation {
 public:
  PeakAllocation() : base_(llmk::test::live_heap_bytes()) { llmk::test::reset_peak_heap_bytes(); }
  size_t peak_bytes() const { return static_cast<size_t>(llmk::test::peak_heap_bytes() - base_); }

 private:
  int64_t base_;
};

}  // namespace

namespace llmk {
namespace {

// ===========================================================================
// GGUF
// ===========================================================================

// Raw GGUF type numbers, so the tests can also write invalid ones.
constexpr uint32_t kU8 = 0, kI32 = 5, kBool = 7, kString = 8, kArray = 9, kU32 = 4,
                   kU64 = 10;
constexpr uint32_t kF32 = 0, kQ4_0 = 2, kQ8_0 = 8;
constexpr uint64_t kU64Max = std::numeric_limits<uint64_t>::max();
constexpr uint64_t kI64Max = std::numeric_limits<int64_t>::max();

// Builds a GGUF file byte by byte; nothing is validated, on purpose.
class GgufBytes {
 public:
  GgufBytes& raw(std::string_view s) {
    bytes.insert(bytes.end(), s.begin(), s.end());
    return *this;
  }
  template <class T>
  GgufBytes& put(T v) {
    const size_t at = bytes.size();
    bytes.resize(at + sizeof(T));
    std::memcpy(bytes.data() + at, &v, sizeof(T));
    return *this;
  }
  GgufBytes& u8(uint8_t v) { return put(v); }
  GgufBytes& u32(uint32_t v) { return put(v); }
  GgufBytes& u64(uint64_t v) { return put(v); }
  GgufBytes& str(std::string_view s) { return u64(s.size()).raw(s); }
  GgufBytes& zeros(size_t n) {
    bytes.resize(bytes.size() + n, 0);
    return *this;
  }
  GgufBytes& pad(size_t alignment) {
    bytes.resize((bytes.size() + alignment - 1) / alignment * alignment, 0);
    return *this;
  }

  GgufBytes& header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
    return raw("GGUF").u32(version).u64(n_tensors).u64(n_kv);
  }
  GgufBytes& kv_u32(std::string_view key, uint32_t v) { return str(key).u32(kU32).u32(v); }
  GgufBytes& kv_string(std::string_view key, std::string_view v) {
    return str(key).u32(kString).str(v);
  }
  GgufBytes& tensor(std::string_view name, std::vector<uint64_t> dims, uint32_t type,
                    uint64_t offset) {
    str(name).u32(static_cast<uint32_t>(dims.size()));
    for (uint64_t d : dims) u64(d);
    return u32(type).u64(offset);
  }

  std::vector<uint8_t> bytes;
};

// A file with one tensor and `data_bytes` of data after the aligned infos.
std::vector<uint8_t> one_tensor(std::vector<uint64_t> dims, uint32_t type, uint64_t offset = 0,
                                size_t data_bytes = 32, std::string_view name = "w") {
  GgufBytes g;
  g.header(1, 0).tensor(name, std::move(dims), type, offset).pad(32).zeros(data_bytes);
  return g.bytes;
}

// A file whose only key/value is `key` with a value typed `type` and encoded
// by the caller in `value`.
std::vector<uint8_t> one_kv(std::string_view key, uint32_t type, const GgufBytes& value) {
  GgufBytes g;
  g.header(0, 1).str(key).u32(type);
  g.bytes.insert(g.bytes.end(), value.bytes.begin(), value.bytes.end());
  return g.bytes;
}

// general.alignment = value, typed `type`, plus one tensor at offset 0.
std::vector<uint8_t> with_alignment(uint32_t type, const GgufBytes& value) {
  GgufBytes g;
  g.header(1, 1).str("general.alignment").u32(type);
  g.bytes.insert(g.bytes.end(), value.bytes.begin(), value.bytes.end());
  g.tensor("w", {8}, kF32, 0).pad(64).zeros(64);
  return g.bytes;
}

// Parses a copy of `file` in a buffer of exactly its size (so a sanitizer
// sees any read past the end) and returns the status.
absl::Status parse_exact(const std::vector<uint8_t>& file) {
  std::unique_ptr<uint8_t[]> exact(new uint8_t[file.size()]);
  if (!file.empty()) std::memcpy(exact.get(), file.data(), file.size());
  auto parsed = GgufFile::parse({exact.get(), file.size()});
  return parsed.status();
}

// The file must be rejected as InvalidArgument with `needle` in the message.
void expect_rejected(const std::vector<uint8_t>& file, std::string_view needle) {
  const absl::Status status = parse_exact(file);
  const std::string message(status.message());
  INFO("message: " << message);
  INFO("expected to contain: " << std::string(needle));
  REQUIRE_FALSE(status.ok());
  CHECK(status.code() == absl::StatusCode::kInvalidArgument);
  CHECK(message.find(needle) != std::string::npos);
}

// A small valid file using strings, arrays, bools and two tensors; its last
// tensor ends exactly at the end of the file, so every prefix is invalid.
std::vector<uint8_t> small_valid_file() {
  GgufBytes g;
  g.header(2, 5)
      .kv_string("general.architecture", "llama")
      .kv_u32("llama.block_count", 1)
      .str("tokenizer.ggml.tokens").u32(kArray).u32(kString).u64(2).str("<s>").str("")
      .str("flag").u32(kBool).u8(1)
      .str("scores").u32(kArray).u32(6).u64(2).put(1.5f).put(-2.0f)
      .tensor("a", {8}, kF32, 0)
      .tensor("b", {32, 1}, kQ8_0, 32)
      .pad(32)
      .zeros(32 + 34);  // no padding after b: the file ends where b's data does
  return g.bytes;
}

TEST_CASE("GGUF valid controls: the builder's files parse (so rejections are specific)") {
  CHECK(parse_exact(small_valid_file()).ok());
  CHECK(parse_exact(one_tensor({8}, kF32)).ok());
  CHECK(parse_exact(one_tensor({32, 2}, kQ4_0, 0, 64)).ok());
  CHECK(parse_exact(one_tensor({8}, kF32, 0, 32, std::string(63, 'n'))).ok());
  CHECK(parse_exact(with_alignment(kU32, GgufBytes().u32(64))).ok());
  GgufBytes v2;
  v2.header(0, 1, 2).kv_u32("k", 1);
  CHECK(parse_exact(v2.bytes).ok());
  CHECK(parse_exact(one_kv("k", kBool, GgufBytes().u8(0))).ok());
}

TEST_CASE("GGUF allocation counter sees the library's allocations") {
  // A valid file with a 2 MiB string: parsing it must show a ≥ 2 MiB peak, so
  // the < 1 MiB bounds below measure something.
  GgufBytes g;
  g.header(0, 1).kv_string("k", std::string(2u << 20, 'x'));
  PeakAllocation peak;
  CHECK(parse_exact(g.bytes).ok());
  CHECK(peak.peak_bytes() >= (2u << 20));
}

// ---- header ---------------------------------------------------------------

TEST_CASE("GGUF malformed: empty file") { expect_rejected({}, "magic: truncated file"); }

TEST_CASE("GGUF malformed: 3-byte file") {
  expect_rejected({'G', 'G', 'U'}, "magic: truncated file");
}

TEST_CASE("GGUF malformed: bad magic GGML") {
  GgufBytes g;
  g.raw("GGML").u32(3).u64(0).u64(0);
  expect_rejected(g.bytes, "bad magic 'GGML'");
}

TEST_CASE("GGUF malformed: lower-case magic gguf") {
  GgufBytes g;
  g.raw("gguf").u32(3).u64(0).u64(0);
  expect_rejected(g.bytes, "bad magic 'gguf'");
}

TEST_CASE("GGUF malformed: version 0") {
  expect_rejected(GgufBytes().header(0, 0, 0).bytes, "version 0 is not supported");
}

TEST_CASE("GGUF malformed: version 1 (32-bit counts) is rejected") {
  expect_rejected(GgufBytes().header(0, 0, 1).bytes, "version 1 is not supported");
}

TEST_CASE("GGUF malformed: version 4") {
  expect_rejected(GgufBytes().header(0, 0, 4).bytes, "version 4 is not supported");
}

TEST_CASE("GGUF malformed: version 0xFFFFFFFF") {
  expect_rejected(GgufBytes().header(0, 0, 0xFFFFFFFFu).bytes,
                  "version 4294967295 is not supported");
}

TEST_CASE("GGUF malformed: big-endian file (version 3 byte-swapped)") {
  expect_rejected(GgufBytes().header(0, 0, 0x03000000u).bytes, "big-endian");
}

TEST_CASE("GGUF malformed: header cut after the version") {
  expect_rejected(GgufBytes().raw("GGUF").u32(3).bytes, "tensor count: truncated file");
}

TEST_CASE("GGUF malformed: tensor count 2^63") {
  expect_rejected(GgufBytes().header(1ull << 63, 0).bytes,
                  "tensor count 9223372036854775808 exceeds the limit of 65536");
}

TEST_CASE("GGUF malformed: tensor count UINT64_MAX (negative as int64)") {
  expect_rejected(GgufBytes().header(kU64Max, 0).bytes, "exceeds the limit of 65536");
}

TEST_CASE("GGUF malformed: tensor count 65537, one over the cap") {
  expect_rejected(GgufBytes().header(65537, 0).bytes,
                  "tensor count 65537 exceeds the limit of 65536");
}

TEST_CASE("GGUF malformed: tensor count 1000 in a 100-byte file") {
  GgufBytes g;
  g.header(1000, 0).zeros(76);
  expect_rejected(g.bytes, "tensor count 1000 needs at least 33000 bytes");
}

TEST_CASE("GGUF malformed: key/value count UINT64_MAX") {
  expect_rejected(GgufBytes().header(0, kU64Max).bytes,
                  "key/value count 18446744073709551615 exceeds the limit of 65536");
}

TEST_CASE("GGUF malformed: key/value count 1000 in a 100-byte file") {
  GgufBytes g;
  g.header(0, 1000).zeros(76);
  expect_rejected(g.bytes, "key/value count 1000 needs at least 14000 bytes");
}

TEST_CASE("GGUF malformed: tensor count exceeds the bytes left after the metadata") {
  GgufBytes g;
  g.header(1, 1).kv_string("k", std::string(40, 'x')).zeros(20);
  expect_rejected(g.bytes, "bytes follow the metadata");
}

// ---- strings and keys -----------------------------------------------------

TEST_CASE("GGUF malformed: 48-byte file declaring a 3 GiB string allocates nothing big") {
  GgufBytes g;
  g.header(0, 1).str("k").u32(kString).u64(3ull << 30).raw("abc");
  REQUIRE(g.bytes.size() == 48);
  PeakAllocation peak;
  expect_rejected(g.bytes, "string length 3221225472 exceeds");
  CHECK(peak.peak_bytes() < (1u << 20));
}

TEST_CASE("GGUF malformed: 512 MiB string (under the cap) in a small file") {
  GgufBytes g;
  g.header(0, 1).str("k").u32(kString).u64(512ull << 20).raw("abcdef");
  PeakAllocation peak;
  expect_rejected(g.bytes, "string length 536870912 at offset 45 exceeds the 6 bytes left");
  CHECK(peak.peak_bytes() < (1u << 20));
}

TEST_CASE("GGUF malformed: key length 2^40") {
  GgufBytes g;
  g.header(0, 1).u64(1ull << 40).raw("key").u32(kU32).u32(1);
  expect_rejected(g.bytes, "GGUF key #0: string length 1099511627776 exceeds the limit of 65535");
}

TEST_CASE("GGUF malformed: key of 70000 bytes, over the spec's 65535") {
  GgufBytes g;
  g.header(0, 1).kv_u32(std::string(70000, 'k'), 1);
  expect_rejected(g.bytes, "string length 70000 exceeds the limit of 65535");
}

TEST_CASE("GGUF malformed: empty key") {
  expect_rejected(GgufBytes().header(0, 1).kv_u32("", 1).bytes, "GGUF key #0: key is empty");
}

TEST_CASE("GGUF malformed: key with an embedded NUL") {
  expect_rejected(GgufBytes().header(0, 1).kv_u32(std::string("gen\0eral", 8), 1).bytes,
                  "key contains a NUL byte at 3");
}

TEST_CASE("GGUF malformed: non-ASCII key") {
  expect_rejected(GgufBytes().header(0, 1).kv_u32("caf\xC3\xA9", 1).bytes,
                  "key byte 3 = 0xc3 is not ASCII");
}

TEST_CASE("GGUF malformed: duplicate key") {
  expect_rejected(GgufBytes().header(0, 2).kv_u32("a.b", 1).kv_u32("a.b", 2).bytes,
                  "GGUF key 'a.b': duplicate key");
}

// ---- values ----------------------------------------------------------------

TEST_CASE("GGUF malformed: value type 13") {
  expect_rejected(one_kv("k", 13, GgufBytes().u64(0)), "value type 13 is not a GGUF type");
}

TEST_CASE("GGUF malformed: value type 0xFFFFFFFF") {
  expect_rejected(one_kv("k", 0xFFFFFFFFu, GgufBytes().u64(0)),
                  "value type 4294967295 is not a GGUF type");
}

TEST_CASE("GGUF malformed: truncated UINT64 value") {
  expect_rejected(one_kv("k", kU64, GgufBytes().u32(7)), "GGUF key 'k': truncated file");
}

TEST_CASE("GGUF malformed: bool byte 2 (only 0 and 1 are accepted)") {
  expect_rejected(one_kv("k", kBool, GgufBytes().u8(2)), "bool value 2 is not 0 or 1");
}

TEST_CASE("GGUF malformed: bool array element 0xFF") {
  expect_rejected(one_kv("k", kArray, GgufBytes().u32(kBool).u64(3).u8(1).u8(0xFF).u8(0)),
                  "array element 1: bool value 255 is not 0 or 1");
}

TEST_CASE("GGUF malformed: nested array") {
  expect_rejected(one_kv("k", kArray, GgufBytes().u32(kArray).u64(1).u32(kU8).u64(1).u8(0)),
                  "nested arrays");
}

TEST_CASE("GGUF malformed: array element type 99") {
  expect_rejected(one_kv("k", kArray, GgufBytes().u32(99).u64(1).u8(0)),
                  "array element type 99 is not a GGUF type");
}

TEST_CASE("GGUF malformed: string array of 2^27 entries allocates nothing big") {
  PeakAllocation peak;
  expect_rejected(one_kv("k", kArray, GgufBytes().u32(kString).u64(1ull << 27).str("a")),
                  "array of 134217728 STRING elements needs at least 1073741824 bytes");
  CHECK(peak.peak_bytes() < (1u << 20));
}

TEST_CASE("GGUF malformed: UINT8 array of 2^28 + 1 entries, over the cap") {
  expect_rejected(one_kv("k", kArray, GgufBytes().u32(kU8).u64((1ull << 28) + 1).u8(0)),
                  "exceeds the limit of 268435456");
}

TEST_CASE("GGUF malformed: UINT32 array of 2^62 entries (byte count would wrap)") {
  expect_rejected(one_kv("k", kArray, GgufBytes().u32(kU32).u64(1ull << 62).u32(0)),
                  "array of 4611686018427387904 UINT32 elements exceeds the limit");
}

TEST_CASE("GGUF malformed: UINT64 array longer than the bytes left") {
  expect_rejected(one_kv("k", kArray, GgufBytes().u32(kU64).u64(1000).u64(1)),
                  "needs at least 8000 bytes, but only 8 bytes are left");
}

TEST_CASE("GGUF malformed: string array element longer than the file") {
  expect_rejected(one_kv("k", kArray, GgufBytes().u32(kString).u64(2).str("ok").u64(100).raw("abc")),
                  "GGUF key 'k': array element 1: string length 100");
}

// ---- general.alignment ---------------------------------------------------

TEST_CASE("GGUF malformed: alignment 0") {
  expect_rejected(with_alignment(kU32, GgufBytes().u32(0)), "alignment 0 is not a power of two");
}

TEST_CASE("GGUF malformed: alignment 13") {
  expect_rejected(with_alignment(kU32, GgufBytes().u32(13)),
                  "alignment 13 is not a power of two");
}

TEST_CASE("GGUF malformed: alignment 2^31") {
  expect_rejected(with_alignment(kU32, GgufBytes().u32(1u << 31)),
                  "alignment 2147483648 exceeds the limit of 65536");
}

TEST_CASE("GGUF malformed: alignment 131072 (a power of two over 65536)") {
  expect_rejected(with_alignment(kU32, GgufBytes().u32(1u << 17)),
                  "alignment 131072 exceeds the limit of 65536");
}

TEST_CASE("GGUF malformed: alignment typed INT32") {
  expect_rejected(with_alignment(kI32, GgufBytes().u32(32)),
                  "'general.alignment': type INT32, expected UINT32");
}

TEST_CASE("GGUF malformed: alignment typed STRING") {
  expect_rejected(with_alignment(kString, GgufBytes().str("32")),
                  "'general.alignment': type STRING, expected UINT32");
}

TEST_CASE("GGUF malformed: alignment typed UINT64") {
  expect_rejected(with_alignment(kU64, GgufBytes().u64(32)),
                  "'general.alignment': type UINT64, expected UINT32");
}

TEST_CASE("GGUF malformed: data offset 32 under alignment 64") {
  GgufBytes g;
  g.header(1, 1).kv_u32("general.alignment", 64).tensor("w", {8}, kF32, 32).pad(64).zeros(64);
  expect_rejected(g.bytes, "data offset 32 is not a multiple of the alignment 64");
}

// ---- tensor infos -------------------------------------------------------

TEST_CASE("GGUF malformed: empty tensor name") {
  expect_rejected(one_tensor({8}, kF32, 0, 32, ""), "GGUF tensor #0: tensor name is empty");
}

TEST_CASE("GGUF malformed: tensor name of 64 bytes") {
  expect_rejected(one_tensor({8}, kF32, 0, 32, std::string(64, 'n')),
                  "tensor name of 64 bytes is too long (at most 63)");
}

TEST_CASE("GGUF malformed: tensor name with a NUL") {
  expect_rejected(one_tensor({8}, kF32, 0, 32, std::string("blk\0x", 5)),
                  "tensor name contains a NUL byte at 3");
}

TEST_CASE("GGUF malformed: tensor name length 2^40") {
  GgufBytes g;
  g.header(1, 0).u64(1ull << 40).raw("w").u32(1).u64(8).u32(kF32).u64(0).pad(32).zeros(32);
  expect_rejected(g.bytes, "GGUF tensor #0: string length 1099511627776 exceeds");
}

TEST_CASE("GGUF malformed: duplicate tensor name") {
  GgufBytes g;
  g.header(2, 0).tensor("w", {8}, kF32, 0).tensor("w", {8}, kF32, 32).pad(32).zeros(64);
  expect_rejected(g.bytes, "GGUF tensor 'w': duplicate tensor name");
}

TEST_CASE("GGUF malformed: zero dimensions (n_dims = 0)") {
  GgufBytes g;
  g.header(1, 0).str("w").u32(0).u32(kF32).u64(0).zeros(64);
  expect_rejected(g.bytes, "GGUF tensor 'w': n_dims = 0 must be between 1 and 4");
}

TEST_CASE("GGUF malformed: five dimensions") {
  expect_rejected(one_tensor({8, 1, 1, 1, 1}, kF32), "n_dims = 5 must be between 1 and 4");
}

TEST_CASE("GGUF malformed: n_dims 0xFFFFFFFF") {
  GgufBytes g;
  g.header(1, 0).str("w").u32(0xFFFFFFFFu).u64(8).u32(kF32).u64(0).zeros(64);
  expect_rejected(g.bytes, "n_dims = 4294967295 must be between 1 and 4");
}

TEST_CASE("GGUF malformed: zero dimension dims[1] = 0") {
  expect_rejected(one_tensor({8, 0}, kF32), "GGUF tensor 'w': dims[1] = 0 must be ≥ 1");
}

TEST_CASE("GGUF malformed: zero row length dims[0] = 0") {
  expect_rejected(one_tensor({0}, kF32), "dims[0] = 0 must be ≥ 1");
}

TEST_CASE("GGUF malformed: overflowing dims INT64_MAX × 2") {
  expect_rejected(one_tensor({kI64Max, 2}, kF32),
                  "element count overflows (dims 9223372036854775807 × 2");
}

TEST_CASE("GGUF malformed: dims 2^32 × 2^32 wrap to 0 elements") {
  expect_rejected(one_tensor({1ull << 32, 1ull << 32}, kF32), "element count overflows");
}

TEST_CASE("GGUF malformed: a single dimension of 2^63 exceeds INT64_MAX") {
  expect_rejected(one_tensor({1ull << 63}, kF32), "element count overflows");
}

TEST_CASE("GGUF malformed: F32 byte size 4 × 2^62 overflows") {
  expect_rejected(one_tensor({1ull << 62}, kF32), "byte size overflows");
}

TEST_CASE("GGUF malformed: F16 tensor of INT64_MAX elements (2^64 − 2 bytes)") {
  expect_rejected(one_tensor({kI64Max}, 1), "data [0, 18446744073709551614) extends past the end");
}

TEST_CASE("GGUF malformed: size whose padding would wrap to 0 (2^64 − 4 bytes)") {
  expect_rejected(one_tensor({(1ull << 62) - 1}, kF32), "extends past the end of the data");
}

TEST_CASE("GGUF malformed: tensor type -1") {
  expect_rejected(one_tensor({8}, 0xFFFFFFFFu), "tensor type 4294967295 (#4294967295) is not");
}

TEST_CASE("GGUF malformed: tensor type 1000") {
  expect_rejected(one_tensor({8}, 1000), "tensor type 1000 (#1000) is not supported");
}

TEST_CASE("GGUF malformed: tensor type 3 (Q4_1, unsupported)") {
  expect_rejected(one_tensor({32}, 3), "tensor type 3 (Q4_1) is not supported");
}

TEST_CASE("GGUF malformed: tensor type 20 (IQ4_NL, unsupported)") {
  expect_rejected(one_tensor({256}, 20), "tensor type 20 (IQ4_NL) is not supported");
}

TEST_CASE("GGUF malformed: K-quant rows that are not whole 256-value blocks") {
  expect_rejected(one_tensor({32}, 12), "Q4_K row length dims[0] = 32 is not a multiple of 256");
  expect_rejected(one_tensor({288}, 14), "Q6_K row length dims[0] = 288 is not a multiple of 256");
}

TEST_CASE("GGUF malformed: tensor type 4 (a removed ggml type)") {
  expect_rejected(one_tensor({32}, 4), "tensor type 4 (Q4_2) is not supported");
}

TEST_CASE("GGUF malformed: Q4_0 row length 33") {
  expect_rejected(one_tensor({33}, kQ4_0), "Q4_0 row length dims[0] = 33 is not a multiple of 32");
}

TEST_CASE("GGUF malformed: Q8_0 rows of 16 although the total (32) is a whole block") {
  expect_rejected(one_tensor({16, 2}, kQ8_0),
                  "Q8_0 row length dims[0] = 16 is not a multiple of 32");
}

TEST_CASE("GGUF malformed: tensor info cut inside dims") {
  // 33 bytes after the header pass the count check; dims[2] is cut.
  GgufBytes g;
  g.header(1, 0).str("w").u32(4).u64(8).u64(1).u32(7);
  expect_rejected(g.bytes, "GGUF tensor 'w' dims[2]: truncated file");
}

// ---- tensor data ---------------------------------------------------------

TEST_CASE("GGUF malformed: data offset far outside the file") {
  expect_rejected(one_tensor({8}, kF32, 1u << 20), "extends past the end of the data section");
}

TEST_CASE("GGUF malformed: data straddling the end of the file") {
  expect_rejected(one_tensor({16}, kF32, 0, 32), "data [0, 64) extends past the end");
}

TEST_CASE("GGUF malformed: offset + size wrapping around 2^64") {
  expect_rejected(one_tensor({16}, kF32, kU64Max - 31), "wraps around 2^64");
}

TEST_CASE("GGUF malformed: misaligned data offset 4") {
  expect_rejected(one_tensor({4}, kF32, 4, 64), "data offset 4 is not a multiple of the alignment 32");
}

TEST_CASE("GGUF malformed: overlapping tensors") {
  GgufBytes g;
  g.header(2, 0).tensor("a", {16}, kF32, 0).tensor("b", {8}, kF32, 32).pad(32).zeros(64);
  expect_rejected(g.bytes, "GGUF tensor 'b': data [32, 64) overlaps tensor 'a' [0, 64)");
}

TEST_CASE("GGUF malformed: two tensors at the same offset") {
  GgufBytes g;
  g.header(2, 0).tensor("a", {8}, kF32, 0).tensor("b", {8}, kF32, 0).pad(32).zeros(64);
  expect_rejected(g.bytes, "overlaps tensor");
}

TEST_CASE("GGUF malformed: overlap with tensor infos listed out of offset order") {
  GgufBytes g;
  g.header(3, 0)
      .tensor("c", {8}, kF32, 96)
      .tensor("b", {8}, kF32, 32)
      .tensor("a", {24}, kF32, 0)
      .pad(32)
      .zeros(128);
  expect_rejected(g.bytes, "GGUF tensor 'b': data [32, 64) overlaps tensor 'a' [0, 96)");
}

TEST_CASE("GGUF malformed: tensor infos but no data section") {
  GgufBytes g;
  g.header(1, 0).tensor("w", {8}, kF32, 0).zeros(3);  // ends before the aligned start
  expect_rejected(g.bytes, "the data section starts at offset 64");
}

TEST_CASE("GGUF malformed: truncation at every byte of a small valid file") {
  const std::vector<uint8_t> file = small_valid_file();
  REQUIRE(parse_exact(file).ok());
  REQUIRE(file.size() > 200);
  PeakAllocation peak;
  for (size_t n = 0; n < file.size(); ++n) {
    const absl::Status status =
        parse_exact(std::vector<uint8_t>(file.begin(), file.begin() + static_cast<long>(n)));
    const std::string message(status.message());
    INFO("prefix of " << n << " bytes: " << message);
    REQUIRE_FALSE(status.ok());
    CHECK(status.code() == absl::StatusCode::kInvalidArgument);
    // Each cut is reported as one of the length/size checks.
    const bool explained = message.find("truncated file") != std::string::npos ||
                           message.find("bytes left") != std::string::npos ||
                           message.find("bytes are left") != std::string::npos ||
                           message.find("needs at least") != std::string::npos ||
                           message.find("extends past the end") != std::string::npos;
    CHECK(explained);
  }
  CHECK(peak.peak_bytes() < (1u << 20));
}

}  // namespace
}  // namespace llmk
