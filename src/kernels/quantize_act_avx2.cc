// Q8_K activation quantization with AVX2: byte for byte what quantize_act_q8_k
// (quantize_act.cc) writes. Each element goes through the same IEEE operations in the same
// order (multiply, round by adding and subtracting 1.5 * 2^23, clamp, truncate), and the
// maximum is exact in any order, so every level's dot sees the same activations.
#include <immintrin.h>

#include "kernels/dot_kernels.h"
#include "tensor/blocks.h"

namespace nexus::avx2 {
namespace {

float hmax(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

// round(x * iscale) clamped to [-127, 127] (NaN to -127), as int32 lanes.
__m256i q8_lanes(const float* x, __m256 iscale) {
  const __m256 round = _mm256_set1_ps(12582912.0f);
  __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x), iscale);
  // The scalar reference rounds the product: keep the compiler from fusing the multiply
  // into the add below (an FMA would round once, not twice).
  __asm__("" : "+x"(v));
  __m256 r = _mm256_sub_ps(_mm256_add_ps(v, round), round);
  r = _mm256_max_ps(r, _mm256_set1_ps(-127.0f));  // r > -127 ? r : -127, so NaN gives -127
  r = _mm256_min_ps(r, _mm256_set1_ps(127.0f));
  return _mm256_cvttps_epi32(r);
}

}  // namespace

void quantize_act_q8_k(int n, const float* x, void* yv) {
  auto* y = static_cast<BlockQ8_K*>(yv);
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  for (int b = 0; b < n / kQK_K; ++b, x += kQK_K) {
    // max_ps(a, m) = a > m ? a : m, the reference's step: a NaN element is skipped.
    __m256 m = _mm256_setzero_ps();
    for (int j = 0; j < kQK_K; j += 8) m = _mm256_max_ps(_mm256_and_ps(_mm256_loadu_ps(x + j), abs_mask), m);
    const float amax = hmax(m);
    const float iscale = amax != 0.0f ? 127.0f / amax : 0.0f;
    const __m256 vscale = _mm256_set1_ps(iscale);
    for (int j = 0; j < kQK_K; j += 32) {
      const __m256i ab = _mm256_packs_epi32(q8_lanes(x + j, vscale), q8_lanes(x + j + 8, vscale));
      const __m256i cd = _mm256_packs_epi32(q8_lanes(x + j + 16, vscale), q8_lanes(x + j + 24, vscale));
      // packs interleave the 128-bit lanes: put the 8 groups of 4 back in order
      const __m256i q = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(ab, cd), order);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(y[b].qs + j), q);
      // bsums of elements j..j+15 and j+16..j+31: pairs, then quads, then the two halves' sums
      const __m256i quads = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), q), _mm256_set1_epi16(1));
      const __m128i s = _mm_hadd_epi32(_mm256_castsi256_si128(quads), _mm256_extracti128_si256(quads, 1));
      const __m128i s2 = _mm_hadd_epi32(s, s);  // [sum 0-15, sum 16-31, ...]
      y[b].bsums[j / 16] = static_cast<int16_t>(_mm_cvtsi128_si32(s2));
      y[b].bsums[j / 16 + 1] = static_cast<int16_t>(_mm_extract_epi32(s2, 1));
    }
    y[b].d = amax != 0.0f ? 1.0f / iscale : 0.0f;
  }
}

}  // namespace nexus::avx2
