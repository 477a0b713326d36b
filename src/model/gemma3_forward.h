// One Gemma 3 transformer block (the rest of the pass, embedding to logits, is shared with the
// Llama family in llama_forward.cc). Differences from a Llama block: RMSNorm before *and after*
// attention and the feed-forward, per-head Q/K norms, GeGLU with tanh-GELU, a query scale from
// query_pre_attn_scalar, and local layers that attend over a sliding window with their own RoPE.
#pragma once

#include "kv/kv_cache.h"
#include "model/llama_forward.h"
#include "model/llama_weights.h"
#include "model/model_config.h"
#include "runtime/thread_pool.h"

namespace nexus {

// Runs block `il` on the n tokens in s.x (sequences and positions in s.queries), updating s.x
// and the layer's cache rows. Needs s.rope_cos/sin (global layers) and s.rope_cos_local/sin_local
// (local layers).
void gemma3_layer_forward(const ModelConfig& c, const LayerWeights& l, int il, RunState& s, ThreadPool& pool, int n);

}  // namespace nexus
