// The 32-element block formats: Q4_0, Q4_1, Q5_0, Q5_1 (weights) and Q8_0, Q8_1 (weights and
// activations). Layouts are in tensor/blocks.h. Quantization is the plain amax / min-max
// scaling GGUF tools use for these types, so files round-trip the way users expect.
#include <cmath>
#include <cstring>

#include "tensor/blocks.h"
#include "tensor/quants_internal.h"
#include "util/fp16.h"

namespace nexus::quants {
namespace {

// Level floor(v + 0.5) clamped to [lo, hi]; NaN maps to lo so bad input stays defined.
inline int level(float v, int lo, int hi) {
  if (!(v == v)) return lo;
  const float r = std::floor(v + 0.5f);
  if (r < static_cast<float>(lo)) return lo;
  if (r > static_cast<float>(hi)) return hi;
  return static_cast<int>(r);
}

// The element of largest magnitude, with its sign.
inline float signed_absmax(const float* x, int n) {
  float amax = 0, max = 0;
  for (int i = 0; i < n; ++i)
    if (std::fabs(x[i]) > amax) {
      amax = std::fabs(x[i]);
      max = x[i];
    }
  return max;
}

inline void min_max(const float* x, int n, float* lo, float* hi) {
  *lo = x[0];
  *hi = x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < *lo) *lo = x[i];
    if (x[i] > *hi) *hi = x[i];
  }
}

// Five-bit packing shared by Q5_0 / Q5_1: bit 4 of element j goes to bit j of the 32-bit qh.
inline void put_qh(uint8_t qh[4], uint32_t bits) { std::memcpy(qh, &bits, 4); }
inline uint32_t get_qh(const uint8_t qh[4]) {
  uint32_t bits;
  std::memcpy(&bits, qh, 4);
  return bits;
}

}  // namespace

void dequantize_row_q4_0(const void* vx, float* y, int64_t n) {
  const auto* b = static_cast<const BlockQ4_0*>(vx);
  for (int64_t i = 0; i < n / kQK4_0; ++i, y += kQK4_0) {
    const float d = fp16_to_f32(b[i].d);
    for (int j = 0; j < kQK4_0 / 2; ++j) {
      y[j] = d * static_cast<float>((b[i].qs[j] & 0x0f) - 8);
      y[j + kQK4_0 / 2] = d * static_cast<float>((b[i].qs[j] >> 4) - 8);
    }
  }
}

void quantize_row_q4_0(const float* x, void* vy, int64_t n) {
  auto* b = static_cast<BlockQ4_0*>(vy);
  for (int64_t i = 0; i < n / kQK4_0; ++i, x += kQK4_0) {
    // The largest-magnitude element maps to level -8, using the asymmetric side of [-8, 7].
    const float d = signed_absmax(x, kQK4_0) / -8.0f;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    b[i].d = f32_to_fp16(d);
    for (int j = 0; j < kQK4_0 / 2; ++j) {
      const int q0 = level(x[j] * id + 8.0f, 0, 15);
      const int q1 = level(x[j + kQK4_0 / 2] * id + 8.0f, 0, 15);
      b[i].qs[j] = static_cast<uint8_t>(q0 | (q1 << 4));
    }
  }
}

void dequantize_row_q4_1(const void* vx, float* y, int64_t n) {
  const auto* b = static_cast<const BlockQ4_1*>(vx);
  for (int64_t i = 0; i < n / kQK4_1; ++i, y += kQK4_1) {
    const float d = fp16_to_f32(b[i].d);
    const float m = fp16_to_f32(b[i].m);
    for (int j = 0; j < kQK4_1 / 2; ++j) {
      y[j] = d * static_cast<float>(b[i].qs[j] & 0x0f) + m;
      y[j + kQK4_1 / 2] = d * static_cast<float>(b[i].qs[j] >> 4) + m;
    }
  }
}

void quantize_row_q4_1(const float* x, void* vy, int64_t n) {
  auto* b = static_cast<BlockQ4_1*>(vy);
  for (int64_t i = 0; i < n / kQK4_1; ++i, x += kQK4_1) {
    float lo, hi;
    min_max(x, kQK4_1, &lo, &hi);
    const float d = (hi - lo) / 15.0f;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    b[i].d = f32_to_fp16(d);
    b[i].m = f32_to_fp16(lo);
    for (int j = 0; j < kQK4_1 / 2; ++j) {
      const int q0 = level((x[j] - lo) * id, 0, 15);
      const int q1 = level((x[j + kQK4_1 / 2] - lo) * id, 0, 15);
      b[i].qs[j] = static_cast<uint8_t>(q0 | (q1 << 4));
    }
  }
}

void dequantize_row_q5_0(const void* vx, float* y, int64_t n) {
  const auto* b = static_cast<const BlockQ5_0*>(vx);
  for (int64_t i = 0; i < n / kQK5_0; ++i, y += kQK5_0) {
    const float d = fp16_to_f32(b[i].d);
    const uint32_t qh = get_qh(b[i].qh);
    for (int j = 0; j < kQK5_0 / 2; ++j) {
      const int h0 = static_cast<int>((qh >> j) & 1) << 4;
      const int h1 = static_cast<int>((qh >> (j + kQK5_0 / 2)) & 1) << 4;
      y[j] = d * static_cast<float>(((b[i].qs[j] & 0x0f) | h0) - 16);
      y[j + kQK5_0 / 2] = d * static_cast<float>(((b[i].qs[j] >> 4) | h1) - 16);
    }
  }
}

void quantize_row_q5_0(const float* x, void* vy, int64_t n) {
  auto* b = static_cast<BlockQ5_0*>(vy);
  for (int64_t i = 0; i < n / kQK5_0; ++i, x += kQK5_0) {
    const float d = signed_absmax(x, kQK5_0) / -16.0f;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    b[i].d = f32_to_fp16(d);
    uint32_t qh = 0;
    for (int j = 0; j < kQK5_0 / 2; ++j) {
      const int q0 = level(x[j] * id + 16.0f, 0, 31);
      const int q1 = level(x[j + kQK5_0 / 2] * id + 16.0f, 0, 31);
      b[i].qs[j] = static_cast<uint8_t>((q0 & 0x0f) | ((q1 & 0x0f) << 4));
      qh |= static_cast<uint32_t>(q0 >> 4) << j;
      qh |= static_cast<uint32_t>(q1 >> 4) << (j + kQK5_0 / 2);
    }
    put_qh(b[i].qh, qh);
  }
}

void dequantize_row_q5_1(const void* vx, float* y, int64_t n) {
  const auto* b = static_cast<const BlockQ5_1*>(vx);
  for (int64_t i = 0; i < n / kQK5_1; ++i, y += kQK5_1) {
    const float d = fp16_to_f32(b[i].d);
    const float m = fp16_to_f32(b[i].m);
    const uint32_t qh = get_qh(b[i].qh);
    for (int j = 0; j < kQK5_1 / 2; ++j) {
      const int h0 = static_cast<int>((qh >> j) & 1) << 4;
      const int h1 = static_cast<int>((qh >> (j + kQK5_1 / 2)) & 1) << 4;
      y[j] = d * static_cast<float>((b[i].qs[j] & 0x0f) | h0) + m;
      y[j + kQK5_1 / 2] = d * static_cast<float>((b[i].qs[j] >> 4) | h1) + m;
    }
  }
}

void quantize_row_q5_1(const float* x, void* vy, int64_t n) {
  auto* b = static_cast<BlockQ5_1*>(vy);
  for (int64_t i = 0; i < n / kQK5_1; ++i, x += kQK5_1) {
    float lo, hi;
    min_max(x, kQK5_1, &lo, &hi);
    const float d = (hi - lo) / 31.0f;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    b[i].d = f32_to_fp16(d);
    b[i].m = f32_to_fp16(lo);
    uint32_t qh = 0;
    for (int j = 0; j < kQK5_1 / 2; ++j) {
      const int q0 = level((x[j] - lo) * id, 0, 31);
      const int q1 = level((x[j + kQK5_1 / 2] - lo) * id, 0, 31);
      b[i].qs[j] = static_cast<uint8_t>((q0 & 0x0f) | ((q1 & 0x0f) << 4));
      qh |= static_cast<uint32_t>(q0 >> 4) << j;
      qh |= static_cast<uint32_t>(q1 >> 4) << (j + kQK5_1 / 2);
    }
    put_qh(b[i].qh, qh);
  }
}

void dequantize_row_q8_0(const void* vx, float* y, int64_t n) {
  const auto* b = static_cast<const BlockQ8_0*>(vx);
  for (int64_t i = 0; i < n / kQK8_0; ++i, y += kQK8_0) {
    const float d = fp16_to_f32(b[i].d);
    for (int j = 0; j < kQK8_0; ++j) y[j] = d * static_cast<float>(b[i].qs[j]);
  }
}

void quantize_row_q8_0(const float* x, void* vy, int64_t n) {
  auto* b = static_cast<BlockQ8_0*>(vy);
  for (int64_t i = 0; i < n / kQK8_0; ++i, x += kQK8_0) {
    const float d = std::fabs(signed_absmax(x, kQK8_0)) / 127.0f;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    b[i].d = f32_to_fp16(d);
    for (int j = 0; j < kQK8_0; ++j) b[i].qs[j] = static_cast<int8_t>(nearest_int(std::fmin(127.f, std::fmax(-127.f, x[j] * id))));
  }
}

void dequantize_row_q8_1(const void* vx, float* y, int64_t n) {
  const auto* b = static_cast<const BlockQ8_1*>(vx);
  for (int64_t i = 0; i < n / kQK8_1; ++i, y += kQK8_1) {
    const float d = fp16_to_f32(b[i].d);
    for (int j = 0; j < kQK8_1; ++j) y[j] = d * static_cast<float>(b[i].qs[j]);
  }
}

void quantize_row_q8_1(const float* x, void* vy, int64_t n) {
  auto* b = static_cast<BlockQ8_1*>(vy);
  for (int64_t i = 0; i < n / kQK8_1; ++i, x += kQK8_1) {
    const float d = std::fabs(signed_absmax(x, kQK8_1)) / 127.0f;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    int sum = 0;
    for (int j = 0; j < kQK8_1; ++j) {
      b[i].qs[j] = static_cast<int8_t>(nearest_int(std::fmin(127.f, std::fmax(-127.f, x[j] * id))));
      sum += b[i].qs[j];
    }
    b[i].d = f32_to_fp16(d);
    // s carries d * sum(q) so a Q4_1/Q5_1 dot can add the block minimum in one multiply.
    b[i].s = f32_to_fp16(d * static_cast<float>(sum));
  }
}

}  // namespace nexus::quants
