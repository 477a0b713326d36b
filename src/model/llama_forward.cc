#include "model/llama_forward.h"

#include "model/gemma3_forward.h"

#include "kernels/attention.h"
#include "kernels/matmul.h"
#include "kernels/ops.h"

#include <cstring>

namespace nexus {

RunState::RunState(const ModelConfig& c, int max_batch_, int max_pos_, int n_threads)
    : max_batch(max_batch_),
      max_pos(max_pos_),
      token_kv(max_batch_),
      queries(max_batch_),
      x(static_cast<size_t>(max_batch_) * c.n_embd),
      h(static_cast<size_t>(max_batch_) * c.n_embd),
      q(static_cast<size_t>(max_batch_) * c.q_dim()),
      k(static_cast<size_t>(max_batch_) * c.kv_dim()),
      v(static_cast<size_t>(max_batch_) * c.kv_dim()),
      attn(static_cast<size_t>(max_batch_) * c.q_dim()),
      proj(static_cast<size_t>(max_batch_) * c.n_embd),
      gate(static_cast<size_t>(max_batch_) * c.n_ff),
      up(static_cast<size_t>(max_batch_) * c.n_ff),
      rope_cos(static_cast<size_t>(max_batch_) * (c.rope.n_rot / 2)),
      rope_sin(static_cast<size_t>(max_batch_) * (c.rope.n_rot / 2)),
      rope_cos_local(static_cast<size_t>(max_batch_) * (c.rope_local.n_rot / 2)),
      rope_sin_local(static_cast<size_t>(max_batch_) * (c.rope_local.n_rot / 2)),
      scores(static_cast<size_t>(n_threads) * c.n_head / c.n_head_kv * max_pos_) {}

void store_kv(RunState& s, int il, int n, int kv_dim) {
  for (int t = 0; t < n; ++t) {
    const size_t row = static_cast<size_t>(t) * kv_dim;
    s.token_kv[t]->store(il, s.queries[t].pos, &s.k[row], &s.v[row]);
  }
}

namespace {

// y[t] += b for each of n rows of width d (bias may be absent).
void add_bias(float* y, const TensorView& b, int n, int d) {
  if (!b.data) return;
  for (int t = 0; t < n; ++t) add_inplace(y + static_cast<size_t>(t) * d, f32_data(b), d);
}

// One transformer block on the batch in s.x; keys and values land in each token's cache.
void layer_forward(const ModelConfig& c, const LayerWeights& l, int il, RunState& s, ThreadPool& pool, int n) {
  const int E = c.n_embd, Q = c.q_dim(), KV = c.kv_dim(), F = c.n_ff, hd = c.head_dim;
  float* k = s.k.data();
  float* v = s.v.data();

  // ---- attention ----
  rmsnorm_rows(s.x.data(), f32_data(l.attn_norm), c.rms_eps, n, E, s.h.data());  // h = rmsnorm(x) * w_attn_norm
  matmul_shared_input({{&l.attn_q, s.q.data()}, {&l.attn_k, k}, {&l.attn_v, v}}, s.h.data(), n, pool);  // q, k, v = Wq h, Wk h, Wv h
  add_bias(s.q.data(), l.attn_q_bias, n, Q);          // q += bq   (qwen2)
  add_bias(k, l.attn_k_bias, n, KV);                  // k += bk
  add_bias(v, l.attn_v_bias, n, KV);                  // v += bv
  switch (c.arch) {
    case Arch::kQwen3:
      rmsnorm_rows(s.q.data(), f32_data(l.attn_q_norm), c.rms_eps, n * c.n_head, hd, s.q.data());  // q_h = rmsnorm(q_h) * w_q_norm
      rmsnorm_rows(k, f32_data(l.attn_k_norm), c.rms_eps, n * c.n_head_kv, hd, k);  // k_h = rmsnorm(k_h) * w_k_norm
      break;
    case Arch::kLlama:
    case Arch::kQwen2:
    case Arch::kGemma3:  // not reached: gemma3_layer_forward
      break;
  }
  rope_tokens_inplace(s.q.data(), n, c.n_head, hd, s.rope_cos.data(), s.rope_sin.data(), c.rope);  // q = rope(q, pos)
  rope_tokens_inplace(k, n, c.n_head_kv, hd, s.rope_cos.data(), s.rope_sin.data(), c.rope);       // k = rope(k, pos)
  store_kv(s, il, n, KV);
  // attn = softmax(q K^T / sqrt(hd) + causal mask) V, n_head / n_head_kv query heads per KV head
  attention(s.q.data(), std::span(s.queries.data(), n), il, {c.n_head, c.n_head_kv, hd}, s.attn.data(),
            s.scores.data(), c.n_head / c.n_head_kv * s.max_pos, pool);
  matmul(l.attn_output, s.attn.data(), n, s.proj.data(), pool);  // x += Wo attn
  add_inplace(s.x.data(), s.proj.data(), static_cast<int64_t>(n) * E);

  // ---- feed-forward ----
  rmsnorm_rows(s.x.data(), f32_data(l.ffn_norm), c.rms_eps, n, E, s.h.data());  // h = rmsnorm(x) * w_ffn_norm
  matmul_shared_input({{&l.ffn_gate, s.gate.data()}, {&l.ffn_up, s.up.data()}}, s.h.data(), n, pool);  // g, u = W_gate h, W_up h
  silu_mul_inplace(s.gate.data(), s.up.data(), int64_t{n} * F, pool);  // g = silu(g) * u
  matmul(l.ffn_down, s.gate.data(), n, s.proj.data(), pool);  // x += W_down g
  add_inplace(s.x.data(), s.proj.data(), static_cast<int64_t>(n) * E);
}

}  // namespace

Status llama_forward(const ModelConfig& c, const LlamaWeights& w, RunState& s, ThreadPool& pool,
                     std::span<const int32_t> tokens, std::span<const SeqBatch> seqs, float* logits, LayerSource* layers) {
  const int n = static_cast<int>(tokens.size());
  const int E = c.n_embd, half = c.rope.n_rot / 2, half_local = c.rope_local.n_rot / 2;
  NX_CHECK(n >= 1 && n <= s.max_batch, "batch of %d tokens, run state holds %d", n, s.max_batch);

  // Which sequence and position each token has, and which tokens' logits are wanted.
  s.logits_rows.clear();
  int t = 0;
  for (const SeqBatch& q : seqs) {
    NX_CHECK(q.n >= 1 && t + q.n <= n, "sequence run of %d tokens at %d, batch of %d", q.n, t, n);
    NX_CHECK(q.pos0 >= 0 && q.pos0 + q.n <= q.kv->capacity() && q.pos0 + q.n <= s.max_pos,
             "positions %d..%d past the cache (%d) or scratch (%d)", q.pos0, q.pos0 + q.n, q.kv->capacity(), s.max_pos);
    for (int i = 0; i < q.n; ++i, ++t) {
      s.token_kv[t] = q.kv;
      s.queries[t] = {q.kv, q.pos0 + i};
      if (q.logits == LogitsWanted::kAll || (q.logits == LogitsWanted::kLast && i == q.n - 1)) s.logits_rows.push_back(t);
    }
  }
  NX_CHECK(t == n, "sequence runs cover %d of %d tokens", t, n);

  if (layers) NX_TRY(layers->wait_start());
  RopeParams rope = c.rope;
  rope.freq_factors = f32_data(w.rope_freqs);
  for (t = 0; t < n; ++t) {  // x = embed[token] * embd_scale; rotation angles of each position
    float* x = &s.x[static_cast<size_t>(t) * E];
    get_row(w.token_embd, tokens[t], x);
    scale_inplace(x, c.embd_scale, E);
    const int pos = s.queries[t].pos;
    rope_angles(pos, rope, &s.rope_cos[t * half], &s.rope_sin[t * half]);
    // Gemma 3's local layers rotate with their own base (rope_local.n_rot is 0 elsewhere: no-op).
    rope_angles(pos, c.rope_local, s.rope_cos_local.data() + t * half_local, s.rope_sin_local.data() + t * half_local);
  }
  for (int il = 0; il < c.n_layer; ++il) {
    const LayerWeights* l = &w.layers[il];
    if (layers) {  // streamed: waits for the layer's reads
      NX_ASSIGN_OR_RETURN(l, layers->acquire(il));
    }
    switch (c.arch) {
      case Arch::kLlama:
      case Arch::kQwen2:
      case Arch::kQwen3:
        layer_forward(c, *l, il, s, pool, n);
        break;
      case Arch::kGemma3:
        gemma3_layer_forward(c, *l, il, s, pool, n);
        break;
    }
    if (layers) layers->release(il);
  }

  const int n_out = static_cast<int>(s.logits_rows.size());
  if (n_out == 0) return Status::Ok();
  NX_CHECK(logits != nullptr, "%d logit rows wanted, no buffer", n_out);
  // A streamed model's head may still be landing (its first pass): the rows that have landed
  // are projected while the rest are read. Rows are independent, so the logits are the same.
  const int64_t n_rows = w.output.rows();
  int64_t ready = n_rows;
  if (layers) {
    NX_ASSIGN_OR_RETURN(ready, layers->wait_output(0));
  }
  // logits = W_out rmsnorm(x) * w_out_norm, for the wanted rows
  for (int r = 0; r < n_out; ++r)
    rmsnorm_rows(&s.x[static_cast<size_t>(s.logits_rows[r]) * E], f32_data(w.output_norm), c.rms_eps, 1, E,
                 &s.h[static_cast<size_t>(r) * E]);
  matmul_rows(w.output, s.h.data(), n_out, logits, 0, ready, pool);
  while (ready < n_rows) {
    const int64_t done = ready;
    NX_ASSIGN_OR_RETURN(ready, layers->wait_output(done));
    matmul_rows(w.output, s.h.data(), n_out, logits, done, ready, pool);
  }
  // logits = cap * tanh(logits / cap)   (only models with final soft-capping)
  if (c.final_softcap > 0.0f) softcap_inplace(logits, c.final_softcap, static_cast<int64_t>(n_out) * c.n_vocab);
  return Status::Ok();
}

}  // namespace nexus
