// The dot-product kernel table (STYLE.md #6): for each weight type, the activation format
// its dot product consumes, the function that converts a float activation row into that
// format, and the dot product itself, picked once at start-up from the CPU's SIMD level.
//
// Adding an instruction set = one dot_<isa>.cc file + a few lines in kernel_table.cc;
// kernel bodies never contain #if ladders.
#pragma once

#include <cstddef>
#include <cstdint>

#include "runtime/cpu_features.h"
#include "tensor/dtype.h"

namespace nexus {

// Dot product of one weight row with one activation row, both n elements long (n a
// multiple of the weight type's block size). w_row is in the weight's storage type,
// act_row in DotKernel::act_type.
using DotFn = float (*)(int n, const void* w_row, const void* act_row);

// Block product for prefill (and decode): for r < n_rows, t < n_tok,
//   y[t * y_stride + r] = dot(n, w + r * w_stride, act + t * act_stride)
// computed with exactly the arithmetic of the same level's DotFn (bitwise equal results),
// but each weight block is unpacked once and reused across several tokens in registers.
using GemmFn = void (*)(int n, const void* w, size_t w_stride, int n_rows, const void* act, size_t act_stride,
                        int n_tok, float* y, size_t y_stride);

// n elements of a row stored in the weight type (F32, F16, Q8_0: the KV cache types) as floats.
using RowToF32Fn = void (*)(int n, const void* row, float* out);

// Attention over a run of cached positions whose key / value rows are F32 (in place for an
// F32 cache, converted copies otherwise), for n_q query heads that share them:
//   scores:       s[i * s_stride + j] = scale * q_i . k_j       (q_i at q + i * hd)
//   weighted_sum: out_i += sum_j w[i * w_stride + j] v_j        (out_i at out + i * hd)
// with k_j at k + j * k_stride, v_j at v + j * v_stride, for i < n_q, j < n_pos.
using AttnScoresFn = void (*)(int hd, const float* q, int n_q, const float* k, int k_stride, int n_pos, float scale,
                              float* s, int s_stride);
using AttnWeightedSumFn = void (*)(int hd, const float* w, int w_stride, int n_q, const float* v, int v_stride,
                                   int n_pos, float* out);
// x = softmax(x) over n elements (max subtracted first).
using SoftmaxFn = void (*)(int n, float* x);
struct AttentionKernels {
  AttnScoresFn scores = nullptr;
  AttnWeightedSumFn weighted_sum = nullptr;
  SoftmaxFn softmax = nullptr;
};

// gate[i] = silu(gate[i]) * up[i], silu(a) = a / (1 + e^-a), for i < n: the SwiGLU of
// llama-family feed-forward blocks. SIMD levels use a polynomial e^x (relative error ~2e-7).
using SiluMulFn = void (*)(float* gate, const float* up, int64_t n);

// Converts n floats into row_bytes(act_type, n) bytes of activation format.
using QuantizeActFn = void (*)(int n, const float* x, void* act_row);

struct DotKernel {
  DType act_type = DType::F32;           // F32, Q8_0, Q8_1 or Q8_K
  QuantizeActFn quantize_act = nullptr;  // for F32 a plain copy
  DotFn dot = nullptr;                   // null: weight type not supported
  GemmFn gemm = nullptr;                 // null: matmul calls `dot` per element
  RowToF32Fn to_f32 = nullptr;           // F32, F16 and Q8_0 only (KV cache types)
  int row_group = 1;                     // gemm takes rows in multiples of this (the _R8 layouts: 8)
};

class KernelTable {
 public:
  // Builds the table for `level`; the caller must not ask for more than the CPU has
  // (kernels_for() clamps).
  explicit KernelTable(SimdLevel level);

  SimdLevel level() const { return level_; }
  bool supports(DType w) const { return entry(w).dot != nullptr || entry(w).gemm != nullptr; }
  // Entry for weight type w; entry.dot is null for unsupported types.
  const DotKernel& entry(DType w) const;
  const AttentionKernels& attention() const { return attention_; }
  SiluMulFn silu_mul() const { return silu_mul_; }

 private:
  SimdLevel level_;
  AttentionKernels attention_;
  SiluMulFn silu_mul_ = nullptr;
  DotKernel kernels_[kNumDTypeIds];
};

// The table for simd_level() (CPU features capped by NEXUS_SIMD), built once.
const KernelTable& kernels();

// The table for min(level, what the CPU supports), built once per level. Lets tests and
// benchmarks run every instruction set the machine has, independent of NEXUS_SIMD.
const KernelTable& kernels_for(SimdLevel level);

}  // namespace nexus
