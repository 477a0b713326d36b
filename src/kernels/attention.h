// Causal grouped-query attention of a batch of new tokens over a layer of the KV cache.
#pragma once

#include <cstdint>

#include "kv/kv_cache.h"
#include "runtime/thread_pool.h"

namespace nexus {

struct AttentionShape {
  int n_head = 0;     // query heads
  int n_head_kv = 0;  // key/value heads; n_head / n_head_kv query heads share one
  int head_dim = 0;
};

// For token t < n_tokens at position p = pos0 + t and query head h with KV head
// g = h / (n_head / n_head_kv):
//   out[t][h] = sum_{j <= p} softmax_j(q[t][h] . k[j][g] / sqrt(head_dim)) v[j][g]
// q, out: [n_tokens][n_head * head_dim]. The cache must already hold positions <= pos0 + n_tokens - 1.
// scratch: pool.size() * cache.n_ctx() floats (one row of scores per thread).
// Each (token, head) is computed by one thread start to finish, so results do not depend on
// the thread count.
void attention(const float* q, const KvCache& cache, int layer, int pos0, int n_tokens,
               const AttentionShape& shape, float* out, float* scratch, ThreadPool& pool);

}  // namespace nexus
