#include "gguf/hf_import.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>

#include "gguf/gguf.h"
#include "gguf/hf_tokenizer.h"
#include "gguf/safetensors.h"
#include "tensor/quants.h"

namespace nexus::hf {
namespace {

using json = nlohmann::json;

// Bounds on config sizes: far above real models, low enough that products cannot overflow.
constexpr int64_t kMaxDim = 1 << 20;

Result<int64_t> get_int(const json& j, const char* key, std::optional<int64_t> def, int64_t lo, int64_t hi) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (def) return *def;
    return make_error(format("config.json: missing integer field '%s'", key));
  }
  if (!it->is_number_integer()) return make_error(format("config.json: field '%s' is not an integer", key));
  const int64_t v = it->is_number_unsigned() && it->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)
                        ? INT64_MAX
                        : it->get<int64_t>();
  if (v < lo || v > hi)
    return make_error(format("config.json: field '%s' = %lld, expected %lld..%lld", key, static_cast<long long>(v),
                             static_cast<long long>(lo), static_cast<long long>(hi)));
  return v;
}

Result<double> get_number(const json& j, const char* key, double def) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return def;
  if (!it->is_number()) return make_error(format("config.json: field '%s' is not a number", key));
  return it->get<double>();
}

// bos_token_id / eos_token_id may be an integer or a list (first one wins) or absent.
int64_t get_token_id(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end()) return -1;
  if (it->is_array() && !it->empty()) it = it->begin();
  if (it->is_number_integer() && it->get<int64_t>() >= 0) return it->get<int64_t>();
  return -1;
}

// The RoPE settings: transformers 4 writes rope_theta + rope_scaling {type|rope_type, factor};
// transformers 5 writes rope_parameters {rope_type, rope_theta, factor}.
Status parse_rope(const json& j, HfConfig& c) {
  const json* scaling = nullptr;
  if (auto it = j.find("rope_parameters"); it != j.end() && it->is_object()) {
    scaling = &*it;
    NX_ASSIGN_OR_RETURN(c.rope_theta, get_number(*it, "rope_theta", 10000.0));
  } else {
    NX_ASSIGN_OR_RETURN(c.rope_theta, get_number(j, "rope_theta", 10000.0));
    if (auto s = j.find("rope_scaling"); s != j.end() && !s->is_null()) {
      if (!s->is_object()) return make_error("config.json: rope_scaling is not an object");
      scaling = &*s;
    }
  }
  if (!(c.rope_theta > 1.0 && std::isfinite(c.rope_theta)))
    return make_error(format("config.json: rope_theta = %g, expected > 1", c.rope_theta));
  if (!scaling) return Status::Ok();
  std::string type = "default";
  for (const char* key : {"rope_type", "type"}) {
    if (auto t = scaling->find(key); t != scaling->end() && t->is_string()) {
      type = t->get<std::string>();
      break;
    }
  }
  if (type == "default") return Status::Ok();
  if (type != "linear")
    return make_error("config.json: RoPE scaling type '" + type + "' is not supported (supported: default, linear)");
  NX_ASSIGN_OR_RETURN(c.rope_linear_factor, get_number(*scaling, "factor", 0.0));
  if (!(c.rope_linear_factor > 0.0 && std::isfinite(c.rope_linear_factor)))
    return make_error("config.json: linear RoPE scaling needs a positive 'factor'");
  return Status::Ok();
}

// A boolean or string field; absent, null or of another type gives `def`.
bool flag(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_boolean() && it->get<bool>();
}
std::string text_field(const json& j, const char* key, const std::string& def) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : def;
}

// Gemma 3's text config: the file itself (Gemma3ForCausalLM) or its text_config
// (Gemma3ForConditionalGeneration), with Gemma3TextConfig's defaults for the fields
// save_pretrained leaves out when they have their default value.
Result<json> gemma3_text_config(const json& j, const std::string& hf_arch) {
  json t = j;
  if (hf_arch == "Gemma3ForConditionalGeneration") {
    auto tc = j.find("text_config");
    if (tc == j.end() || !tc->is_object()) return make_error("config.json: Gemma3ForConditionalGeneration without a text_config object");
    t = *tc;
  }
  const json defaults = {
      {"vocab_size", 262208}, {"hidden_size", 2304}, {"intermediate_size", 9216}, {"num_hidden_layers", 26},
      {"num_attention_heads", 8}, {"num_key_value_heads", 4}, {"head_dim", 256},
      {"max_position_embeddings", 131072}, {"rms_norm_eps", 1e-6}, {"query_pre_attn_scalar", 256},
      {"sliding_window", 4096}, {"bos_token_id", 2}, {"eos_token_id", 1}, {"tie_word_embeddings", true}};
  for (const auto& [key, value] : defaults.items())
    if (!t.contains(key) || t[key].is_null()) t[key] = value;
  return t;
}

// Gemma 3's attention layout: activation, query scale, soft-capping, which layers are local and
// the two RoPE settings (global: theta + optional linear scaling; local: its own theta).
Status parse_gemma3(const json& t, HfConfig& c) {
  const std::string act = text_field(t, "hidden_activation", text_field(t, "hidden_act", "gelu_pytorch_tanh"));
  if (act != "gelu_pytorch_tanh")
    return make_error("config.json: hidden_activation '" + act + "' is not supported (only gelu_pytorch_tanh)");
  if (flag(t, "use_bidirectional_attention"))
    return make_error("config.json: use_bidirectional_attention is not supported");
  if (flag(t, "attention_bias")) return make_error("config.json: attention_bias is not supported for gemma3");
  NX_ASSIGN_OR_RETURN(c.query_pre_attn_scalar, get_number(t, "query_pre_attn_scalar", 256));
  if (!(c.query_pre_attn_scalar > 0 && std::isfinite(c.query_pre_attn_scalar)))
    return make_error(format("config.json: query_pre_attn_scalar = %g, expected > 0", c.query_pre_attn_scalar));
  NX_ASSIGN_OR_RETURN(c.final_softcap, get_number(t, "final_logit_softcapping", 0.0));
  NX_ASSIGN_OR_RETURN(c.attn_softcap, get_number(t, "attn_logit_softcapping", 0.0));
  if (!(c.final_softcap >= 0) || !(c.attn_softcap >= 0)) return make_error("config.json: negative logit soft-capping");
  NX_ASSIGN_OR_RETURN(c.sliding_window, get_int(t, "sliding_window", 4096, 1, 1 << 24));

  // Local layers: layer_types if given, else every layer but each sliding_window_pattern-th.
  std::vector<bool> local(static_cast<size_t>(c.n_layer));
  NX_ASSIGN_OR_RETURN(const int64_t pattern, get_int(t, "sliding_window_pattern", 6, 1, 1 << 16));
  for (int64_t i = 0; i < c.n_layer; ++i) local[i] = (i + 1) % pattern != 0;
  if (auto lt = t.find("layer_types"); lt != t.end() && !lt->is_null()) {
    if (!lt->is_array() || static_cast<int64_t>(lt->size()) != c.n_layer)
      return make_error("config.json: layer_types must list one type per layer");
    for (int64_t i = 0; i < c.n_layer; ++i) {
      const std::string type = (*lt)[i].is_string() ? (*lt)[i].get<std::string>() : "";
      if (type != "sliding_attention" && type != "full_attention")
        return make_error("config.json: layer_types[" + std::to_string(i) + "] = '" + type +
                          "', expected sliding_attention or full_attention");
      local[i] = type == "sliding_attention";
    }
  }
  // GGUF records the pattern as a period: find the one that reproduces `local`.
  for (int64_t p = 1; p <= c.n_layer + 1 && c.swa_period == 0; ++p) {
    bool same = true;
    for (int64_t i = 0; i < c.n_layer; ++i) same = same && local[i] == ((i + 1) % p != 0);
    if (same) c.swa_period = p;
  }
  if (c.swa_period == 0) return make_error("config.json: layer_types is not periodic (global every P-th layer): unsupported");

  // transformers 5: rope_parameters {full_attention: {...}, sliding_attention: {...}};
  // transformers 4: rope_theta + rope_scaling (global layers), rope_local_base_freq.
  const json* local_rope = nullptr;
  if (auto rp = t.find("rope_parameters"); rp != t.end() && rp->is_object() && rp->contains("full_attention")) {
    NX_TRY(parse_rope(json{{"rope_parameters", (*rp)["full_attention"]}}, c));
    if (auto s = rp->find("sliding_attention"); s != rp->end() && s->is_object()) local_rope = &*s;
  } else {
    json g = t;
    if (!g.contains("rope_theta") || g["rope_theta"].is_null()) g["rope_theta"] = 1000000.0;
    NX_TRY(parse_rope(g, c));
    NX_ASSIGN_OR_RETURN(c.rope_local_theta, get_number(t, "rope_local_base_freq", 10000.0));
  }
  if (local_rope) {
    NX_ASSIGN_OR_RETURN(c.rope_local_theta, get_number(*local_rope, "rope_theta", 10000.0));
    const std::string type = text_field(*local_rope, "rope_type", "default");
    if (type != "default") return make_error("config.json: RoPE scaling of the sliding-window layers ('" + type + "') is not supported");
  }
  if (!(c.rope_local_theta > 1.0 && std::isfinite(c.rope_local_theta)))
    return make_error(format("config.json: local RoPE theta = %g, expected > 1", c.rope_local_theta));
  return Status::Ok();
}

}  // namespace

std::optional<std::string> read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Result<HfConfig> parse_config(std::string_view text) {
  json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return make_error("config.json: not a valid JSON object");
  try {
    HfConfig c;
    auto archs = j.find("architectures");
    if (archs != j.end() && archs->is_array() && !archs->empty() && (*archs)[0].is_string())
      c.hf_arch = (*archs)[0].get<std::string>();
    if (c.hf_arch == "LlamaForCausalLM" || c.hf_arch == "MistralForCausalLM") {
      c.arch = Arch::kLlama;
      c.gguf_arch = "llama";
    } else if (c.hf_arch == "Qwen2ForCausalLM") {
      c.arch = Arch::kQwen2;
      c.gguf_arch = "qwen2";
    } else if (c.hf_arch == "Qwen3ForCausalLM") {
      c.arch = Arch::kQwen3;
      c.gguf_arch = "qwen3";
    } else if (c.hf_arch == "Gemma3ForCausalLM" || c.hf_arch == "Gemma3ForConditionalGeneration") {
      c.arch = Arch::kGemma3;
      c.gguf_arch = "gemma3";
    } else {
      return make_error("config.json: architecture '" + (c.hf_arch.empty() ? "(none)" : c.hf_arch) +
                        "' is not supported (supported: LlamaForCausalLM, MistralForCausalLM, "
                        "Qwen2ForCausalLM, Qwen3ForCausalLM, Gemma3ForCausalLM, Gemma3ForConditionalGeneration)");
    }
    // The fields of the language model: the whole file, or Gemma 3's text_config with its defaults.
    json t = j;
    if (c.arch == Arch::kGemma3) {
      NX_ASSIGN_OR_RETURN(t, gemma3_text_config(j, c.hf_arch));
    }
    if (c.arch != Arch::kGemma3) {
      if (auto act = t.find("hidden_act"); act != t.end() && act->is_string() && *act != "silu")
        return make_error("config.json: hidden_act '" + act->get<std::string>() + "' is not supported (only silu)");
    }

    NX_ASSIGN_OR_RETURN(c.vocab_size, get_int(t, "vocab_size", std::nullopt, 1, 1 << 24));
    NX_ASSIGN_OR_RETURN(c.hidden_size, get_int(t, "hidden_size", std::nullopt, 1, kMaxDim));
    NX_ASSIGN_OR_RETURN(c.n_layer, get_int(t, "num_hidden_layers", std::nullopt, 1, 4096));
    NX_ASSIGN_OR_RETURN(c.n_head, get_int(t, "num_attention_heads", std::nullopt, 1, 4096));
    NX_ASSIGN_OR_RETURN(c.n_head_kv, get_int(t, "num_key_value_heads", c.n_head, 1, c.n_head));
    if (c.n_head % c.n_head_kv != 0)
      return make_error(format("config.json: num_attention_heads %lld is not a multiple of num_key_value_heads %lld",
                               static_cast<long long>(c.n_head), static_cast<long long>(c.n_head_kv)));
    NX_ASSIGN_OR_RETURN(c.n_ff, get_int(t, "intermediate_size", std::nullopt, 1, kMaxDim));
    NX_ASSIGN_OR_RETURN(c.n_ctx_train, get_int(t, "max_position_embeddings", 2048, 1, 1 << 24));
    c.head_dim_explicit = t.contains("head_dim") && !t["head_dim"].is_null();
    if (!c.head_dim_explicit && c.hidden_size % c.n_head != 0)
      return make_error("config.json: hidden_size is not a multiple of num_attention_heads and no head_dim is given");
    NX_ASSIGN_OR_RETURN(c.head_dim, get_int(t, "head_dim", c.hidden_size / c.n_head, 2, 1 << 16));
    if (c.head_dim % 2 != 0) return make_error(format("config.json: head_dim %lld is odd", static_cast<long long>(c.head_dim)));
    NX_ASSIGN_OR_RETURN(c.rms_eps, get_number(t, "rms_norm_eps", 1e-6));
    if (!(c.rms_eps > 0.0 && c.rms_eps < 1.0)) return make_error(format("config.json: rms_norm_eps = %g", c.rms_eps));
    if (c.arch == Arch::kGemma3) {
      NX_TRY(parse_gemma3(t, c));
    } else {
      NX_TRY(parse_rope(t, c));
    }
    // Gemma3ForConditionalGeneration keeps tie_word_embeddings at the top level, which wins.
    for (const json* src : {&t, &j})
      if (auto tie = src->find("tie_word_embeddings"); tie != src->end() && tie->is_boolean())
        c.tie_word_embeddings = tie->get<bool>();
    c.bos_id = get_token_id(t, "bos_token_id");
    c.eos_id = get_token_id(t, "eos_token_id");
    if (c.bos_id < 0) c.bos_id = get_token_id(j, "bos_token_id");
    if (c.eos_id < 0) c.eos_id = get_token_id(j, "eos_token_id");
    if (auto sw = t.find("sliding_window"); c.arch != Arch::kGemma3 && sw != t.end() && sw->is_number_integer() &&
                                            sw->get<int64_t>() < c.n_ctx_train &&
                                            t.value("use_sliding_window", c.hf_arch == "MistralForCausalLM"))
      c.notes.push_back(format("sliding_window %lld is ignored: attention is full over the context",
                               static_cast<long long>(sw->get<int64_t>())));
    return c;
  } catch (const std::exception& e) {
    return make_error(std::string("config.json: ") + e.what());
  }
}

void permute_rope_rows_to_interleaved(float* data, int64_t rows, int64_t cols, int64_t head_dim) {
  NX_CHECK(head_dim % 2 == 0 && rows % head_dim == 0, "rows %lld, head_dim %lld", static_cast<long long>(rows),
           static_cast<long long>(head_dim));
  const int64_t half = head_dim / 2;
  std::vector<float> head(static_cast<size_t>(head_dim * cols));
  for (int64_t h = 0; h < rows / head_dim; ++h) {
    float* base = data + h * head_dim * cols;
    std::memcpy(head.data(), base, head.size() * sizeof(float));
    for (int64_t i = 0; i < half; ++i) {
      std::memcpy(base + (2 * i) * cols, head.data() + i * cols, cols * sizeof(float));
      std::memcpy(base + (2 * i + 1) * cols, head.data() + (i + half) * cols, cols * sizeof(float));
    }
  }
}

namespace {

// One GGUF tensor to produce from one HF tensor.
struct TensorPlan {
  std::string hf_name;
  std::string gguf_name;
  std::vector<int64_t> shape;  // expected HF shape (outermost first)
  bool rope_permute = false;   // llama Q/K (weights and biases)
  bool add_one = false;        // Gemma RMSNorm gains: HF computes x * (1 + w), GGUF stores 1 + w
};

// Where the language model's tensors live in the checkpoint: "model." in a causal LM; inside a
// Gemma3ForConditionalGeneration "model.language_model." (transformers >= 4.52) or
// "language_model.model." (older saves, with the head at "language_model.lm_head.weight").
struct TextNames {
  std::string model = "model.";  // prefix of embed_tokens, layers.N and norm
  std::string lm_head = "lm_head.weight";
};

TextNames text_names(const safetensors::Checkpoint& ckpt) {
  TextNames n;
  if (ckpt.find("model.language_model.embed_tokens.weight")) {
    n.model = "model.language_model.";
  } else if (ckpt.find("language_model.model.embed_tokens.weight")) {
    n.model = "language_model.model.";
    n.lm_head = "language_model.lm_head.weight";
  }
  return n;
}

std::vector<TensorPlan> plan_tensors(const HfConfig& c, const safetensors::Checkpoint& ckpt, const TextNames& names,
                                     std::vector<std::string>* notes) {
  std::vector<TensorPlan> p;
  const int64_t E = c.hidden_size, V = c.vocab_size, F = c.n_ff, D = c.head_dim;
  const int64_t Q = c.n_head * D, KV = c.n_head_kv * D;
  const bool llama = c.arch == Arch::kLlama;
  const bool gemma = c.arch == Arch::kGemma3;
  const std::string m = names.model;
  const bool has_embed = ckpt.find(m + "embed_tokens.weight") != nullptr;
  const bool has_head = ckpt.find(names.lm_head) != nullptr;
  // token_embd: the embedding, or (tied checkpoints that store only the head) lm_head.
  if (has_embed || !has_head) {
    p.push_back({m + "embed_tokens.weight", "token_embd.weight", {V, E}});
  } else {
    p.push_back({names.lm_head, "token_embd.weight", {V, E}});
    notes->push_back(m + "embed_tokens.weight is absent: " + names.lm_head + " is written as token_embd.weight (tied)");
  }
  for (int64_t l = 0; l < c.n_layer; ++l) {
    const std::string h = m + format("layers.%lld.", static_cast<long long>(l));
    const std::string g = format("blk.%lld.", static_cast<long long>(l));
    p.push_back({h + "input_layernorm.weight", g + "attn_norm.weight", {E}, false, gemma});
    p.push_back({h + "self_attn.q_proj.weight", g + "attn_q.weight", {Q, E}, llama});
    p.push_back({h + "self_attn.k_proj.weight", g + "attn_k.weight", {KV, E}, llama});
    p.push_back({h + "self_attn.v_proj.weight", g + "attn_v.weight", {KV, E}});
    p.push_back({h + "self_attn.o_proj.weight", g + "attn_output.weight", {E, Q}});
    // Biases: required for qwen2, carried along when a llama checkpoint has them.
    if (c.arch == Arch::kQwen2 || (!gemma && ckpt.find(h + "self_attn.q_proj.bias"))) {
      p.push_back({h + "self_attn.q_proj.bias", g + "attn_q.bias", {Q}, llama});
      p.push_back({h + "self_attn.k_proj.bias", g + "attn_k.bias", {KV}, llama});
      p.push_back({h + "self_attn.v_proj.bias", g + "attn_v.bias", {KV}});
    }
    if (!gemma && ckpt.find(h + "self_attn.o_proj.bias"))
      p.push_back({h + "self_attn.o_proj.bias", g + "attn_output.bias", {E}});
    switch (c.arch) {
      case Arch::kLlama:
      case Arch::kQwen2:
        p.push_back({h + "post_attention_layernorm.weight", g + "ffn_norm.weight", {E}});
        break;
      case Arch::kQwen3:
        p.push_back({h + "self_attn.q_norm.weight", g + "attn_q_norm.weight", {D}});
        p.push_back({h + "self_attn.k_norm.weight", g + "attn_k_norm.weight", {D}});
        p.push_back({h + "post_attention_layernorm.weight", g + "ffn_norm.weight", {E}});
        break;
      case Arch::kGemma3:
        // Gemma's post_attention_layernorm normalises the attention output; the norm before
        // the feed-forward is pre_feedforward_layernorm.
        p.push_back({h + "self_attn.q_norm.weight", g + "attn_q_norm.weight", {D}, false, true});
        p.push_back({h + "self_attn.k_norm.weight", g + "attn_k_norm.weight", {D}, false, true});
        p.push_back({h + "post_attention_layernorm.weight", g + "post_attention_norm.weight", {E}, false, true});
        p.push_back({h + "pre_feedforward_layernorm.weight", g + "ffn_norm.weight", {E}, false, true});
        p.push_back({h + "post_feedforward_layernorm.weight", g + "post_ffw_norm.weight", {E}, false, true});
        break;
    }
    p.push_back({h + "mlp.gate_proj.weight", g + "ffn_gate.weight", {F, E}});
    p.push_back({h + "mlp.up_proj.weight", g + "ffn_up.weight", {F, E}});
    p.push_back({h + "mlp.down_proj.weight", g + "ffn_down.weight", {E, F}});
  }
  p.push_back({m + "norm.weight", "output_norm.weight", {E}, false, gemma});
  // A tied model reuses token_embd for the output projection: no output.weight.
  if (!c.tie_word_embeddings) p.push_back({names.lm_head, "output.weight", {V, E}});
  return p;
}

// The Gemma 3 keys beyond the common ones. The ecosystem's converter writes only
// attention.sliding_window (its loader assumes the rest); the other keys are written so that
// configurations differing from the released models (e.g. the tiny golden ones) load correctly.
void write_gemma3_keys(const HfConfig& c, gguf::Writer& w) {
  const std::string a = c.gguf_arch + ".";
  w.set_u32(a + "attention.sliding_window", static_cast<uint32_t>(c.sliding_window));
  w.set_u32(a + "attention.sliding_window_pattern", static_cast<uint32_t>(c.swa_period));
  w.set_f32(a + "rope.freq_base_swa", static_cast<float>(c.rope_local_theta));
  if (c.query_pre_attn_scalar != static_cast<double>(c.head_dim))
    w.set_f32(a + "attention.scale", static_cast<float>(1.0 / std::sqrt(c.query_pre_attn_scalar)));
  if (c.final_softcap > 0) w.set_f32(a + "final_logit_softcapping", static_cast<float>(c.final_softcap));
  if (c.attn_softcap > 0) w.set_f32(a + "attn_logit_softcapping", static_cast<float>(c.attn_softcap));
}

// Gemma3ForConditionalGeneration's vision tower and projector: not part of the text model.
bool is_vision_tensor(const std::string& name) {
  for (const char* prefix : {"vision_tower.", "multi_modal_projector.", "model.vision_tower.", "model.multi_modal_projector."})
    if (name.rfind(prefix, 0) == 0) return true;
  return false;
}

std::string shape_text(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

// Encodes `x` (rows x cols floats) as `type`. 1-D tensors (norms, biases) stay F32; rows that
// are not whole blocks of `type` fall back to Q8_0 (32-element blocks) or else F16, as small
// models' 128-wide rows cannot hold 256-element k-quant blocks. Returns the type used.
DType encode(const std::vector<float>& x, int64_t rows, int64_t cols, DType type, std::vector<uint8_t>* out) {
  if (rows == 1) type = DType::F32;
  if (cols % dtype_traits(type).block_elems != 0) type = cols % 32 == 0 ? DType::Q8_0 : DType::F16;
  const size_t rb = row_bytes(type, cols);
  out->resize(rb * static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) quantize_row(type, x.data() + r * cols, out->data() + r * rb, cols);
  return type;
}

}  // namespace

Status convert(const std::string& hf_dir, const std::string& out_path, const ConvertOptions& options,
               const LogFn& log_fn) {
  const LogFn log = log_fn ? log_fn : [](const std::string&) {};
  if (!std::filesystem::is_directory(hf_dir)) return make_error("'" + hf_dir + "' is not a directory");
  if (options.type == DType::Q8_1 || options.type == DType::Q8_K || !can_quantize(options.type))
    return make_error("output type " + std::string(dtype_name(options.type)) + " is not supported for weights");
  std::optional<std::string> config_text = read_text_file(hf_dir + "/config.json");
  if (!config_text) return make_error("cannot read '" + hf_dir + "/config.json'");
  NX_ASSIGN_OR_RETURN(HfConfig c, parse_config(*config_text));
  for (const std::string& n : c.notes) log("note: " + n);
  NX_ASSIGN_OR_RETURN(safetensors::Checkpoint ckpt, safetensors::Checkpoint::open_dir(hf_dir));

  const TextNames names = text_names(ckpt);
  const std::string embd_name = names.model + "embed_tokens.weight";
  // The embedding decides the vocabulary size when it disagrees with config.json.
  const safetensors::Tensor* embd = ckpt.find(embd_name);
  if (!embd) embd = ckpt.find(names.lm_head);
  if (!embd) return make_error("checkpoint has neither " + embd_name + " nor " + names.lm_head);
  if (embd->shape.size() == 2 && embd->shape[0] != c.vocab_size && embd->shape[0] > 0) {
    log(format("note: config.json vocab_size %lld, embedding has %lld rows: using the embedding",
               static_cast<long long>(c.vocab_size), static_cast<long long>(embd->shape[0])));
    c.vocab_size = embd->shape[0];
  }

  if (!c.tie_word_embeddings && !ckpt.find(names.lm_head) && ckpt.find(embd_name)) {
    log("note: no " + names.lm_head + " and tie_word_embeddings is not set: treating the embeddings as tied");
    c.tie_word_embeddings = true;
  }

  gguf::Writer w;
  const std::string a = c.gguf_arch + ".";
  w.set_string("general.architecture", c.gguf_arch);
  std::filesystem::path dir_path = std::filesystem::path(hf_dir).lexically_normal();
  if (dir_path.filename().empty()) dir_path = dir_path.parent_path();  // "dir/" -> "dir"
  w.set_string("general.name", dir_path.filename().string());
  w.set_u32(a + "context_length", static_cast<uint32_t>(c.n_ctx_train));
  w.set_u32(a + "embedding_length", static_cast<uint32_t>(c.hidden_size));
  w.set_u32(a + "block_count", static_cast<uint32_t>(c.n_layer));
  w.set_u32(a + "feed_forward_length", static_cast<uint32_t>(c.n_ff));
  w.set_u32(a + "attention.head_count", static_cast<uint32_t>(c.n_head));
  w.set_u32(a + "attention.head_count_kv", static_cast<uint32_t>(c.n_head_kv));
  w.set_f32(a + "attention.layer_norm_rms_epsilon", static_cast<float>(c.rms_eps));
  w.set_f32(a + "rope.freq_base", static_cast<float>(c.rope_theta));
  w.set_u32(a + "rope.dimension_count", static_cast<uint32_t>(c.head_dim));
  if (c.head_dim_explicit) {
    w.set_u32(a + "attention.key_length", static_cast<uint32_t>(c.head_dim));
    w.set_u32(a + "attention.value_length", static_cast<uint32_t>(c.head_dim));
  }
  if (c.rope_linear_factor > 0) {
    w.set_string(a + "rope.scaling.type", "linear");
    w.set_f32(a + "rope.scaling.factor", static_cast<float>(c.rope_linear_factor));
  }
  if (c.arch == Arch::kGemma3) write_gemma3_keys(c, w);

  std::vector<std::string> notes;
  const std::vector<TensorPlan> plan = plan_tensors(c, ckpt, names, &notes);
  for (const std::string& n : notes) log("note: " + n);
  std::set<std::string> used;
  std::vector<uint8_t> bytes;
  int fallbacks = 0;  // 2-D tensors not stored as options.type
  for (const TensorPlan& t : plan) {
    const safetensors::Tensor* src = ckpt.find(t.hf_name);
    if (!src) return make_error("checkpoint is missing tensor '" + t.hf_name + "'");
    if (src->shape != t.shape)
      return make_error("tensor '" + t.hf_name + "': shape " + shape_text(src->shape) + ", expected " +
                        shape_text(t.shape) + " from config.json");
    used.insert(t.hf_name);
    std::vector<float> x = safetensors::to_f32(*src);
    const int64_t cols = t.shape.size() == 2 ? t.shape[1] : t.shape[0];
    const int64_t rows = t.shape.size() == 2 ? t.shape[0] : 1;
    if (t.rope_permute) permute_rope_rows_to_interleaved(x.data(), t.shape[0], t.shape.size() == 2 ? cols : 1, c.head_dim);
    if (t.add_one)  // exact: transformers computes 1 + w in float32 too
      for (float& v : x) v += 1.0f;
    const DType type = encode(x, rows, cols, options.type, &bytes);
    if (rows > 1 && type != options.type) {
      if (fallbacks++ == 0)
        log(format("note: %s: rows of %lld are not whole %s blocks, stored as %s", t.gguf_name.c_str(),
                   static_cast<long long>(cols), std::string(dtype_name(options.type)).c_str(),
                   std::string(dtype_name(type)).c_str()));
    }
    // HF [out, in] row-major is GGUF ne = {in, out}.
    std::vector<int64_t> ne(t.shape.rbegin(), t.shape.rend());
    w.add_tensor(t.gguf_name, type, std::move(ne), bytes.data(), bytes.size());
  }
  if (c.tie_word_embeddings && ckpt.find(names.lm_head)) used.insert(names.lm_head);
  int vision = 0;  // tensors of a multimodal checkpoint's vision tower, left out
  for (const std::string& name : ckpt.names()) {
    if (used.count(name)) continue;
    if (c.arch == Arch::kGemma3 && is_vision_tensor(name)) {
      ++vision;
      continue;
    }
    // Old checkpoints carry the RoPE frequency table as a buffer; it is recomputed at run time.
    if (name.find("rotary_emb.inv_freq") != std::string::npos) continue;
    return make_error("tensor '" + name + "' is not used by the " + c.hf_arch + " mapping (unsupported variant?)");
  }

  if (vision > 0) log(format("note: %d vision tensors left out (text model only)", vision));
  if (fallbacks > 1) log(format("note: %d weight tensors in all fell back to another type", fallbacks));
  NX_TRY(write_tokenizer(hf_dir, c, c.vocab_size, w, log));
  NX_TRY(w.write(out_path));
  log(format("wrote %s: %s, %zu tensors, type %s", out_path.c_str(), c.gguf_arch.c_str(), plan.size(),
             std::string(dtype_name(options.type)).c_str()));
  return Status::Ok();
}

}  // namespace nexus::hf
