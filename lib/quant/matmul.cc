// Row drivers of the quantized matrix products: choose the kernel for a
// weight type, lay activations out once per call, split rows over the
// thread pool, and keep per-thread scratch buffers. The vector code they
// call is the QuantTargetKernels table (quant_targets.cc); F32 weights go to
// the f32 kernels of lib/ops (quant depends on ops, never the reverse).
#include <algorithm>
#include <cstdint>
#include <vector>

#include "hwy/contrib/thread_pool/thread_pool.h"
#include "llmk/thread_pool.h"
#include "ops/kernels.h"
#include "quant/kquant_format.h"
#include "quant/quant_kernels.h"
#include "util/parallel.h"
#include "util/scratch.h"

namespace llmk::kernels {

float dot_q4_0_q8_0(const Q4_0Block* a, const Q8_0Block* b, size_t blocks) {
  return quant_targets().dot_q4_0_q8_0(a, b, blocks);
}
float dot_q8_0_q8_0(const Q8_0Block* a, const Q8_0Block* b, size_t blocks) {
  return quant_targets().dot_q8_0_q8_0(a, b, blocks);
}
float dot_q4_0_f32(const Q4_0Block* a, const float* x, size_t blocks) {
  return quant_targets().dot_q4_0_f32(a, x, blocks);
}
float dot_q8_0_f32(const Q8_0Block* a, const float* x, size_t blocks) {
  return quant_targets().dot_q8_0_f32(a, x, blocks);
}
void quantize_q8_0_ties_away(const float* x, size_t n, Q8_0Block* out) {
  quant_targets().quantize_q8_0_ties_away(x, n / kQuantBlock, out);
}
void quantize_q8_0_ties_even(const float* x, size_t n, Q8_0Block* out) {
  quant_targets().quantize_q8_0_ties_even(x, n / kQuantBlock, out);
}
void dequantize_q4_0(const Q4_0Block* blocks, size_t count, float* out) {
  quant_targets().dequantize_q4_0(blocks, count, out);
}
void dequantize_q8_0(const Q8_0Block* blocks, size_t count, float* out) {
  quant_targets().dequantize_q8_0(blocks, count, out);
}

namespace {
// `blocks` super-blocks of a K-quant `type` → 256 · blocks floats.
void dequantize_k_row(TensorType type, const uint8_t* bytes, size_t blocks, float* out) {
  switch (type) {
    case TensorType::kQ2_K:
      return dequantize_q2_k(reinterpret_cast<const Q2_KBlock*>(bytes), blocks, out);
    case TensorType::kQ3_K:
      return dequantize_q3_k(reinterpret_cast<const Q3_KBlock*>(bytes), blocks, out);
    case TensorType::kQ4_K:
      return dequantize_q4_k(reinterpret_cast<const Q4_KBlock*>(bytes), blocks, out);
    case TensorType::kQ5_K:
      return dequantize_q5_k(reinterpret_cast<const Q5_KBlock*>(bytes), blocks, out);
    case TensorType::kQ6_K:
      return dequantize_q6_k(reinterpret_cast<const Q6_KBlock*>(bytes), blocks, out);
    default:
      return;  // callers pass K-quant types only
  }
}
}  // namespace

void dequantize_row(const WeightView& w, size_t row, float* out) {
  const auto* bytes = static_cast<const uint8_t*>(w.data) + row * w.row_bytes();
  thread_local std::vector<uint8_t> unpacked;
  if (w.layout == WeightLayout::kInterleaved8) {
    unpacked.resize(w.row_bytes());
    unpack_interleaved_row(w, row, unpacked.data());
    bytes = unpacked.data();
  }
  switch (w.type) {
    case TensorType::kF32:
      std::copy_n(reinterpret_cast<const float*>(bytes), w.cols, out);
      return;
    case TensorType::kF16:
      quant_targets().convert_f16(reinterpret_cast<const uint16_t*>(bytes), w.cols, out);
      return;
    case TensorType::kQ4_0:
      dequantize_q4_0(reinterpret_cast<const Q4_0Block*>(bytes), w.cols / kQuantBlock, out);
      return;
    case TensorType::kQ8_0:
      dequantize_q8_0(reinterpret_cast<const Q8_0Block*>(bytes), w.cols / kQuantBlock, out);
      return;
    case TensorType::kBF16:
      quant_targets().convert_bf16(reinterpret_cast<const uint16_t*>(bytes), w.cols, out);
      return;
    default:
      // K-quants; callers accept no other types.
      dequantize_k_row(w.type, bytes, w.cols / kSuperBlock, out);
      return;
  }
}

namespace {
RowKind row_kind(TensorType type, bool integer) {
  if (type == TensorType::kQ4_0) return integer ? RowKind::kQ4Q8 : RowKind::kQ4F32;
  if (type == TensorType::kQ8_0) return integer ? RowKind::kQ8Q8 : RowKind::kQ8F32;
  if (type == TensorType::kBF16) return RowKind::kBF16;
  return RowKind::kF16;
}

// x's `batch` rows of `cols` floats as Q8_K blocks, in a buffer of the
// calling thread kept between calls; null if it cannot be allocated.
const Q8_KBlock* quantize_rows_q8_k(const float* x, size_t cols, size_t batch) {
  thread_local internal::ScratchBuffer<Q8_KBlock> buffer;
  const size_t count = cols / kSuperBlock * batch;  // the caller's x holds batch · cols floats
  Q8_KBlock* out = buffer.get(count);
  if (out == nullptr) return nullptr;
  quant_targets().quantize_q8_k(x, count, out);
  return out;
}

// Rows [row_begin, row_end) of Y = X·Wᵀ for K-quant w: the fused integer
// dots against xk, or (xk null) each row dequantized once and dotted in f32
// with every vector of x.
void k_rows(const WeightView& w, const float* x, const Q8_KBlock* xk, size_t batch, float* y,
            size_t y_stride, size_t row_begin, size_t row_end) {
  const auto* bytes = static_cast<const uint8_t*>(w.data);
  if (xk != nullptr) {
    quant_targets().kquant_rows(w.type, bytes, w.row_bytes(), w.cols, xk, batch, y, y_stride,
                                row_begin, row_end);
    return;
  }
  thread_local std::vector<float> row;
  row.resize(w.cols);
  const auto dot = f32().dot;
  for (size_t r = row_begin; r < row_end; ++r) {
    dequantize_k_row(w.type, bytes + r * w.row_bytes(), w.cols / kSuperBlock, row.data());
    for (size_t v = 0; v < batch; ++v) {
      y[v * y_stride + r] = dot(row.data(), x + v * w.cols, w.cols);
    }
  }
}

// x's n floats rounded to the 16-bit float type of F16 / BF16 weights (as
// f32 values), in a buffer of the calling thread kept between calls: what
// ggml's CPU backend multiplies such weights with (it converts the
// activations to the weights' type first). Other types: x itself.
const float* round_like_ggml(TensorType type, const float* x, size_t n) {
  if (type != TensorType::kF16 && type != TensorType::kBF16) return x;
  thread_local std::vector<float> buffer;
  if (buffer.size() < n) buffer.resize(n);
  if (type == TensorType::kBF16) {
    for (size_t i = 0; i < n; ++i) buffer[i] = bf16_to_f32(f32_to_bf16(x[i]));
  } else {
    for (size_t i = 0; i < n; ++i) buffer[i] = f16_to_f32(f32_to_f16(x[i]));
  }
  return buffer.data();
}

// What kIntegerActivations points at: never read.
const Q8_0Block kIntegerFlagBlock{};
}  // namespace

const Q8_0Block* const kIntegerActivations = &kIntegerFlagBlock;

bool is_k_quant(TensorType type) {
  return type == TensorType::kQ2_K || type == TensorType::kQ3_K || type == TensorType::kQ4_K ||
         type == TensorType::kQ5_K || type == TensorType::kQ6_K;
}

void weight_rows_direct(const WeightView& w, const float* x, const Q8_0Block* x_q8, size_t batch,
                        float* y, size_t y_stride, size_t row_begin, size_t row_end) {
  if (x_q8 != nullptr) x = round_like_ggml(w.type, x, w.cols * batch);
  if (is_k_quant(w.type)) {
    const Q8_KBlock* xk = x_q8 != nullptr ? quantize_rows_q8_k(x, w.cols, batch) : nullptr;
    k_rows(w, x, xk, batch, y, y_stride, row_begin, row_end);
    return;
  }
  const RowKind kind = row_kind(w.type, x_q8 != nullptr);
  const bool integer = kind == RowKind::kQ4Q8 || kind == RowKind::kQ8Q8;
  quant_targets().weight_rows(kind, static_cast<const uint8_t*>(w.data), w.row_bytes(),
                                   y_stride, w.cols, integer ? nullptr : x,
                                   integer ? x_q8 : nullptr, nullptr, batch, y, row_begin,
                                   row_end);
}

void matmul_weights(const WeightView& w, const float* x, const Q8_0Block* x_q8, size_t batch,
                    float* y, ThreadPool* pool, bool stream, SharedActivations* shared) {
  if (w.layout == WeightLayout::kInterleaved8) {
    matmul_interleaved(w, x, x_q8, batch, y, pool, shared);
    return;
  }
  if (w.type == TensorType::kF32) {
    const auto* wf = static_cast<const float*>(w.data);
    if (batch == 1) {
      matvec(wf, w.rows, w.cols, x, y, pool, stream);
    } else {
      matmul(wf, w.rows, w.cols, x, batch, y, pool, shared ? &shared->panels : nullptr);
    }
    return;
  }
  size_t work = 0;  // only decides whether to thread: saturate rather than wrap
  if (__builtin_mul_overflow(w.rows, w.cols, &work) || __builtin_mul_overflow(work, batch, &work)) {
    work = SIZE_MAX;
  }
  if (x_q8 != nullptr) x = round_like_ggml(w.type, x, w.cols * batch);
  if (is_k_quant(w.type)) {
    // x quantized once for every row and thread.
    const Q8_KBlock* xk = x_q8 != nullptr ? quantize_rows_q8_k(x, w.cols, batch) : nullptr;
    internal::for_row_blocks(w.rows, work, pool, [&](size_t begin, size_t end) {
      k_rows(w, x, xk, batch, y, w.rows, begin, end);
    });
    return;
  }
  const RowKind kind = row_kind(w.type, x_q8 != nullptr);
  const bool integer = kind == RowKind::kQ4Q8 || kind == RowKind::kQ8Q8;
  const float* xf = integer ? nullptr : x;
  const Q8_0Block* xq = integer ? x_q8 : nullptr;
  const auto rows_fn = quant_targets().weight_rows;
  const auto* bytes = static_cast<const uint8_t*>(w.data);
  const size_t row_bytes = w.row_bytes();
  // Integer paths: lay out x once for every row and thread (per calling
  // thread, the buffer is kept between calls).
  const uint8_t* prepared = nullptr;
  if (integer) {
    const size_t blocks = w.cols / kQuantBlock;
    const size_t needed = quant_targets().prepared_bytes(blocks, batch);
    if (needed != 0) {
      thread_local internal::ScratchBuffer<uint8_t> buffer;
      if (uint8_t* out = buffer.get(needed)) {
        quant_targets().prepare_activations(kind, xq, blocks, batch, out);
        prepared = out;
      }
    }
  }
  internal::for_row_blocks(w.rows, work, pool, [&](size_t begin, size_t end) {
    rows_fn(kind, bytes, row_bytes, w.rows, w.cols, xf, xq, prepared, batch, y, begin, end);
  });
}

void matvec_weights(const WeightView& w, const float* x, const Q8_0Block* x_q8, float* y,
                    ThreadPool* pool, bool stream) {
  matmul_weights(w, x, x_q8, 1, y, pool, stream);
}

namespace {

// At least this many blocks before prepare() splits its work over the pool
// (a prompt batch: 128 tokens × 9–24 blocks; a single token's few dozen
// blocks are not worth a fork/join).
constexpr size_t kMinParallelPrepare = 1024;

// The prepared activation blocks of `batch` vectors, into `buffer`. Large
// ones are split over the pool: on one thread the others would wait for it
// before the product starts (it was 5% of a 2-thread pp128 profile).
interleaved::PreparedBlock* prepare(const Q8_0Block* xq, size_t count, ThreadPool* pool,
                                    internal::ScratchBuffer<interleaved::PreparedBlock>& buffer) {
  interleaved::PreparedBlock* out = buffer.get(count);
  if (out == nullptr) return nullptr;
  const size_t threads = pool ? pool->num_threads() : 1;
  if (threads > 1 && count >= kMinParallelPrepare) {
    pool->hwy_pool().Run(0, threads, [&](uint64_t t, size_t) {
      quant_targets().prepare_interleaved_blocks(xq, count * t / threads,
                                                 count * (t + 1) / threads, out);
    });
  } else {
    quant_targets().prepare_interleaved_blocks(xq, 0, count, out);
  }
  return out;
}

}  // namespace

void matmul_interleaved(const WeightView& w, const float* x, const Q8_0Block* x_q8,
                        size_t batch, float* y, ThreadPool* pool, SharedActivations* shared) {
  const bool q4 = w.type == TensorType::kQ4_0;
  const size_t row_bytes = w.row_bytes();
  const size_t blocks = w.cols / kQuantBlock;
  const size_t groups = w.rows / interleaved::kGroupRows;
  const size_t grouped_rows = groups * interleaved::kGroupRows;
  const auto* bytes = static_cast<const uint8_t*>(w.data);
  size_t work = 0;  // only decides whether to thread: saturate rather than wrap
  if (__builtin_mul_overflow(w.rows, w.cols, &work) || __builtin_mul_overflow(work, batch, &work)) {
    work = SIZE_MAX;
  }
  const interleaved::PreparedBlock* xs = nullptr;
  if (x_q8 != nullptr && quant_targets().interleaved_supported) {
    const size_t count = blocks * batch;
    if (shared == nullptr) {
      thread_local internal::ScratchBuffer<interleaved::PreparedBlock> own;
      xs = prepare(x_q8, count, pool, own);
    } else if (shared->prepared_from_ == x_q8 && shared->prepared_count_ == count) {
      xs = shared->prepared_.get(count);
    } else {
      shared->prepared_from_ = nullptr;  // not valid until fully written
      xs = prepare(x_q8, count, pool, shared->prepared_);
      if (xs != nullptr) {
        shared->prepared_from_ = x_q8;
        shared->prepared_count_ = count;
      }
    }
  }
  const auto groups_fn = quant_targets().interleaved_groups;
  const WeightView plain_tail{w.type, bytes + grouped_rows * row_bytes, w.rows - grouped_rows,
                              w.cols};
  internal::for_row_blocks(w.rows, work, pool, [&](size_t begin, size_t stop) {
    // Blocks start on multiples of 8 rows (for_row_blocks), so a range is
    // whole groups, plus the row-major tail if it reaches the end.
    const size_t group_stop = std::min(stop, grouped_rows) / interleaved::kGroupRows;
    if (xs != nullptr) {
      groups_fn(q4, bytes, row_bytes, blocks, xs, batch, y, w.rows,
                begin / interleaved::kGroupRows, group_stop);
    } else {
      // No interleaved kernel here (or f32 activations): unpack a group at a time
      // and use the row-major kernels.
      thread_local std::vector<uint8_t> rows8;
      rows8.resize(interleaved::kGroupRows * row_bytes);
      for (size_t g = begin / interleaved::kGroupRows; g < group_stop; ++g) {
        for (size_t i = 0; i < interleaved::kGroupRows; ++i) {
          unpack_interleaved_row(w, g * interleaved::kGroupRows + i, rows8.data() + i * row_bytes);
        }
        const WeightView plain{w.type, rows8.data(), interleaved::kGroupRows, w.cols};
        weight_rows_direct(plain, x, x_q8, batch, y + g * interleaved::kGroupRows, w.rows, 0,
                           interleaved::kGroupRows);
      }
    }
    if (stop > grouped_rows) {
      const size_t first = std::max(begin, grouped_rows) - grouped_rows;
      weight_rows_direct(plain_tail, x, x_q8, batch, y + grouped_rows, w.rows, first,
                         stop - grouped_rows);
    }
  });
}

}  // namespace llmk::kernels
