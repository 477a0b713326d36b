// Per-instruction-set dot products, declared in one place; kernel_table.cc picks among them.
// Names state operand types: dot_<weight>_<activation>. Each namespace lives in its own file
// (dot_scalar.cc, dot_k_scalar.cc, dot_avx2.cc, dot_avx512.cc). The scalar set is complete
// and is the reference the SIMD sets are tested against.
#pragma once

#include <cstddef>
#include <cstdint>

namespace nexus {

namespace scalar {
float dot_f32_f32(int n, const void* w, const void* a);
float dot_f16_f32(int n, const void* w, const void* a);
float dot_bf16_f32(int n, const void* w, const void* a);
float dot_q4_0_q8_0(int n, const void* w, const void* a);
float dot_q4_1_q8_1(int n, const void* w, const void* a);
float dot_q5_0_q8_0(int n, const void* w, const void* a);
float dot_q5_1_q8_1(int n, const void* w, const void* a);
float dot_q8_0_q8_0(int n, const void* w, const void* a);
float dot_q2_k_q8_k(int n, const void* w, const void* a);
float dot_q3_k_q8_k(int n, const void* w, const void* a);
float dot_q4_k_q8_k(int n, const void* w, const void* a);
float dot_q5_k_q8_k(int n, const void* w, const void* a);
float dot_q6_k_q8_k(int n, const void* w, const void* a);
// The reference GemmFns of Q4_K_R8 and Q6_K_R8 (tensor/interleaved_rows.h): each row back in
// the plain layout, then the plain dot, so the same bits as dot_q4_k_q8_k / dot_q6_k_q8_k.
void gemm_q4_k_r8_q8_k(int n, const void* w, size_t w_stride, int n_rows, const void* a, size_t a_stride, int n_tok,
                       float* y, size_t y_stride);
void gemm_q6_k_r8_q8_k(int n, const void* w, size_t w_stride, int n_rows, const void* a, size_t a_stride, int n_tok,
                       float* y, size_t y_stride);
// RowToF32Fn and the attention kernels (kernel_table.h), for KV cache rows.
void f32_to_f32(int n, const void* row, float* out);
void f16_to_f32(int n, const void* row, float* out);
void q8_0_to_f32(int n, const void* row, float* out);
void attn_scores_f32(int hd, const float* q, int n_q, const float* k, int k_stride, int n_pos, float scale, float* s,
                     int s_stride);
void attn_weighted_sum_f32(int hd, const float* w, int w_stride, int n_q, const float* v, int v_stride, int n_pos,
                           float* out);
void softmax_f32(int n, float* x);
}  // namespace scalar

// AVX2 + FMA + F16C (maddubs / madd integer dots).
namespace avx2 {
// QuantizeActFn for Q8_K, the same bytes as the scalar quantize_act_q8_k.
void quantize_act_q8_k(int n, const float* x, void* act_row);
float dot_f32_f32(int n, const void* w, const void* a);
float dot_f16_f32(int n, const void* w, const void* a);
float dot_bf16_f32(int n, const void* w, const void* a);
float dot_q4_0_q8_0(int n, const void* w, const void* a);
float dot_q4_1_q8_1(int n, const void* w, const void* a);
float dot_q5_0_q8_0(int n, const void* w, const void* a);
float dot_q5_1_q8_1(int n, const void* w, const void* a);
float dot_q8_0_q8_0(int n, const void* w, const void* a);
float dot_q2_k_q8_k(int n, const void* w, const void* a);
float dot_q3_k_q8_k(int n, const void* w, const void* a);
float dot_q4_k_q8_k(int n, const void* w, const void* a);
float dot_q5_k_q8_k(int n, const void* w, const void* a);
float dot_q6_k_q8_k(int n, const void* w, const void* a);
void f16_to_f32(int n, const void* row, float* out);
void q8_0_to_f32(int n, const void* row, float* out);
void attn_scores_f32(int hd, const float* q, int n_q, const float* k, int k_stride, int n_pos, float scale, float* s,
                     int s_stride);
void attn_weighted_sum_f32(int hd, const float* w, int w_stride, int n_q, const float* v, int v_stride, int n_pos,
                           float* out);
void softmax_f32(int n, float* x);
void silu_mul_f32(float* gate, const float* up, int64_t n);
// GemmFn (kernel_table.h): bitwise equal to the dots above, tokens in groups of up to 8.
void gemm_q8_0_q8_0(int n, const void* w, size_t w_stride, int n_rows, const void* a, size_t a_stride, int n_tok,
                    float* y, size_t y_stride);
void gemm_q4_k_q8_k(int n, const void* w, size_t w_stride, int n_rows, const void* a, size_t a_stride, int n_tok,
                    float* y, size_t y_stride);
void gemm_q6_k_q8_k(int n, const void* w, size_t w_stride, int n_rows, const void* a, size_t a_stride, int n_tok,
                    float* y, size_t y_stride);
// Q4_K_R8 weights (n_rows a multiple of 8), the same bits as gemm_q4_k_q8_k on the plain rows.
void gemm_q4_k_r8_q8_k(int n, const void* w, size_t w_stride, int n_rows, const void* a, size_t a_stride, int n_tok,
                       float* y, size_t y_stride);
}  // namespace avx2

// AVX-512 F/BW/VL/DQ + VNNI (vpdpbusd integer dots). Types missing here keep their AVX2
// kernels at this level: Q2_K and Q3_K, and Q8_0, Q4_K and Q6_K, whose AVX2 dots come with
// a gemm (kernel_table.cc says why that matters more).
namespace avx512 {
float dot_f32_f32(int n, const void* w, const void* a);
float dot_f16_f32(int n, const void* w, const void* a);
float dot_bf16_f32(int n, const void* w, const void* a);
float dot_q4_0_q8_0(int n, const void* w, const void* a);
float dot_q4_1_q8_1(int n, const void* w, const void* a);
float dot_q5_0_q8_0(int n, const void* w, const void* a);
float dot_q5_1_q8_1(int n, const void* w, const void* a);
float dot_q5_k_q8_k(int n, const void* w, const void* a);
// The same bits as avx2::gemm_q4_k_r8_q8_k (exact integer sums, the same float steps).
void gemm_q4_k_r8_q8_k(int n, const void* w, size_t w_stride, int n_rows, const void* a, size_t a_stride, int n_tok,
                       float* y, size_t y_stride);
// Q6_K_R8 weights: the same bits as every Q6_K dot (exact integer sums, one float step).
void gemm_q6_k_r8_q8_k(int n, const void* w, size_t w_stride, int n_rows, const void* a, size_t a_stride, int n_tok,
                       float* y, size_t y_stride);
}  // namespace avx512

}  // namespace nexus
