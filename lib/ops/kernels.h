// Unchecked, pointer-based f32 kernels for library code that has already
// validated its sizes (the forward pass, the quantized paths). The public,
// checked API is llmk/ops.h; the scalar references are llmk/reference.h.
//
// Every per-target kernel is one member of F32Kernels: the table is filled
// once per Highway target in kernels.cc from the families' -inl.h files, and
// f32() returns the table of the target dispatch currently picks (it follows
// force_target). A caller that runs many kernels in a row may hold on to the
// table for that stretch of work: one dispatch per unit of real work.
//
// Conventions: outputs come last; an output may be the very same pointer as
// an input (in place) but must not partially overlap one; no alignment is
// required.
#pragma once

#include <cstddef>
#include <cstdint>

#include "llmk/ops.h"  // RopeLayout
#include "util/scratch.h"

namespace llmk {
class ThreadPool;
}

namespace llmk::kernels {

struct F32Kernels {
  // sum_i a[i]·b[i].
  float (*dot)(const float* a, const float* b, size_t n);
  // Rows [row_begin, row_end) of y = W·x on the calling thread. stream: w
  // comes from DRAM (read once per token), so software-prefetch it; false
  // for a matrix likely still in cache.
  void (*matvec_rows)(const float* w, size_t cols, const float* x, float* y, size_t row_begin,
                      size_t row_end, bool stream);
  // Rows [row_begin, row_end) of Y = X·Wᵀ (X batch × cols, Y batch × rows).
  void (*matmul_rows)(const float* w, size_t rows, size_t cols, const float* x, size_t batch,
                      float* y, size_t row_begin, size_t row_end);
  // The packed batch product: vectors per panel (0: this target has none),
  // x's batch vectors packed into ⌈batch / panel_vectors⌉ panels of
  // cols × panel_vectors floats, and rows [row_begin, row_end) of Y = X·Wᵀ
  // from those panels.
  size_t (*panel_vectors)();
  // Packs panels [panel_begin, panel_end) only, so threads can share the work.
  void (*pack_panels)(const float* x, size_t batch, size_t cols, size_t panel_begin,
                      size_t panel_end, float* panels);
  void (*matmul_packed_rows)(const float* w, size_t rows, size_t cols, const float* panels,
                             size_t batch, float* y, size_t row_begin, size_t row_end);
  void (*layer_norm)(const float* x, const float* weight, const float* bias, float eps, size_t n,
                     float* out);
  void (*rms_norm)(const float* x, const float* weight, float eps, size_t n, float* out);
  void (*softmax)(const float* x, size_t n, float* out);
  void (*gelu)(const float* x, size_t n, float* out);
  void (*silu)(const float* x, size_t n, float* out);
  void (*swiglu)(const float* gate, const float* up, size_t n, float* out);
  void (*add)(const float* a, const float* b, size_t n, float* out);
  void (*mul)(const float* a, const float* b, size_t n, float* out);
  void (*scale)(const float* x, float factor, size_t n, float* out);
  // out += factor·x (attention's weighted sum of values).
  void (*add_scaled)(const float* x, float factor, size_t n, float* out);
  size_t (*argmax)(const float* x, size_t n);
  // out[i] = x[i] as IEEE binary16 bits, rounded to nearest even (NaN stays
  // a quiet NaN with its top payload bits), as ggml's F16C conversion does.
  // Null on targets without a hardware conversion; callers then convert in
  // software (quant/fp16.h), which gives the same bits.
  void (*f32_to_f16)(const float* x, size_t n, uint16_t* out);
  // Rotates the first rot_dims elements of every head_dim-sized head of
  // x[0, n) by the angles rope_angles wrote to cos_sin; the other elements
  // pass through, as in ggml's rope with n_dims < head size (rot_dims even,
  // rot_dims ≤ head_dim ≤ 1024).
  void (*rope_apply)(float* x, size_t n, size_t head_dim, size_t rot_dims, const float* cos_sin,
                     RopeLayout layout);
  // One attention head for one query over `len` cached positions: out[0,
  // head_dim) = softmax(q·Kᵀ·scale)·V, where key and value rows are
  // kv_stride floats apart and scores has room for len floats. Bit-identical
  // to dot, softmax and add_scaled applied in turn.
  void (*attend_head)(const float* q, const float* keys, const float* values, size_t kv_stride,
                      size_t len, size_t head_dim, float scale, float* scores, float* out);
  // attend_head over an F16 cache: key and value rows of IEEE binary16 bits,
  // kv_stride halves apart, each widened exactly to f32 as it is loaded and
  // then the very same arithmetic in the same order, so the result is
  // bit-identical to attend_head on the rows widened to f32 beforehand.
  void (*attend_head_f16)(const float* q, const uint16_t* keys, const uint16_t* values,
                          size_t kv_stride, size_t len, size_t head_dim, float scale,
                          float* scores, float* out);
  // Causal attention of one head for n queries (q_stride floats apart) at
  // positions first_pos, first_pos + 1, …: out[i·out_stride, + head_dim) =
  // softmax(q_i·K[0, first_pos + i]ᵀ·scale)·V[0, first_pos + i]. A prompt's
  // attention as register-tiled products; the same result as attend_head
  // per query up to the summation order of each dot product and each output
  // element. Null on targets without the batch product's panels; false when
  // its scratch space cannot be allocated.
  bool (*attend_queries)(const float* q, size_t q_stride, size_t n, size_t first_pos,
                         const float* keys, const float* values, size_t kv_stride,
                         size_t head_dim, float scale, float* out, size_t out_stride);
  bool (*attend_queries_f16)(const float* q, size_t q_stride, size_t n, size_t first_pos,
                             const uint16_t* keys, const uint16_t* values, size_t kv_stride,
                             size_t head_dim, float scale, float* out, size_t out_stride);
};

// The kernels of the target dispatch picks now.
const F32Kernels& f32();

// y = W·x with the rows split over `pool` (may be null) when the matrix is
// large enough; `stream` as in F32Kernels::matvec_rows.
void matvec(const float* w, size_t rows, size_t cols, const float* x, float* y,
            ThreadPool* pool, bool stream = true);
// Bytes above which a matrix a caller knows nothing about is assumed not to
// be cache-resident (the public matvec's `stream` choice).
inline constexpr size_t kStreamingMatrixBytes = size_t{4} << 20;
// x laid out for the packed batch product, kept for the next product of the
// same x: a layer's q, k and v projections (gate and up) all multiply one
// normalized input, so it is packed once for all of them. The caller calls
// forget() whenever the contents of x change.
class PackedBatch {
 public:
  void forget() { source_ = nullptr; }

 private:
  friend void matmul(const float*, size_t, size_t, const float*, size_t, float*, ThreadPool*,
                     PackedBatch*);
  const float* source_ = nullptr;
  size_t batch_ = 0, cols_ = 0, panel_ = 0;  // panel_: the packing target's width
  internal::ScratchBuffer<float> panels_;
};

// Y = X·Wᵀ, rows split over `pool` as matvec's. With `packed`, x's packed
// layout is taken from there when it holds this x, and left there otherwise.
void matmul(const float* w, size_t rows, size_t cols, const float* x, size_t batch, float* y,
            ThreadPool* pool, PackedBatch* packed = nullptr);

// RoPE in two steps so a forward pass computes the angles once per position
// and applies them to every head of q and k: cos_sin holds rot_dims/2 cos
// values then rot_dims/2 sin values. Pair i turns by
// freq_scale·(pos·step^i / freq_factors[i]), step = theta_base^(−2/rot_dims),
// in ggml's float operations (step^i as i successive products, so the
// angles carry ggml's bits): freq_scale < 1 is linear position scaling, and
// freq_factors (null for none, else rot_dims/2 divisors) Llama 3's
// per-frequency scaling.
void rope_angles(size_t rot_dims, size_t pos, float theta_base, float freq_scale,
                 const float* freq_factors, float* cos_sin);

}  // namespace llmk::kernels
