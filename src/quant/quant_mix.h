// Quantization mixes ("Q4_K_M", ...): which storage type each tensor of a model gets.
// A mix has a base type for 2-D weights and a few promotion rules for the tensors that
// hurt quality most when squeezed (output head, attention V, FFN down in chosen layers),
// following the recipes GGUF users know, so files made here compare like-for-like.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tensor/dtype.h"

namespace nexus::quant {

enum class Mix { F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K_S, Q4_K_S, Q4_K_M, Q5_K_S, Q5_K_M, Q6_K };

struct MixInfo {
  Mix mix;
  std::string_view name;  // as users type it: "Q4_K_M"
  DType base;             // type of ordinary 2-D weights
  uint32_t file_type;     // value of general.file_type (ggml's llama_ftype numbering)
};

const MixInfo& mix_info(Mix m);
// Case-insensitive; nullopt for unknown names.
std::optional<Mix> mix_from_name(std::string_view name);
// "F32, F16, ..., Q6_K" for help and error messages.
std::string mix_names();

// The facts about a model the rules need, gathered once from its tensor list.
struct ModelLayout {
  int n_attn_v = 0;      // tensors named blk.N.attn_v.weight
  int n_ffn_down = 0;    // tensors named blk.N.ffn_down.weight
  bool has_output = false;  // output.weight present (else the head is tied to token_embd)
};

// Builds the layout from tensor names.
ModelLayout layout_from_names(const std::vector<std::string>& names);

// Layers that get more bits in the _M mixes: the first and last eighth, and every third
// layer in between (counted from the end of the first eighth).
bool use_more_bits(int layer, int n_layers);

struct TypeChoice {
  DType type = DType::F32;   // what to store
  DType wanted = DType::F32; // what the rules asked for before the row-length fallback
  bool fallback = false;     // true when `wanted` does not fit the row length
};

// Type for one tensor. `n_dims` / `ne0` are its rank and row length. Tensors that are not
// 2-D+ weights (norms, biases, anything not named *.weight) are kept in F32.
TypeChoice choose_type(Mix m, const ModelLayout& layout, std::string_view name, int n_dims, int64_t ne0);

// The type used when `t` does not divide rows of length ne0 (k-quants need 256, the
// others 32): Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0, Q2_K/Q3_K -> Q4_0, and F16 when
// even 32 does not divide the row.
DType fallback_type(DType t, int64_t ne0);

// Layer index N of a "blk.N.*" name, or -1.
int layer_of(std::string_view name);

}  // namespace nexus::quant
