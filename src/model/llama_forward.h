// The forward pass of a Llama-family model over a batch of tokens (STYLE.md #3, #4): the run
// state holds every buffer, allocated once for a maximum batch, so the pass allocates nothing.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "kernels/attention.h"
#include "kv/kv_cache.h"
#include "memory/layer_source.h"
#include "model/llama_weights.h"
#include "model/model_config.h"
#include "runtime/thread_pool.h"
#include "runtime/zero_pages.h"

namespace nexus {

// Which logits a sequence of a batch wants back.
enum class LogitsWanted { kNone, kLast, kAll };

// A run of consecutive tokens of one sequence inside a batch: positions pos0..pos0+n-1 of `kv`.
struct SeqBatch {
  KvCache* kv;
  int pos0;
  int n;
  LogitsWanted logits;
};

// Scratch activations for up to max_batch tokens, row-major [token][feature]. The float
// buffers are zero pages until written: a decode step touches only its first rows.
struct RunState {
  // max_pos: positions a sequence may reach (bounds the attention scores scratch).
  RunState(const ModelConfig& c, int max_batch, int max_pos, int n_threads);

  int max_batch;
  int max_pos;
  std::vector<KvCache*> token_kv;           // [B] the sequence of each token
  std::vector<AttentionQuery> queries;      // [B] its cache and position
  std::vector<int32_t> logits_rows;         // tokens whose logits are wanted, in order
  ZeroArray<float> x;        // [B][n_embd] residual stream
  ZeroArray<float> h;        // [B][n_embd] normalised input of a sub-layer
  ZeroArray<float> q;        // [B][q_dim]
  ZeroArray<float> k;        // [B][kv_dim] this batch's keys before they are stored in the caches
  ZeroArray<float> v;        // [B][kv_dim]
  ZeroArray<float> attn;     // [B][q_dim] attention output (heads concatenated)
  ZeroArray<float> proj;     // [B][n_embd] output of Wo / W_down before the residual add
  ZeroArray<float> gate;     // [B][n_ff]
  ZeroArray<float> up;       // [B][n_ff]
  ZeroArray<float> rope_cos; // [B][n_rot / 2]
  ZeroArray<float> rope_sin; // [B][n_rot / 2]
  ZeroArray<float> rope_cos_local;  // [B][n_rot / 2] gemma3 local layers (own RoPE base)
  ZeroArray<float> rope_sin_local;  // [B][n_rot / 2]
  ZeroArray<float> scores;   // [n_threads][group * max_pos] attention scores of a head group per thread
};

// Copies the batch's keys and values (s.k, s.v, after RoPE) into each token's cache at layer il.
void store_kv(RunState& s, int il, int n, int kv_dim);

// Runs one batch: tokens[0..n) split into runs of consecutive tokens of one sequence each
// (`seqs`, in the order of `tokens`, n <= s.max_batch). Each token's keys and values are stored
// in its sequence's cache, which must have capacity for them and already hold every earlier
// position. Logits go to `logits`, n_vocab floats per wanted row, rows in token order: the
// last token of a kLast run, every token of a kAll run, none of a kNone run.
// A token's logits do not depend on the other sequences in the batch.
// `layers` (may be null: w.layers) supplies each block's weights; a streamed model's source
// can fail on an I/O error, which is returned (the cache rows of this batch are then garbage,
// but no sequence's length has moved past them).
Status llama_forward(const ModelConfig& c, const LlamaWeights& w, RunState& s, ThreadPool& pool,
                     std::span<const int32_t> tokens, std::span<const SeqBatch> seqs, float* logits,
                     LayerSource* layers = nullptr);

}  // namespace nexus
