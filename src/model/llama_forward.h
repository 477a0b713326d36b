// The forward pass of a Llama-family model over a batch of tokens (STYLE.md #3, #4): the run
// state holds every buffer, allocated once for a maximum batch, so the pass allocates nothing.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "kv/kv_cache.h"
#include "memory/layer_source.h"
#include "model/llama_weights.h"
#include "model/model_config.h"
#include "runtime/thread_pool.h"

namespace nexus {

// Scratch activations for up to max_batch tokens, row-major [token][feature].
struct RunState {
  RunState(const ModelConfig& c, int max_batch, int n_ctx, int n_threads);

  int max_batch;
  std::vector<float> x;        // [B][n_embd] residual stream
  std::vector<float> h;        // [B][n_embd] normalised input of a sub-layer
  std::vector<float> q;        // [B][q_dim]
  std::vector<float> attn;     // [B][q_dim] attention output (heads concatenated)
  std::vector<float> proj;     // [B][n_embd] output of Wo / W_down before the residual add
  std::vector<float> gate;     // [B][n_ff]
  std::vector<float> up;       // [B][n_ff]
  std::vector<float> rope_cos; // [B][n_rot / 2]
  std::vector<float> rope_sin; // [B][n_rot / 2]
  std::vector<float> rope_cos_local;  // [B][n_rot / 2] gemma3 local layers (own RoPE base)
  std::vector<float> rope_sin_local;  // [B][n_rot / 2]
  std::vector<float> scores;   // [n_threads][n_ctx] attention scores, one row per thread
};

// Runs tokens[0..n) at positions pos0..pos0+n-1 (n <= state.max_batch, pos0 + n <= n_ctx),
// writing their keys and values into the cache. Logits go to `logits`: n_vocab floats of the
// last token, or n * n_vocab (every token in order) when all_logits; null logits skips the
// output projection (a prompt chunk whose logits nobody reads).
// `layers` (may be null: w.layers) supplies each block's weights; a streamed model's source
// can fail on an I/O error, which is returned (the cache rows of this batch are then garbage,
// but n_past has not moved past them).
Status llama_forward(const ModelConfig& c, const LlamaWeights& w, KvCache& cache, RunState& s,
                     ThreadPool& pool, std::span<const int32_t> tokens, int pos0, bool all_logits,
                     float* logits, LayerSource* layers = nullptr);

}  // namespace nexus
