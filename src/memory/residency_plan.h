// Which weights stay in memory and which are read from disk every forward pass, given a
// memory budget (--mem-budget). Pure arithmetic over the file's tensor table: no I/O, so it is
// unit-tested on made-up tables.
//
// The budget covers everything the process keeps: KV cache, scratch, the process's own
// baseline (code, tokenizer, heap), the resident weights, and the ring of layer slots that
// streamed weights are read into. Policy:
//  - pinned: 1-D tensors (norms, biases), rope factors and the output head stay resident
//    (every token reads them; the head is read whole for each token's logits);
//  - on demand: an untied token embedding is left to the file mapping (a token touches one row);
//  - streamable: the per-layer matrices. Each layer streams at most a cap of bytes (the slot
//    size) and keeps the rest resident; the cap is the smallest the budget allows, so the
//    reads are spread evenly over the layers and the disk stays busy through the whole pass
//    (a run of fully resident layers would leave it idle while they compute: the ring reads
//    ahead only as many layers as it has slots). The ring gets as many slots as the budget
//    allows (up to max_slots). What the budget has left then goes to more resident matrices,
//    attention first (K, V, Q, O: the smallest), in an order spread over the model.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "nexus/result.h"

namespace nexus {

// A file range read in one piece, aligned to the direct-I/O block (4096).
struct Extent {
  uint64_t offset = 0;
  uint64_t len = 0;
};

enum class TensorUse {
  kPinned,      // always resident
  kOnDemand,    // neither copied nor streamed: rows are paged in from the mapping when used
  kStreamable,  // a per-layer matrix: resident or streamed, as the budget allows
};

struct PlanTensor {
  std::string name;
  int layer = -1;       // blk.N; -1 for model-wide tensors
  uint64_t offset = 0;  // absolute file offset
  uint64_t nbytes = 0;
  TensorUse use = TensorUse::kPinned;
  int priority = 0;     // streamables: lower is made resident first
};

struct PlanInput {
  std::vector<PlanTensor> tensors;
  int n_layer = 0;
  int n_ctx = 0;                 // for messages
  uint64_t budget = 0;           // bytes
  uint64_t kv_bytes = 0;         // KV cache of n_ctx positions
  uint64_t scratch_bytes = 0;    // run state, logits, matmul activation buffers
  uint64_t baseline_bytes = 0;   // the process without the weights (code, tokenizer, heap)
  uint64_t on_demand_bytes = 0;  // allowance for on-demand pages (embedding rows)
  int max_slots = 2;
  uint64_t align = 4096;
};

struct ResidencyPlan {
  std::vector<bool> resident;              // per input tensor (on-demand ones: false)
  std::vector<std::vector<Extent>> layer_extents;  // per layer: the streamed ranges, merged
  int n_slots = 0;                         // 0 when nothing is streamed
  uint64_t slot_bytes = 0;                 // bytes of one slot (largest layer's extents)
  uint64_t resident_bytes = 0;             // resident tensors, aligned as they are copied
  uint64_t streamed_bytes_per_pass = 0;    // sum of every layer's extents
  uint64_t streamed_tensor_bytes = 0;      // the streamed tensors' exact bytes
  uint64_t fixed_bytes = 0;                // KV + scratch + baseline + on-demand allowance
  uint64_t total_bytes = 0;                // fixed + resident + slots
  uint64_t min_budget = 0;                 // fixed + pinned + one slot of the largest layer
};

// Ranges [offset, offset + len) expanded to `align` and merged where they touch or overlap.
std::vector<Extent> merge_extents(std::vector<Extent> ranges, uint64_t align);

// Plans residency. Error when the budget cannot hold the fixed part, the pinned tensors and one
// slot: the message names the minimum budget for this model and context.
Result<ResidencyPlan> plan_residency(const PlanInput& in);

// Human-readable plan, several lines (printed with --verbose).
std::string describe_plan(const PlanInput& in, const ResidencyPlan& plan);

}  // namespace nexus
