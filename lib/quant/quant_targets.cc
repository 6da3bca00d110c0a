// The quantized kernels compiled once per Highway target: the families'
// -inl.h files, the per-target row drivers that pick a kernel per weight
// type, and the QuantTargetKernels table that exports them all
// (quant_kernels.h). Threading and buffers are the caller's (matmul.cc).
// Arrays and members of vectors (the register tiles of the matvec and
// quantized kernels) cannot have SVE's sizeless types, so on aarch64 this
// unit is compiled without the SVE targets: SVE CPUs run its NEON code
// (Highway dispatches per translation unit).
#if defined(__aarch64__)
#undef HWY_DISABLED_TARGETS
#ifdef LLMK_SKIPPED_TARGETS
#define HWY_DISABLED_TARGETS (HWY_ALL_SVE | LLMK_SKIPPED_TARGETS)
#else
#define HWY_DISABLED_TARGETS HWY_ALL_SVE
#endif
#endif
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "quant/quant_targets.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include <cstddef>
#include <cstdint>

#include "hwy/highway.h"
#include "quant/dequant-inl.h"
#include "quant/dot_q8-inl.h"
#include "quant/fp16-inl.h"
#include "quant/interleaved-inl.h"
#include "quant/kquant_dot-inl.h"
#include "quant/quant_kernels.h"
#include "quant/quantize-inl.h"

HWY_BEFORE_NAMESPACE();
namespace llmk {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Row drivers: one weight row against x (or its Q8_0 blocks) by RowKind, and
// the row loop that picks the tile kernels where the target has them.

HWY_INLINE float RowDot(RowKind kind, const uint8_t* row, size_t cols, const float* x,
                        const Q8_0Block* xq) {
  const size_t blocks = cols / kQuantBlock;
  switch (kind) {
    case RowKind::kF16:
      return DotF16F32(reinterpret_cast<const uint16_t*>(row), x, cols);
    case RowKind::kQ4F32:
      return DotQ4F32(reinterpret_cast<const Q4_0Block*>(row), x, blocks);
    case RowKind::kQ8F32:
      return DotQ8F32(reinterpret_cast<const Q8_0Block*>(row), x, blocks);
    case RowKind::kQ4Q8:
      return DotQ4Q8(reinterpret_cast<const Q4_0Block*>(row), xq, blocks);
    case RowKind::kQ8Q8:
      return DotQ8Q8(reinterpret_cast<const Q8_0Block*>(row), xq, blocks);
    case RowKind::kBF16:
      return DotBF16F32(reinterpret_cast<const uint16_t*>(row), x, cols);
  }
  return 0.0f;
}

// Bytes PrepareActivations needs for `batch` vectors of `blocks` Q8_0 blocks;
// 0 where this target's kernels read the blocks directly (or it overflows).
size_t PreparedBytes(size_t blocks, size_t batch) {
#if HWY_TARGET <= HWY_AVX2
  size_t bytes = 0;
  if (__builtin_mul_overflow(PreparedX::Stride(blocks), batch, &bytes)) return 0;
  return bytes;
#else
  (void)blocks;
  (void)batch;
  return 0;
#endif
}

#if HWY_TARGET <= HWY_AVX2
template <class W>
HWY_INLINE void Prepare(const Q8_0Block* HWY_RESTRICT xq, size_t blocks, size_t batch,
                        uint8_t* HWY_RESTRICT out) {
  const DirectX<W> src{xq, blocks};
  const size_t stride = PreparedX::Stride(blocks);
  for (size_t v = 0; v < batch; ++v) {
    uint8_t* o = out + v * stride;
    for (size_t k = 0; k < blocks; ++k) {
      hn::Store(src.X(v, k), DBI8(), reinterpret_cast<int8_t*>(o + 64 * k));
      hn::Store(src.Bias(v, k), DBI32(), reinterpret_cast<int32_t*>(o + 64 * k + 32));
    }
    float* scales = reinterpret_cast<float*>(o + 64 * blocks);
    for (size_t k = 0; k < (blocks + 3) / 4 * 4; ++k) scales[k] = src.Scale(v, k);
  }
}
#endif

// Lays out `batch` quantized activation vectors for WeightRows (PreparedX):
// done once per matvec / matmul, shared by every row and thread.
void PrepareActivations(RowKind kind, const Q8_0Block* HWY_RESTRICT xq, size_t blocks,
                        size_t batch, uint8_t* HWY_RESTRICT out) {
#if HWY_TARGET <= HWY_AVX2
  if (kind == RowKind::kQ4Q8) {
    Prepare<Q4Weights>(xq, blocks, batch, out);
  } else {
    Prepare<Q8Weights>(xq, blocks, batch, out);
  }
#else
  (void)kind;
  (void)xq;
  (void)blocks;
  (void)batch;
  (void)out;
#endif
}

// Rows [row_begin, row_end) of Y = X·Wᵀ for `batch` vectors (batch 1 is a
// matvec). `prepared` is PrepareActivations' output where PreparedBytes was
// non-zero, else null.
void WeightRows(RowKind kind, const uint8_t* HWY_RESTRICT w, size_t row_bytes, size_t rows,
                size_t cols, const float* HWY_RESTRICT x, const Q8_0Block* HWY_RESTRICT xq,
                const uint8_t* HWY_RESTRICT prepared, size_t batch, float* HWY_RESTRICT y,
                size_t row_begin, size_t row_end) {
  const size_t blocks = cols / kQuantBlock;
#if HWY_TARGET <= HWY_AVX2
  if (kind == RowKind::kQ4Q8 || kind == RowKind::kQ8Q8) {
    const bool q4 = kind == RowKind::kQ4Q8;
    if (prepared != nullptr) {
      const PreparedX xs{prepared, blocks, PreparedX::Stride(blocks)};
      if (q4) {
        WideRows<Q4Weights>(w, row_bytes, rows, blocks, xs, batch, y, row_begin, row_end);
      } else {
        WideRows<Q8Weights>(w, row_bytes, rows, blocks, xs, batch, y, row_begin, row_end);
      }
    } else if (q4) {
      WideRows<Q4Weights>(w, row_bytes, rows, blocks, DirectX<Q4Weights>{xq, blocks}, batch, y,
                          row_begin, row_end);
    } else {
      WideRows<Q8Weights>(w, row_bytes, rows, blocks, DirectX<Q8Weights>{xq, blocks}, batch, y,
                          row_begin, row_end);
    }
    return;
  }
#else
  (void)prepared;
#endif
  for (size_t r = row_begin; r < row_end; ++r) {
    const uint8_t* row = w + r * row_bytes;
    for (size_t b = 0; b < batch; ++b) {
      y[b * rows + r] =
          RowDot(kind, row, cols, x ? x + b * cols : nullptr, xq ? xq + b * blocks : nullptr);
    }
  }
}

const kernels::QuantTargetKernels* QuantKernelTable() {
  static constexpr kernels::QuantTargetKernels kTable = {
      .dot_q4_0_q8_0 = DotQ4Q8,
      .dot_q8_0_q8_0 = DotQ8Q8,
      .dot_q4_0_f32 = DotQ4F32,
      .dot_q8_0_f32 = DotQ8F32,
      .quantize_q8_0_ties_away = QuantizeQ8TiesAway,
      .quantize_q8_0_ties_even = QuantizeQ8TiesEven,
      .dequantize_q4_0 = DequantQ4,
      .dequantize_q8_0 = DequantQ8,
      .convert_f16 = ConvertF16,
      .convert_bf16 = ConvertBF16,
      .quantize_q8_k = QuantizeQ8K,
      .dot_q2_k_q8_k = DotQ2KQ8K,
      .dot_q3_k_q8_k = DotQ3KQ8K,
      .dot_q4_k_q8_k = DotQ4KQ8K,
      .dot_q5_k_q8_k = DotQ5KQ8K,
      .dot_q6_k_q8_k = DotQ6KQ8K,
      .kquant_rows = KQuantRows,
      .prepared_bytes = PreparedBytes,
      .prepare_activations = PrepareActivations,
      .weight_rows = WeightRows,
      .interleaved_supported = kInterleavedSupported,
      .prepare_interleaved_blocks = PrepareInterleavedBlocks,
      .interleaved_groups = InterleavedGroups,
  };
  return &kTable;
}

}  // namespace HWY_NAMESPACE
}  // namespace llmk
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace llmk::kernels {

HWY_EXPORT(QuantKernelTable);

const QuantTargetKernels& quant_targets() { return *HWY_DYNAMIC_DISPATCH(QuantKernelTable)(); }

}  // namespace llmk::kernels
#endif  // HWY_ONCE
