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

}  // namespace nexus
