#include "model/model_config.h"

#include <string_view>

namespace nexus {

namespace {

// Upper bound for every size read from metadata: far above any real model, low enough that
// products of two of them cannot overflow 64 bits or trigger absurd allocations downstream.
constexpr int64_t kMaxDim = 1 << 20;

Result<int> required_int(const gguf::File& f, const std::string& key, int64_t lo, int64_t hi) {
  if (!f.find(key)) return make_error(format("missing metadata key '%s'", key.c_str()));
  std::optional<int64_t> v = f.get_int(key);
  if (!v) return make_error(format("metadata key '%s': expected an integer", key.c_str()));
  if (*v < lo || *v > hi)
    return make_error(format("metadata key '%s' = %lld: expected %lld..%lld", key.c_str(),
                             static_cast<long long>(*v), static_cast<long long>(lo),
                             static_cast<long long>(hi)));
  return static_cast<int>(*v);
}

Result<int> optional_int(const gguf::File& f, const std::string& key, int def, int64_t lo, int64_t hi) {
  if (!f.find(key)) return def;
  return required_int(f, key, lo, hi);
}

Result<float> optional_float(const gguf::File& f, const std::string& key, float def) {
  if (!f.find(key)) return def;
  std::optional<double> v = f.get_float(key);
  if (!v) return make_error(format("metadata key '%s': expected a number", key.c_str()));
  return static_cast<float>(*v);
}

}  // namespace

Result<ModelConfig> read_model_config(const gguf::File& f) {
  ModelConfig c;
  std::optional<std::string> arch = f.get_string("general.architecture");
  if (!arch) return make_error("missing metadata key 'general.architecture'");
  c.arch_name = *arch;
  if (c.arch_name == "llama") {
    c.arch = Arch::kLlama;
  } else if (c.arch_name == "qwen2") {
    c.arch = Arch::kQwen2;
  } else if (c.arch_name == "qwen3") {
    c.arch = Arch::kQwen3;
  } else {
    return make_error(format("unsupported architecture '%s' (supported: llama, qwen2, qwen3)", c.arch_name.c_str()));
  }
  c.name = f.get_string("general.name").value_or("");
  const std::string p = c.arch_name + ".";

  NX_ASSIGN_OR_RETURN(c.n_embd, required_int(f, p + "embedding_length", 1, kMaxDim));
  NX_ASSIGN_OR_RETURN(c.n_layer, required_int(f, p + "block_count", 1, 4096));
  NX_ASSIGN_OR_RETURN(c.n_ff, required_int(f, p + "feed_forward_length", 1, kMaxDim));
  NX_ASSIGN_OR_RETURN(c.n_head, required_int(f, p + "attention.head_count", 1, 4096));
  NX_ASSIGN_OR_RETURN(c.n_head_kv, optional_int(f, p + "attention.head_count_kv", c.n_head, 1, c.n_head));
  if (c.n_head % c.n_head_kv != 0)
    return make_error(format("attention.head_count %d is not a multiple of attention.head_count_kv %d",
                             c.n_head, c.n_head_kv));
  NX_ASSIGN_OR_RETURN(c.n_ctx_train, optional_int(f, p + "context_length", 2048, 1, 1 << 24));

  const int default_head_dim = c.n_embd % c.n_head == 0 ? c.n_embd / c.n_head : 0;
  NX_ASSIGN_OR_RETURN(c.head_dim, optional_int(f, p + "attention.key_length", default_head_dim, 0, 1 << 16));
  if (c.head_dim <= 0)
    return make_error(format("embedding_length %d is not a multiple of head_count %d and no "
                             "attention.key_length is given", c.n_embd, c.n_head));
  NX_ASSIGN_OR_RETURN(const int value_dim, optional_int(f, p + "attention.value_length", c.head_dim, 1, 1 << 16));
  if (value_dim != c.head_dim)
    return make_error(format("attention.value_length %d differs from attention.key_length %d (unsupported)",
                             value_dim, c.head_dim));
  if (c.head_dim % 2 != 0) return make_error(format("head dimension %d is odd: RoPE needs pairs", c.head_dim));

  NX_ASSIGN_OR_RETURN(c.rms_eps, optional_float(f, p + "attention.layer_norm_rms_epsilon", 1e-5f));
  if (!(c.rms_eps > 0.0f && c.rms_eps < 1.0f))
    return make_error(format("attention.layer_norm_rms_epsilon = %g: expected a small positive number", c.rms_eps));

  NX_ASSIGN_OR_RETURN(c.rope.n_rot, optional_int(f, p + "rope.dimension_count", c.head_dim, 2, c.head_dim));
  if (c.rope.n_rot % 2 != 0) return make_error(format("rope.dimension_count %d is odd", c.rope.n_rot));
  NX_ASSIGN_OR_RETURN(c.rope.freq_base, optional_float(f, p + "rope.freq_base", 10000.0f));
  if (!(c.rope.freq_base > 1.0f)) return make_error(format("rope.freq_base = %g: expected > 1", c.rope.freq_base));
  const std::string scaling = f.get_string(p + "rope.scaling.type").value_or("none");
  if (scaling == "linear") {
    NX_ASSIGN_OR_RETURN(const float factor, optional_float(f, p + "rope.scaling.factor", 1.0f));
    if (!(factor > 0.0f)) return make_error(format("rope.scaling.factor = %g: expected > 0", factor));
    c.rope.freq_scale = 1.0f / factor;
  } else if (scaling != "none" && scaling != "") {
    return make_error(format("unsupported rope.scaling.type '%s' (supported: none, linear)", scaling.c_str()));
  }
  c.rope.ordering = c.arch == Arch::kLlama ? RopeOrdering::kNormal : RopeOrdering::kNeox;

  const gguf::TensorInfo* embd = f.find_tensor("token_embd.weight");
  if (!embd) return make_error("missing tensor 'token_embd.weight'");
  if (embd->ne[1] < 1 || embd->ne[1] > (1 << 24))
    return make_error(format("tensor 'token_embd.weight': %lld rows, expected 1..%d",
                             static_cast<long long>(embd->ne[1]), 1 << 24));
  c.n_vocab = static_cast<int>(embd->ne[1]);
  return c;
}

}  // namespace nexus
