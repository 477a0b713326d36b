// Per-format row converters behind dequantize_row / quantize_row (tensor/quants.h), and the
// scale-search helpers the quantizers share. Internal to src/tensor/quants_*.cc.
#pragma once

#include <cstdint>

namespace nexus::quants {

// Plain types (quants.cc).
void dequantize_row_f16(const void* x, float* y, int64_t n);
void dequantize_row_bf16(const void* x, float* y, int64_t n);
void quantize_row_f16(const float* x, void* y, int64_t n);
void quantize_row_bf16(const float* x, void* y, int64_t n);

// 32-element block formats (quants_legacy.cc).
void dequantize_row_q4_0(const void* x, float* y, int64_t n);
void dequantize_row_q4_1(const void* x, float* y, int64_t n);
void dequantize_row_q5_0(const void* x, float* y, int64_t n);
void dequantize_row_q5_1(const void* x, float* y, int64_t n);
void dequantize_row_q8_0(const void* x, float* y, int64_t n);
void dequantize_row_q8_1(const void* x, float* y, int64_t n);
void quantize_row_q4_0(const float* x, void* y, int64_t n);
void quantize_row_q4_1(const float* x, void* y, int64_t n);
void quantize_row_q5_0(const float* x, void* y, int64_t n);
void quantize_row_q5_1(const float* x, void* y, int64_t n);
void quantize_row_q8_0(const float* x, void* y, int64_t n);
void quantize_row_q8_1(const float* x, void* y, int64_t n);

// 256-element super-block formats (quants_k.cc). `w` is the optional importance (may be null).
void dequantize_row_q2_k(const void* x, float* y, int64_t n);
void dequantize_row_q3_k(const void* x, float* y, int64_t n);
void dequantize_row_q4_k(const void* x, float* y, int64_t n);
void dequantize_row_q5_k(const void* x, float* y, int64_t n);
void dequantize_row_q6_k(const void* x, float* y, int64_t n);
void dequantize_row_q8_k(const void* x, float* y, int64_t n);
void quantize_row_q2_k(const float* x, void* y, int64_t n, const float* w);
void quantize_row_q3_k(const float* x, void* y, int64_t n, const float* w);
void quantize_row_q4_k(const float* x, void* y, int64_t n, const float* w);
void quantize_row_q5_k(const float* x, void* y, int64_t n, const float* w);
void quantize_row_q6_k(const float* x, void* y, int64_t n, const float* w);
void quantize_row_q8_k(const float* x, void* y, int64_t n);

// Scale search (quants_search.cc).
//
// fit_affine: finds scale > 0 and offset <= 0 so that x[i] ~= scale * L[i] + offset with
// integer L[i] in [0, nmax], minimising sum w[i] * err[i]^2. Tries a sweep of candidate
// scales, solves the weighted least-squares problem for (scale, offset) given each candidate's
// levels, then refines by re-rounding against the best fit until it stops improving.
// Returns the scale; *offset gets the offset. All-zero (or constant non-negative) input gives
// scale 0.
float fit_affine(int n, int nmax, const float* x, const float* w, uint8_t* L, float* offset);

// fit_symmetric: finds scale so that x[i] ~= scale * L[i] with integer L[i] in [-nneg, nneg-1]
// (e.g. nneg = 4 for Q3_K's [-4, 3], 32 for Q6_K's [-32, 31]); L is returned biased by +nneg.
// The scale may be negative, which lets the value of largest magnitude use level -nneg.
float fit_symmetric(int n, int nneg, const float* x, const float* w, uint8_t* L);

// Round to nearest (ties away from zero); NaN gives 0 and huge values saturate, so hostile
// input cannot reach an out-of-range float->int conversion.
inline int nearest_int(float v) {
  if (!(v == v)) return 0;
  if (v > 1e9f) v = 1e9f;
  if (v < -1e9f) v = -1e9f;
  return static_cast<int>(v >= 0 ? v + 0.5f : v - 0.5f);
}

}  // namespace nexus::quants
