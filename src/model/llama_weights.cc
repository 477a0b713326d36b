#include "model/llama_weights.h"

#include <string>

#include "kernels/kernel_table.h"
#include "tensor/quants.h"

namespace nexus {

namespace {

std::string shape_string(const int64_t* ne, int n_dims) {
  std::string s = "[";
  for (int i = 0; i < n_dims; ++i) s += (i ? ", " : "") + std::to_string(ne[i]);
  return s + "]";
}

// Which element types a tensor may have.
enum class Kind {
  kVector,  // 1-D gains and biases, read directly as floats: F32 only
  kMatrix,  // weights fed to matmul: a type with a dot kernel, rows of whole activation blocks
  kTable,   // rows looked up with get_row (token embeddings): any type that can be dequantized
};

// Whether matmul can use a weight of this type and row length (else the kernels would abort).
Status check_matmul_type(const std::string& name, DType type, int64_t cols) {
  const std::string tn(dtype_name(type));
  if (!kernels().supports(type))
    return make_error(format("tensor '%s' has type %s, which has no matmul kernel", name.c_str(), tn.c_str()));
  const DType act = kernels().entry(type).act_type;
  if (cols % dtype_traits(act).block_elems != 0)
    return make_error(format("tensor '%s': rows of %lld elements are not whole %s activation blocks",
                             name.c_str(), static_cast<long long>(cols), std::string(dtype_name(act)).c_str()));
  return Status::Ok();
}

Result<TensorView> view(const gguf::File& f, const std::string& name, std::vector<int64_t> shape, Kind kind) {
  const gguf::TensorInfo* t = f.find_tensor(name);
  if (!t) return make_error(format("missing tensor '%s'", name.c_str()));
  bool same = true;
  for (int i = 0; i < 4; ++i) {
    const int64_t want = i < static_cast<int>(shape.size()) ? shape[i] : 1;
    if (t->ne[i] != want) same = false;
  }
  if (!same)
    return make_error(format("tensor '%s' has shape %s, expected %s", name.c_str(),
                             shape_string(t->ne, t->n_dims).c_str(),
                             shape_string(shape.data(), static_cast<int>(shape.size())).c_str()));
  if (kind == Kind::kVector && t->type != DType::F32)
    return make_error(format("tensor '%s' has type %s, expected F32", name.c_str(),
                             std::string(dtype_name(t->type)).c_str()));
  if (kind == Kind::kTable && !can_dequantize(t->type))
    return make_error(format("tensor '%s' has type %s, which Nexus cannot read", name.c_str(),
                             std::string(dtype_name(t->type)).c_str()));
  if (kind == Kind::kMatrix) NX_TRY(check_matmul_type(name, t->type, t->ne[0]));
  return f.view(*t);
}

Result<TensorView> optional_view(const gguf::File& f, const std::string& name, std::vector<int64_t> shape, Kind kind) {
  if (!f.find_tensor(name)) return TensorView{};
  return view(f, name, std::move(shape), kind);
}

}  // namespace

Result<LlamaWeights> load_llama_weights(const gguf::File& f, const ModelConfig& c) {
  const int64_t n_embd = c.n_embd, q_dim = c.q_dim(), kv_dim = c.kv_dim(), n_ff = c.n_ff, n_vocab = c.n_vocab;
  const Kind mat = Kind::kMatrix, vec = Kind::kVector;
  LlamaWeights w;
  NX_ASSIGN_OR_RETURN(w.token_embd, view(f, "token_embd.weight", {n_embd, n_vocab}, Kind::kTable));
  NX_ASSIGN_OR_RETURN(w.output_norm, view(f, "output_norm.weight", {n_embd}, vec));
  NX_ASSIGN_OR_RETURN(w.output, optional_view(f, "output.weight", {n_embd, n_vocab}, mat));
  if (!w.output.data) {  // tied embeddings: the output projection reuses token_embd
    NX_TRY(check_matmul_type("token_embd.weight", w.token_embd.type, n_embd));
    w.output = w.token_embd;
  }
  NX_ASSIGN_OR_RETURN(w.rope_freqs, optional_view(f, "rope_freqs.weight", {c.rope.n_rot / 2}, vec));

  w.layers.resize(c.n_layer);
  for (int i = 0; i < c.n_layer; ++i) {
    LayerWeights& l = w.layers[i];
    const std::string b = "blk." + std::to_string(i) + ".";
    NX_ASSIGN_OR_RETURN(l.attn_norm, view(f, b + "attn_norm.weight", {n_embd}, vec));
    NX_ASSIGN_OR_RETURN(l.attn_q, view(f, b + "attn_q.weight", {n_embd, q_dim}, mat));
    NX_ASSIGN_OR_RETURN(l.attn_k, view(f, b + "attn_k.weight", {n_embd, kv_dim}, mat));
    NX_ASSIGN_OR_RETURN(l.attn_v, view(f, b + "attn_v.weight", {n_embd, kv_dim}, mat));
    NX_ASSIGN_OR_RETURN(l.attn_output, view(f, b + "attn_output.weight", {q_dim, n_embd}, mat));
    NX_ASSIGN_OR_RETURN(l.ffn_norm, view(f, b + "ffn_norm.weight", {n_embd}, vec));
    NX_ASSIGN_OR_RETURN(l.ffn_gate, view(f, b + "ffn_gate.weight", {n_embd, n_ff}, mat));
    NX_ASSIGN_OR_RETURN(l.ffn_up, view(f, b + "ffn_up.weight", {n_embd, n_ff}, mat));
    NX_ASSIGN_OR_RETURN(l.ffn_down, view(f, b + "ffn_down.weight", {n_ff, n_embd}, mat));
    switch (c.arch) {
      case Arch::kLlama: {
        // Some Llama-architecture exports carry Q/K/V biases too; use them when present.
        NX_ASSIGN_OR_RETURN(l.attn_q_bias, optional_view(f, b + "attn_q.bias", {q_dim}, vec));
        NX_ASSIGN_OR_RETURN(l.attn_k_bias, optional_view(f, b + "attn_k.bias", {kv_dim}, vec));
        NX_ASSIGN_OR_RETURN(l.attn_v_bias, optional_view(f, b + "attn_v.bias", {kv_dim}, vec));
        break;
      }
      case Arch::kQwen2: {
        NX_ASSIGN_OR_RETURN(l.attn_q_bias, view(f, b + "attn_q.bias", {q_dim}, vec));
        NX_ASSIGN_OR_RETURN(l.attn_k_bias, view(f, b + "attn_k.bias", {kv_dim}, vec));
        NX_ASSIGN_OR_RETURN(l.attn_v_bias, view(f, b + "attn_v.bias", {kv_dim}, vec));
        break;
      }
      case Arch::kQwen3: {
        NX_ASSIGN_OR_RETURN(l.attn_q_norm, view(f, b + "attn_q_norm.weight", {c.head_dim}, vec));
        NX_ASSIGN_OR_RETURN(l.attn_k_norm, view(f, b + "attn_k_norm.weight", {c.head_dim}, vec));
        break;
      }
      case Arch::kGemma3: {
        // Norm gains are stored as (1 + w) (the converters add the one Gemma's RMSNorm applies).
        NX_ASSIGN_OR_RETURN(l.attn_q_norm, view(f, b + "attn_q_norm.weight", {c.head_dim}, vec));
        NX_ASSIGN_OR_RETURN(l.attn_k_norm, view(f, b + "attn_k_norm.weight", {c.head_dim}, vec));
        NX_ASSIGN_OR_RETURN(l.post_attention_norm, view(f, b + "post_attention_norm.weight", {n_embd}, vec));
        NX_ASSIGN_OR_RETURN(l.post_ffw_norm, view(f, b + "post_ffw_norm.weight", {n_embd}, vec));
        break;
      }
    }
  }
  return w;
}

}  // namespace nexus
