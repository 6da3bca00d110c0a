// The f32 kernel table (kernels.h), filled once per Highway target from the
// families' -inl.h files, and the drivers that split matrix products over
// the thread pool.
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
#define HWY_TARGET_INCLUDE "ops/kernels.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "hwy/highway.h"
#include "ops/attention-inl.h"
#include "ops/elementwise-inl.h"
#include "ops/kernels.h"
#include "ops/matvec-inl.h"

HWY_BEFORE_NAMESPACE();
namespace llmk {
namespace HWY_NAMESPACE {

const kernels::F32Kernels* F32KernelTable() {
  static constexpr kernels::F32Kernels kTable = {
      .dot = Dot,
      .matvec_rows = MatvecRows,
      .matmul_rows = MatmulRows,
      .panel_vectors = PanelVectors,
      .pack_panels = PackPanels,
      .matmul_packed_rows = MatmulPackedRows,
      .layer_norm = LayerNorm,
      .rms_norm = RmsNorm,
      .softmax = Softmax,
      .gelu = Gelu,
      .silu = Silu,
      .swiglu = Swiglu,
      .add = Add,
      .mul = Mul,
      .scale = Scale,
      .add_scaled = AddScaled,
      .argmax = Argmax,
      .f32_to_f16 = kF32ToF16,
      .rope_apply = RopeApply,
      .attend_head = AttendHead<float>,
      .attend_head_f16 = AttendHead<uint16_t>,
      .attend_queries = kAttendQueries<float>,
      .attend_queries_f16 = kAttendQueries<uint16_t>,
  };
  return &kTable;
}

}  // namespace HWY_NAMESPACE
}  // namespace llmk
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include <cmath>

#include "llmk/thread_pool.h"
#include "util/parallel.h"
#include "util/scratch.h"

namespace llmk::kernels {

HWY_EXPORT(F32KernelTable);

const F32Kernels& f32() { return *HWY_DYNAMIC_DISPATCH(F32KernelTable)(); }

void matvec(const float* w, size_t rows, size_t cols, const float* x, float* y,
            ThreadPool* pool, bool stream) {
  const auto rows_fn = f32().matvec_rows;
  internal::for_row_blocks(rows, rows * cols, pool, [&](size_t begin, size_t end) {
    rows_fn(w, cols, x, y, begin, end, stream);
  });
}

void matmul(const float* w, size_t rows, size_t cols, const float* x, size_t batch, float* y,
            ThreadPool* pool, PackedBatch* packed) {
  const F32Kernels& k = f32();
  const size_t panel = k.panel_vectors();
  // Whole panels pay for the packing.
  if (panel != 0 && batch >= panel) {
    thread_local internal::ScratchBuffer<float> own;
    internal::ScratchBuffer<float>& buffer = packed ? packed->panels_ : own;
    const size_t panels = (batch + panel - 1) / panel;
    const bool kept = packed && packed->source_ == x && packed->batch_ == batch &&
                      packed->cols_ == cols && packed->panel_ == panel;
    if (float* out = buffer.get(panels * panel * cols)) {
      if (!kept) {
        if (packed) packed->source_ = nullptr;  // not valid until fully written
        // Packed in parallel too: on one thread the others would wait.
        const size_t threads = pool ? pool->num_threads() : 1;
        if (threads > 1 && panels > 1 && batch * cols >= internal::kMinParallelElements) {
          pool->hwy_pool().Run(0, panels, [&](uint64_t p, size_t) {
            k.pack_panels(x, batch, cols, p, p + 1, out);
          });
        } else {
          k.pack_panels(x, batch, cols, 0, panels, out);
        }
        if (packed) {
          packed->source_ = x;
          packed->batch_ = batch;
          packed->cols_ = cols;
          packed->panel_ = panel;
        }
      }
      const float* from = out;
      internal::for_row_blocks(rows, rows * cols * batch, pool, [&](size_t begin, size_t end) {
        k.matmul_packed_rows(w, rows, cols, from, batch, y, begin, end);
      });
      return;
    }
  }
  const auto rows_fn = k.matmul_rows;
  internal::for_row_blocks(rows, rows * cols * batch, pool, [&](size_t begin, size_t end) {
    rows_fn(w, rows, cols, x, batch, y, begin, end);
  });
}

void rope_angles(size_t rot_dims, size_t pos, float theta_base, float freq_scale,
                 const float* freq_factors, float* cos_sin) {
  // ggml's angles: one float theta per position, multiplied by
  // base^(−2/rot_dims) from pair to pair. Its rounding differs from a power
  // per pair in the last bits, and those bits reach quantized models' logits.
  const size_t half = rot_dims / 2;
  const float theta_step = std::pow(theta_base, -2.0f / static_cast<float>(rot_dims));
  float theta = static_cast<float>(pos);
  for (size_t i = 0; i < half; ++i) {
    const float unscaled = freq_factors != nullptr ? theta / freq_factors[i] : theta;
    const float angle = freq_scale * unscaled;
    cos_sin[i] = std::cos(angle);
    cos_sin[half + i] = std::sin(angle);
    theta *= theta_step;
  }
}

}  // namespace llmk::kernels
#endif  // HWY_ONCE
