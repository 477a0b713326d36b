// Model: loading a GGUF file into the config, weights and tokenizer of a Llama-family model.
#include <algorithm>
#include <utility>

#include "kv/kv_type.h"
#include "memory/io_reader.h"
#include "memory/tiered_weights.h"
#include "model/model_impl.h"

namespace nexus {

Model::Model(std::unique_ptr<ModelImpl> impl) : impl_(std::move(impl)) {}

LayerSource* ModelImpl::layer_source() const { return tiered ? tiered->source() : nullptr; }
Model::~Model() = default;

namespace {

// The plan's options for a load under options.mem_budget.
Result<TieredOptions> tiered_options(const gguf::File& file, const ModelConfig& c, const LoadOptions& options,
                                     int threads, DType kv_type) {
  TieredOptions t;
  t.budget = options.mem_budget;
  t.n_ctx = options.budget_ctx > 0 ? options.budget_ctx : std::min(c.n_ctx_train > 0 ? c.n_ctx_train : 4096, 4096);
  t.threads = threads;
  if (options.stream_slots > 0) t.max_slots = options.stream_slots;
  t.mlock = options.mlock;
  t.kv_type = kv_type;
  t.pending_bytes = Tokenizer::memory_bound(file);
  NX_ASSIGN_OR_RETURN(t.backend, parse_io_backend(options.io_backend));
  return t;
}

// Errors found after the file opened name it once, as gguf::File::open's own errors do.
Result<std::unique_ptr<ModelImpl>> load_impl(const std::string& path, const LoadOptions& options) {
  auto impl = std::make_unique<ModelImpl>();
  NX_ASSIGN_OR_RETURN(impl->file, gguf::File::open(path));
  NX_ASSIGN_OR_RETURN(impl->config, read_model_config(impl->file));
  NX_ASSIGN_OR_RETURN(impl->weights, load_llama_weights(impl->file, impl->config));
  const ModelConfig& c = impl->config;
  impl->threads = options.threads > 0 ? options.threads : default_thread_count();
  NX_ASSIGN_OR_RETURN(impl->kv_type, parse_kv_type(options.kv_type));
  NX_TRY(check_kv_type(impl->kv_type, c.head_dim));
  // Under a budget the resident copy starts here and lands while the tokenizer is built (and
  // during the first forward pass): the plan reserves the tokenizer's memory up front.
  if (options.mem_budget > 0) {
    NX_ASSIGN_OR_RETURN(const TieredOptions t, tiered_options(impl->file, c, options, impl->threads, impl->kv_type));
    NX_ASSIGN_OR_RETURN(impl->tiered, TieredWeights::create(path, impl->file, c, impl->weights, t));
  } else if (options.repack) {
    NX_ASSIGN_OR_RETURN(impl->interleaved, interleave_weights(impl->weights, impl->threads));
  }
  NX_ASSIGN_OR_RETURN(impl->tokenizer, Tokenizer::from_gguf(impl->file));
  if (impl->tokenizer->vocab_size() > impl->config.n_vocab)
    return make_error(format("tokenizer has %d tokens but token_embd.weight only %d rows",
                             impl->tokenizer->vocab_size(), impl->config.n_vocab));
  return impl;
}

}  // namespace

Result<std::vector<Extent>> planned_resident_extents(const std::string& path, const LoadOptions& options) {
  if (options.mem_budget == 0) return std::vector<Extent>{};
  NX_ASSIGN_OR_RETURN(const gguf::File file, gguf::File::open(path));
  NX_ASSIGN_OR_RETURN(const ModelConfig c, read_model_config(file));
  NX_ASSIGN_OR_RETURN(const DType kv_type, parse_kv_type(options.kv_type));
  const int threads = options.threads > 0 ? options.threads : default_thread_count();
  NX_ASSIGN_OR_RETURN(const TieredOptions t, tiered_options(file, c, options, threads, kv_type));
  return TieredWeights::plan_resident_extents(file, c, t);
}

Result<std::shared_ptr<Model>> Model::load(const std::string& path, const LoadOptions& options) {
  Result<std::unique_ptr<ModelImpl>> loaded = load_impl(path, options);
  if (!loaded.ok()) {
    const std::string& message = loaded.error().message;
    if (message.find("'" + path + "'") != std::string::npos) return loaded.error();
    return make_error(message + " (in '" + path + "')");
  }
  std::unique_ptr<ModelImpl> impl = std::move(loaded).value();
  const ModelConfig& c = impl->config;
  ModelInfo& info = impl->info;
  info.arch = c.arch_name;
  info.name = c.name;
  info.n_vocab = c.n_vocab;
  info.n_ctx_train = c.n_ctx_train;
  info.n_embd = c.n_embd;
  info.n_layer = c.n_layer;
  info.n_head = c.n_head;
  info.n_head_kv = c.n_head_kv;
  info.n_ff = c.n_ff;
  for (const gguf::TensorInfo& t : impl->file.tensors()) {
    info.n_params += static_cast<uint64_t>(t.ne[0] * t.ne[1] * t.ne[2] * t.ne[3]);
    info.weight_bytes += t.nbytes;
  }
  return std::shared_ptr<Model>(new Model(std::move(impl)));
}

const ModelInfo& Model::info() const { return impl_->info; }

std::vector<int32_t> Model::tokenize(std::string_view text, bool add_bos, bool parse_special) const {
  return impl_->tokenizer->encode(text, add_bos, parse_special);
}

std::string Model::token_to_piece(int32_t id) const { return impl_->tokenizer->decode_token(id); }
int32_t Model::bos() const { return impl_->tokenizer->bos(); }
int32_t Model::eos() const { return impl_->tokenizer->eos(); }
bool Model::is_end_of_generation(int32_t id) const { return impl_->tokenizer->is_end_of_generation(id); }

}  // namespace nexus
