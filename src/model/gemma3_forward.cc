#include "model/gemma3_forward.h"

#include "kernels/attention.h"
#include "kernels/matmul.h"
#include "kernels/ops.h"

namespace nexus {

void gemma3_layer_forward(const ModelConfig& c, const LayerWeights& l, int il, RunState& s, ThreadPool& pool, int n) {
  const int E = c.n_embd, F = c.n_ff, hd = c.head_dim;
  const float eps = c.rms_eps;
  // Local layers: sliding window and the local RoPE base; global layers: full causal attention.
  const bool local = c.local_layer(il);
  const RopeParams& rope = local ? c.rope_local : c.rope;
  const float* cos_a = local ? s.rope_cos_local.data() : s.rope_cos.data();
  const float* sin_a = local ? s.rope_sin_local.data() : s.rope_sin.data();
  const AttentionShape shape{c.n_head, c.n_head_kv, hd, c.attn_scale, local ? c.sliding_window : 0, c.attn_softcap};
  float* k = s.k.data();
  float* v = s.v.data();
  float* q = s.q.data();

  // ---- attention ----  (every norm gain w below is stored as 1 + w_hf)
  rmsnorm_rows(s.x.data(), f32_data(l.attn_norm), eps, n, E, s.h.data());  // h = rmsnorm(x) * w_attn_norm
  matmul_shared_input({{&l.attn_q, q}, {&l.attn_k, k}, {&l.attn_v, v}}, s.h.data(), n, pool);  // q, k, v = Wq h, Wk h, Wv h
  rmsnorm_rows(q, f32_data(l.attn_q_norm), eps, n * c.n_head, hd, q);     // q_h = rmsnorm(q_h) * w_q_norm
  rmsnorm_rows(k, f32_data(l.attn_k_norm), eps, n * c.n_head_kv, hd, k);  // k_h = rmsnorm(k_h) * w_k_norm
  rope_tokens_inplace(q, n, c.n_head, hd, cos_a, sin_a, rope);     // q = rope(q, pos)
  rope_tokens_inplace(k, n, c.n_head_kv, hd, cos_a, sin_a, rope);  // k = rope(k, pos)
  store_kv(s, il, n, c.kv_dim());
  // attn = softmax(attn_scale * q K^T + causal (and, local, window) mask) V
  attention(q, std::span(s.queries.data(), n), il, shape, s.attn.data(), s.scores.data(),
            c.n_head / c.n_head_kv * s.max_pos, pool);
  matmul(l.attn_output, s.attn.data(), n, s.proj.data(), pool);  // o = Wo attn
  rmsnorm_rows(s.proj.data(), f32_data(l.post_attention_norm), eps, n, E, s.proj.data());  // o = rmsnorm(o) * w_post_attn
  add_inplace(s.x.data(), s.proj.data(), static_cast<int64_t>(n) * E);  // x += o

  // ---- feed-forward ----
  rmsnorm_rows(s.x.data(), f32_data(l.ffn_norm), eps, n, E, s.h.data());  // h = rmsnorm(x) * w_ffn_norm
  matmul_shared_input({{&l.ffn_gate, s.gate.data()}, {&l.ffn_up, s.up.data()}}, s.h.data(), n, pool);  // g, u = W_gate h, W_up h
  gelu_tanh_mul_inplace(s.gate.data(), s.up.data(), int64_t{n} * F, pool);  // g = gelu_tanh(g) * u
  matmul(l.ffn_down, s.gate.data(), n, s.proj.data(), pool);  // f = W_down g
  rmsnorm_rows(s.proj.data(), f32_data(l.post_ffw_norm), eps, n, E, s.proj.data());  // f = rmsnorm(f) * w_post_ffw
  add_inplace(s.x.data(), s.proj.data(), static_cast<int64_t>(n) * E);  // x += f
}

}  // namespace nexus
