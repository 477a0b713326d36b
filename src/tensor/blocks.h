// Quantized block layouts, byte-compatible with GGUF files (ggml's block_q* structs).
// Each block holds block_elems consecutive elements of one row. fp16 fields are raw IEEE
// half bits (see tensor/fp16.h).
#pragma once

#include <cstdint>

namespace nexus {

inline constexpr int kQK4_0 = 32;
inline constexpr int kQK4_1 = 32;
inline constexpr int kQK5_0 = 32;
inline constexpr int kQK5_1 = 32;
inline constexpr int kQK8_0 = 32;
inline constexpr int kQK8_1 = 32;
inline constexpr int kQK_K = 256;       // super-block size of the k-quants
inline constexpr int kKScaleSize = 12;  // packed 6-bit scales/mins of Q4_K and Q5_K

using fp16_t = uint16_t;

// x = d * (q - 8), q in [0, 15]; qs[j] low nibble = element j, high nibble = element j + 16.
struct BlockQ4_0 {
  fp16_t d;
  uint8_t qs[kQK4_0 / 2];
};
static_assert(sizeof(BlockQ4_0) == 18);

// x = d * q + m
struct BlockQ4_1 {
  fp16_t d;
  fp16_t m;
  uint8_t qs[kQK4_1 / 2];
};
static_assert(sizeof(BlockQ4_1) == 20);

// x = d * (q - 16), q 5 bits: low 4 in qs (as Q4_0), 5th bit of element j in bit j of qh.
struct BlockQ5_0 {
  fp16_t d;
  uint8_t qh[4];
  uint8_t qs[kQK5_0 / 2];
};
static_assert(sizeof(BlockQ5_0) == 22);

struct BlockQ5_1 {
  fp16_t d;
  fp16_t m;
  uint8_t qh[4];
  uint8_t qs[kQK5_1 / 2];
};
static_assert(sizeof(BlockQ5_1) == 24);

// x = d * q
struct BlockQ8_0 {
  fp16_t d;
  int8_t qs[kQK8_0];
};
static_assert(sizeof(BlockQ8_0) == 34);

// Activation format: s = d * sum(qs), precomputed for the min term of Q4_1 / Q5_1 dots.
struct BlockQ8_1 {
  fp16_t d;
  fp16_t s;
  int8_t qs[kQK8_1];
};
static_assert(sizeof(BlockQ8_1) == 36);

// 16 sub-blocks of 16; scales[i] = 4-bit scale (low) | 4-bit min (high).
// x = d * scale * q - dmin * min, q 2 bits.
struct BlockQ2_K {
  uint8_t scales[kQK_K / 16];
  uint8_t qs[kQK_K / 4];
  fp16_t d;
  fp16_t dmin;
};
static_assert(sizeof(BlockQ2_K) == 84);

// 16 sub-blocks of 16, 6-bit signed scales packed in 12 bytes; q = 2 low bits + hmask bit,
// x = d * (scale - 32) * (q - 4 if hmask bit clear else q).
struct BlockQ3_K {
  uint8_t hmask[kQK_K / 8];
  uint8_t qs[kQK_K / 4];
  uint8_t scales[12];
  fp16_t d;
};
static_assert(sizeof(BlockQ3_K) == 110);

// 8 sub-blocks of 32 with 6-bit scales and mins packed in 12 bytes.
// x = d * scale * q - dmin * min, q 4 bits.
struct BlockQ4_K {
  fp16_t d;
  fp16_t dmin;
  uint8_t scales[kKScaleSize];
  uint8_t qs[kQK_K / 2];
};
static_assert(sizeof(BlockQ4_K) == 144);

// Q4_K_R8, a run-time layout (never in a file): the blocks of 8 consecutive rows of a Q4_K
// matrix, one super-block column at a time, interleaved so that one 32-byte load holds 4
// consecutive weights of each of the 8 rows. A kernel then keeps one int16 lane pair per
// row and sums a whole sub-block before its scale is applied (kernels/dot_avx2.cc). Same
// size as the 8 Q4_K blocks it replaces, so tensor sizes and strides do not change.
struct BlockQ4_Kx8 {
  fp16_t d[8];
  fp16_t dmin[8];
  uint8_t scales[kKScaleSize][8];  // byte j of row r's packed scales at [j][r]
  // [sub-block s][v][4r + i]: the low nibble is weight 32s + 4v + i of row r, the high
  // nibble weight 32s + 16 + 4v + i.
  uint8_t qs[8][4][32];
};
static_assert(sizeof(BlockQ4_Kx8) == 8 * sizeof(BlockQ4_K));

struct BlockQ5_K {
  fp16_t d;
  fp16_t dmin;
  uint8_t scales[kKScaleSize];
  uint8_t qh[kQK_K / 8];
  uint8_t qs[kQK_K / 2];
};
static_assert(sizeof(BlockQ5_K) == 176);

// 16 sub-blocks of 16 with int8 scales; q 6 bits (4 low in ql, 2 high in qh), x = d*scale*(q-32).
struct BlockQ6_K {
  uint8_t ql[kQK_K / 2];
  uint8_t qh[kQK_K / 4];
  int8_t scales[kQK_K / 16];
  fp16_t d;
};
static_assert(sizeof(BlockQ6_K) == 210);

// Q6_K_R8, the run-time layout of Q6_K as Q4_K_R8 is of Q4_K: one super-block column of 8
// rows, so that one 32-byte load of ql and one of qh give 4 consecutive weights of each row
// for a 16-element sub-block (kernels/dot_avx512.cc). The bits of 4 sub-blocks (a quad) lie
// together, so a kernel reads each block front to back. Same size as the 8 Q6_K blocks.
struct BlockQ6_Kx8 {
  fp16_t d[8];
  int8_t scales[kQK_K / 16][8];  // [sub-block s][row r]
  struct Quad {                  // sub-blocks 4q .. 4q + 3
    // [pair p][v][4r + i]: the low nibble holds the low 4 bits of weight 4v + i of row r in
    // sub-block 4q + 2p, the high nibble those in sub-block 4q + 2p + 1.
    uint8_t ql[2][4][32];
    // [v][4r + i]: bits 2j, 2j + 1 are the high 2 bits of weight 4v + i of row r in
    // sub-block 4q + j.
    uint8_t qh[4][32];
  } quad[4];
};
static_assert(sizeof(BlockQ6_Kx8) == 8 * sizeof(BlockQ6_K));

// Activation format for the k-quant dots: float scale, bsums = sums of each 16 qs.
struct BlockQ8_K {
  float d;
  int8_t qs[kQK_K];
  int16_t bsums[kQK_K / 16];
};
static_assert(sizeof(BlockQ8_K) == 292);

}  // namespace nexus
