#include "memory/streamed_layers.h"

#include <algorithm>

namespace nexus {

std::span<TensorView LayerWeights::* const> layer_weight_fields() {
  static constexpr TensorView LayerWeights::* kFields[] = {
      &LayerWeights::attn_norm,   &LayerWeights::attn_q,        &LayerWeights::attn_k,
      &LayerWeights::attn_v,      &LayerWeights::attn_output,   &LayerWeights::attn_q_bias,
      &LayerWeights::attn_k_bias, &LayerWeights::attn_v_bias,   &LayerWeights::attn_q_norm,
      &LayerWeights::attn_k_norm, &LayerWeights::post_attention_norm, &LayerWeights::ffn_norm,
      &LayerWeights::post_ffw_norm, &LayerWeights::ffn_gate,    &LayerWeights::ffn_up,
      &LayerWeights::ffn_down,
  };
  return kFields;
}

StreamedLayers::StreamedLayers(std::vector<LayerWeights> layers, std::vector<std::vector<SlotPatch>> patches,
                               std::unique_ptr<LayerRing> ring, std::vector<int64_t> head_rows,
                               std::function<void(int first, int last)> seal)
    : layers_(std::move(layers)),
      patches_(std::move(patches)),
      ring_(std::move(ring)),
      head_rows_(std::move(head_rows)),
      seal_(std::move(seal)) {
  NX_CHECK(layers_.size() == patches_.size(), "%zu layers, %zu patch lists", layers_.size(), patches_.size());
  NX_CHECK(!head_rows_.empty() && std::is_sorted(head_rows_.begin(), head_rows_.end()), "head stages");
}

Status StreamedLayers::land(int stage) {
  if (stage <= sealed_) return Status::Ok();  // landed and sealed in an earlier pass
  NX_TRY(ring_->wait_copy(stage));
  if (seal_) seal_(sealed_ + 1, stage);
  sealed_ = stage;
  return Status::Ok();
}

Status StreamedLayers::wait_start() { return land(0); }

Result<int64_t> StreamedLayers::wait_output(int64_t rows_done) {
  const int first = static_cast<int>(layers_.size()) + 1;  // the head's first stage
  const int last = first + static_cast<int>(head_rows_.size()) - 1;
  if (sealed_ >= last) return head_rows_.back();  // landed in an earlier pass: no lock to take
  // The first stage that adds rows, then every later one that has landed meanwhile.
  int stage = first;
  while (stage < last && head_rows_[stage - first] <= rows_done) ++stage;
  NX_TRY(land(stage));
  const int landed = std::min(last, ring_->copy_stage_done());
  if (landed > stage) NX_TRY(land(landed));
  return head_rows_[std::max(stage, landed) - first];
}

Result<const LayerWeights*> StreamedLayers::acquire(int il) {
  NX_CHECK(il >= 0 && il < static_cast<int>(layers_.size()), "layer %d", il);
  NX_TRY(land(il + 1));
  if (patches_[il].empty()) return &layers_[il];  // fully resident layer
  NX_ASSIGN_OR_RETURN(const uint8_t* slot, ring_->acquire(il));
  LayerWeights& l = layers_[il];
  for (const SlotPatch& p : patches_[il]) (l.*p.field).data = slot + p.slot_offset;
  return &l;
}

void StreamedLayers::release(int il) {
  if (!patches_[il].empty()) ring_->release(il);
}

}  // namespace nexus
