// Where the forward pass gets each layer's weights. Resident models hand out views into the
// mapped file; a streamed model (memory/, --mem-budget) hands out views into a ring of layer
// slots whose reads were started ahead of time, and may fail on an I/O error.
#pragma once

#include "model/llama_weights.h"
#include "nexus/result.h"

namespace nexus {

class LayerSource {
 public:
  virtual ~LayerSource() = default;
  // Waits until the model-wide weights a pass starts with (embedding, rope factors) are
  // readable: a streamed model's resident copy may still be landing during the first pass.
  virtual Status wait_start() = 0;
  // Waits until the output norm and more than `rows_done` leading rows of the output head
  // are readable, and returns how many leading rows are (all of them once the head has
  // landed). A streamed model's first pass projects the rows that have landed while the rest
  // are still being read, instead of waiting for the whole head.
  virtual Result<int64_t> wait_output(int64_t rows_done) = 0;
  // Waits until layer `il`'s weights are readable. The views stay valid until release(il).
  // Layers are acquired in order 0..n_layer-1 within one forward pass.
  virtual Result<const LayerWeights*> acquire(int il) = 0;
  // The forward pass is done with layer `il`: its slot may be refilled.
  virtual void release(int il) = 0;
};

}  // namespace nexus
