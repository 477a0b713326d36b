// A model loaded under a memory budget (LoadOptions::mem_budget): plans residency
// (residency_plan.h), copies the resident tensors out of the file into anonymous memory, lets
// the file mapping's pages go (so resident weights are not counted twice: once copied, once
// in the page cache), and streams the rest through a ring of layer slots (LayerSource).
//
// When something streams, the copy is read in the background in the order the first forward
// pass needs it, and that pass waits for each layer's part (StreamedLayers): its compute and
// its stream reads overlap the copy instead of following it.
//
// The budget must leave room for the KV cache, whose size depends on the session's context:
// the plan is made at load for LoadOptions::budget_ctx tokens (0: the model's training context,
// capped at 4096, the same default as Session::create), and Session::create refuses a larger
// context on such a model with an error naming the planned one.
//
// The ring is one per model: forward passes on a streamed model must not run concurrently
// (sessions of one model used from one thread at a time, as the CLI and server loop do).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "gguf/gguf.h"
#include "memory/io_reader.h"
#include "memory/layer_source.h"
#include "memory/layer_stream.h"
#include "memory/residency_plan.h"
#include "model/llama_weights.h"
#include "model/model_config.h"
#include "tensor/dtype.h"

namespace nexus {

struct TieredOptions {
  uint64_t budget = 0;
  int n_ctx = 0;    // context the KV cache is planned for (resolved, > 0)
  int threads = 1;  // compute threads (scratch estimate)
  IoBackendKind backend = IoBackendKind::kAuto;
  int max_slots = 2;
  bool direct = true;
  bool mlock = false;  // lock the resident copy and the ring's slots in RAM
  DType kv_type = DType::F32;  // KV cache element type (kv_type.h)
  // Memory the process will allocate after the plan is made besides what it plans (the
  // tokenizer, built while the resident copy lands): reserved in the process baseline.
  uint64_t pending_bytes = 0;
};

class TieredWeights {
 public:
  // Plans for `o`, reads the resident tensors and re-points `w`'s views at the copies (streamed
  // views keep pointing into the file mapping; only the LayerSource hands out slot views).
  static Result<std::unique_ptr<TieredWeights>> create(const std::string& path, const gguf::File& file,
                                                       const ModelConfig& c, LlamaWeights& w, const TieredOptions& o);
  ~TieredWeights();
  // What create would copy for `o`, planned without reading anything: the resident tensors'
  // file ranges, aligned and merged (resident_extents of the loaded model).
  static Result<std::vector<Extent>> plan_resident_extents(const gguf::File& file, const ModelConfig& c,
                                                           const TieredOptions& o);

  // Null when the whole model fit (nothing is streamed).
  LayerSource* source() { return source_.get(); }
  int planned_ctx() const { return input_.n_ctx; }
  uint64_t budget() const { return input_.budget; }
  const PlanInput& plan_input() const { return input_; }
  const ResidencyPlan& plan() const { return plan_; }
  std::string describe() const;  // plan, I/O backend, load figures

  StreamStats stats() const;
  void reset_stats();
  const LayerRing* ring() const { return ring_; }  // null when nothing streams
  // LayerRing::measure_io_only on the ring; an empty rate when nothing streams.
  Result<IoOnlyRate> measure_io_only(int warmup, int passes);
  // The resident copy: its wall time (0 until it has landed; it lands during the first
  // forward pass when something streams) and bytes read so far.
  double load_read_seconds() const;
  uint64_t resident_bytes_read() const;
  // The file ranges the resident copy reads (aligned, merged).
  const std::vector<Extent>& resident_extents() const { return resident_extents_; }

 private:
  TieredWeights() = default;
  PlanInput input_;
  ResidencyPlan plan_;
  std::vector<Extent> resident_extents_;
  uint8_t* arena_ = nullptr;
  uint64_t arena_bytes_ = 0;
  std::unique_ptr<LayerSource> source_;
  LayerRing* ring_ = nullptr;  // owned by source_; null when nothing streams
  double load_read_s_ = 0;     // when nothing streams (the ring is gone)
  uint64_t resident_read_ = 0;
  std::string backend_;
  bool direct_ = false;
};

}  // namespace nexus
