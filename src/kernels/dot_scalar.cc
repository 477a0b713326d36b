// Scalar reference dots for the float types and the 32-element block quants. Integer sums
// per block are exact; only the per-block float scaling rounds.
#include <cstdint>
#include <cstring>

#include "kernels/dot_kernels.h"
#include "kernels/ops.h"
#include "tensor/blocks.h"
#include "util/fp16.h"

namespace nexus::scalar {
namespace {

float h2f(fp16_t h) { return fp16_to_f32(h); }

uint32_t load_qh(const uint8_t qh[4]) {
  uint32_t v;
  std::memcpy(&v, qh, 4);  // little-endian: bit j = 5th bit of element j
  return v;
}

}  // namespace

float dot_f32_f32(int n, const void* wv, const void* av) {
  const auto* w = static_cast<const float*>(wv);
  const auto* a = static_cast<const float*>(av);
  float sum = 0.0f;
  for (int i = 0; i < n; ++i) sum += w[i] * a[i];
  return sum;
}

float dot_f16_f32(int n, const void* wv, const void* av) {
  const auto* w = static_cast<const fp16_t*>(wv);
  const auto* a = static_cast<const float*>(av);
  float sum = 0.0f;
  for (int i = 0; i < n; ++i) sum += fp16_to_f32(w[i]) * a[i];
  return sum;
}

float dot_bf16_f32(int n, const void* wv, const void* av) {
  const auto* w = static_cast<const uint16_t*>(wv);
  const auto* a = static_cast<const float*>(av);
  float sum = 0.0f;
  for (int i = 0; i < n; ++i) sum += bf16_to_f32(w[i]) * a[i];
  return sum;
}

// sum_b dw*da * sum_j (q_j - 8) * a_j
float dot_q4_0_q8_0(int n, const void* wv, const void* av) {
  const auto* w = static_cast<const BlockQ4_0*>(wv);
  const auto* a = static_cast<const BlockQ8_0*>(av);
  float sum = 0.0f;
  for (int b = 0; b < n / kQK4_0; ++b) {
    int isum = 0;
    for (int j = 0; j < kQK4_0 / 2; ++j) {
      isum += ((w[b].qs[j] & 0xF) - 8) * a[b].qs[j];
      isum += ((w[b].qs[j] >> 4) - 8) * a[b].qs[j + kQK4_0 / 2];
    }
    sum += h2f(w[b].d) * h2f(a[b].d) * static_cast<float>(isum);
  }
  return sum;
}

// sum_b dw*da * sum_j q_j*a_j + m * (da * sum_j a_j);  the last factor is Q8_1's s.
float dot_q4_1_q8_1(int n, const void* wv, const void* av) {
  const auto* w = static_cast<const BlockQ4_1*>(wv);
  const auto* a = static_cast<const BlockQ8_1*>(av);
  float sum = 0.0f;
  for (int b = 0; b < n / kQK4_1; ++b) {
    int isum = 0;
    for (int j = 0; j < kQK4_1 / 2; ++j) {
      isum += (w[b].qs[j] & 0xF) * a[b].qs[j];
      isum += (w[b].qs[j] >> 4) * a[b].qs[j + kQK4_1 / 2];
    }
    sum += h2f(w[b].d) * h2f(a[b].d) * static_cast<float>(isum) + h2f(w[b].m) * h2f(a[b].s);
  }
  return sum;
}

float dot_q5_0_q8_0(int n, const void* wv, const void* av) {
  const auto* w = static_cast<const BlockQ5_0*>(wv);
  const auto* a = static_cast<const BlockQ8_0*>(av);
  float sum = 0.0f;
  for (int b = 0; b < n / kQK5_0; ++b) {
    const uint32_t qh = load_qh(w[b].qh);
    int isum = 0;
    for (int j = 0; j < kQK5_0 / 2; ++j) {
      const int lo = (w[b].qs[j] & 0xF) | (((qh >> j) & 1) << 4);
      const int hi = (w[b].qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
      isum += (lo - 16) * a[b].qs[j] + (hi - 16) * a[b].qs[j + kQK5_0 / 2];
    }
    sum += h2f(w[b].d) * h2f(a[b].d) * static_cast<float>(isum);
  }
  return sum;
}

float dot_q5_1_q8_1(int n, const void* wv, const void* av) {
  const auto* w = static_cast<const BlockQ5_1*>(wv);
  const auto* a = static_cast<const BlockQ8_1*>(av);
  float sum = 0.0f;
  for (int b = 0; b < n / kQK5_1; ++b) {
    const uint32_t qh = load_qh(w[b].qh);
    int isum = 0;
    for (int j = 0; j < kQK5_1 / 2; ++j) {
      const int lo = (w[b].qs[j] & 0xF) | (((qh >> j) & 1) << 4);
      const int hi = (w[b].qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
      isum += lo * a[b].qs[j] + hi * a[b].qs[j + kQK5_1 / 2];
    }
    sum += h2f(w[b].d) * h2f(a[b].d) * static_cast<float>(isum) + h2f(w[b].m) * h2f(a[b].s);
  }
  return sum;
}

float dot_q8_0_q8_0(int n, const void* wv, const void* av) {
  const auto* w = static_cast<const BlockQ8_0*>(wv);
  const auto* a = static_cast<const BlockQ8_0*>(av);
  float sum = 0.0f;
  for (int b = 0; b < n / kQK8_0; ++b) {
    int isum = 0;
    for (int j = 0; j < kQK8_0; ++j) isum += w[b].qs[j] * a[b].qs[j];
    sum += h2f(w[b].d) * h2f(a[b].d) * static_cast<float>(isum);
  }
  return sum;
}

void f32_to_f32(int n, const void* row, float* out) { std::memcpy(out, row, sizeof(float) * n); }

void f16_to_f32(int n, const void* rowv, float* out) {
  const auto* row = static_cast<const fp16_t*>(rowv);
  for (int i = 0; i < n; ++i) out[i] = fp16_to_f32(row[i]);
}

void q8_0_to_f32(int n, const void* rowv, float* out) {
  const auto* row = static_cast<const BlockQ8_0*>(rowv);
  for (int b = 0; b < n / kQK8_0; ++b) {
    const float d = h2f(row[b].d);
    for (int j = 0; j < kQK8_0; ++j) out[kQK8_0 * b + j] = d * static_cast<float>(row[b].qs[j]);
  }
}

void attn_scores_f32(int hd, const float* q, int n_q, const float* k, int k_stride, int n_pos, float scale, float* s,
                     int s_stride) {
  for (int j = 0; j < n_pos; ++j)
    for (int i = 0; i < n_q; ++i) s[i * s_stride + j] = dot_f32_f32(hd, k + j * k_stride, q + i * hd) * scale;
}

void attn_weighted_sum_f32(int hd, const float* w, int w_stride, int n_q, const float* v, int v_stride, int n_pos,
                           float* out) {
  for (int i = 0; i < n_q; ++i)
    for (int j = 0; j < n_pos; ++j) {
      const float wj = w[i * w_stride + j];
      const float* vj = v + j * v_stride;
      for (int d = 0; d < hd; ++d) out[i * hd + d] += wj * vj[d];
    }
}

void softmax_f32(int n, float* x) { softmax_inplace(x, n); }

}  // namespace nexus::scalar
