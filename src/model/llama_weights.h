// Per-layer weights of a Llama-family model as named views into the mapped GGUF file
// (STYLE.md #3). Shapes are in GGUF order, [ne0 = input dim, ne1 = output dim]; a matrix
// W [in, out] computes y = W x with x of length `in`. Every shape is checked at load.
#pragma once

#include <vector>

#include "gguf/gguf.h"
#include "model/model_config.h"
#include "nexus/result.h"
#include "tensor/tensor.h"

namespace nexus {

struct LayerWeights {
  TensorView attn_norm;    // [n_embd] F32
  TensorView attn_q;       // [n_embd, q_dim]
  TensorView attn_k;       // [n_embd, kv_dim]
  TensorView attn_v;       // [n_embd, kv_dim]
  TensorView attn_output;  // [q_dim, n_embd]
  TensorView attn_q_bias;  // qwen2: [q_dim] F32; otherwise data == nullptr
  TensorView attn_k_bias;  // qwen2: [kv_dim] F32
  TensorView attn_v_bias;  // qwen2: [kv_dim] F32
  TensorView attn_q_norm;  // qwen3, gemma3: [head_dim] F32, shared by every head
  TensorView attn_k_norm;  // qwen3, gemma3: [head_dim] F32
  TensorView post_attention_norm;  // gemma3: [n_embd] F32, on the attention output
  TensorView ffn_norm;     // [n_embd] F32
  TensorView post_ffw_norm;        // gemma3: [n_embd] F32, on the feed-forward output
  TensorView ffn_gate;     // [n_embd, n_ff]
  TensorView ffn_up;       // [n_embd, n_ff]
  TensorView ffn_down;     // [n_ff, n_embd]
};

struct LlamaWeights {
  TensorView token_embd;   // [n_embd, n_vocab]
  TensorView output_norm;  // [n_embd] F32
  TensorView output;       // [n_embd, n_vocab]; token_embd when the file ties them
  TensorView rope_freqs;   // optional [n_rot / 2] F32 frequency divisors (Llama 3.1)
  std::vector<LayerWeights> layers;
};

// Views every tensor the architecture needs. Errors name the tensor: missing, wrong shape,
// or a type the kernels cannot use.
Result<LlamaWeights> load_llama_weights(const gguf::File& file, const ModelConfig& config);

// Floats of a 1-D F32 weight (norm gains, biases). Null for an absent optional tensor.
inline const float* f32_data(const TensorView& t) { return static_cast<const float*>(t.data); }

}  // namespace nexus
