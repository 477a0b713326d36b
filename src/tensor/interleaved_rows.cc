#include "tensor/interleaved_rows.h"

#include <cstring>

#include "tensor/blocks.h"

namespace nexus {

void interleave_q4_k_r8(const void* rows8, int64_t cols, void* out) {
  const int64_t nb = cols / kQK_K;
  const auto* src = static_cast<const BlockQ4_K*>(rows8);
  auto* dst = static_cast<BlockQ4_Kx8*>(out);
  for (int64_t b = 0; b < nb; ++b) {
    BlockQ4_Kx8& o = dst[b];
    for (int r = 0; r < 8; ++r) {
      const BlockQ4_K& w = src[r * nb + b];
      o.d[r] = w.d;
      o.dmin[r] = w.dmin;
      for (int j = 0; j < kKScaleSize; ++j) o.scales[j][r] = w.scales[j];
      // sub-block s is the low (even s) or high (odd s) nibbles of qs[32 (s / 2) ..]; four
      // bytes at a time (a model's worth of this runs at load)
      for (int s = 0; s < 8; ++s) {
        const uint8_t* q = w.qs + 32 * (s / 2);
        const int shift = 4 * (s % 2);
        for (int v = 0; v < 4; ++v) {
          uint32_t lo, hi;
          std::memcpy(&lo, q + 4 * v, 4);
          std::memcpy(&hi, q + 16 + 4 * v, 4);
          const uint32_t packed = ((lo >> shift) & 0x0F0F0F0Fu) | (((hi >> shift) & 0x0F0F0F0Fu) << 4);
          std::memcpy(&o.qs[s][v][4 * r], &packed, 4);
        }
      }
    }
  }
}

void q4_k_r8_row(const void* group, int64_t cols, int r, void* out_row) {
  const int64_t nb = cols / kQK_K;
  const auto* src = static_cast<const BlockQ4_Kx8*>(group);
  auto* dst = static_cast<BlockQ4_K*>(out_row);
  for (int64_t b = 0; b < nb; ++b) {
    const BlockQ4_Kx8& g = src[b];
    BlockQ4_K& w = dst[b];
    w.d = g.d[r];
    w.dmin = g.dmin[r];
    for (int j = 0; j < kKScaleSize; ++j) w.scales[j] = g.scales[j][r];
    for (int s = 0; s < 8; ++s) {
      uint8_t* q = w.qs + 32 * (s / 2);
      const int shift = 4 * (s % 2);
      for (int v = 0; v < 4; ++v)
        for (int i = 0; i < 4; ++i) {
          const uint8_t x = g.qs[s][v][4 * r + i];
          const uint8_t keep = shift ? 0x0F : 0xF0;  // the other sub-block's nibble
          q[4 * v + i] = static_cast<uint8_t>((q[4 * v + i] & keep) | ((x & 0xF) << shift));
          q[16 + 4 * v + i] = static_cast<uint8_t>((q[16 + 4 * v + i] & keep) | ((x >> 4) << shift));
        }
    }
  }
}

namespace {

// Where the bits of Q6_K weight e of a block live (tensor/blocks.h): per 128-element half h,
// element 32k + l has its low 4 bits in ql[64h + 32 (k % 2) + l] (the high nibble for
// k >= 2) and its high 2 bits at bit 2k of qh[32h + l]. Four consecutive weights from a
// multiple of 4 share k and take 4 consecutive bytes.
struct Q6KPlace {
  int ql, ql_shift, qh, qh_shift;
};
Q6KPlace q6_k_place(int e) {
  const int h = e / 128, k = (e % 128) / 32, l = e % 32;
  return {64 * h + 32 * (k % 2) + l, 4 * (k / 2), 32 * h + l, 2 * k};
}

uint32_t load_u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

}  // namespace

void interleave_q6_k_r8(const void* rows8, int64_t cols, void* out) {
  const int64_t nb = cols / kQK_K;
  const auto* src = static_cast<const BlockQ6_K*>(rows8);
  auto* dst = static_cast<BlockQ6_Kx8*>(out);
  for (int64_t b = 0; b < nb; ++b) {
    BlockQ6_Kx8& o = dst[b];
    for (int r = 0; r < 8; ++r) {
      const BlockQ6_K& w = src[r * nb + b];
      o.d[r] = w.d;
      for (int s = 0; s < kQK_K / 16; ++s) o.scales[s][r] = w.scales[s];
      // four weights (one byte each) at a time; a model's worth of this runs at load
      uint32_t low[16][4], high[16][4];
      for (int s = 0; s < 16; ++s)
        for (int v = 0; v < 4; ++v) {
          const Q6KPlace p = q6_k_place(16 * s + 4 * v);
          low[s][v] = (load_u32(w.ql + p.ql) >> p.ql_shift) & 0x0F0F0F0Fu;
          high[s][v] = (load_u32(w.qh + p.qh) >> p.qh_shift) & 0x03030303u;
        }
      for (int v = 0; v < 4; ++v) {
        for (int p = 0; p < 8; ++p) {
          const uint32_t packed = low[2 * p][v] | (low[2 * p + 1][v] << 4);
          std::memcpy(&o.quad[p / 2].ql[p % 2][v][4 * r], &packed, 4);
        }
        for (int q = 0; q < 4; ++q) {
          const uint32_t packed =
              high[4 * q][v] | (high[4 * q + 1][v] << 2) | (high[4 * q + 2][v] << 4) | (high[4 * q + 3][v] << 6);
          std::memcpy(&o.quad[q].qh[v][4 * r], &packed, 4);
        }
      }
    }
  }
}

void q6_k_r8_row(const void* group, int64_t cols, int r, void* out_row) {
  const int64_t nb = cols / kQK_K;
  const auto* src = static_cast<const BlockQ6_Kx8*>(group);
  auto* dst = static_cast<BlockQ6_K*>(out_row);
  for (int64_t b = 0; b < nb; ++b) {
    const BlockQ6_Kx8& g = src[b];
    BlockQ6_K& w = dst[b];
    std::memset(&w, 0, sizeof w);
    w.d = g.d[r];
    for (int s = 0; s < kQK_K / 16; ++s) w.scales[s] = g.scales[s][r];
    for (int e = 0; e < kQK_K; ++e) {
      const int s = e / 16, v = (e % 16) / 4, i = e % 4;
      const int low = (g.quad[s / 4].ql[(s / 2) % 2][v][4 * r + i] >> (4 * (s % 2))) & 0xF;
      const int high = (g.quad[s / 4].qh[v][4 * r + i] >> (2 * (s % 4))) & 3;
      const Q6KPlace p = q6_k_place(e);
      w.ql[p.ql] = static_cast<uint8_t>(w.ql[p.ql] | (low << p.ql_shift));
      w.qh[p.qh] = static_cast<uint8_t>(w.qh[p.qh] | (high << p.qh_shift));
    }
  }
}

}  // namespace nexus
