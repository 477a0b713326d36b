// AVX-512 (F/BW/VL/DQ) + VNNI dots. Integer blocks use vpdpbusd: u8 x s8 products summed in
// groups of 4 straight into int32 lanes, no int16 saturation. Two 32-element blocks share
// one 512-bit register; a trailing odd block uses the 256-bit form. Also the kernels of the
// interleaved layouts at this level: Q4_K_R8 (with interleaved_tiles.inc) and Q6_K_R8.
//
// Only intrinsics and plain C here: inline functions from shared headers would be compiled
// with these flags and could be picked by the linker for scalar callers.
// GCC 12 reports the deliberately undefined upper halves of _mm512_cast* as uninitialized.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cstdint>
#include <type_traits>
#include <utility>

#include "kernels/dot_kernels.h"
#include "kernels/kquant_scales.h"
#include "tensor/blocks.h"

namespace nexus::avx512 {
namespace {

float hsum256(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

float h2f(fp16_t h) { return _cvtsh_ss(h); }

__m256i load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
__m512i load512(const void* p) { return _mm512_loadu_si512(p); }

__m512i join(__m256i lo, __m256i hi) { return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1); }

// 16 floats: s0 in lanes 0-7 (first block), s1 in lanes 8-15 (second block).
__m512 scales2(float s0, float s1) {
  return _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_set1_ps(s0)), _mm256_set1_ps(s1), 1);
}

// Signed int8 w times signed int8 a (a in [-127, 127]), groups of 4 summed into int32.
// vpdpbusd wants the first operand unsigned: use |w| and move w's sign onto a.
__m512i dot_i8(__m512i w, __m512i a) {
  const __m512i neg_a = _mm512_mask_sub_epi8(a, _mm512_movepi8_mask(w), _mm512_setzero_si512(), a);
  return _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_abs_epi8(w), neg_a);
}
__m256i dot_i8(__m256i w, __m256i a) {
  return _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_sign_epi8(w, w), _mm256_sign_epi8(a, w));
}

}  // namespace

float dot_f32_f32(int n, const void* wv, const void* av) {
  const auto* w = static_cast<const float*>(wv);
  const auto* a = static_cast<const float*>(av);
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  int i = 0;
  for (; i + 32 <= n; i += 32) {
    acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i), _mm512_loadu_ps(a + i), acc0);
    acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i + 16), _mm512_loadu_ps(a + i + 16), acc1);
  }
  if (i < n) {  // masked tail, up to 31 elements
    const int r = n - i;
    const __mmask16 k0 = static_cast<__mmask16>(r >= 16 ? 0xFFFF : (1u << r) - 1);
    const __mmask16 k1 = static_cast<__mmask16>(r <= 16 ? 0 : (1u << (r - 16)) - 1);
    acc0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k0, w + i), _mm512_maskz_loadu_ps(k0, a + i), acc0);
    acc1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k1, w + i + 16), _mm512_maskz_loadu_ps(k1, a + i + 16), acc1);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

float dot_f16_f32(int n, const void* wv, const void* av) {
  const auto* w = static_cast<const uint16_t*>(wv);
  const auto* a = static_cast<const float*>(av);
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  int i = 0;
  for (; i + 32 <= n; i += 32) {
    acc0 = _mm512_fmadd_ps(_mm512_cvtph_ps(load256(w + i)), _mm512_loadu_ps(a + i), acc0);
    acc1 = _mm512_fmadd_ps(_mm512_cvtph_ps(load256(w + i + 16)), _mm512_loadu_ps(a + i + 16), acc1);
  }
  for (; i < n; i += 16) {
    const int r = n - i;
    const __mmask16 k = static_cast<__mmask16>(r >= 16 ? 0xFFFF : (1u << r) - 1);
    const __m512 wf = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(k, w + i));
    acc0 = _mm512_fmadd_ps(wf, _mm512_maskz_loadu_ps(k, a + i), acc0);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

float dot_bf16_f32(int n, const void* wv, const void* av) {
  const auto* w = static_cast<const uint16_t*>(wv);
  const auto* a = static_cast<const float*>(av);
  __m512 acc = _mm512_setzero_ps();
  for (int i = 0; i < n; i += 16) {
    const int r = n - i;
    const __mmask16 k = static_cast<__mmask16>(r >= 16 ? 0xFFFF : (1u << r) - 1);
    // bf16 is the top half of an f32: widen to 32 bits and shift into place.
    const __m512i wi = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(k, w + i));
    acc = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_slli_epi32(wi, 16)), _mm512_maskz_loadu_ps(k, a + i), acc);
  }
  return _mm512_reduce_add_ps(acc);
}

namespace {

// The 32-element block dots share one loop: values(b) gives block b's weights as 32 int8
// (signed) or uint8 (unsigned, for the _1 types whose offset is the separate min term).
// Blocks go two to a 512-bit register; an odd last block uses the 256-bit form.
template <bool kSigned, class W, class A, class Values>
float dot_blocks32(int nb, const W* w, const A* a, Values values) {
  __m512 acc = _mm512_setzero_ps();
  int b = 0;
  for (; b + 2 <= nb; b += 2) {
    const __m512i q = join(values(b), values(b + 1));
    const __m512i x = join(load256(a[b].qs), load256(a[b + 1].qs));
    const __m512i p = kSigned ? dot_i8(q, x) : _mm512_dpbusd_epi32(_mm512_setzero_si512(), q, x);
    const __m512 s = scales2(h2f(w[b].d) * h2f(a[b].d), h2f(w[b + 1].d) * h2f(a[b + 1].d));
    acc = _mm512_fmadd_ps(s, _mm512_cvtepi32_ps(p), acc);
  }
  float sum = _mm512_reduce_add_ps(acc);
  if (b < nb) {
    const __m256i q = values(b), x = load256(a[b].qs);
    const __m256i p = kSigned ? dot_i8(q, x) : _mm256_dpbusd_epi32(_mm256_setzero_si256(), q, x);
    sum += h2f(w[b].d) * h2f(a[b].d) * hsum256(_mm256_cvtepi32_ps(p));
  }
  return sum;
}

// The min term of the _1 types: sum_b m_b * s_b (s = d * sum of the block's activations).
template <class W>
float min_term(int nb, const W* w, const BlockQ8_1* a) {
  float s = 0.0f;
  for (int b = 0; b < nb; ++b) s += h2f(w[b].m) * h2f(a[b].s);
  return s;
}

// 32 unsigned nibbles of a 32-element block (low nibbles = elements 0-15, high = 16-31).
__m256i nibbles(const uint8_t* qs) {
  const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), _mm256_set1_epi8(0x0F));
}

// 5th bits: bit j of qh -> 0xFF in byte j.
__m256i high_bits(const uint8_t qh[4]) {
  uint32_t v;
  __builtin_memcpy(&v, qh, 4);
  return _mm256_movm_epi8(v);
}

}  // namespace

float dot_q4_0_q8_0(int n, const void* wv, const void* av) {
  const auto* w = static_cast<const BlockQ4_0*>(wv);
  return dot_blocks32<true>(n / kQK4_0, w, static_cast<const BlockQ8_0*>(av),
                            [&](int b) { return _mm256_sub_epi8(nibbles(w[b].qs), _mm256_set1_epi8(8)); });
}

float dot_q4_1_q8_1(int n, const void* wv, const void* av) {
  const auto* w = static_cast<const BlockQ4_1*>(wv);
  const auto* a = static_cast<const BlockQ8_1*>(av);
  return dot_blocks32<false>(n / kQK4_1, w, a, [&](int b) { return nibbles(w[b].qs); }) + min_term(n / kQK4_1, w, a);
}

// q - 16 in [-16, 15]: a clear 5th bit leaves nibble - 16, i.e. the nibble with 0xF0 set.
float dot_q5_0_q8_0(int n, const void* wv, const void* av) {
  const auto* w = static_cast<const BlockQ5_0*>(wv);
  return dot_blocks32<true>(n / kQK5_0, w, static_cast<const BlockQ8_0*>(av), [&](int b) {
    return _mm256_or_si256(nibbles(w[b].qs), _mm256_andnot_si256(high_bits(w[b].qh), _mm256_set1_epi8(char(0xF0))));
  });
}

float dot_q5_1_q8_1(int n, const void* wv, const void* av) {
  const auto* w = static_cast<const BlockQ5_1*>(wv);
  const auto* a = static_cast<const BlockQ8_1*>(av);
  return dot_blocks32<false>(n / kQK5_1, w, a, [&](int b) {
           return _mm256_or_si256(nibbles(w[b].qs), _mm256_and_si256(high_bits(w[b].qh), _mm256_set1_epi8(0x10)));
         }) +
         min_term(n / kQK5_1, w, a);
}

// x = d * sc_j * q - dmin * mn_j for sub-block j of 32, q 5 bits: the 5th bit of element l of
// sub-block j is bit j of qh[l].
float dot_q5_k_q8_k(int n, const void* wv, const void* av) {
  const auto* w = static_cast<const BlockQ5_K*>(wv);
  const auto* a = static_cast<const BlockQ8_K*>(av);
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  const __m256i one = _mm256_set1_epi8(1);
  __m512 acc = _mm512_setzero_ps();
  float mins = 0.0f;
  for (int b = 0; b < n / kQK_K; ++b) {
    uint8_t sc[8], mn[8];
    unpack_scales_k4_words(w[b].scales, sc, mn);
    int msum = 0;
    for (int j = 0; j < 8; ++j) msum += mn[j] * (a[b].bsums[2 * j] + a[b].bsums[2 * j + 1]);
    const __m256i qh = load256(w[b].qh);
    __m512i isum = _mm512_setzero_si512();
    for (int i = 0; i < 4; ++i) {
      const __m256i q = load256(w[b].qs + 32 * i);
      // 16-bit shifts are safe: only bit 0 of each byte is kept before moving it to bit 4
      const __m256i hlo = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * i), one), 4);
      const __m256i hhi = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * i + 1), one), 4);
      const __m512i qq = join(_mm256_or_si256(_mm256_and_si256(q, m4), hlo),
                              _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4), hhi));
      const __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), qq, load512(a[b].qs + 64 * i));
      const __m512i s = join(_mm256_set1_epi32(sc[2 * i]), _mm256_set1_epi32(sc[2 * i + 1]));
      isum = _mm512_add_epi32(isum, _mm512_mullo_epi32(p, s));
    }
    acc = _mm512_fmadd_ps(_mm512_set1_ps(a[b].d * h2f(w[b].d)), _mm512_cvtepi32_ps(isum), acc);
    mins += a[b].d * h2f(w[b].dmin) * static_cast<float>(msum);
  }
  return _mm512_reduce_add_ps(acc) - mins;
}

namespace {

#include "kernels/interleaved_tiles.inc"

// Q4_K_R8 with VNNI: vpdpbusd sums each row's 4 products straight into int32 (no int16 step,
// no pairing), and one vpmulld per sub-block and token applies the rows' scales.
struct VnniProducts {
  static __m256i zero() { return _mm256_setzero_si256(); }
  static __m256i add(__m256i acc, __m256i w, __m256i x) { return _mm256_dpbusd_epi32(acc, w, x); }
  static __m256i scale(__m256i acc, __m256i sc32) { return _mm256_mullo_epi32(acc, sc32); }
};

// Two adjacent groups of 8 rows (A, B) in the 16 lanes of 512-bit registers: each token's
// activation broadcast then serves 16 rows, and the 32 registers of AVX-512 hold all the
// accumulators of 8 tokens. Per lane the same integer sums and float steps as tile_q4_k_r8.
template <int T>
void tile_q4_k_r8_x2(int nb, const BlockQ4_Kx8* wa, const BlockQ4_Kx8* wb, const BlockQ8_K* const* a, float* y,
                     size_t ys) {
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  __m512 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
  for (int b = 0; b < nb; ++b) {
    const BlockQ4_Kx8& A = wa[b];
    const BlockQ4_Kx8& B = wb[b];
    prefetch_to_l2(wa, b);
    prefetch_to_l2(wb, b);
    const R8Scales sa = unpack_r8_scales(A), sb = unpack_r8_scales(B);
    __m512i isum[T];
    for (int t = 0; t < T; ++t) isum[t] = _mm512_setzero_si512();
    for (int s = 0; s < 8; ++s) {
      __m512i p[T];
      for (int t = 0; t < T; ++t) p[t] = _mm512_setzero_si512();
      for (int v = 0; v < 4; ++v) {
        const __m512i q = join(load256(A.qs[s][v]), load256(B.qs[s][v]));
        const __m512i lo = _mm512_and_si512(q, m4);
        const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
        for (int t = 0; t < T; ++t) {
          int32_t xl, xh;
          __builtin_memcpy(&xl, a[t][b].qs + 32 * s + 4 * v, 4);
          __builtin_memcpy(&xh, a[t][b].qs + 32 * s + 16 + 4 * v, 4);
          p[t] = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(p[t], lo, _mm512_set1_epi32(xl)), hi, _mm512_set1_epi32(xh));
        }
      }
      const __m128i sc8 = _mm_unpacklo_epi64(r8_bytes(sa.sc, s), r8_bytes(sb.sc, s));
      const __m512i sc32 = _mm512_cvtepu8_epi32(sc8);
      for (int t = 0; t < T; ++t) isum[t] = _mm512_add_epi32(isum[t], _mm512_mullo_epi32(p[t], sc32));
    }
    __m512i mnp[4];
    for (int j = 0; j < 4; ++j) {
      const auto pairs = [&](const R8Scales& g) {
        return _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(r8_bytes(g.mn, 2 * j), r8_bytes(g.mn, 2 * j + 1)));
      };
      mnp[j] = join(pairs(sa), pairs(sb));
    }
    const __m512 wd = _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(A.d)))),
                                         _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(B.d))), 1);
    const __m512 wmin = _mm512_insertf32x8(
        _mm512_castps256_ps512(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(A.dmin)))),
        _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(B.dmin))), 1);
    for (int t = 0; t < T; ++t) {
      const __m128i pairs = _mm_hadd_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a[t][b].bsums)),
                                           _mm_loadu_si128(reinterpret_cast<const __m128i*>(a[t][b].bsums + 8)));
      __m512i msum = _mm512_madd_epi16(mnp[0], _mm512_broadcastd_epi32(pairs));
      msum = _mm512_add_epi32(msum, _mm512_madd_epi16(mnp[1], _mm512_broadcastd_epi32(_mm_srli_si128(pairs, 4))));
      msum = _mm512_add_epi32(msum, _mm512_madd_epi16(mnp[2], _mm512_broadcastd_epi32(_mm_srli_si128(pairs, 8))));
      msum = _mm512_add_epi32(msum, _mm512_madd_epi16(mnp[3], _mm512_broadcastd_epi32(_mm_srli_si128(pairs, 12))));
      const __m512 v = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(msum), wmin, _mm512_mul_ps(_mm512_cvtepi32_ps(isum[t]), wd));
      acc[t] = _mm512_fmadd_ps(v, _mm512_set1_ps(a[t][b].d), acc[t]);
    }
  }
  for (int t = 0; t < T; ++t) _mm512_storeu_ps(y + t * ys, acc[t]);
}

// ---- Q6_K_R8 (BlockQ6_Kx8), the same scheme for 16-element sub-blocks with int8 scales.
// Weights are the unsigned q (0..63) as vpdpbusd wants them; the offset, 32 * sum_s sc_s *
// (bsum s), comes from the Q8_K bsums once per block (vpdpwssd against pairs of scales).

// The high 2 bits of sub-block 4q + J, from the quad's qh bytes, moved to bits 4-5 (the
// other bits are masked off by the caller). 16-bit shifts are safe: what crosses into a
// byte from its neighbour lands outside bits 4-5.
template <int J>
__m256i q6_high_bits(__m256i h) {
  return J == 0 ? _mm256_slli_epi16(h, 4) : J == 1 ? _mm256_slli_epi16(h, 2) : J == 2 ? h : _mm256_srli_epi16(h, 2);
}
template <int J>
__m512i q6_high_bits(__m512i h) {
  return J == 0 ? _mm512_slli_epi16(h, 4) : J == 1 ? _mm512_slli_epi16(h, 2) : J == 2 ? h : _mm512_srli_epi16(h, 2);
}

int32_t load_i32(const void* p) {
  int32_t v;
  __builtin_memcpy(&v, p, 4);
  return v;
}

// The 8 rows' scales of sub-block s, or of the pair (s, s + 1) as int16 lane pairs.
__m128i r8_scales(const BlockQ6_Kx8& g, int s) { return _mm_loadl_epi64(reinterpret_cast<const __m128i*>(g.scales[s])); }
__m256i r8_scale_pairs(const BlockQ6_Kx8& g, int s) {
  return _mm256_cvtepi8_epi16(_mm_unpacklo_epi8(r8_scales(g, s), r8_scales(g, s + 1)));
}

// One group of 8 rows in 256-bit lanes (one token, and a last odd group).
template <int T>
void tile_q6_k_r8(int nb, const BlockQ6_Kx8* w, const BlockQ8_K* const* a, float* y, size_t ys) {
  const __m256i m4 = _mm256_set1_epi8(0x0F), m30 = _mm256_set1_epi8(0x30);
  __m256 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = _mm256_setzero_ps();
  for (int b = 0; b < nb; ++b) {
    const BlockQ6_Kx8& g = w[b];
    prefetch_to_l2(w, b);  // for one token too (39 -> 46 G multiply-adds/s)
    __m256i isum[T], p[T];
    for (int t = 0; t < T; ++t) isum[t] = _mm256_setzero_si256();
    const auto sub_block = [&](auto s_const) {
      constexpr int s = decltype(s_const)::value;
      for (int t = 0; t < T; ++t) p[t] = _mm256_setzero_si256();
      for (int v = 0; v < 4; ++v) {
        const __m256i l = load256(g.quad[s / 4].ql[(s / 2) % 2][v]);
        const __m256i low = s % 2 ? _mm256_and_si256(_mm256_srli_epi16(l, 4), m4) : _mm256_and_si256(l, m4);
        const __m256i q = _mm256_ternarylogic_epi32(low, q6_high_bits<s % 4>(load256(g.quad[s / 4].qh[v])), m30, 0xF8);
        for (int t = 0; t < T; ++t)
          p[t] = _mm256_dpbusd_epi32(p[t], q, _mm256_set1_epi32(load_i32(a[t][b].qs + 16 * s + 4 * v)));
      }
      const __m256i sc = _mm256_cvtepi8_epi32(r8_scales(g, s));
      for (int t = 0; t < T; ++t) isum[t] = _mm256_add_epi32(isum[t], _mm256_mullo_epi32(p[t], sc));
    };
    [&]<int... S>(std::integer_sequence<int, S...>) {
      (sub_block(std::integral_constant<int, S>{}), ...);
    }(std::make_integer_sequence<int, 16>{});
    for (int t = 0; t < T; ++t) p[t] = _mm256_setzero_si256();
    for (int j = 0; j < 8; ++j) {
      const __m256i sp = r8_scale_pairs(g, 2 * j);
      for (int t = 0; t < T; ++t) p[t] = _mm256_dpwssd_epi32(p[t], sp, _mm256_set1_epi32(load_i32(a[t][b].bsums + 2 * j)));
    }
    const __m256 wd = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(g.d)));
    for (int t = 0; t < T; ++t) {
      const __m256i total = _mm256_sub_epi32(isum[t], _mm256_slli_epi32(p[t], 5));
      acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_set1_ps(a[t][b].d), wd), _mm256_cvtepi32_ps(total), acc[t]);
    }
  }
  for (int t = 0; t < T; ++t) _mm256_storeu_ps(y + t * ys, acc[t]);
}

// Two adjacent groups (16 rows) in 512-bit lanes, as tile_q4_k_r8_x2.
template <int T>
void tile_q6_k_r8_x2(int nb, const BlockQ6_Kx8* wa, const BlockQ6_Kx8* wb, const BlockQ8_K* const* a, float* y,
                     size_t ys) {
  const __m512i m4 = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
  __m512 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
  for (int b = 0; b < nb; ++b) {
    const BlockQ6_Kx8& A = wa[b];
    const BlockQ6_Kx8& B = wb[b];
    prefetch_to_l2(wa, b);
    prefetch_to_l2(wb, b);
    __m512i isum[T], p[T];
    for (int t = 0; t < T; ++t) isum[t] = _mm512_setzero_si512();
    const auto sub_block = [&](auto s_const) {
      constexpr int s = decltype(s_const)::value;
      for (int t = 0; t < T; ++t) p[t] = _mm512_setzero_si512();
      for (int v = 0; v < 4; ++v) {
        const __m512i l = join(load256(A.quad[s / 4].ql[(s / 2) % 2][v]), load256(B.quad[s / 4].ql[(s / 2) % 2][v]));
        const __m512i low = s % 2 ? _mm512_and_si512(_mm512_srli_epi16(l, 4), m4) : _mm512_and_si512(l, m4);
        const __m512i h = join(load256(A.quad[s / 4].qh[v]), load256(B.quad[s / 4].qh[v]));
        const __m512i q = _mm512_ternarylogic_epi32(low, q6_high_bits<s % 4>(h), m30, 0xF8);
        for (int t = 0; t < T; ++t)
          p[t] = _mm512_dpbusd_epi32(p[t], q, _mm512_set1_epi32(load_i32(a[t][b].qs + 16 * s + 4 * v)));
      }
      const __m512i sc = _mm512_cvtepi8_epi32(_mm_unpacklo_epi64(r8_scales(A, s), r8_scales(B, s)));
      for (int t = 0; t < T; ++t) isum[t] = _mm512_add_epi32(isum[t], _mm512_mullo_epi32(p[t], sc));
    };
    [&]<int... S>(std::integer_sequence<int, S...>) {
      (sub_block(std::integral_constant<int, S>{}), ...);
    }(std::make_integer_sequence<int, 16>{});
    for (int t = 0; t < T; ++t) p[t] = _mm512_setzero_si512();
    for (int j = 0; j < 8; ++j) {
      const __m512i sp = join(r8_scale_pairs(A, 2 * j), r8_scale_pairs(B, 2 * j));
      for (int t = 0; t < T; ++t) p[t] = _mm512_dpwssd_epi32(p[t], sp, _mm512_set1_epi32(load_i32(a[t][b].bsums + 2 * j)));
    }
    const __m512 wd = _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(A.d)))),
                                         _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(B.d))), 1);
    for (int t = 0; t < T; ++t) {
      const __m512i total = _mm512_sub_epi32(isum[t], _mm512_slli_epi32(p[t], 5));
      acc[t] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_set1_ps(a[t][b].d), wd), _mm512_cvtepi32_ps(total), acc[t]);
    }
  }
  for (int t = 0; t < T; ++t) _mm512_storeu_ps(y + t * ys, acc[t]);
}

// The GemmFn of an interleaved layout at this level: batches take pairs of groups
// (Tiles::pair) while two are left; one token, and a last odd group, the 8-row tile
// (Tiles::single), which was faster for one token: Q4_K_R8's one stream 52-58 t/s against
// 45-47 with pairs, while 8 streams rose from 149-161 to 166-182 t/s with them (bench/NOTES.md
// section 11); Q6_K_R8's one-token DRAM matmul 35 against 31 GB/s (section 12).
template <class Group, class Tiles>
void paired_gemm(int n, const void* w, size_t w_stride, int n_rows, const void* a, size_t a_stride, int n_tok,
                 float* y, size_t y_stride) {
  interleaved_gemm<Group>(n, w, w_stride, n_rows, a, a_stride, n_tok, y, y_stride,
                          [](auto tok, int nb, const Group* wg, int left_groups, const BlockQ8_K* const* at, float* yg,
                             size_t ys) {
                            constexpr int T = decltype(tok)::value;
                            if (T >= 2 && left_groups >= 2) {
                              Tiles::template pair<T>(nb, wg, wg + nb, at, yg, ys);
                              return 2;
                            }
                            Tiles::template single<T>(nb, wg, at, yg, ys);
                            return 1;
                          });
}

struct Q4KR8Tiles {
  template <int T>
  static void pair(int nb, const BlockQ4_Kx8* wa, const BlockQ4_Kx8* wb, const BlockQ8_K* const* a, float* y, size_t ys) {
    tile_q4_k_r8_x2<T>(nb, wa, wb, a, y, ys);
  }
  template <int T>
  static void single(int nb, const BlockQ4_Kx8* w, const BlockQ8_K* const* a, float* y, size_t ys) {
    tile_q4_k_r8<VnniProducts, T>(nb, w, a, y, ys);
  }
};

struct Q6KR8Tiles {
  template <int T>
  static void pair(int nb, const BlockQ6_Kx8* wa, const BlockQ6_Kx8* wb, const BlockQ8_K* const* a, float* y, size_t ys) {
    tile_q6_k_r8_x2<T>(nb, wa, wb, a, y, ys);
  }
  template <int T>
  static void single(int nb, const BlockQ6_Kx8* w, const BlockQ8_K* const* a, float* y, size_t ys) {
    tile_q6_k_r8<T>(nb, w, a, y, ys);
  }
};

}  // namespace

void gemm_q4_k_r8_q8_k(int n, const void* w, size_t w_stride, int n_rows, const void* a, size_t a_stride, int n_tok,
                       float* y, size_t y_stride) {
  paired_gemm<BlockQ4_Kx8, Q4KR8Tiles>(n, w, w_stride, n_rows, a, a_stride, n_tok, y, y_stride);
}

void gemm_q6_k_r8_q8_k(int n, const void* w, size_t w_stride, int n_rows, const void* a, size_t a_stride, int n_tok,
                       float* y, size_t y_stride) {
  paired_gemm<BlockQ6_Kx8, Q6KR8Tiles>(n, w, w_stride, n_rows, a, a_stride, n_tok, y, y_stride);
}

}  // namespace nexus::avx512
