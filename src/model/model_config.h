// Hyper-parameters of a Llama-family model, read from GGUF metadata (STYLE.md #3: the first
// of the three plain types; llama_weights.h and llama_forward.h hold the other two).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gguf/gguf.h"
#include "kernels/ops.h"
#include "nexus/result.h"

namespace nexus {

// The supported architectures differ only in a few places of the layer; the forward pass
// switches on this.
enum class Arch {
  kLlama,  // Llama 2/3, Mistral, SmolLM: normal RoPE ordering, no biases
  kQwen2,  // Q/K/V biases, NeoX RoPE ordering
  kQwen3,  // per-head RMSNorm of Q and K before RoPE, NeoX RoPE ordering
  kGemma3, // Q/K norms, norms before and after each sub-layer, GeGLU, scaled embeddings,
           // sliding-window (local) layers interleaved with global ones; own forward layer
};

struct ModelConfig {
  Arch arch = Arch::kLlama;
  std::string arch_name;  // general.architecture
  std::string name;       // general.name (may be empty)
  int n_vocab = 0;        // rows of token_embd.weight
  int n_ctx_train = 0;
  int n_embd = 0;         // residual stream width
  int n_layer = 0;
  int n_head = 0;
  int n_head_kv = 0;
  int head_dim = 0;       // per query/key head (.attention.key_length, else n_embd / n_head)
  int n_ff = 0;           // feed-forward hidden width
  float rms_eps = 1e-5f;
  RopeParams rope;        // freq_factors stays null here; set from rope_freqs.weight if present

  // Gemma 3 (defaults leave the other architectures unchanged).
  float embd_scale = 1.0f;      // x = embed[token] * embd_scale (sqrt(n_embd) for Gemma)
  float attn_scale = 0.0f;      // multiplier of q . k; 0: 1 / sqrt(head_dim)
  float attn_softcap = 0.0f;    // > 0: attention scores soft-capped at this value
  float final_softcap = 0.0f;   // > 0: logits soft-capped at this value
  int sliding_window = 0;       // keys a local layer's query sees, itself included; 0: none
  std::vector<bool> is_local;   // [n_layer] true: sliding-window layer using rope_local
  RopeParams rope_local;        // RoPE of the local layers (own base, no scaling)

  bool local_layer(int il) const { return !is_local.empty() && is_local[il]; }

  int q_dim() const { return n_head * head_dim; }      // width of Q and of the attention output
  int kv_dim() const { return n_head_kv * head_dim; }  // width of K and V per position
};

// Reads and checks <arch>.* keys. Errors: unknown architecture, missing or out-of-range keys.
Result<ModelConfig> read_model_config(const gguf::File& file);

}  // namespace nexus
