#include "model/model_config.h"

#include <cmath>
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

// Which layers of a Gemma 3 model use the sliding window. The key
// <arch>.attention.sliding_window_pattern is either a period P (layer i is global when
// (i + 1) % P == 0) or one flag per layer (non-zero: local); without it the period is 6, as in
// every released Gemma 3 (files from the ecosystem's converter do not record it).
Status read_local_layers(const gguf::File& f, const std::string& key, ModelConfig& c) {
  c.is_local.assign(c.n_layer, false);
  if (const gguf::Array* a = f.get_array(key)) {
    const bool is_signed = !a->ints.empty();
    const size_t n = is_signed ? a->ints.size() : a->uints.size();
    if (n != static_cast<size_t>(c.n_layer))
      return make_error(format("metadata key '%s': %zu integer flags, expected one per layer (%d)", key.c_str(), n,
                               c.n_layer));
    for (int i = 0; i < c.n_layer; ++i) c.is_local[i] = is_signed ? a->ints[i] != 0 : a->uints[i] != 0;
    return Status::Ok();
  }
  NX_ASSIGN_OR_RETURN(const int period, optional_int(f, key, 6, 1, 1 << 16));
  for (int i = 0; i < c.n_layer; ++i) c.is_local[i] = (i + 1) % period != 0;
  return Status::Ok();
}

// The Gemma 3 specifics (c holds the common keys already).
Status read_gemma3(const gguf::File& f, const std::string& p, ModelConfig& c) {
  // x = embed * sqrt(n_embd), in float32 (transformers computes it in the weights' dtype; the
  // reference runs in float32).
  c.embd_scale = std::sqrt(static_cast<float>(c.n_embd));
  // Scores are scaled by query_pre_attn_scalar^-1/2. The ecosystem's files do not record it: it
  // equals head_dim except in the 27B model (62 layers), where it is n_embd / n_head. Files from
  // `nexus convert` store the scale whenever it differs from 1 / sqrt(head_dim).
  const float default_scale = c.n_layer == 62 ? 1.0f / std::sqrt(static_cast<float>(c.n_embd / c.n_head))
                                              : 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  NX_ASSIGN_OR_RETURN(c.attn_scale, optional_float(f, p + "attention.scale", default_scale));
  if (!(c.attn_scale > 0.0f && c.attn_scale < 1e3f))
    return make_error(format("attention.scale = %g: expected a positive number", c.attn_scale));
  NX_ASSIGN_OR_RETURN(c.attn_softcap, optional_float(f, p + "attn_logit_softcapping", 0.0f));
  NX_ASSIGN_OR_RETURN(c.final_softcap, optional_float(f, p + "final_logit_softcapping", 0.0f));
  if (!(c.attn_softcap >= 0.0f) || !(c.final_softcap >= 0.0f))
    return make_error("logit soft-capping values must not be negative");

  NX_ASSIGN_OR_RETURN(c.sliding_window, optional_int(f, p + "attention.sliding_window", 0, 0, 1 << 24));
  NX_TRY(read_local_layers(f, p + "attention.sliding_window_pattern", c));
  // Local layers: their own base (rope_local_base_freq, 10000 in every release), never scaled.
  c.rope_local = c.rope;
  c.rope_local.freq_scale = 1.0f;
  NX_ASSIGN_OR_RETURN(c.rope_local.freq_base, optional_float(f, p + "rope.freq_base_swa", 10000.0f));
  if (!(c.rope_local.freq_base > 1.0f))
    return make_error(format("rope.freq_base_swa = %g: expected > 1", c.rope_local.freq_base));
  return Status::Ok();
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
  } else if (c.arch_name == "gemma3") {
    c.arch = Arch::kGemma3;
  } else {
    return make_error(format("unsupported architecture '%s' (supported: llama, qwen2, qwen3, gemma3)",
                             c.arch_name.c_str()));
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
  if (c.arch == Arch::kGemma3) NX_TRY(read_gemma3(f, p, c));
  return c;
}

}  // namespace nexus
