// The kInterleaved8 layout conversion (scalar byte shuffling, done once
// per matrix at load time): row-major Q4_0 / Q8_0 rows → groups of 8
// interleaved rows, and one row back. The byte layout is described in
// quant/interleaved-inl.h.
#include <cstring>

#include "quant/quant_kernels.h"

namespace llmk::kernels {
namespace {

// Bytes of one block of a whole group.
size_t group_block_bytes(bool q4) {
  return interleaved::kGroupRows * (q4 ? sizeof(Q4_0Block) : sizeof(Q8_0Block));
}

// Rows [first, first + 8) of row-major `src` → one interleaved group.
void pack_group(bool q4, const uint8_t* src, size_t row_bytes, size_t blocks, uint8_t* dst) {
  const size_t block_bytes = q4 ? sizeof(Q4_0Block) : sizeof(Q8_0Block);
  const size_t chunks = q4 ? 4 : 8;
  for (size_t k = 0; k < blocks; ++k) {
    uint8_t* out = dst + k * group_block_bytes(q4);
    for (size_t i = 0; i < interleaved::kGroupRows; ++i) {
      const uint8_t* block = src + i * row_bytes + k * block_bytes;
      std::memcpy(out + 2 * i, block, 2);  // fp16 d
      const uint8_t* qs = block + 2;
      for (size_t c = 0; c < chunks; ++c) {
        uint8_t* o = out + interleaved::kScaleBytes + 32 * c + 4 * i;
        for (size_t j = 0; j < 4; ++j) o[j] = q4 ? qs[4 * c + j] : qs[4 * c + j] ^ 0x80;
      }
    }
  }
}

// Row i of one interleaved group → its row-major blocks (the inverse).
void unpack_group_row(bool q4, const uint8_t* group, size_t blocks, size_t i, uint8_t* dst) {
  const size_t block_bytes = q4 ? sizeof(Q4_0Block) : sizeof(Q8_0Block);
  const size_t chunks = q4 ? 4 : 8;
  for (size_t k = 0; k < blocks; ++k) {
    const uint8_t* in = group + k * group_block_bytes(q4);
    uint8_t* block = dst + k * block_bytes;
    std::memcpy(block, in + 2 * i, 2);
    for (size_t c = 0; c < chunks; ++c) {
      const uint8_t* q = in + interleaved::kScaleBytes + 32 * c + 4 * i;
      for (size_t j = 0; j < 4; ++j) block[2 + 4 * c + j] = q4 ? q[j] : q[j] ^ 0x80;
    }
  }
}

}  // namespace

void repack_interleaved8(const WeightView& w, uint8_t* out) {
  const bool q4 = w.type == TensorType::kQ4_0;
  const size_t row_bytes = w.row_bytes();
  const size_t blocks = w.cols / kQuantBlock;
  const size_t groups = w.rows / interleaved::kGroupRows;
  const auto* src = static_cast<const uint8_t*>(w.data);
  const size_t group_bytes = interleaved::kGroupRows * row_bytes;
  for (size_t g = 0; g < groups; ++g) {
    pack_group(q4, src + g * group_bytes, row_bytes, blocks, out + g * group_bytes);
  }
  const size_t tail = groups * group_bytes;
  std::memcpy(out + tail, src + tail, (w.rows - groups * interleaved::kGroupRows) * row_bytes);
}

void unpack_interleaved_row(const WeightView& w, size_t row, uint8_t* out) {
  const size_t row_bytes = w.row_bytes();
  const auto* src = static_cast<const uint8_t*>(w.data);
  const size_t groups = w.rows / interleaved::kGroupRows;
  if (row >= groups * interleaved::kGroupRows) {
    std::memcpy(out, src + row * row_bytes, row_bytes);
    return;
  }
  const size_t g = row / interleaved::kGroupRows;
  unpack_group_row(w.type == TensorType::kQ4_0,
                   src + g * interleaved::kGroupRows * row_bytes, w.cols / kQuantBlock,
                   row % interleaved::kGroupRows, out);
}

}  // namespace llmk::kernels
