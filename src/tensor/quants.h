// Reference (scalar) conversion between float and every storage type, byte-compatible with
// GGUF. These are the ground truth the SIMD kernels are tested against.
#pragma once

#include <cstdint>

#include "tensor/dtype.h"

namespace nexus {

// True when dequantize_row / quantize_row support `t`.
bool can_dequantize(DType t);
bool can_quantize(DType t);

// y[0..n) = dequant(x). n must be a multiple of the type's block size.
void dequantize_row(DType t, const void* x, float* y, int64_t n);

// Quantizes n floats into row bytes of type t (n a multiple of the block size). Chooses
// scales to minimise squared error the way GGUF tools do (k-quants search scale/min).
// `importance` (may be null) weights each element's squared error.
void quantize_row(DType t, const float* x, void* y, int64_t n, const float* importance = nullptr);

}  // namespace nexus
