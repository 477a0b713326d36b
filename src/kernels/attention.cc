#include "kernels/attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/kernel_table.h"
#include "kernels/ops.h"

namespace nexus {

namespace {

// Per-thread F32 copies of the key (or value) rows of one KV block (caches other than F32),
// grown on demand and reused.
std::vector<float>& row_scratch() {
  thread_local std::vector<float> buf;
  return buf;
}

// Calls f(j0, n, rows) for each run of positions first + j0 .. first + j0 + n - 1 that lie in
// one KV block, with that run's F32 key (keys) or value rows of KV head g at rows, head_dim
// floats apart: the cache's own memory for F32, a converted copy otherwise.
template <class F>
void for_each_run(const KvCache& cache, bool keys, int layer, int first, int last, int g, int hd,
                  const DotKernel& kern, F f) {
  const int bt = cache.block_tokens();
  std::vector<float>& buf = row_scratch();
  if (cache.type() != DType::F32 && buf.size() < static_cast<size_t>(bt) * hd) buf.resize(static_cast<size_t>(bt) * hd);
  for (int p = first; p <= last;) {
    const int n = std::min(last + 1, (p / bt + 1) * bt) - p;
    const uint8_t* rows = keys ? cache.k(layer, p, g) : cache.v(layer, p, g);
    if (cache.type() == DType::F32) {
      f(p - first, n, reinterpret_cast<const float*>(rows));
    } else {
      kern.to_f32(n * hd, rows, buf.data());
      f(p - first, n, buf.data());
    }
    p += n;
  }
}

// The `group` query heads that share one KV head, for one token: scores over positions
// [first, last], a softmax per head, weighted sums of V. Each key and value row is read (and
// converted) once for the whole group, one KV block at a time.
void attend_group(const float* q, const KvCache& cache, int layer, int first, int last, int g,
                  int group, const AttentionShape& shape, float scale, const DotKernel& kern,
                  const AttentionKernels& ak, float* scores, float* out) {
  const int hd = shape.head_dim;
  const int n_pos = last - first + 1;
  // scores[i][j] = scale * q_i . k_j
  for_each_run(cache, true, layer, first, last, g, hd, kern, [&](int j0, int n, const float* k) {
    ak.scores(hd, q, group, k, hd, n, scale, scores + j0, n_pos);
  });
  for (int i = 0; i < group; ++i) {
    // scores = softcap * tanh(scores / softcap)   (Gemma 2 style; off unless set)
    if (shape.softcap > 0.0f) softcap_inplace(scores + i * n_pos, shape.softcap, n_pos);
    // scores = softmax(scores)
    ak.softmax(n_pos, scores + i * n_pos);
  }
  // out_i = sum_j scores[i][j] v_j
  std::fill(out, out + static_cast<size_t>(group) * hd, 0.0f);
  for_each_run(cache, false, layer, first, last, g, hd, kern, [&](int j0, int n, const float* v) {
    ak.weighted_sum(hd, scores + j0, n_pos, group, v, hd, n, out);
  });
}

}  // namespace

void attention(const float* q, std::span<const AttentionQuery> queries, int layer, const AttentionShape& shape,
               float* out, float* scratch, int scratch_stride, ThreadPool& pool) {
  const int n_tokens = static_cast<int>(queries.size());
  if (n_tokens == 0) return;
  const int group = shape.n_head / shape.n_head_kv;  // query heads per KV head
  const int q_dim = shape.n_head * shape.head_dim;
  const float scale = shape.scale > 0.0f ? shape.scale : 1.0f / std::sqrt(static_cast<float>(shape.head_dim));
  const DType kv_type = queries[0].kv->type();
  const DotKernel& kern = kernels().entry(kv_type);
  const AttentionKernels& ak = kernels().attention();
  NX_CHECK(kern.to_f32 != nullptr, "attention: KV cache type %s", std::string(dtype_name(kv_type)).c_str());
  NX_CHECK(queries[0].kv->pool().head_dim() == shape.head_dim, "attention: KV pool heads of %d, queries of %d",
           queries[0].kv->pool().head_dim(), shape.head_dim);
  const int64_t n_items = static_cast<int64_t>(n_tokens) * shape.n_head_kv;
  // Below ~64k multiply-adds waking the pool costs more than it saves: run inline.
  int64_t span = 0;  // positions attended over, summed over the tokens
  for (const AttentionQuery& a : queries) span += shape.window > 0 ? std::min(a.pos + 1, shape.window) : a.pos + 1;
  const int64_t work = span * shape.n_head * shape.head_dim;
  const int n_threads = work < (1 << 16) ? 1 : pool.size();
  // Items (token, KV head) are dealt round-robin: later tokens attend over more positions,
  // so contiguous chunks would leave the last thread with the most work.
  auto worker = [&](int thread) {
    if (thread >= n_threads) return;
    float* scores = scratch + static_cast<size_t>(thread) * scratch_stride;
    for (int64_t i = thread; i < n_items; i += n_threads) {
      const int t = static_cast<int>(i / shape.n_head_kv);
      const int g = static_cast<int>(i % shape.n_head_kv);
      NX_DCHECK(queries[t].kv->type() == kv_type, "one KV cache type per batch");
      const size_t q_offset = static_cast<size_t>(t) * q_dim + static_cast<size_t>(g) * group * shape.head_dim;
      const int last = queries[t].pos;
      const int first = shape.window > 0 ? std::max(0, last - shape.window + 1) : 0;
      NX_DCHECK(static_cast<int64_t>(group) * (last - first + 1) <= scratch_stride, "position %d, scratch rows of %d",
                last, scratch_stride);
      attend_group(q + q_offset, *queries[t].kv, layer, first, last, g, group,
                   shape, scale, kern, ak, scores, out + q_offset);
    }
  };
  if (n_threads == 1) {
    worker(0);
  } else {
    pool.run(worker);
  }
}

}  // namespace nexus
