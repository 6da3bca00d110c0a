// current_vector_bytes(): the vector size of the target that dispatch picks,
// compiled once per Highway target like the kernels, so it follows
// force_target (and reads the hardware's length on scalable targets).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "ops/vector_bytes.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include <cstddef>
#include <cstdint>

#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace llmk {
namespace HWY_NAMESPACE {

size_t VectorBytesOfTarget() { return hwy::HWY_NAMESPACE::Lanes(hwy::HWY_NAMESPACE::ScalableTag<uint8_t>()); }

}  // namespace HWY_NAMESPACE
}  // namespace llmk
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "llmk/target.h"

namespace llmk {

HWY_EXPORT(VectorBytesOfTarget);

size_t current_vector_bytes() { return HWY_DYNAMIC_DISPATCH(VectorBytesOfTarget)(); }

}  // namespace llmk
#endif  // HWY_ONCE
