// Keys and values of every past position of one sequence, per layer.
// Layout: k[layer][position][kv_head * head_dim + d] (same for v), F32, sized for n_ctx
// positions at creation so nothing grows during generation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "nexus/result.h"

namespace nexus {

class KvCache {
 public:
  KvCache(int n_layer, int n_ctx, int kv_dim);

  int n_layer() const { return n_layer_; }
  int n_ctx() const { return n_ctx_; }
  int kv_dim() const { return kv_dim_; }  // n_head_kv * head_dim floats per position
  size_t bytes() const { return (k_.size() + v_.size()) * sizeof(float); }

  // Row of `pos` in `layer`: kv_dim floats.
  float* k(int layer, int pos) { return k_.data() + offset(layer, pos); }
  float* v(int layer, int pos) { return v_.data() + offset(layer, pos); }
  const float* k(int layer, int pos) const { return k_.data() + offset(layer, pos); }
  const float* v(int layer, int pos) const { return v_.data() + offset(layer, pos); }

 private:
  size_t offset(int layer, int pos) const {
    NX_DCHECK(layer >= 0 && layer < n_layer_ && pos >= 0 && pos < n_ctx_, "layer %d pos %d", layer, pos);
    return (static_cast<size_t>(layer) * n_ctx_ + pos) * kv_dim_;
  }

  int n_layer_, n_ctx_, kv_dim_;
  std::vector<float> k_, v_;
};

}  // namespace nexus
