// The scalar reference of the attention kernels (kernels.h's attend_head
// and attend_head_f16, whose F16 rows widen exactly, so the same reference
// serves both on the widened rows): plain loops in double, the definition of
// "correct" the tests measure every Highway target against.
#pragma once

#include <cstddef>

namespace llmk::ref {

// One head for one query over `len` positions, key and value rows kv_stride
// floats apart: probs[t] = softmax(q·k_t·scale) and out[i] = Σ_t probs[t]·v_t[i]
// (head_dim values), all in double from the float inputs.
void attend_head(const float* q, const float* keys, const float* values, size_t kv_stride,
                 size_t len, size_t head_dim, float scale, double* probs, double* out);

}  // namespace llmk::ref
