// Unchecked, pointer-based entry points to the quantized kernels, for library
// code that has already validated its shapes (the forward pass). The public,
// checked API is llmk/quant.h. No SIMD types here: the per-target code is in
// the -inl.h files (fp16, quantize, dequant, dot_q8, interleaved, kquant_dot), compiled
// per target by quant_targets.cc into one QuantTargetKernels table; the row
// drivers and the threading that call it are in matmul.cc.
//
// Conventions (stated once, not re-checked here):
// - `w` is a valid WeightView whose data holds w.rows · w.row_bytes() bytes;
//   for Q4_0 / Q8_0 weights w.cols is a multiple of 32 (kQuantBlock).
// - x points to w.cols floats (per batch row); y to w.rows floats (per batch
//   row). Pointers need no particular alignment.
// - x_q8, when given, is x quantized with quantize_q8_0_ties_even (w.cols / 32
//   blocks per batch row). Quantize x once and pass it to every projection
//   that reads the same x (q, k and v; gate and up), as ggml does.
// - K-quant weights (Q2_K…Q6_K; w.cols a multiple of 256) always read x: a
//   non-null x_q8 only selects the integer path, on which the driver
//   quantizes x to Q8_K itself (once per call, into per-thread scratch).
//   kIntegerActivations is such a flag for callers without Q8_0 blocks.
//   BF16 weights, like F16, always meet x in f32.
#pragma once

#include <cstddef>
#include <cstdint>

#include "llmk/kquant.h"
#include "llmk/quant.h"
#include "ops/kernels.h"
#include "util/scratch.h"

namespace llmk {

class ThreadPool;

// What one weight row meets: the kind of dot product the row driver runs.
enum class RowKind { kF16, kQ4F32, kQ8F32, kQ4Q8, kQ8Q8, kBF16 };

// The kInterleaved8 layout (see quant/interleaved-inl.h for the bytes).
namespace interleaved {
inline constexpr size_t kGroupRows = 8;
inline constexpr size_t kScaleBytes = 16;  // 8 fp16 scales per block and group

// One activation block prepared for the interleaved kernels.
struct PreparedBlock {
  int8_t qs[32];
  int32_t bias;           // Q4_0: −8·Σx
  float d;                // the block's scale as f32
  int32_t chunk_bias[8];  // Q8_0: −128·Σx over elements 4c…4c+3
  int32_t holds_min;      // nonzero when qs holds −128 (see the Q8_0 kernels)
};
static_assert(sizeof(PreparedBlock) == 76, "PreparedBlock is 76 bytes");
}  // namespace interleaved

}  // namespace llmk

namespace llmk::kernels {

// x[0, n) → n / 32 Q8_0 blocks (n a multiple of 32), in one of ggml's two
// roundings; both give the same bytes on every target.
// ties_away: ggml's reference quantize_row_q8_0_ref (multiplier 1/d, round
//   half away from zero) — the bytes ggml stores; the public quantize_q8_0.
// ties_even: ggml-cpu's x86 quantize_row_q8_0 (multiplier 127/amax, round
//   half to even) — what llama.cpp does to activations before a quantized
//   matrix product; the forward pass and the public matvec / matmul.
void quantize_q8_0_ties_away(const float* x, size_t n, Q8_0Block* out);
void quantize_q8_0_ties_even(const float* x, size_t n, Q8_0Block* out);

// A non-null x_q8 for K-quant weights (see the conventions above); never read.
extern const Q8_0Block* const kIntegerActivations;

bool is_k_quant(TensorType type);

// x[0, n) → n / 256 Q8_K blocks (n a multiple of 256), the bytes of ggml's
// quantize_row_q8_K_ref on every target.
void quantize_q8_k(const float* x, size_t n, Q8_KBlock* out);

// K-quant weights · Q8_K activations over `blocks` super-blocks (256 values
// each), integer sums per sub-block. b's bsums must be the sums of its
// quants, as quantize_q8_k writes them.
float dot_q2_k_q8_k(const Q2_KBlock* a, const Q8_KBlock* b, size_t blocks);
float dot_q3_k_q8_k(const Q3_KBlock* a, const Q8_KBlock* b, size_t blocks);
float dot_q4_k_q8_k(const Q4_KBlock* a, const Q8_KBlock* b, size_t blocks);
float dot_q5_k_q8_k(const Q5_KBlock* a, const Q8_KBlock* b, size_t blocks);
float dot_q6_k_q8_k(const Q6_KBlock* a, const Q8_KBlock* b, size_t blocks);

// Fused dot products over `blocks` blocks (32 · blocks values). Q·Q8_0 use
// integer dot products per block.
float dot_q4_0_q8_0(const Q4_0Block* a, const Q8_0Block* b, size_t blocks);
float dot_q8_0_q8_0(const Q8_0Block* a, const Q8_0Block* b, size_t blocks);
float dot_q4_0_f32(const Q4_0Block* a, const float* x, size_t blocks);
float dot_q8_0_f32(const Q8_0Block* a, const float* x, size_t blocks);

// blocks → 32 · blocks floats, bit-identical to ggml's dequantization.
void dequantize_q4_0(const Q4_0Block* blocks, size_t count, float* out);
void dequantize_q8_0(const Q8_0Block* blocks, size_t count, float* out);

// Row `row` of w (w.cols values) as f32, for embedding lookup. Bit-identical to
// ggml's dequantization for Q4_0 / Q8_0 / K-quants and exact for F16 / BF16 / F32.
void dequantize_row(const WeightView& w, size_t row, float* out);

// y = W·x. For Q4_0 / Q8_0 weights: if x_q8 is non-null the integer dot
// products against x_q8 are used (ActivationMode::kQuantizeQ8_0) and x is not
// read; otherwise the weights meet x in f32 (ActivationMode::kFloat). F32 / F16
// weights always use x (x_q8 is ignored and may be null). Rows are split over
// `pool` (may be null) when the matrix is large enough.
void matvec_weights(const WeightView& w, const float* x, const Q8_0Block* x_q8, float* y,
                    ThreadPool* pool, bool stream = true);

// A batch's activations laid out once for every product that multiplies
// them (q, k and v; gate and up): the f32 kernels' packed panels and the
// interleaved kernels' prepared blocks, each kept until x or x_q8 differs
// or the caller calls forget(), which it must whenever their contents change.
class SharedActivations {
 public:
  void forget() {
    panels.forget();
    prepared_from_ = nullptr;
  }
  PackedBatch panels;

 private:
  friend void matmul_interleaved(const WeightView&, const float*, const Q8_0Block*, size_t,
                                 float*, ThreadPool*, SharedActivations*);
  const Q8_0Block* prepared_from_ = nullptr;
  size_t prepared_count_ = 0;
  internal::ScratchBuffer<interleaved::PreparedBlock> prepared_;
};

// Y = X·Wᵀ for `batch` rows of x (each w.cols floats, and w.cols / 32 blocks of
// x_q8 when given); Y is batch × w.rows, row-major. Each weight row is decoded
// once for the whole batch. Same x / x_q8 rule as matvec_weights.
// stream: as kernels::matvec's (F32 weights). shared: may be null.
void matmul_weights(const WeightView& w, const float* x, const Q8_0Block* x_q8, size_t batch,
                    float* y, ThreadPool* pool, bool stream = true,
                    SharedActivations* shared = nullptr);

// Rows [row_begin, row_end) of Y = X·Wᵀ for row-major w, on the calling
// thread; row r of vector v goes to y[v · y_stride + r]. Same x / x_q8 rule.
void weight_rows_direct(const WeightView& w, const float* x, const Q8_0Block* x_q8, size_t batch,
                        float* y, size_t y_stride, size_t row_begin, size_t row_end);

// Interleaved rows (kInterleaved8, quant/repack.cc): repack_interleaved8
// writes w (row-major Q4_0 / Q8_0) re-laid out to out (w.rows · w.row_bytes()
// bytes); unpack_interleaved_row writes row `row` of an interleaved w
// row-major (row_bytes() bytes). matmul_interleaved (matmul.cc) is
// matmul_weights for interleaved w.
void repack_interleaved8(const WeightView& w, uint8_t* out);
void unpack_interleaved_row(const WeightView& w, size_t row, uint8_t* out);
void matmul_interleaved(const WeightView& w, const float* x, const Q8_0Block* x_q8, size_t batch,
                        float* y, ThreadPool* pool, SharedActivations* shared = nullptr);

// The per-target entry points, one table per Highway target
// (quant_targets.cc); quant_targets() returns the one dispatch picks now.
struct QuantTargetKernels {
  float (*dot_q4_0_q8_0)(const Q4_0Block* a, const Q8_0Block* b, size_t blocks);
  float (*dot_q8_0_q8_0)(const Q8_0Block* a, const Q8_0Block* b, size_t blocks);
  float (*dot_q4_0_f32)(const Q4_0Block* a, const float* x, size_t blocks);
  float (*dot_q8_0_f32)(const Q8_0Block* a, const float* x, size_t blocks);
  void (*quantize_q8_0_ties_away)(const float* x, size_t blocks, Q8_0Block* out);
  void (*quantize_q8_0_ties_even)(const float* x, size_t blocks, Q8_0Block* out);
  void (*dequantize_q4_0)(const Q4_0Block* blocks, size_t count, float* out);
  void (*dequantize_q8_0)(const Q8_0Block* blocks, size_t count, float* out);
  void (*convert_f16)(const uint16_t* in, size_t n, float* out);
  void (*convert_bf16)(const uint16_t* in, size_t n, float* out);

  // K-quants (quant/kquant_dot-inl.h). kquant_rows: rows [row_begin,
  // row_end) of Y = X·Wᵀ for K-quant w of `type` against `batch` Q8_K
  // vectors of cols / 256 blocks; row r of vector v to y[v·y_stride + r].
  void (*quantize_q8_k)(const float* x, size_t blocks, Q8_KBlock* out);
  float (*dot_q2_k_q8_k)(const Q2_KBlock* a, const Q8_KBlock* b, size_t blocks);
  float (*dot_q3_k_q8_k)(const Q3_KBlock* a, const Q8_KBlock* b, size_t blocks);
  float (*dot_q4_k_q8_k)(const Q4_KBlock* a, const Q8_KBlock* b, size_t blocks);
  float (*dot_q5_k_q8_k)(const Q5_KBlock* a, const Q8_KBlock* b, size_t blocks);
  float (*dot_q6_k_q8_k)(const Q6_KBlock* a, const Q8_KBlock* b, size_t blocks);
  void (*kquant_rows)(TensorType type, const uint8_t* w, size_t row_bytes, size_t cols,
                      const Q8_KBlock* xk, size_t batch, float* y, size_t y_stride,
                      size_t row_begin, size_t row_end);

  // Row-major rows. prepared_bytes: the buffer prepare_activations needs
  // for `batch` vectors of `blocks` Q8_0 blocks, 0 where this target reads
  // the blocks directly. weight_rows: rows [row_begin, row_end) of
  // Y = X·Wᵀ (y row stride `rows`); `prepared` is prepare_activations'
  // output where prepared_bytes was non-zero, else null.
  size_t (*prepared_bytes)(size_t blocks, size_t batch);
  void (*prepare_activations)(RowKind kind, const Q8_0Block* xq, size_t blocks, size_t batch,
                              uint8_t* out);
  void (*weight_rows)(RowKind kind, const uint8_t* w, size_t row_bytes, size_t rows, size_t cols,
                      const float* x, const Q8_0Block* xq, const uint8_t* prepared, size_t batch,
                      float* y, size_t row_begin, size_t row_end);

  // Interleaved rows; where `interleaved_supported` is false the caller
  // unpacks groups and uses weight_rows.
  bool interleaved_supported;
  void (*prepare_interleaved_blocks)(const Q8_0Block* xq, size_t begin, size_t end,
                                     interleaved::PreparedBlock* out);
  // Groups [group_begin, group_end) of Y = X·Wᵀ (rows 8g…8g+7 of
  // y[v·y_stride]); `xs` holds `batch` × `blocks` prepared blocks.
  void (*interleaved_groups)(bool q4, const uint8_t* w, size_t row_bytes, size_t blocks,
                             const interleaved::PreparedBlock* xs, size_t batch, float* y,
                             size_t y_stride, size_t group_begin, size_t group_end);
};
const QuantTargetKernels& quant_targets();

}  // namespace llmk::kernels
