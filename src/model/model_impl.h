// What the public Model and Session wrap: the mapped file, the three plain model types and
// the tokenizer (model), the KV cache, run state and thread pool of one sequence (session).
#pragma once

#include <memory>
#include <vector>

#include "gguf/gguf.h"
#include "kv/kv_cache.h"
#include "kv/kv_pool.h"
#include "memory/layer_source.h"
#include "memory/residency_plan.h"
#include "model/interleaved_weights.h"
#include "model/llama_forward.h"
#include "model/llama_weights.h"
#include "model/model_config.h"
#include "nexus/nexus.h"
#include "runtime/thread_pool.h"
#include "tokenizer/tokenizer.h"

namespace nexus {

class TieredWeights;  // memory/tiered_weights.h

// The file ranges a load of `path` under options.mem_budget would copy into memory, planned
// from the file's header alone (no weight is read); empty without a budget. The plan counts
// this process's memory as it is now, as the load does when it plans.
Result<std::vector<Extent>> planned_resident_extents(const std::string& path, const LoadOptions& options);

class ModelImpl {
 public:
  gguf::File file;  // owns the mapping every TensorView points into
  ModelConfig config;
  LlamaWeights weights;
  std::unique_ptr<Tokenizer> tokenizer;
  ModelInfo info;
  int threads = 1;
  DType kv_type = DType::F32;  // KV cache element type (LoadOptions::kv_type)
  // Set when loaded with a memory budget: resident copies and the layer stream. Null otherwise.
  std::shared_ptr<TieredWeights> tiered;
  // Matrices rewritten at load (LoadOptions::repack); `weights` points into it.
  InterleavedWeights interleaved;
  // Where the forward pass gets layer weights; null: weights.layers (all resident).
  LayerSource* layer_source() const;
};

class SessionImpl {
 public:
  // Tokens per forward pass; longer inputs run in chunks of this size.
  static constexpr int kMaxBatch = 512;

  // Positions per KV block of a session's own pool (the server's pool uses the same size).
  static constexpr int kKvBlockTokens = 16;

  SessionImpl(std::shared_ptr<Model> model, int n_ctx);

  std::shared_ptr<Model> model;
  const ModelImpl& m;
  int n_ctx;
  ThreadPool pool;
  KvPool kv_pool;  // exactly the blocks n_ctx positions need, all held by `cache`
  KvCache cache;
  RunState state;
  int n_past = 0;
  std::vector<float> logits;  // n_vocab, or n_tokens * n_vocab after an all_logits eval
};

}  // namespace nexus
