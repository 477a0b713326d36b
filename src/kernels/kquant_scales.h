// Unpacking of the packed 6-bit sub-block scales of Q3_K / Q4_K / Q5_K, shared by every
// instruction set. `static` on purpose: each kernel file gets its own copy compiled with its
// own flags, so the linker can never hand a scalar caller an AVX-512-compiled body.
#pragma once

#include <cstdint>
#include <cstring>

namespace nexus {

// Q4_K / Q5_K: 8 sub-blocks, 6-bit scale and min each, packed into 12 bytes:
// bytes 0-3: scale 0-3 (low 6 bits), bytes 4-7: min 0-3 (low 6 bits), bytes 8-11: low
// nibble = scale 4-7 low 4 bits, high nibble = min 4-7 low 4 bits; the top 2 bits of bytes
// 0-3 / 4-7 hold the high 2 bits of scale 4-7 / min 4-7.
static inline void unpack_scales_k4(const uint8_t* p, uint8_t sc[8], uint8_t mn[8]) {
  for (int j = 0; j < 4; ++j) {
    sc[j] = p[j] & 63;
    mn[j] = p[j + 4] & 63;
    sc[j + 4] = static_cast<uint8_t>((p[j + 8] & 0xF) | ((p[j] >> 6) << 4));
    mn[j + 4] = static_cast<uint8_t>((p[j + 8] >> 4) | ((p[j + 4] >> 6) << 4));
  }
}

// unpack_scales_k4 on 32-bit words: four sub-blocks per operation instead of one. The SIMD
// kernels use this one; the scalar reference keeps the plain loop above, so kernels_test
// checks one against the other.
static inline void unpack_scales_k4_words(const uint8_t* p, uint8_t sc[8], uint8_t mn[8]) {
  uint32_t w[3];
  std::memcpy(w, p, 12);
  const uint32_t low6 = 0x3F3F3F3Fu, low4 = 0x0F0F0F0Fu, low2 = 0x03030303u;
  const uint32_t s03 = w[0] & low6, m03 = w[1] & low6;
  const uint32_t s47 = (w[2] & low4) | (((w[0] >> 6) & low2) << 4);
  const uint32_t m47 = ((w[2] >> 4) & low4) | (((w[1] >> 6) & low2) << 4);
  std::memcpy(sc, &s03, 4);
  std::memcpy(sc + 4, &s47, 4);
  std::memcpy(mn, &m03, 4);
  std::memcpy(mn + 4, &m47, 4);
}

// Q3_K: 16 sub-blocks, 6-bit scales biased by 32, packed into 12 bytes: low 4 bits of
// scale i in byte i (i < 8) or the high nibble of byte i - 8; high 2 bits of scale i in
// bits 2*(i/4) of byte 8 + i%4.
static inline void unpack_scales_q3_k(const uint8_t* p, int8_t sc[16]) {
  for (int i = 0; i < 16; ++i) {
    const int lo = i < 8 ? (p[i] & 0xF) : (p[i - 8] >> 4);
    const int hi = (p[8 + i % 4] >> (2 * (i / 4))) & 3;
    sc[i] = static_cast<int8_t>((lo | (hi << 4)) - 32);
  }
}

}  // namespace nexus
