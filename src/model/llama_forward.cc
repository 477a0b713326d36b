#include "model/llama_forward.h"

#include "model/gemma3_forward.h"

#include "kernels/attention.h"
#include "kernels/matmul.h"
#include "kernels/ops.h"

namespace nexus {

RunState::RunState(const ModelConfig& c, int max_batch_, int n_ctx, int n_threads)
    : max_batch(max_batch_),
      x(static_cast<size_t>(max_batch_) * c.n_embd),
      h(static_cast<size_t>(max_batch_) * c.n_embd),
      q(static_cast<size_t>(max_batch_) * c.q_dim()),
      attn(static_cast<size_t>(max_batch_) * c.q_dim()),
      proj(static_cast<size_t>(max_batch_) * c.n_embd),
      gate(static_cast<size_t>(max_batch_) * c.n_ff),
      up(static_cast<size_t>(max_batch_) * c.n_ff),
      rope_cos(static_cast<size_t>(max_batch_) * (c.rope.n_rot / 2)),
      rope_sin(static_cast<size_t>(max_batch_) * (c.rope.n_rot / 2)),
      rope_cos_local(static_cast<size_t>(max_batch_) * (c.rope_local.n_rot / 2)),
      rope_sin_local(static_cast<size_t>(max_batch_) * (c.rope_local.n_rot / 2)),
      scores(static_cast<size_t>(n_threads) * n_ctx) {}

namespace {

// y[t] += b for each of n rows of width d (bias may be absent).
void add_bias(float* y, const TensorView& b, int n, int d) {
  if (!b.data) return;
  for (int t = 0; t < n; ++t) add_inplace(y + static_cast<size_t>(t) * d, f32_data(b), d);
}

// One transformer block on the batch in s.x; keys and values land in the cache at pos0..
void layer_forward(const ModelConfig& c, const LayerWeights& l, int il, KvCache& cache, RunState& s,
                   ThreadPool& pool, int n, int pos0) {
  const int E = c.n_embd, Q = c.q_dim(), KV = c.kv_dim(), F = c.n_ff, hd = c.head_dim;
  // This batch's K and V rows are contiguous in the cache: matmul writes them in place.
  float* k = cache.k(il, pos0);
  float* v = cache.v(il, pos0);

  // ---- attention ----
  rmsnorm_rows(s.x.data(), f32_data(l.attn_norm), c.rms_eps, n, E, s.h.data());  // h = rmsnorm(x) * w_attn_norm
  matmul(l.attn_q, s.h.data(), n, s.q.data(), pool);  // q = Wq h
  matmul(l.attn_k, s.h.data(), n, k, pool);           // k = Wk h
  matmul(l.attn_v, s.h.data(), n, v, pool);           // v = Wv h
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
  // attn = softmax(q K^T / sqrt(hd) + causal mask) V, n_head / n_head_kv query heads per KV head
  attention(s.q.data(), cache, il, pos0, n, {c.n_head, c.n_head_kv, hd}, s.attn.data(), s.scores.data(), pool);
  matmul(l.attn_output, s.attn.data(), n, s.proj.data(), pool);  // x += Wo attn
  add_inplace(s.x.data(), s.proj.data(), static_cast<int64_t>(n) * E);

  // ---- feed-forward ----
  rmsnorm_rows(s.x.data(), f32_data(l.ffn_norm), c.rms_eps, n, E, s.h.data());  // h = rmsnorm(x) * w_ffn_norm
  matmul(l.ffn_gate, s.h.data(), n, s.gate.data(), pool);  // g = W_gate h
  matmul(l.ffn_up, s.h.data(), n, s.up.data(), pool);      // u = W_up h
  silu_mul_inplace(s.gate.data(), s.up.data(), static_cast<int64_t>(n) * F);  // g = silu(g) * u
  matmul(l.ffn_down, s.gate.data(), n, s.proj.data(), pool);  // x += W_down g
  add_inplace(s.x.data(), s.proj.data(), static_cast<int64_t>(n) * E);
}

}  // namespace

Status llama_forward(const ModelConfig& c, const LlamaWeights& w, KvCache& cache, RunState& s,
                     ThreadPool& pool, std::span<const int32_t> tokens, int pos0, bool all_logits,
                     float* logits, LayerSource* layers) {
  const int n = static_cast<int>(tokens.size());
  const int E = c.n_embd, half = c.rope.n_rot / 2;
  NX_CHECK(n >= 1 && n <= s.max_batch, "batch of %d tokens, run state holds %d", n, s.max_batch);
  NX_CHECK(pos0 >= 0 && pos0 + n <= cache.n_ctx(), "positions %d..%d past n_ctx %d", pos0, pos0 + n, cache.n_ctx());

  RopeParams rope = c.rope;
  rope.freq_factors = f32_data(w.rope_freqs);
  for (int t = 0; t < n; ++t) {  // x = embed[token] * embd_scale; rotation angles of each position
    float* x = &s.x[static_cast<size_t>(t) * E];
    get_row(w.token_embd, tokens[t], x);
    scale_inplace(x, c.embd_scale, E);
    rope_angles(pos0 + t, rope, &s.rope_cos[t * half], &s.rope_sin[t * half]);
    // Gemma 3's local layers rotate with their own base (rope_local.n_rot is 0 elsewhere: no-op).
    const int half_local = c.rope_local.n_rot / 2;
    rope_angles(pos0 + t, c.rope_local, s.rope_cos_local.data() + t * half_local,
                s.rope_sin_local.data() + t * half_local);
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
        layer_forward(c, *l, il, cache, s, pool, n, pos0);
        break;
      case Arch::kGemma3:
        gemma3_layer_forward(c, *l, il, cache, s, pool, n, pos0);
        break;
    }
    if (layers) layers->release(il);
  }

  if (!logits) return Status::Ok();
  // logits = W_out rmsnorm(x) * w_out_norm, for the last token or all of them
  const int first = all_logits ? 0 : n - 1;
  const int n_out = n - first;
  rmsnorm_rows(&s.x[static_cast<size_t>(first) * E], f32_data(w.output_norm), c.rms_eps, n_out, E, s.h.data());
  matmul(w.output, s.h.data(), n_out, logits, pool);
  // logits = cap * tanh(logits / cap)   (only models with final soft-capping)
  if (c.final_softcap > 0.0f) softcap_inplace(logits, c.final_softcap, static_cast<int64_t>(n_out) * c.n_vocab);
  return Status::Ok();
}

}  // namespace nexus
