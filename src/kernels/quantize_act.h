// Activation formats for the integer dot products: a float row is quantized once per
// matmul into the format its weight type's dot consumes (kernel_table.h). Deterministic
// (round to nearest even); a SIMD level's own quantizer (quantize_act_avx2.cc) writes the same
// bytes, so every level's dot sees the same activations.
#pragma once

namespace nexus {

// n multiple of 32. Per block: d = max|x| / 127, q = round(x / d) in [-127, 127].
void quantize_act_q8_0(int n, const float* x, void* y);
// As Q8_0, plus s = d * sum(q) for the min term of Q4_1 / Q5_1 dots.
void quantize_act_q8_1(int n, const float* x, void* y);
// n multiple of 256. Float d per 256, q in [-127, 127], bsums = sums of each 16 q.
void quantize_act_q8_k(int n, const float* x, void* y);
// F32 "format": a copy.
void copy_act_f32(int n, const float* x, void* y);

}  // namespace nexus
