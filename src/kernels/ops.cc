#include "kernels/ops.h"

#include <algorithm>
#include <cmath>

#include "kernels/kernel_table.h"

namespace nexus {

void rmsnorm(const float* x, const float* w, float eps, int64_t n, float* y) {
  // Accumulate in double: the mean of squares over thousands of elements loses digits in
  // float, and this runs once per row, so the cost does not matter.
  double ss = 0.0;
  for (int64_t i = 0; i < n; ++i) ss += static_cast<double>(x[i]) * x[i];
  const float inv = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(n) + eps));
  if (w) {
    for (int64_t i = 0; i < n; ++i) y[i] = x[i] * inv * w[i];
  } else {
    for (int64_t i = 0; i < n; ++i) y[i] = x[i] * inv;
  }
}

void rmsnorm_rows(const float* x, const float* w, float eps, int64_t n_rows, int64_t d, float* y) {
  for (int64_t r = 0; r < n_rows; ++r) rmsnorm(x + r * d, w, eps, d, y + r * d);
}

void add_inplace(float* x, const float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] += y[i];
}

void scale_inplace(float* x, float s, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] *= s;
}

void silu_mul_inplace(float* gate, const float* up, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float a = gate[i];
    gate[i] = a / (1.0f + std::exp(-a)) * up[i];
  }
}

void gelu_tanh_mul_inplace(float* gate, const float* up, int64_t n) {
  const float k = 0.7978845608028654f;  // sqrt(2 / pi)
  for (int64_t i = 0; i < n; ++i) {
    const float a = gate[i];
    gate[i] = 0.5f * a * (1.0f + std::tanh(k * (a + 0.044715f * a * a * a))) * up[i];
  }
}

// Elements per chunk of the pooled element-wise ops: one token's FFN row stays on one thread.
constexpr int64_t kElementGrain = 8192;

void silu_mul_inplace(float* gate, const float* up, int64_t n, ThreadPool& pool) {
  const SiluMulFn silu_mul = kernels().silu_mul();
  pool.parallel_for(n, kElementGrain, [&](int64_t b, int64_t e) { silu_mul(gate + b, up + b, e - b); });
}

void gelu_tanh_mul_inplace(float* gate, const float* up, int64_t n, ThreadPool& pool) {
  pool.parallel_for(n, kElementGrain, [&](int64_t b, int64_t e) { gelu_tanh_mul_inplace(gate + b, up + b, e - b); });
}

void softcap_inplace(float* x, float cap, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = cap * std::tanh(x[i] / cap);
}

void softmax_inplace(float* x, int64_t n) {
  if (n <= 0) return;
  const float mx = *std::max_element(x, x + n);
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - mx);
    sum += x[i];
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

void rope_angles(int64_t pos, const RopeParams& p, float* cos_out, float* sin_out) {
  const int half = p.n_rot / 2;
  const double position = static_cast<double>(pos) * p.freq_scale;
  for (int i = 0; i < half; ++i) {
    // theta_i = pos * base^(-2i / n_rot), in double so large positions keep their precision.
    double theta = position * std::pow(static_cast<double>(p.freq_base), -2.0 * i / p.n_rot);
    if (p.freq_factors) theta /= p.freq_factors[i];
    cos_out[i] = static_cast<float>(std::cos(theta));
    sin_out[i] = static_cast<float>(std::sin(theta));
  }
}

void rope_inplace(float* x, int n_heads, int head_dim, const float* cos_a, const float* sin_a,
                  const RopeParams& p) {
  const int half = p.n_rot / 2;
  const bool normal = p.ordering == RopeOrdering::kNormal;
  for (int h = 0; h < n_heads; ++h) {
    float* v = x + static_cast<int64_t>(h) * head_dim;
    for (int i = 0; i < half; ++i) {
      // The pair (a, b) that frequency i rotates.
      const int ia = normal ? 2 * i : i;
      const int ib = normal ? 2 * i + 1 : i + half;
      const float a = v[ia], b = v[ib];
      v[ia] = a * cos_a[i] - b * sin_a[i];  // [a'; b'] = [cos -sin; sin cos] [a; b]
      v[ib] = a * sin_a[i] + b * cos_a[i];
    }
  }
}

void rope_tokens_inplace(float* x, int n_tokens, int n_heads, int head_dim, const float* cos_a,
                         const float* sin_a, const RopeParams& p) {
  const int half = p.n_rot / 2;
  const int64_t stride = static_cast<int64_t>(n_heads) * head_dim;
  for (int t = 0; t < n_tokens; ++t)
    rope_inplace(x + t * stride, n_heads, head_dim, cos_a + t * half, sin_a + t * half, p);
}

}  // namespace nexus
