// Causal grouped-query attention of a batch of new tokens over a layer of the KV cache.
#pragma once

#include <cstdint>
#include <span>

#include "kv/kv_cache.h"
#include "runtime/thread_pool.h"

namespace nexus {

struct AttentionShape {
  int n_head = 0;     // query heads
  int n_head_kv = 0;  // key/value heads; n_head / n_head_kv query heads share one
  int head_dim = 0;
  float scale = 0.0f;    // multiplier of q . k; 0 means 1 / sqrt(head_dim)
  int window = 0;        // > 0: sliding window, a query at p sees only keys at p - window < j <= p
  float softcap = 0.0f;  // > 0: scores = softcap * tanh(scores / softcap) before the softmax
};

// One query token: the sequence whose keys and values it attends over, and its position there.
struct AttentionQuery {
  const KvCache* kv;
  int pos;
};

// For query token t at position p = queries[t].pos of its sequence, and query head h with KV
// head g = h / (n_head / n_head_kv):
//   out[t][h] = sum_{j0 <= j <= p} softmax_j(scale * q[t][h] . k[j][g]) v[j][g]
// with j0 = 0, or p - window + 1 for a sliding window (optionally soft-capped scores).
// q, out: [n_tokens][n_head * head_dim]. Each sequence's cache must already hold positions <= p;
// every cache of the batch has the same element type (kv_type.h).
// scratch: pool.size() * scratch_stride floats (scores of one head group per thread),
// scratch_stride >= (n_head / n_head_kv) * (p + 1) for every p. Each (token, KV head) is
// computed by one thread start to finish, so results depend neither on the thread count nor
// on which other tokens share the batch.
void attention(const float* q, std::span<const AttentionQuery> queries, int layer, const AttentionShape& shape,
               float* out, float* scratch, int scratch_stride, ThreadPool& pool);

}  // namespace nexus
