// Element-wise and per-row operations of the transformer forward pass, in plain scalar C++.
// These are not the hot path (matmul is); they stay simple so the forward code reads as maths.
// All arrays are float; n is a length in elements.
#pragma once

#include <cstdint>

#include "runtime/thread_pool.h"

namespace nexus {

// y = x / sqrt(mean(x^2) + eps) * w   (w may be null: no gain). y may alias x.
void rmsnorm(const float* x, const float* w, float eps, int64_t n, float* y);

// rmsnorm of each of n_rows rows of width d: y[r] = rmsnorm(x[r]) * w. y may alias x.
void rmsnorm_rows(const float* x, const float* w, float eps, int64_t n_rows, int64_t d, float* y);

// x[i] += y[i]
void add_inplace(float* x, const float* y, int64_t n);

// x[i] *= s
void scale_inplace(float* x, float s, int64_t n);

// gate[i] = silu(gate[i]) * up[i], silu(a) = a / (1 + exp(-a)).
void silu_mul_inplace(float* gate, const float* up, int64_t n);

// gate[i] = gelu_tanh(gate[i]) * up[i] (GeGLU), with the tanh approximation of GELU
// gelu_tanh(a) = a / 2 * (1 + tanh(sqrt(2 / pi) * (a + 0.044715 a^3))).
void gelu_tanh_mul_inplace(float* gate, const float* up, int64_t n);

// The same over a whole batch, split across the pool's threads: at 8 tokens the batch's
// n_ff * 8 exp/tanh calls would otherwise leave the other threads idle for a few percent
// of a decode step. The SiLU one runs the SIMD level's kernel (kernel_table.h: a
// polynomial e^x there, within ~2e-7 relative of the scalar function above).
void silu_mul_inplace(float* gate, const float* up, int64_t n, ThreadPool& pool);
void gelu_tanh_mul_inplace(float* gate, const float* up, int64_t n, ThreadPool& pool);

// x[i] = cap * tanh(x[i] / cap): squashes values smoothly into (-cap, cap) (Gemma logit soft-capping).
void softcap_inplace(float* x, float cap, int64_t n);

// In-place softmax: x[i] = exp(x[i] - max) / sum_j exp(x[j] - max).
void softmax_inplace(float* x, int64_t n);

// Which pairs of a head's dimensions RoPE rotates together.
enum class RopeOrdering {
  kNormal,  // adjacent pairs (2i, 2i + 1): GGUF llama files (Q/K rows pre-permuted)
  kNeox,    // split halves (i, i + n_rot / 2): qwen2, qwen3 (Hugging Face rotate_half)
};

struct RopeParams {
  int n_rot = 0;              // rotated dimensions per head (<= head_dim; the rest pass through)
  float freq_base = 10000.0f;
  float freq_scale = 1.0f;    // linear scaling: position is multiplied by this (1 / factor)
  const float* freq_factors = nullptr;  // optional [n_rot / 2] divisors of each frequency
  RopeOrdering ordering = RopeOrdering::kNormal;
};

// The rotation of one position: cos_out[i], sin_out[i] of the angle of pair i < n_rot / 2,
// pos * freq_scale * base^(-2i / n_rot) / freq_factors[i]. Computed once per token per
// forward pass and shared by every layer.
void rope_angles(int64_t pos, const RopeParams& p, float* cos_out, float* sin_out);

// Rotates each of the n_heads heads (head_dim floats each, contiguous) of one token by the
// angles from rope_angles; dimensions >= n_rot pass through.
void rope_inplace(float* x, int n_heads, int head_dim, const float* cos_a, const float* sin_a,
                  const RopeParams& p);

// rope_inplace for n_tokens rows of n_heads heads each (row stride n_heads * head_dim), token t
// rotated by its angles cos_a[t * n_rot / 2 ..], sin_a[t * n_rot / 2 ..].
void rope_tokens_inplace(float* x, int n_tokens, int n_heads, int head_dim, const float* cos_a,
                         const float* sin_a, const RopeParams& p);

}  // namespace nexus
