// The k-quant formats: 256-element super-blocks split into sub-blocks of 16 or 32 with their
// own small integer scales (and mins), themselves scaled by one or two fp16 numbers per
// super-block. Layouts are in tensor/blocks.h; the bit positions noted here are what makes
// the files byte-compatible with GGUF.
#include <cmath>
#include <cstring>

#include "tensor/blocks.h"
#include "tensor/quants_internal.h"
#include "util/fp16.h"

namespace nexus::quants {
namespace {

inline int clamp_int(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }

// Q4_K / Q5_K pack eight 6-bit scales and eight 6-bit mins into 12 bytes: sub-blocks 0-3
// keep both in the low 6 bits of bytes 0-3 (scale) and 4-7 (min); sub-blocks 4-7 keep their
// low 4 bits in the nibbles of bytes 8-11 and their top 2 bits in bits 6-7 of bytes 0-7.
inline void get_scale_min_k4(int j, const uint8_t* q, int* sc, int* m) {
  if (j < 4) {
    *sc = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *sc = (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

inline void put_scale_min_k4(const uint8_t ls[8], const uint8_t lm[8], uint8_t* q) {
  std::memset(q, 0, kKScaleSize);
  for (int j = 0; j < 8; ++j) {
    if (j < 4) {
      q[j] = ls[j];
      q[j + 4] = lm[j];
    } else {
      q[j + 4] = static_cast<uint8_t>((ls[j] & 0x0f) | ((lm[j] & 0x0f) << 4));
      q[j - 4] |= static_cast<uint8_t>((ls[j] >> 4) << 6);
      q[j] |= static_cast<uint8_t>((lm[j] >> 4) << 6);
    }
  }
}

// Q3_K packs sixteen 6-bit scales (stored +32) in 12 bytes: low nibbles of scales 0-7 in the
// low nibbles of bytes 0-7, of scales 8-15 in the high nibbles of bytes 0-7; the top 2 bits
// of scale i sit in byte 8 + i % 4 at bit 2 * (i / 4).
inline int get_scale_q3_k(int i, const uint8_t* q) {
  const int low = i < 8 ? (q[i] & 0x0f) : (q[i - 8] >> 4);
  const int high = (q[8 + i % 4] >> (2 * (i / 4))) & 3;
  return (low | (high << 4)) - 32;
}

inline void put_scales_q3_k(const int8_t sc[16], uint8_t* q) {
  std::memset(q, 0, 12);
  for (int i = 0; i < 16; ++i) {
    const int l = sc[i] + 32;  // 0..63
    if (i < 8)
      q[i] |= static_cast<uint8_t>(l & 0x0f);
    else
      q[i - 8] |= static_cast<uint8_t>((l & 0x0f) << 4);
    q[8 + i % 4] |= static_cast<uint8_t>((l >> 4) << (2 * (i / 4)));
  }
}

// Where element e (0..255) of a super-block lives, for the formats that spread 2-bit fields
// over bytes: Q2_K / Q3_K low bits are in qs[32 * (e / 128) + e % 32] at bit
// 2 * ((e / 32) % 4); Q3_K's high bit and Q5_K's fifth bit are in byte e % 32 at bit e / 32.
inline int q2_byte(int e) { return 32 * (e / 128) + e % 32; }
inline int q2_shift(int e) { return 2 * ((e / 32) % 4); }
// Q4_K / Q5_K nibbles: element e is in qs[32 * (e / 64) + e % 32], high nibble when
// (e / 32) is odd.
inline int q4_byte(int e) { return 32 * (e / 64) + e % 32; }
inline int q4_shift(int e) { return ((e / 32) & 1) * 4; }

// Per-element error weights used when the caller gives no importance. The choices follow
// what works for each format: large values matter more, but with a floor so small values are
// not ignored.
// Copy of one super-block with non-finite values replaced by 0, so the searches below can
// use fast rounding without undefined float->int conversions on hostile input.
inline const float* sanitized(const float* x, float* buf) {
  for (int i = 0; i < kQK_K; ++i) buf[i] = std::isfinite(x[i]) ? x[i] : 0.0f;
  return buf;
}

enum class WeightKind { kAbs, kSquare, kRmsPlusAbs };

void make_weights(const float* x, const float* importance, WeightKind kind, float* w) {
  double sumsq = 0;
  for (int i = 0; i < kQK_K; ++i) sumsq += static_cast<double>(x[i]) * x[i];
  const float rms = static_cast<float>(std::sqrt(sumsq / kQK_K));
  for (int i = 0; i < kQK_K; ++i) {
    float v = 0;
    switch (kind) {
      case WeightKind::kAbs: v = std::fabs(x[i]) + 0.1f * rms; break;
      case WeightKind::kSquare: v = x[i] * x[i] + 0.01f * rms * rms; break;
      case WeightKind::kRmsPlusAbs: v = rms + std::fabs(x[i]); break;
    }
    if (importance) v *= importance[i];
    w[i] = std::isfinite(v) ? v : 0.0f;
  }
}

// Affine sub-block fit for Q2_K / Q4_K / Q5_K: per sub-block scales and mins found by
// fit_affine, then quantized to `scale_bits` against two fp16 super-block factors, and the
// levels re-rounded against the scales actually stored.
struct AffineSuper {
  float d = 0, dmin = 0;
  uint8_t ls[16] = {}, lm[16] = {};
  uint8_t L[kQK_K] = {};
};

void quantize_affine_super(const float* x, const float* w, int sub, int nmax, int scale_max,
                           AffineSuper* out) {
  const int nsub = kQK_K / sub;
  float scales[16], mins[16];
  float max_scale = 0, max_min = 0;
  for (int j = 0; j < nsub; ++j) {
    float off;
    scales[j] = fit_affine(sub, nmax, x + j * sub, w + j * sub, out->L + j * sub, &off);
    mins[j] = -off;
    max_scale = std::fmax(max_scale, scales[j]);
    max_min = std::fmax(max_min, mins[j]);
  }
  const fp16_t dh = f32_to_fp16(max_scale / static_cast<float>(scale_max));
  const fp16_t mh = f32_to_fp16(max_min / static_cast<float>(scale_max));
  out->d = fp16_to_f32(dh);
  out->dmin = fp16_to_f32(mh);
  const float inv_d = out->d > 0 ? 1.0f / out->d : 0.0f;
  const float inv_m = out->dmin > 0 ? 1.0f / out->dmin : 0.0f;
  for (int j = 0; j < nsub; ++j) {
    out->ls[j] = static_cast<uint8_t>(clamp_int(nearest_int(scales[j] * inv_d), 0, scale_max));
    out->lm[j] = static_cast<uint8_t>(clamp_int(nearest_int(mins[j] * inv_m), 0, scale_max));
  }
  auto relevel = [&](float d, float dmin, uint8_t* L) {
    double err = 0;
    for (int j = 0; j < nsub; ++j) {
      const float sc = d * out->ls[j];
      const float m = dmin * out->lm[j];
      for (int i = 0; i < sub; ++i) {
        const int e = j * sub + i;
        L[e] = sc > 0 ? static_cast<uint8_t>(clamp_int(nearest_int((x[e] + m) / sc), 0, nmax)) : 0;
        const float diff = sc * L[e] - m - x[e];
        err += static_cast<double>(w[e]) * diff * diff;
      }
    }
    return err;
  };
  double err = relevel(out->d, out->dmin, out->L);

  // With the small integer scales fixed, the two fp16 factors are a 2-parameter weighted
  // least-squares problem, x ~= d * (ls * L) - dmin * lm; refitting them recovers part of
  // what rounding the sub-block scales to 6 (or 4) bits lost.
  for (int iter = 0; iter < 2; ++iter) {
    double aa = 0, ab = 0, bb = 0, ax = 0, bx = 0;
    for (int e = 0; e < kQK_K; ++e) {
      const double a = static_cast<double>(out->ls[e / sub]) * out->L[e];
      const double b = -static_cast<double>(out->lm[e / sub]);
      aa += w[e] * a * a;
      ab += w[e] * a * b;
      bb += w[e] * b * b;
      ax += w[e] * a * x[e];
      bx += w[e] * b * x[e];
    }
    double d, m;
    const double det = aa * bb - ab * ab;
    if (bb > 0 && det > 1e-12 * aa * bb) {
      d = (bb * ax - ab * bx) / det;
      m = (aa * bx - ab * ax) / det;
    } else {
      d = aa > 0 ? ax / aa : 0;
      m = out->dmin;
    }
    if (!(d > 0) || !(m >= 0)) break;
    const float dq = fp16_to_f32(f32_to_fp16(static_cast<float>(d)));
    const float mq = fp16_to_f32(f32_to_fp16(static_cast<float>(m)));
    uint8_t L2[kQK_K];
    const double err2 = relevel(dq, mq, L2);
    if (!(err2 < err)) break;
    err = err2;
    out->d = dq;
    out->dmin = mq;
    std::memcpy(out->L, L2, sizeof(L2));
  }
}

// Symmetric sub-block fit for Q3_K / Q6_K: signed per sub-block scales quantized to
// [-scale_neg, scale_neg - 1] against one fp16 factor; returns levels biased by +nneg.
struct SymSuper {
  float d = 0;
  int8_t ls[16] = {};
  uint8_t L[kQK_K] = {};
};

void quantize_symmetric_super(const float* x, const float* w, int nneg, int scale_neg, SymSuper* out) {
  constexpr int kSub = 16;
  float scales[16];
  float amax = 0, max = 0;
  for (int j = 0; j < 16; ++j) {
    scales[j] = fit_symmetric(kSub, nneg, x + j * kSub, w + j * kSub, out->L + j * kSub);
    if (std::fabs(scales[j]) > amax) {
      amax = std::fabs(scales[j]);
      max = scales[j];
    }
  }
  // The largest sub-block scale maps to -scale_neg, using the full signed range.
  const fp16_t dh = f32_to_fp16(max / static_cast<float>(-scale_neg));
  out->d = fp16_to_f32(dh);
  const float inv_d = out->d != 0 ? 1.0f / out->d : 0.0f;
  for (int j = 0; j < 16; ++j)
    out->ls[j] = static_cast<int8_t>(clamp_int(nearest_int(scales[j] * inv_d), -scale_neg, scale_neg - 1));
  auto relevel = [&](float d, uint8_t* L) {
    double err = 0;
    for (int j = 0; j < 16; ++j) {
      const float sc = d * out->ls[j];
      for (int i = 0; i < kSub; ++i) {
        const int e = j * kSub + i;
        const int q = sc != 0 ? clamp_int(nearest_int(x[e] / sc), -nneg, nneg - 1) : 0;
        L[e] = static_cast<uint8_t>(q + nneg);
        const float diff = sc * q - x[e];
        err += static_cast<double>(w[e]) * diff * diff;
      }
    }
    return err;
  };
  double err = relevel(out->d, out->L);
  // Refit the one fp16 factor with the integer scales and levels fixed (see the affine case).
  for (int iter = 0; iter < 2; ++iter) {
    double aa = 0, ax = 0;
    for (int e = 0; e < kQK_K; ++e) {
      const double a = static_cast<double>(out->ls[e / kSub]) * (out->L[e] - nneg);
      aa += w[e] * a * a;
      ax += w[e] * a * x[e];
    }
    if (!(aa > 0)) break;
    const float dq = fp16_to_f32(f32_to_fp16(static_cast<float>(ax / aa)));
    uint8_t L2[kQK_K];
    const double err2 = relevel(dq, L2);
    if (!(err2 < err)) break;
    err = err2;
    out->d = dq;
    std::memcpy(out->L, L2, sizeof(L2));
  }
}

}  // namespace

// ---- Q2_K: x = d * (scale & 15) * q - dmin * (scale >> 4), q 2 bits, 16 sub-blocks of 16.

void dequantize_row_q2_k(const void* vx, float* y, int64_t n) {
  const auto* b = static_cast<const BlockQ2_K*>(vx);
  for (int64_t i = 0; i < n / kQK_K; ++i, y += kQK_K) {
    const float d = fp16_to_f32(b[i].d);
    const float dmin = fp16_to_f32(b[i].dmin);
    for (int e = 0; e < kQK_K; ++e) {
      const uint8_t sc = b[i].scales[e / 16];
      const int q = (b[i].qs[q2_byte(e)] >> q2_shift(e)) & 3;
      y[e] = d * static_cast<float>(sc & 0x0f) * static_cast<float>(q) - dmin * static_cast<float>(sc >> 4);
    }
  }
}

void quantize_row_q2_k(const float* x, void* vy, int64_t n, const float* importance) {
  auto* b = static_cast<BlockQ2_K*>(vy);
  float w[kQK_K], buf[kQK_K];
  AffineSuper s;
  for (int64_t i = 0; i < n / kQK_K; ++i, x += kQK_K) {
    const float* xs = sanitized(x, buf);
    make_weights(xs, importance ? importance + i * kQK_K : nullptr, WeightKind::kAbs, w);
    quantize_affine_super(xs, w, 16, 3, 15, &s);
    b[i].d = f32_to_fp16(s.d);
    b[i].dmin = f32_to_fp16(s.dmin);
    for (int j = 0; j < 16; ++j) b[i].scales[j] = static_cast<uint8_t>(s.ls[j] | (s.lm[j] << 4));
    std::memset(b[i].qs, 0, sizeof(b[i].qs));
    for (int e = 0; e < kQK_K; ++e) b[i].qs[q2_byte(e)] |= static_cast<uint8_t>(s.L[e] << q2_shift(e));
  }
}

// ---- Q3_K: x = d * (scale - 32) * (q - 4), q 3 bits (2 in qs, 1 in hmask), 16 sub-blocks.

void dequantize_row_q3_k(const void* vx, float* y, int64_t n) {
  const auto* b = static_cast<const BlockQ3_K*>(vx);
  for (int64_t i = 0; i < n / kQK_K; ++i, y += kQK_K) {
    const float d = fp16_to_f32(b[i].d);
    int sc[16];
    for (int j = 0; j < 16; ++j) sc[j] = get_scale_q3_k(j, b[i].scales);
    for (int e = 0; e < kQK_K; ++e) {
      const int low = (b[i].qs[q2_byte(e)] >> q2_shift(e)) & 3;
      const int high = (b[i].hmask[e % 32] >> (e / 32)) & 1;
      // A clear high bit means "subtract 4": q - 4 with q = low | high << 2.
      y[e] = d * static_cast<float>(sc[e / 16]) * static_cast<float>(low - (high ? 0 : 4));
    }
  }
}

void quantize_row_q3_k(const float* x, void* vy, int64_t n, const float* importance) {
  auto* b = static_cast<BlockQ3_K*>(vy);
  float w[kQK_K], buf[kQK_K];
  SymSuper s;
  for (int64_t i = 0; i < n / kQK_K; ++i, x += kQK_K) {
    const float* xs = sanitized(x, buf);
    make_weights(xs, importance ? importance + i * kQK_K : nullptr, WeightKind::kSquare, w);
    quantize_symmetric_super(xs, w, 4, 32, &s);
    b[i].d = f32_to_fp16(s.d);
    put_scales_q3_k(s.ls, b[i].scales);
    std::memset(b[i].qs, 0, sizeof(b[i].qs));
    std::memset(b[i].hmask, 0, sizeof(b[i].hmask));
    for (int e = 0; e < kQK_K; ++e) {
      const int l = s.L[e];  // 0..7
      b[i].qs[q2_byte(e)] |= static_cast<uint8_t>((l & 3) << q2_shift(e));
      b[i].hmask[e % 32] |= static_cast<uint8_t>((l >> 2) << (e / 32));
    }
  }
}

// ---- Q4_K: x = d * scale * q - dmin * min, q 4 bits, 8 sub-blocks of 32, 6-bit scale/min.
// ---- Q5_K: as Q4_K with a fifth bit per element in qh.
// Both share one implementation; kHasQh selects the fifth bit.

namespace {

template <typename Block, bool kHasQh>
void dequantize_row_affine_k(const void* vx, float* y, int64_t n) {
  const auto* b = static_cast<const Block*>(vx);
  for (int64_t i = 0; i < n / kQK_K; ++i, y += kQK_K) {
    const float d = fp16_to_f32(b[i].d);
    const float dmin = fp16_to_f32(b[i].dmin);
    for (int j = 0; j < 8; ++j) {
      int sc, m;
      get_scale_min_k4(j, b[i].scales, &sc, &m);
      const float d1 = d * static_cast<float>(sc), m1 = dmin * static_cast<float>(m);
      for (int l = 0; l < 32; ++l) {
        const int e = j * 32 + l;
        int q = (b[i].qs[q4_byte(e)] >> q4_shift(e)) & 0x0f;
        if constexpr (kHasQh) q |= ((b[i].qh[l] >> j) & 1) << 4;
        y[e] = d1 * static_cast<float>(q) - m1;
      }
    }
  }
}

template <typename Block, bool kHasQh>
void quantize_row_affine_k(const float* x, void* vy, int64_t n, const float* importance) {
  auto* b = static_cast<Block*>(vy);
  float w[kQK_K], buf[kQK_K];
  AffineSuper s;
  for (int64_t i = 0; i < n / kQK_K; ++i, x += kQK_K) {
    const float* xs = sanitized(x, buf);
    make_weights(xs, importance ? importance + i * kQK_K : nullptr, WeightKind::kRmsPlusAbs, w);
    quantize_affine_super(xs, w, 32, kHasQh ? 31 : 15, 63, &s);
    b[i].d = f32_to_fp16(s.d);
    b[i].dmin = f32_to_fp16(s.dmin);
    put_scale_min_k4(s.ls, s.lm, b[i].scales);
    std::memset(b[i].qs, 0, sizeof(b[i].qs));
    if constexpr (kHasQh) std::memset(b[i].qh, 0, sizeof(b[i].qh));
    for (int e = 0; e < kQK_K; ++e) {
      b[i].qs[q4_byte(e)] |= static_cast<uint8_t>((s.L[e] & 0x0f) << q4_shift(e));
      if constexpr (kHasQh) b[i].qh[e % 32] |= static_cast<uint8_t>((s.L[e] >> 4) << (e / 32));
    }
  }
}

}  // namespace

void dequantize_row_q4_k(const void* vx, float* y, int64_t n) {
  dequantize_row_affine_k<BlockQ4_K, false>(vx, y, n);
}

void quantize_row_q4_k(const float* x, void* vy, int64_t n, const float* importance) {
  quantize_row_affine_k<BlockQ4_K, false>(x, vy, n, importance);
}

void dequantize_row_q5_k(const void* vx, float* y, int64_t n) {
  dequantize_row_affine_k<BlockQ5_K, true>(vx, y, n);
}

void quantize_row_q5_k(const float* x, void* vy, int64_t n, const float* importance) {
  quantize_row_affine_k<BlockQ5_K, true>(x, vy, n, importance);
}

// ---- Q6_K: x = d * scale * (q - 32), q 6 bits, 16 sub-blocks of 16 with int8 scales.
// Each half of 128 elements uses 64 bytes of ql and 32 of qh: element h*128 + k*32 + l
// (k = 0..3, l = 0..31) has its low nibble in ql[h*64 + (k & 1) * 32 + l] (high nibble when
// k >= 2) and its top 2 bits in qh[h*32 + l] at bit 2k.

namespace {
inline int q6_ql_byte(int e) { return 64 * (e / 128) + ((e / 32) & 1) * 32 + e % 32; }
inline int q6_ql_shift(int e) { return ((e % 128) / 64) * 4; }
inline int q6_qh_byte(int e) { return 32 * (e / 128) + e % 32; }
inline int q6_qh_shift(int e) { return 2 * ((e % 128) / 32); }
}  // namespace

void dequantize_row_q6_k(const void* vx, float* y, int64_t n) {
  const auto* b = static_cast<const BlockQ6_K*>(vx);
  for (int64_t i = 0; i < n / kQK_K; ++i, y += kQK_K) {
    const float d = fp16_to_f32(b[i].d);
    for (int e = 0; e < kQK_K; ++e) {
      const int lo = (b[i].ql[q6_ql_byte(e)] >> q6_ql_shift(e)) & 0x0f;
      const int hi = (b[i].qh[q6_qh_byte(e)] >> q6_qh_shift(e)) & 3;
      y[e] = d * static_cast<float>(b[i].scales[e / 16]) * static_cast<float>((lo | (hi << 4)) - 32);
    }
  }
}

void quantize_row_q6_k(const float* x, void* vy, int64_t n, const float* importance) {
  auto* b = static_cast<BlockQ6_K*>(vy);
  float w[kQK_K], buf[kQK_K];
  SymSuper s;
  for (int64_t i = 0; i < n / kQK_K; ++i, x += kQK_K) {
    const float* xs = sanitized(x, buf);
    make_weights(xs, importance ? importance + i * kQK_K : nullptr, WeightKind::kSquare, w);
    quantize_symmetric_super(xs, w, 32, 128, &s);
    b[i].d = f32_to_fp16(s.d);
    for (int j = 0; j < 16; ++j) b[i].scales[j] = s.ls[j];
    std::memset(b[i].ql, 0, sizeof(b[i].ql));
    std::memset(b[i].qh, 0, sizeof(b[i].qh));
    for (int e = 0; e < kQK_K; ++e) {
      b[i].ql[q6_ql_byte(e)] |= static_cast<uint8_t>((s.L[e] & 0x0f) << q6_ql_shift(e));
      b[i].qh[q6_qh_byte(e)] |= static_cast<uint8_t>((s.L[e] >> 4) << q6_qh_shift(e));
    }
  }
}

// ---- Q8_K: activation format, x = d * q with a float d and bsums of each 16 q.

void dequantize_row_q8_k(const void* vx, float* y, int64_t n) {
  const auto* b = static_cast<const BlockQ8_K*>(vx);
  for (int64_t i = 0; i < n / kQK_K; ++i, y += kQK_K)
    for (int e = 0; e < kQK_K; ++e) y[e] = b[i].d * static_cast<float>(b[i].qs[e]);
}

void quantize_row_q8_k(const float* x, void* vy, int64_t n) {
  auto* b = static_cast<BlockQ8_K*>(vy);
  for (int64_t i = 0; i < n / kQK_K; ++i, x += kQK_K) {
    float amax = 0;
    for (int e = 0; e < kQK_K; ++e) amax = std::fmax(amax, std::fabs(x[e]));
    if (!std::isfinite(amax)) amax = 0;
    const float d = amax / 127.0f;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    b[i].d = d;
    for (int e = 0; e < kQK_K; ++e)
      b[i].qs[e] = static_cast<int8_t>(clamp_int(nearest_int(x[e] * id), -127, 127));
    for (int j = 0; j < kQK_K / 16; ++j) {
      int sum = 0;
      for (int l = 0; l < 16; ++l) sum += b[i].qs[j * 16 + l];
      b[i].bsums[j] = static_cast<int16_t>(sum);
    }
  }
}

}  // namespace nexus::quants
