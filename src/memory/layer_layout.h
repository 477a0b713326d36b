// Where a layer's tensor views live when the layer is streamed: a LayerWeights field and its
// byte offset in the slot the ring reads the layer's extents into.
#pragma once

#include <cstdint>
#include <span>

#include "model/llama_weights.h"

namespace nexus {

struct SlotPatch {
  TensorView LayerWeights::*field;
  uint64_t slot_offset;
};

// Every TensorView member of LayerWeights, so code can walk a layer's views without naming
// them (a new field only needs adding here).
std::span<TensorView LayerWeights::* const> layer_weight_fields();

}  // namespace nexus
