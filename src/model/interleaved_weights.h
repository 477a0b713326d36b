// Matrices rewritten at load into the run-time layouts the kernels of this CPU compute faster
// (DType::Q4_K_R8 and DType::Q6_K_R8: rows interleaved by 8). Only for weights the forward
// pass reads through matmul alone, in a model whose weights are all resident: streamed
// weights are read from the file as they are, and since the interleaved kernels match the
// plain dots bit for bit, a model computes the same numbers with or without this step.
#pragma once

#include <cstddef>

#include "model/llama_weights.h"
#include "nexus/result.h"
#include "runtime/zero_pages.h"

namespace nexus {

struct InterleavedWeights {
  ZeroPages storage;    // the rewritten matrices; the views in LlamaWeights point here
  size_t n_tensors = 0;
};

// Rewrites every eligible matrix of `w` (Q4_K or Q6_K, a multiple of 8 rows, not the token
// embeddings a lookup reads row by row) when the kernel table has a gemm for the layout and
// the copy takes at most 3/4 of the memory available (MemAvailable), on `threads` threads.
// The file pages of the rewritten tensors are released from this process (MADV_DONTNEED on
// the mapping). Nothing to do: an empty result.
Result<InterleavedWeights> interleave_weights(LlamaWeights& w, int threads);

}  // namespace nexus
