#include "quant/quant_mix.h"

#include <array>
#include <cctype>

namespace nexus::quant {
namespace {

constexpr std::array<MixInfo, 15> kMixes = {{
    {Mix::F32, "F32", DType::F32, 0},
    {Mix::F16, "F16", DType::F16, 1},
    {Mix::BF16, "BF16", DType::BF16, 32},
    {Mix::Q4_0, "Q4_0", DType::Q4_0, 2},
    {Mix::Q4_1, "Q4_1", DType::Q4_1, 3},
    {Mix::Q5_0, "Q5_0", DType::Q5_0, 8},
    {Mix::Q5_1, "Q5_1", DType::Q5_1, 9},
    {Mix::Q8_0, "Q8_0", DType::Q8_0, 7},
    {Mix::Q2_K, "Q2_K", DType::Q2_K, 10},
    {Mix::Q3_K_S, "Q3_K_S", DType::Q3_K, 11},
    {Mix::Q4_K_S, "Q4_K_S", DType::Q4_K, 14},
    {Mix::Q4_K_M, "Q4_K_M", DType::Q4_K, 15},
    {Mix::Q5_K_S, "Q5_K_S", DType::Q5_K, 16},
    {Mix::Q5_K_M, "Q5_K_M", DType::Q5_K, 17},
    {Mix::Q6_K, "Q6_K", DType::Q6_K, 18},
}};

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

bool is_quantized(DType t) { return dtype_traits(t).block_elems > 1; }

}  // namespace

const MixInfo& mix_info(Mix m) {
  for (const MixInfo& info : kMixes)
    if (info.mix == m) return info;
  return kMixes[0];
}

std::optional<Mix> mix_from_name(std::string_view name) {
  for (const MixInfo& info : kMixes)
    if (type_name_equals(info.name, name)) return info.mix;
  return std::nullopt;
}

std::string mix_names() {
  std::string s;
  for (const MixInfo& info : kMixes) {
    if (!s.empty()) s += ", ";
    s += info.name;
  }
  return s;
}

int layer_of(std::string_view name) {
  if (name.substr(0, 4) != "blk.") return -1;
  int n = 0;
  size_t i = 4;
  if (i >= name.size() || !std::isdigit(static_cast<unsigned char>(name[i]))) return -1;
  for (; i < name.size() && std::isdigit(static_cast<unsigned char>(name[i])); ++i) {
    n = n * 10 + (name[i] - '0');
    if (n > 1000000) return -1;
  }
  return i < name.size() && name[i] == '.' ? n : -1;
}

ModelLayout layout_from_names(const std::vector<std::string>& names) {
  ModelLayout l;
  for (const std::string& n : names) {
    if (ends_with(n, ".attn_v.weight")) ++l.n_attn_v;
    if (ends_with(n, ".ffn_down.weight")) ++l.n_ffn_down;
    if (n == "output.weight") l.has_output = true;
  }
  return l;
}

bool use_more_bits(int layer, int n_layers) {
  return layer < n_layers / 8 || layer >= 7 * n_layers / 8 || (layer - n_layers / 8) % 3 == 2;
}

DType fallback_type(DType t, int64_t ne0) {
  DType f = t;
  if (dtype_traits(t).block_elems == 256 && ne0 % 256 != 0) {
    switch (t) {
      case DType::Q4_K: f = DType::Q5_0; break;
      case DType::Q5_K: f = DType::Q5_1; break;
      case DType::Q6_K: f = DType::Q8_0; break;
      default: f = DType::Q4_0; break;  // Q2_K, Q3_K
    }
  }
  if (ne0 % dtype_traits(f).block_elems != 0) f = DType::F16;
  return f;
}

TypeChoice choose_type(Mix m, const ModelLayout& layout, std::string_view name, int n_dims, int64_t ne0) {
  TypeChoice c;
  if (n_dims < 2 || !ends_with(name, ".weight")) return c;  // norms, biases: F32
  const MixInfo& info = mix_info(m);
  DType t = info.base;
  if (is_quantized(info.base)) {
    // The output head (or the tied embedding acting as one) is the most sensitive matrix:
    // Q6_K unless the mix is already Q8_0; Q8_0 when its rows do not fit k-quant blocks.
    const bool is_head = name == "output.weight" || (!layout.has_output && name == "token_embd.weight");
    const bool k_mix = dtype_traits(info.base).block_elems == 256;
    if (is_head) {
      t = ne0 % 256 != 0 ? DType::Q8_0 : (info.base == DType::Q8_0 ? DType::Q8_0 : DType::Q6_K);
    } else if (k_mix && ends_with(name, ".attn_v.weight")) {
      const int i = layer_of(name);
      if ((m == Mix::Q4_K_M || m == Mix::Q5_K_M) && use_more_bits(i, layout.n_attn_v)) t = DType::Q6_K;
      else if (m == Mix::Q4_K_S && i < 4) t = DType::Q5_K;
      else if (m == Mix::Q3_K_S || m == Mix::Q2_K) t = DType::Q4_K;
    } else if (k_mix && ends_with(name, ".ffn_down.weight")) {
      const int i = layer_of(name);
      if ((m == Mix::Q4_K_M || m == Mix::Q5_K_M) && use_more_bits(i, layout.n_ffn_down)) t = DType::Q6_K;
      else if (m == Mix::Q4_K_S && i < layout.n_ffn_down / 8) t = DType::Q5_K;
    }
  }
  c.wanted = t;
  c.type = fallback_type(t, ne0);
  c.fallback = c.type != t;
  return c;
}

}  // namespace nexus::quant
