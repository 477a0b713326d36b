// Run-time layouts of Q4_K and Q6_K matrices with rows interleaved in groups of 8
// (DType::Q4_K_R8 / BlockQ4_Kx8, DType::Q6_K_R8 / BlockQ6_Kx8), made when a model loads so
// that the SIMD kernels keep one lane per row (kernels/interleaved_tiles.inc,
// kernels/dot_avx512.cc). Each group takes exactly the bytes of the 8 rows it replaces.
#pragma once

#include <cstdint>

#include "tensor/dtype.h"

namespace nexus {

// Interleaves 8 consecutive Q4_K rows of `cols` elements (cols a multiple of 256, row r at
// rows8 + r * row_bytes(Q4_K, cols)) into cols / 256 BlockQ4_Kx8 at out.
void interleave_q4_k_r8(const void* rows8, int64_t cols, void* out);

// The inverse for one row: row r < 8 of an interleaved group, as cols / 256 Q4_K blocks.
void q4_k_r8_row(const void* group, int64_t cols, int r, void* out_row);

// The same pair for Q6_K rows and BlockQ6_Kx8.
void interleave_q6_k_r8(const void* rows8, int64_t cols, void* out);
void q6_k_r8_row(const void* group, int64_t cols, int r, void* out_row);

// Every interleaved layout: its plain type, and the two functions above that make and undo it.
struct InterleavedLayout {
  DType plain, interleaved;
  void (*interleave)(const void* rows8, int64_t cols, void* out);
  void (*row)(const void* group, int64_t cols, int r, void* out_row);
};
inline constexpr InterleavedLayout kInterleavedLayouts[] = {
    {DType::Q4_K, DType::Q4_K_R8, interleave_q4_k_r8, q4_k_r8_row},
    {DType::Q6_K, DType::Q6_K_R8, interleave_q6_k_r8, q6_k_r8_row},
};

}  // namespace nexus
