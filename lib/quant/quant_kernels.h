// Unchecked, pointer-based entry points to the quantized kernels, for library
// code that has already validated its shapes (the forward pass). The public,
// checked API is llmk/quant.h.
//
// Conventions (stated once, not re-checked here):
// - `w` is a valid WeightView whose data holds w.rows · w.row_bytes() bytes;
//   for Q4_0 / Q8_0 weights w.cols is a multiple of 32 (kQuantBlock).
// - x points to w.cols floats (per batch row); y to w.rows floats (per batch
//   row). Pointers need no particular alignment.
// - x_q8, when given, is x quantized with quantize_row_q8_0 (w.cols / 32
//   blocks per batch row). Quantize x once and pass it to every projection
//   that reads the same x (q, k and v; gate and up), as ggml does.
#pragma once

#include <cstddef>
#include <cstdint>

#include "llmk/quant.h"

namespace llmk {
class ThreadPool;
}

namespace llmk::kernels {

// x[0, n) → n / 32 Q8_0 blocks, byte-identical to ggml's reference quantizer.
// n must be a multiple of 32.
void quantize_row_q8_0(const float* x, size_t n, Q8_0Block* out);

// Fused dot products over `blocks` blocks (32 · blocks values), dispatched to
// the best Highway target. Q·Q8_0 use integer dot products per block.
float dot_q4_0_q8_0(const Q4_0Block* a, const Q8_0Block* b, size_t blocks);
float dot_q8_0_q8_0(const Q8_0Block* a, const Q8_0Block* b, size_t blocks);
float dot_q4_0_f32(const Q4_0Block* a, const float* x, size_t blocks);
float dot_q8_0_f32(const Q8_0Block* a, const float* x, size_t blocks);

// blocks → 32 · blocks floats, bit-identical to ggml's dequantization.
void dequantize_q4_0(const Q4_0Block* blocks, size_t count, float* out);
void dequantize_q8_0(const Q8_0Block* blocks, size_t count, float* out);

// Row `row` of w (w.cols values) as f32, for embedding lookup. Bit-identical to
// ggml's dequantization for Q4_0 / Q8_0 and exact for F16 / F32.
void dequantize_row(const WeightView& w, size_t row, float* out);

// y = W·x. For Q4_0 / Q8_0 weights: if x_q8 is non-null the integer dot
// products against x_q8 are used (ActivationMode::kQuantizeQ8_0) and x is not
// read; otherwise the weights meet x in f32 (ActivationMode::kFloat). F32 / F16
// weights always use x (x_q8 is ignored and may be null). Rows are split over
// `pool` (may be null) when the matrix is large enough.
void matvec_weights(const WeightView& w, const float* x, const Q8_0Block* x_q8, float* y,
                    ThreadPool* pool, bool stream = true);

// Y = X·Wᵀ for `batch` rows of x (each w.cols floats, and w.cols / 32 blocks of
// x_q8 when given); Y is batch × w.rows, row-major. Each weight row is decoded
// once for the whole batch. Same x / x_q8 rule as matvec_weights.
// stream: as kernels::matvec's (F32 weights).
void matmul_weights(const WeightView& w, const float* x, const Q8_0Block* x_q8, size_t batch,
                    float* y, ThreadPool* pool, bool stream = true);

// Rows [row_begin, row_end) of Y = X·Wᵀ for row-major w, on the calling
// thread; row r of vector v goes to y[v · y_stride + r]. Same x / x_q8 rule.
void weight_rows_direct(const WeightView& w, const float* x, const Q8_0Block* x_q8, size_t batch,
                        float* y, size_t y_stride, size_t row_begin, size_t row_end);

// kInterleaved8 (lib/quant/packed_simd.cc). pack_rows8 writes w (row-major
// Q4_0 / Q8_0) re-laid out to out (w.rows · w.row_bytes() bytes);
// unpack_row8 writes row `row` of an interleaved w row-major (row_bytes()
// bytes); matmul_packed is matmul_weights for interleaved w.
void pack_rows8(const WeightView& w, uint8_t* out);
void unpack_row8(const WeightView& w, size_t row, uint8_t* out);
void matmul_packed(const WeightView& w, const float* x, const Q8_0Block* x_q8, size_t batch,
                   float* y, ThreadPool* pool);

}  // namespace llmk::kernels
