// Scalar references of quant_reference.h.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "quant/fp16.h"
#include "quant/quant_reference.h"

namespace llmk::ref {

void quantize_q8_0(const float* x, size_t n, Q8_0Block* out) {
  for (size_t k = 0; k < n / kQuantBlock; ++k, x += kQuantBlock) {
    float amax = 0.0f;
    for (size_t j = 0; j < kQuantBlock; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    out[k].d = internal::float_to_half(d);
    for (size_t j = 0; j < kQuantBlock; ++j) {
      const float v = x[j] * id;
      float q = std::isnan(v) ? 0.0f : std::round(v);
      q = std::min(127.0f, std::max(-127.0f, q));
      out[k].qs[j] = static_cast<int8_t>(q);
    }
  }
}

std::vector<double> dequantize_q4_0(const Q4_0Block* blocks, size_t count) {
  std::vector<double> out(count * kQuantBlock);
  for (size_t k = 0; k < count; ++k) {
    const double d = internal::half_to_float(blocks[k].d);
    for (size_t j = 0; j < 16; ++j) {
      out[k * kQuantBlock + j] = ((blocks[k].qs[j] & 0x0F) - 8) * d;
      out[k * kQuantBlock + j + 16] = ((blocks[k].qs[j] >> 4) - 8) * d;
    }
  }
  return out;
}

std::vector<double> dequantize_q8_0(const Q8_0Block* blocks, size_t count) {
  std::vector<double> out(count * kQuantBlock);
  for (size_t k = 0; k < count; ++k) {
    const double d = internal::half_to_float(blocks[k].d);
    for (size_t j = 0; j < kQuantBlock; ++j) out[k * kQuantBlock + j] = blocks[k].qs[j] * d;
  }
  return out;
}

void quantize_q8_k(const float* x, size_t n, Q8_KBlock* out) {
  for (size_t k = 0; k < n / kSuperBlock; ++k, x += kSuperBlock) {
    Q8_KBlock& b = out[k];
    float amax = 0.0f, max = 0.0f;
    for (size_t j = 0; j < kSuperBlock; ++j) {
      if (std::fabs(x[j]) > amax) {
        amax = std::fabs(x[j]);
        max = x[j];
      }
    }
    if (amax == 0.0f) {
      std::memset(&b, 0, sizeof b);
      continue;
    }
    const float iscale = -127.0f / max;
    for (size_t j = 0; j < kSuperBlock; ++j) {
      // ggml's nearest_int: adding 1.5·2^23 leaves round-half-even(v) in the
      // low mantissa bits (|v| ≤ 127 here).
      const float v = iscale * x[j];
      const float shifted = v + 12582912.0f;
      int32_t bits;
      std::memcpy(&bits, &shifted, sizeof bits);
      const int q = (bits & 0x007FFFFF) - 0x00400000;
      b.qs[j] = static_cast<int8_t>(std::min(127, q));
    }
    for (size_t g = 0; g < 16; ++g) {
      int sum = 0;
      for (size_t l = 0; l < 16; ++l) sum += b.qs[16 * g + l];
      b.bsums[g] = static_cast<int16_t>(sum);
    }
    b.d = 1.0f / iscale;
  }
}

namespace {

// A K-quant super-block as value = scaled − offset per element, in double.
struct KTerms {
  std::vector<double> scaled, offset;
  explicit KTerms(size_t count) : scaled(count * kSuperBlock), offset(count * kSuperBlock) {}
};

double half(uint16_t h) { return internal::half_to_float(h); }

// Q4_K / Q5_K packed 6-bit scale and min of sub-block j (0…7).
void scale_min6(const uint8_t* s, size_t j, int* scale, int* min) {
  if (j < 4) {
    *scale = s[j] & 0x3F;
    *min = s[j + 4] & 0x3F;
  } else {
    *scale = (s[j + 4] & 0x0F) + 16 * (s[j - 4] >> 6);
    *min = (s[j + 4] >> 4) + 16 * (s[j] >> 6);
  }
}

KTerms terms_q2_k(const Q2_KBlock* blocks, size_t count) {
  KTerms t(count);
  for (size_t k = 0; k < count; ++k) {
    const Q2_KBlock& b = blocks[k];
    const double d = half(b.d), dmin = half(b.dmin);
    size_t out = k * kSuperBlock, sub = 0;
    for (size_t half128 = 0; half128 < 2; ++half128) {
      for (int shift = 0; shift < 8; shift += 2) {
        for (size_t run = 0; run < 2; ++run, ++sub) {  // 16 values per sub-block
          for (size_t l = 0; l < 16; ++l, ++out) {
            const int q = (b.qs[32 * half128 + 16 * run + l] >> shift) & 3;
            t.scaled[out] = d * (b.scales[sub] & 0x0F) * q;
            t.offset[out] = dmin * (b.scales[sub] >> 4);
          }
        }
      }
    }
  }
  return t;
}

KTerms terms_q3_k(const Q3_KBlock* blocks, size_t count) {
  KTerms t(count);
  for (size_t k = 0; k < count; ++k) {
    const Q3_KBlock& b = blocks[k];
    const double d = half(b.d);
    int scales[16];
    for (size_t j = 0; j < 16; ++j) {
      const int low = j < 8 ? b.scales[j] & 0x0F : b.scales[j - 8] >> 4;
      const int high = (b.scales[8 + j % 4] >> (2 * (j / 4))) & 3;
      scales[j] = low + 16 * high - 32;
    }
    size_t out = k * kSuperBlock, sub = 0;
    int bit = 0;
    for (size_t half128 = 0; half128 < 2; ++half128) {
      for (int shift = 0; shift < 8; shift += 2, ++bit) {
        for (size_t run = 0; run < 2; ++run, ++sub) {
          for (size_t l = 0; l < 16; ++l, ++out) {
            const size_t byte = 16 * run + l;
            const int low = (b.qs[32 * half128 + byte] >> shift) & 3;
            const int q = low - (((b.hmask[byte] >> bit) & 1) ? 0 : 4);
            t.scaled[out] = d * scales[sub] * q;
          }
        }
      }
    }
  }
  return t;
}

// Q4_K and Q5_K: qh null for Q4_K.
void terms_q45_k(uint16_t d_half, uint16_t dmin_half, const uint8_t* scales, const uint8_t* qs,
                   const uint8_t* qh, size_t k, KTerms& t) {
  const double d = half(d_half), dmin = half(dmin_half);
  for (size_t j = 0; j < 8; ++j) {  // sub-blocks of 32
    int sc, m;
    scale_min6(scales, j, &sc, &m);
    for (size_t l = 0; l < 32; ++l) {
      int q = j % 2 == 0 ? qs[32 * (j / 2) + l] & 0x0F : qs[32 * (j / 2) + l] >> 4;
      if (qh != nullptr && (qh[l] & (1u << j))) q += 16;
      const size_t out = k * kSuperBlock + 32 * j + l;
      t.scaled[out] = d * sc * q;
      t.offset[out] = dmin * m;
    }
  }
}

KTerms terms_q4_k(const Q4_KBlock* blocks, size_t count) {
  KTerms t(count);
  for (size_t k = 0; k < count; ++k) {
    terms_q45_k(blocks[k].d, blocks[k].dmin, blocks[k].scales, blocks[k].qs, nullptr, k, t);
  }
  return t;
}

KTerms terms_q5_k(const Q5_KBlock* blocks, size_t count) {
  KTerms t(count);
  for (size_t k = 0; k < count; ++k) {
    terms_q45_k(blocks[k].d, blocks[k].dmin, blocks[k].scales, blocks[k].qs, blocks[k].qh, k, t);
  }
  return t;
}

KTerms terms_q6_k(const Q6_KBlock* blocks, size_t count) {
  KTerms t(count);
  for (size_t k = 0; k < count; ++k) {
    const Q6_KBlock& b = blocks[k];
    const double d = half(b.d);
    for (size_t h = 0; h < 2; ++h) {  // halves of 128 values
      for (size_t l = 0; l < 32; ++l) {
        const uint8_t lo0 = b.ql[64 * h + l], lo1 = b.ql[64 * h + 32 + l];
        const uint8_t hi = b.qh[32 * h + l];
        const int q[4] = {(lo0 & 0x0F) | ((hi & 3) << 4), (lo1 & 0x0F) | (((hi >> 2) & 3) << 4),
                          (lo0 >> 4) | (((hi >> 4) & 3) << 4), (lo1 >> 4) | (((hi >> 6) & 3) << 4)};
        for (size_t run = 0; run < 4; ++run) {
          const size_t e = 128 * h + 32 * run + l;
          t.scaled[k * kSuperBlock + e] = d * b.scales[e / 16] * (q[run] - 32);
        }
      }
    }
  }
  return t;
}

KTerms terms_k(TensorType type, const void* a, size_t count) {
  switch (type) {
    case TensorType::kQ2_K:
      return terms_q2_k(static_cast<const Q2_KBlock*>(a), count);
    case TensorType::kQ3_K:
      return terms_q3_k(static_cast<const Q3_KBlock*>(a), count);
    case TensorType::kQ4_K:
      return terms_q4_k(static_cast<const Q4_KBlock*>(a), count);
    case TensorType::kQ5_K:
      return terms_q5_k(static_cast<const Q5_KBlock*>(a), count);
    case TensorType::kQ6_K:
      return terms_q6_k(static_cast<const Q6_KBlock*>(a), count);
    default:
      return KTerms(0);
  }
}

std::vector<double> values(const KTerms& t) {
  std::vector<double> out(t.scaled.size());
  for (size_t j = 0; j < out.size(); ++j) out[j] = t.scaled[j] - t.offset[j];
  return out;
}

template <class GetB>
DotResult dot_terms(const KTerms& t, GetB b) {
  DotResult r;
  for (size_t j = 0; j < t.scaled.size(); ++j) {
    r.value += (t.scaled[j] - t.offset[j]) * b(j);
    r.magnitude += (std::fabs(t.scaled[j]) + std::fabs(t.offset[j])) * std::fabs(b(j));
  }
  return r;
}

}  // namespace

std::vector<double> dequantize_q2_k(const Q2_KBlock* blocks, size_t count) {
  return values(terms_q2_k(blocks, count));
}
std::vector<double> dequantize_q3_k(const Q3_KBlock* blocks, size_t count) {
  return values(terms_q3_k(blocks, count));
}
std::vector<double> dequantize_q4_k(const Q4_KBlock* blocks, size_t count) {
  return values(terms_q4_k(blocks, count));
}
std::vector<double> dequantize_q5_k(const Q5_KBlock* blocks, size_t count) {
  return values(terms_q5_k(blocks, count));
}
std::vector<double> dequantize_q6_k(const Q6_KBlock* blocks, size_t count) {
  return values(terms_q6_k(blocks, count));
}

std::vector<double> dequantize_q8_k(const Q8_KBlock* blocks, size_t count) {
  std::vector<double> out(count * kSuperBlock);
  for (size_t k = 0; k < count; ++k) {
    for (size_t j = 0; j < kSuperBlock; ++j) {
      out[k * kSuperBlock + j] = static_cast<double>(blocks[k].d) * blocks[k].qs[j];
    }
  }
  return out;
}

std::vector<double> dequantize_bf16(const uint16_t* values, size_t count) {
  std::vector<double> out(count);
  for (size_t j = 0; j < count; ++j) out[j] = internal::bits_float(uint32_t{values[j]} << 16);
  return out;
}

DotResult dot_k(TensorType type, const void* a, size_t count, const Q8_KBlock* bq) {
  const std::vector<double> b = dequantize_q8_k(bq, count);
  return dot_terms(terms_k(type, a, count), [&](size_t j) { return b[j]; });
}

DotResult dot_k(TensorType type, const void* a, size_t count, const float* bf) {
  return dot_terms(terms_k(type, a, count), [&](size_t j) { return static_cast<double>(bf[j]); });
}

std::vector<double> dequantize_row(const WeightView& w, size_t row) {
  const auto* bytes = static_cast<const unsigned char*>(w.data) + row * w.row_bytes();
  switch (w.type) {
    case TensorType::kF32: {
      const auto* f = reinterpret_cast<const float*>(bytes);
      return std::vector<double>(f, f + w.cols);
    }
    case TensorType::kF16: {
      const auto* h = reinterpret_cast<const uint16_t*>(bytes);
      std::vector<double> out(w.cols);
      for (size_t j = 0; j < w.cols; ++j) out[j] = internal::half_to_float(h[j]);
      return out;
    }
    case TensorType::kQ4_0:
      return dequantize_q4_0(reinterpret_cast<const Q4_0Block*>(bytes), w.cols / kQuantBlock);
    case TensorType::kQ8_0:
      return dequantize_q8_0(reinterpret_cast<const Q8_0Block*>(bytes), w.cols / kQuantBlock);
    case TensorType::kBF16:
      return dequantize_bf16(reinterpret_cast<const uint16_t*>(bytes), w.cols);
    case TensorType::kQ2_K:
    case TensorType::kQ3_K:
    case TensorType::kQ4_K:
    case TensorType::kQ5_K:
    case TensorType::kQ6_K:
      return values(terms_k(w.type, bytes, w.cols / kSuperBlock));
    default:
      return {};  // types without a row kernel yet
  }
}

DotResult dot(const std::vector<double>& a, const float* b) {
  DotResult r;
  for (size_t j = 0; j < a.size(); ++j) {
    r.value += a[j] * b[j];
    r.magnitude += std::fabs(a[j] * b[j]);
  }
  return r;
}

DotResult dot(const std::vector<double>& a, const std::vector<double>& b) {
  DotResult r;
  for (size_t j = 0; j < a.size() && j < b.size(); ++j) {
    r.value += a[j] * b[j];
    r.magnitude += std::fabs(a[j] * b[j]);
  }
  return r;
}

}  // namespace llmk::ref
