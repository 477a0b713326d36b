// Dispatch for the reference converters, plus the plain float formats. The block formats
// live in quants_legacy.cc (32-element blocks) and quants_k.cc (256-element super-blocks).
#include "tensor/quants.h"

#include <cstring>

#include "nexus/result.h"
#include "tensor/quants_internal.h"
#include "util/fp16.h"

namespace nexus {
namespace quants {

void dequantize_row_f16(const void* x, float* y, int64_t n) {
  const auto* h = static_cast<const uint16_t*>(x);
  for (int64_t i = 0; i < n; ++i) y[i] = fp16_to_f32(h[i]);
}

void dequantize_row_bf16(const void* x, float* y, int64_t n) {
  const auto* h = static_cast<const uint16_t*>(x);
  for (int64_t i = 0; i < n; ++i) y[i] = bf16_to_f32(h[i]);
}

void quantize_row_f16(const float* x, void* y, int64_t n) {
  auto* h = static_cast<uint16_t*>(y);
  for (int64_t i = 0; i < n; ++i) h[i] = f32_to_fp16(x[i]);
}

void quantize_row_bf16(const float* x, void* y, int64_t n) {
  auto* h = static_cast<uint16_t*>(y);
  for (int64_t i = 0; i < n; ++i) h[i] = f32_to_bf16(x[i]);
}

}  // namespace quants

bool can_dequantize(DType t) {
  switch (t) {
    case DType::F32: case DType::F16: case DType::BF16:
    case DType::Q4_0: case DType::Q4_1: case DType::Q5_0: case DType::Q5_1:
    case DType::Q8_0: case DType::Q8_1:
    case DType::Q2_K: case DType::Q3_K: case DType::Q4_K: case DType::Q5_K:
    case DType::Q6_K: case DType::Q8_K:
      return true;
    default:
      return false;
  }
}

bool can_quantize(DType t) { return can_dequantize(t); }

void dequantize_row(DType t, const void* x, float* y, int64_t n) {
  using namespace quants;
  NX_CHECK(can_dequantize(t), "no dequantizer for type %u", static_cast<unsigned>(t));
  NX_CHECK(n % dtype_traits(t).block_elems == 0, "row of %lld is not whole %s blocks",
           static_cast<long long>(n), std::string(dtype_name(t)).c_str());
  switch (t) {
    case DType::F32: std::memcpy(y, x, static_cast<size_t>(n) * sizeof(float)); return;
    case DType::F16: return dequantize_row_f16(x, y, n);
    case DType::BF16: return dequantize_row_bf16(x, y, n);
    case DType::Q4_0: return dequantize_row_q4_0(x, y, n);
    case DType::Q4_1: return dequantize_row_q4_1(x, y, n);
    case DType::Q5_0: return dequantize_row_q5_0(x, y, n);
    case DType::Q5_1: return dequantize_row_q5_1(x, y, n);
    case DType::Q8_0: return dequantize_row_q8_0(x, y, n);
    case DType::Q8_1: return dequantize_row_q8_1(x, y, n);
    case DType::Q2_K: return dequantize_row_q2_k(x, y, n);
    case DType::Q3_K: return dequantize_row_q3_k(x, y, n);
    case DType::Q4_K: return dequantize_row_q4_k(x, y, n);
    case DType::Q5_K: return dequantize_row_q5_k(x, y, n);
    case DType::Q6_K: return dequantize_row_q6_k(x, y, n);
    case DType::Q8_K: return dequantize_row_q8_k(x, y, n);
    default: return;
  }
}

void quantize_row(DType t, const float* x, void* y, int64_t n, const float* importance) {
  using namespace quants;
  NX_CHECK(can_quantize(t), "no quantizer for type %u", static_cast<unsigned>(t));
  NX_CHECK(n % dtype_traits(t).block_elems == 0, "row of %lld is not whole %s blocks",
           static_cast<long long>(n), std::string(dtype_name(t)).c_str());
  switch (t) {
    case DType::F32: std::memcpy(y, x, static_cast<size_t>(n) * sizeof(float)); return;
    case DType::F16: return quantize_row_f16(x, y, n);
    case DType::BF16: return quantize_row_bf16(x, y, n);
    case DType::Q4_0: return quantize_row_q4_0(x, y, n);
    case DType::Q4_1: return quantize_row_q4_1(x, y, n);
    case DType::Q5_0: return quantize_row_q5_0(x, y, n);
    case DType::Q5_1: return quantize_row_q5_1(x, y, n);
    case DType::Q8_0: return quantize_row_q8_0(x, y, n);
    case DType::Q8_1: return quantize_row_q8_1(x, y, n);
    case DType::Q2_K: return quantize_row_q2_k(x, y, n, importance);
    case DType::Q3_K: return quantize_row_q3_k(x, y, n, importance);
    case DType::Q4_K: return quantize_row_q4_k(x, y, n, importance);
    case DType::Q5_K: return quantize_row_q5_k(x, y, n, importance);
    case DType::Q6_K: return quantize_row_q6_k(x, y, n, importance);
    case DType::Q8_K: return quantize_row_q8_k(x, y, n);
    default: return;
  }
}

}  // namespace nexus
