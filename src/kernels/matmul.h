// Weight x activation products, the hot path of every forward pass.
// A weight W is a TensorView of shape [rows = ne[1], cols = ne[0]] in any supported type;
// activations are float rows of length cols.
#pragma once

#include <cstdint>
#include <initializer_list>

#include "runtime/thread_pool.h"
#include "tensor/tensor.h"

namespace nexus {

// y[t * rows + r] = sum_c W[r][c] * x[t * cols + c]   for t < n_tokens, r < rows.
// n_tokens == 1 is decode (matrix-vector); larger n_tokens is prefill (matrix-matrix) and
// reads each weight row once for all tokens. Activations are quantized internally to the
// weight type's activation format (Q8_0 / Q8_K) where that is how the dot product works.
void matmul(const TensorView& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool);

// Same, restricted to output rows [row_begin, row_end) (used for embedding-style lookups
// and tests). y keeps the full [n_tokens][rows] layout; only the rows in range are written.
//
// Both: each y element is exactly one call of the kernel table's dot (kernel_table.h), so
// results are bitwise identical for any pool size. Quantized activations live in a
// thread_local buffer of the calling thread, reused across calls (no allocation once warm).
// Aborts (NX_CHECK) on weight types without a dot kernel or rows not whole blocks: callers
// validate model files when loading them.
void matmul_rows(const TensorView& w, const float* x, int64_t n_tokens, float* y, int64_t row_begin,
                 int64_t row_end, ThreadPool& pool);

// One weight of a matmul_shared_input call and where its products go ([n_tokens][rows]).
struct MatmulOut {
  const TensorView* w;
  float* y;
};

// y_i = W_i x for up to 8 weights that read the same activations (q/k/v, gate/up): x is
// quantized once per activation format and the rows of all the weights are split across
// threads in one pass, one barrier instead of one per weight. Each y_i equals what
// matmul(*w_i, x, n_tokens, y_i) writes, bitwise.
void matmul_shared_input(std::initializer_list<MatmulOut> outs, const float* x, int64_t n_tokens, ThreadPool& pool);

// Copies row r of W into out[0..cols) as float (embedding lookup for any type).
void get_row(const TensorView& w, int64_t r, float* out);

}  // namespace nexus
