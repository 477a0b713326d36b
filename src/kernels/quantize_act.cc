#include "kernels/quantize_act.h"

#include <cmath>
#include <cstring>

#include "tensor/blocks.h"
#include "util/fp16.h"

namespace nexus {
namespace {

// Round to nearest even (as lrintf in the default FP environment, without the libm call):
// adding 1.5 * 2^23 pushes the fraction bits out of a float. Clamped to the symmetric int8
// range so the AVX2 sign trick (which negates activations) cannot overflow at -128; the
// comparisons also send NaN to -127 instead of an undefined conversion.
int8_t q8(float v) {
  constexpr float kRound = 12582912.0f;
  float r = (v + kRound) - kRound;
  r = r >= -127.0f ? r : -127.0f;
  r = r <= 127.0f ? r : 127.0f;
  return static_cast<int8_t>(static_cast<int>(r));
}

float max_abs(const float* x, int n) {
  float m = 0.0f;
  for (int i = 0; i < n; ++i) {
    const float a = std::fabs(x[i]);
    m = a > m ? a : m;
  }
  return m;
}

}  // namespace

void quantize_act_q8_0(int n, const float* x, void* yv) {
  auto* y = static_cast<BlockQ8_0*>(yv);
  for (int b = 0; b < n / kQK8_0; ++b, x += kQK8_0) {
    const float d = max_abs(x, kQK8_0) / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[b].d = f32_to_fp16(d);
    for (int j = 0; j < kQK8_0; ++j) y[b].qs[j] = q8(x[j] * id);
  }
}

void quantize_act_q8_1(int n, const float* x, void* yv) {
  auto* y = static_cast<BlockQ8_1*>(yv);
  for (int b = 0; b < n / kQK8_1; ++b, x += kQK8_1) {
    const float d = max_abs(x, kQK8_1) / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    int sum = 0;
    for (int j = 0; j < kQK8_1; ++j) {
      y[b].qs[j] = q8(x[j] * id);
      sum += y[b].qs[j];
    }
    y[b].d = f32_to_fp16(d);
    y[b].s = f32_to_fp16(d * static_cast<float>(sum));
  }
}

void quantize_act_q8_k(int n, const float* x, void* yv) {
  auto* y = static_cast<BlockQ8_K*>(yv);
  for (int b = 0; b < n / kQK_K; ++b, x += kQK_K) {
    const float amax = max_abs(x, kQK_K);
    const float iscale = amax != 0.0f ? 127.0f / amax : 0.0f;
    for (int j = 0; j < kQK_K; ++j) y[b].qs[j] = q8(x[j] * iscale);
    for (int g = 0; g < kQK_K / 16; ++g) {
      int s = 0;
      for (int j = 0; j < 16; ++j) s += y[b].qs[16 * g + j];
      y[b].bsums[g] = static_cast<int16_t>(s);
    }
    y[b].d = amax != 0.0f ? 1.0f / iscale : 0.0f;
  }
}

void copy_act_f32(int n, const float* x, void* y) { std::memcpy(y, x, sizeof(float) * n); }

}  // namespace nexus
