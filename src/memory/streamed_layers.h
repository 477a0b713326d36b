// The LayerSource of a streamed model: each acquire() waits for the layer's streamed matrices
// to land in a ring slot (layer_stream.h) and hands out the layer's weights with those views
// pointing into the slot and every other view into the resident copy. Same bytes, same
// kernels: logits are bit-identical to the fully resident run.
//
// The resident copy lands in the background during the first pass, in stages (the ring's
// start_copy): 0 = model-wide weights a pass starts with, il + 1 = layer il, n_layer + 1 + k =
// the output norm and the head's rows in runs (tiered_weights.cc). Each wait below first waits
// for its stage.
#pragma once

#include <functional>
#include <cstdint>
#include <memory>
#include <vector>

#include "memory/layer_layout.h"
#include "memory/layer_source.h"
#include "memory/layer_stream.h"

namespace nexus {

class StreamedLayers final : public LayerSource {
 public:
  // `layers`: per layer, every view valid except the streamed ones, which `patches` place in
  // the slot the ring fills for that layer.
  // `seal(first, last)` makes stages first..last of the copy read-only, after they have landed
  // and before their weights are first used; every stage is sealed once, in order. As the pass
  // goes rather than once at the end: write-protecting the whole 1.1 GiB copy of B3 took 16-25
  // ms, all of it between the last stage landing and the first token; a stage's share is done
  // while the pass waits for the next stage anyway. Stages that landed together are sealed in
  // one call, so adjacent ones cost one mprotect (tiered_weights.cc).
  // `head_rows[k]`: rows of the output head readable once stage n_layer + 1 + k has landed
  // (increasing; the last is every row).
  StreamedLayers(std::vector<LayerWeights> layers, std::vector<std::vector<SlotPatch>> patches,
                 std::unique_ptr<LayerRing> ring, std::vector<int64_t> head_rows, std::function<void(int first, int last)> seal);

  Status wait_start() override;
  Result<int64_t> wait_output(int64_t rows_done) override;
  Result<const LayerWeights*> acquire(int il) override;
  void release(int il) override;

  LayerRing& ring() { return *ring_; }
  const LayerRing& ring() const { return *ring_; }

 private:
  // Waits for copy stage `stage` and seals every stage up to it not sealed yet.
  Status land(int stage);

  std::vector<LayerWeights> layers_;
  std::vector<std::vector<SlotPatch>> patches_;
  std::unique_ptr<LayerRing> ring_;
  std::vector<int64_t> head_rows_;
  std::function<void(int first, int last)> seal_;
  int sealed_ = -1;  // stages <= sealed_ are read-only
};

}  // namespace nexus
