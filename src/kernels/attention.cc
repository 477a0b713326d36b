#include "kernels/attention.h"

#include <algorithm>
#include <cmath>

#include "kernels/kernel_table.h"
#include "kernels/ops.h"

namespace nexus {

namespace {

// One query head of one token: scores over positions [first, last], softmax, weighted sum of V.
// `dot` is the matmul table's F32 x F32 dot product (SIMD where the CPU has it).
void attend_one(const float* q, const KvCache& cache, int layer, int first, int last, int kv_offset,
                const AttentionShape& shape, float scale, DotFn dot, float* scores, float* out) {
  const int head_dim = shape.head_dim;
  const int n_pos = last - first + 1;
  // scores[j] = scale * q . k_j
  for (int j = 0; j < n_pos; ++j) scores[j] = dot(head_dim, cache.k(layer, first + j) + kv_offset, q) * scale;
  // scores = softcap * tanh(scores / softcap)   (Gemma 2 style; off unless set)
  if (shape.softcap > 0.0f) softcap_inplace(scores, shape.softcap, n_pos);
  // scores = softmax(scores)
  softmax_inplace(scores, n_pos);
  // out = sum_j scores[j] v_j
  for (int d = 0; d < head_dim; ++d) out[d] = 0.0f;
  for (int j = 0; j < n_pos; ++j) {
    const float* v = cache.v(layer, first + j) + kv_offset;
    const float w = scores[j];
    for (int d = 0; d < head_dim; ++d) out[d] += w * v[d];
  }
}

}  // namespace

void attention(const float* q, std::span<const AttentionQuery> queries, int layer, const AttentionShape& shape,
               float* out, float* scratch, int scratch_stride, ThreadPool& pool) {
  const int n_tokens = static_cast<int>(queries.size());
  const int group = shape.n_head / shape.n_head_kv;  // query heads per KV head
  const int q_dim = shape.n_head * shape.head_dim;
  const float scale = shape.scale > 0.0f ? shape.scale : 1.0f / std::sqrt(static_cast<float>(shape.head_dim));
  const DotFn dot = kernels().entry(DType::F32).dot;
  const int64_t n_items = static_cast<int64_t>(n_tokens) * shape.n_head;
  // Below ~64k multiply-adds waking the pool costs more than it saves: run inline.
  int64_t span = 0;  // positions attended over, summed over the tokens
  for (const AttentionQuery& a : queries) span += shape.window > 0 ? std::min(a.pos + 1, shape.window) : a.pos + 1;
  const int64_t work = span * shape.n_head * shape.head_dim;
  const int n_threads = work < (1 << 16) ? 1 : pool.size();
  // Items are dealt round-robin: later tokens attend over more positions, so contiguous
  // chunks would leave the last thread with the most work.
  auto worker = [&](int thread) {
    if (thread >= n_threads) return;
    float* scores = scratch + static_cast<size_t>(thread) * scratch_stride;
    for (int64_t i = thread; i < n_items; i += n_threads) {
      const int t = static_cast<int>(i / shape.n_head);
      const int h = static_cast<int>(i % shape.n_head);
      const int kv_offset = (h / group) * shape.head_dim;
      const size_t q_offset = static_cast<size_t>(t) * q_dim + static_cast<size_t>(h) * shape.head_dim;
      const int last = queries[t].pos;
      NX_DCHECK(last < scratch_stride, "position %d, scratch rows of %d", last, scratch_stride);
      const int first = shape.window > 0 ? std::max(0, last - shape.window + 1) : 0;
      attend_one(q + q_offset, *queries[t].kv, layer, first, last, kv_offset, shape, scale, dot, scores, out + q_offset);
    }
  };
  if (n_threads == 1) {
    worker(0);
  } else {
    pool.run(worker);
  }
}

}  // namespace nexus
