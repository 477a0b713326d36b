// Scalar reference dots for the k-quants (256-element super-blocks) against Q8_K
// activations. Per super-block: integer sums per sub-block, times the sub-block's integer
// scale, then one float scaling by d (and dmin for the min term, taken from Q8_K's bsums).
#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/dot_kernels.h"
#include "kernels/kquant_scales.h"
#include "tensor/blocks.h"
#include "tensor/interleaved_rows.h"
#include "util/fp16.h"

namespace nexus::scalar {
namespace {

// sum over the min term: sum_j min_j * (sum of the 32 activations of sub-block j).
int min_term_32(const uint8_t mn[8], const int16_t bsums[16]) {
  int s = 0;
  for (int j = 0; j < 8; ++j) s += mn[j] * (bsums[2 * j] + bsums[2 * j + 1]);
  return s;
}

// One Q4_K super-block's share of a dot, in the order every instruction set follows so
// that all Q4_K kernels, plain or interleaved (Q4_K_R8), agree bit for bit: exact integer
// sums first, then sum + a_d * (d * isum - dmin * msum) with the two fused steps below.
float q4_k_block_term(int isum, int msum, float d, float dmin, float a_d, float sum) {
  const float v = std::fma(-static_cast<float>(msum), dmin, d * static_cast<float>(isum));
  return std::fma(v, a_d, sum);
}

// The reference GemmFn of an interleaved layout: each row of a group back in the plain
// layout (to_row), then the plain dot per token.
template <class Plain, void (*to_row)(const void*, int64_t, int, void*), float (*dot)(int, const void*, const void*)>
void gemm_by_rows(int n, const void* w, size_t w_stride, int n_rows, const void* a, size_t a_stride, int n_tok,
                  float* y, size_t y_stride) {
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* ab = static_cast<const uint8_t*>(a);
  std::vector<Plain> row(static_cast<size_t>(n / kQK_K));
  for (int g = 0; g < n_rows / 8; ++g)
    for (int r = 0; r < 8; ++r) {
      to_row(wb + 8 * g * w_stride, n, r, row.data());
      for (int t = 0; t < n_tok; ++t) y[t * y_stride + 8 * g + r] = dot(n, row.data(), ab + t * a_stride);
    }
}

}  // namespace

// x = d * (scale & 15) * q - dmin * (scale >> 4), q 2 bits. Within each 128-element half,
// byte l of the half's 32 qs holds elements l, l+32, l+64, l+96 in bit pairs 0,2,4,6.
float dot_q2_k_q8_k(int n, const void* wv, const void* av) {
  const auto* w = static_cast<const BlockQ2_K*>(wv);
  const auto* a = static_cast<const BlockQ8_K*>(av);
  float sum = 0.0f;
  for (int b = 0; b < n / kQK_K; ++b) {
    int msum = 0;
    for (int s = 0; s < 16; ++s) msum += (w[b].scales[s] >> 4) * a[b].bsums[s];
    int isum = 0;
    for (int e0 = 0; e0 < kQK_K; e0 += 16) {  // one 16-element sub-block
      const int half = e0 / 128, shift = 2 * ((e0 % 128) / 32), l0 = e0 % 32;
      const uint8_t* q = w[b].qs + 32 * half;
      int sub = 0;
      for (int l = l0; l < l0 + 16; ++l) sub += ((q[l] >> shift) & 3) * a[b].qs[e0 + l - l0];
      isum += (w[b].scales[e0 / 16] & 0xF) * sub;
    }
    sum += a[b].d * (fp16_to_f32(w[b].d) * static_cast<float>(isum) -
                     fp16_to_f32(w[b].dmin) * static_cast<float>(msum));
  }
  return sum;
}

// x = d * (scale - 32) * (q2 - (hmask bit ? 0 : 4)). Same 2-bit order as Q2_K; the high bit
// of element (half, j, l) is bit 4*half + j of hmask[l].
float dot_q3_k_q8_k(int n, const void* wv, const void* av) {
  const auto* w = static_cast<const BlockQ3_K*>(wv);
  const auto* a = static_cast<const BlockQ8_K*>(av);
  float sum = 0.0f;
  for (int b = 0; b < n / kQK_K; ++b) {
    int8_t sc[16];
    unpack_scales_q3_k(w[b].scales, sc);
    int isum = 0;
    for (int e0 = 0; e0 < kQK_K; e0 += 16) {
      const int half = e0 / 128, j = (e0 % 128) / 32, l0 = e0 % 32;
      const uint8_t* q = w[b].qs + 32 * half;
      const int hbit = 4 * half + j;
      int sub = 0;
      for (int l = l0; l < l0 + 16; ++l) {
        const int v = ((q[l] >> (2 * j)) & 3) - (((w[b].hmask[l] >> hbit) & 1) ? 0 : 4);
        sub += v * a[b].qs[e0 + l - l0];
      }
      isum += sc[e0 / 16] * sub;
    }
    sum += a[b].d * fp16_to_f32(w[b].d) * static_cast<float>(isum);
  }
  return sum;
}

// x = d * scale_j * q - dmin * min_j for sub-block j of 32; sub-blocks 2i and 2i+1 are the
// low and high nibbles of qs[32i .. 32i+32).
float dot_q4_k_q8_k(int n, const void* wv, const void* av) {
  const auto* w = static_cast<const BlockQ4_K*>(wv);
  const auto* a = static_cast<const BlockQ8_K*>(av);
  float sum = 0.0f;
  for (int b = 0; b < n / kQK_K; ++b) {
    uint8_t sc[8], mn[8];
    unpack_scales_k4(w[b].scales, sc, mn);
    int isum = 0;
    for (int j = 0; j < 8; ++j) {
      const uint8_t* q = w[b].qs + 32 * (j / 2);
      const int shift = 4 * (j % 2);
      const int8_t* x = a[b].qs + 32 * j;
      int sub = 0;
      for (int l = 0; l < 32; ++l) sub += ((q[l] >> shift) & 0xF) * x[l];
      isum += sc[j] * sub;
    }
    const int msum = min_term_32(mn, a[b].bsums);
    sum = q4_k_block_term(isum, msum, fp16_to_f32(w[b].d), fp16_to_f32(w[b].dmin), a[b].d, sum);
  }
  return sum;
}

void gemm_q4_k_r8_q8_k(int n, const void* w, size_t w_stride, int n_rows, const void* a, size_t a_stride, int n_tok,
                       float* y, size_t y_stride) {
  gemm_by_rows<BlockQ4_K, q4_k_r8_row, dot_q4_k_q8_k>(n, w, w_stride, n_rows, a, a_stride, n_tok, y, y_stride);
}

// As Q4_K with a 5th bit: element l of sub-block j has its high bit in bit j of qh[l].
float dot_q5_k_q8_k(int n, const void* wv, const void* av) {
  const auto* w = static_cast<const BlockQ5_K*>(wv);
  const auto* a = static_cast<const BlockQ8_K*>(av);
  float sum = 0.0f;
  for (int b = 0; b < n / kQK_K; ++b) {
    uint8_t sc[8], mn[8];
    unpack_scales_k4(w[b].scales, sc, mn);
    int isum = 0;
    for (int j = 0; j < 8; ++j) {
      const uint8_t* q = w[b].qs + 32 * (j / 2);
      const int shift = 4 * (j % 2);
      const int8_t* x = a[b].qs + 32 * j;
      int sub = 0;
      for (int l = 0; l < 32; ++l) {
        const int v = ((q[l] >> shift) & 0xF) | (((w[b].qh[l] >> j) & 1) << 4);
        sub += v * x[l];
      }
      isum += sc[j] * sub;
    }
    const int msum = min_term_32(mn, a[b].bsums);
    sum += a[b].d * (fp16_to_f32(w[b].d) * static_cast<float>(isum) -
                     fp16_to_f32(w[b].dmin) * static_cast<float>(msum));
  }
  return sum;
}

// x = d * scale_s * (q - 32), q 6 bits, 16 sub-blocks of 16. As for Q4_K, exact integer sums
// per super-block and one fixed float step, so every Q6_K kernel agrees bit for bit. Per 128-element half h:
// element 32k + l (k < 4, l < 32) has low 4 bits in ql[64h + l + 32*(k%2)] (low nibble for
// k < 2, high for k >= 2) and high 2 bits at bit 2k of qh[32h + l].
float dot_q6_k_q8_k(int n, const void* wv, const void* av) {
  const auto* w = static_cast<const BlockQ6_K*>(wv);
  const auto* a = static_cast<const BlockQ8_K*>(av);
  float sum = 0.0f;
  for (int b = 0; b < n / kQK_K; ++b) {
    int isum = 0;
    for (int e0 = 0; e0 < kQK_K; e0 += 16) {
      const int h = e0 / 128, k = (e0 % 128) / 32, l0 = e0 % 32;
      const uint8_t* ql = w[b].ql + 64 * h + 32 * (k % 2);
      const uint8_t* qh = w[b].qh + 32 * h;
      const int lshift = 4 * (k / 2);
      int sub = 0;
      for (int l = l0; l < l0 + 16; ++l) {
        const int v = (((ql[l] >> lshift) & 0xF) | (((qh[l] >> (2 * k)) & 3) << 4)) - 32;
        sub += v * a[b].qs[e0 + l - l0];
      }
      isum += w[b].scales[e0 / 16] * sub;
    }
    // one fused step per super-block, which every Q6_K kernel (plain or Q6_K_R8) takes
    sum = std::fma(a[b].d * fp16_to_f32(w[b].d), static_cast<float>(isum), sum);
  }
  return sum;
}

void gemm_q6_k_r8_q8_k(int n, const void* w, size_t w_stride, int n_rows, const void* a, size_t a_stride, int n_tok,
                       float* y, size_t y_stride) {
  gemm_by_rows<BlockQ6_K, q6_k_r8_row, dot_q6_k_q8_k>(n, w, w_stride, n_rows, a, a_stride, n_tok, y, y_stride);
}

}  // namespace nexus::scalar
