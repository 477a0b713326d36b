#include "cli/model_flags.h"

#include <cstdio>

#include "memory/mem_report.h"
#include "memory/size_parse.h"

namespace nexus::cli {

void add_model_flags(CLI::App& app, ModelFlags& f) {
  app.add_option("-m,--model", f.model, "GGUF model file")->required();
  app.add_option("-c,--ctx-size", f.n_ctx, "context size in tokens (0: the model's, at most 4096)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("-t,--threads", f.threads, "threads (0: one per core)")->capture_default_str();
  add_memory_flags(app, f.memory);
}

void add_memory_flags(CLI::App& app, MemoryFlags& m) {
  app.add_option("--mem-budget", m.budget,
                 "memory budget for weights, KV cache and scratch (e.g. 1.5G); weights that do not fit "
                 "are streamed from disk");
  app.add_option("--io-backend", m.io_backend, "reads of streamed weights: auto, io_uring, pread")
      ->capture_default_str();
  app.add_flag("--mlock", m.mlock, "with --mem-budget: lock resident weights and stream buffers in RAM");
  app.add_option("--kv-type", m.kv_type,
                 "KV cache element type: f32 (exact), f16 (half the memory), q8_0 (about a quarter)")
      ->capture_default_str();
  app.add_flag("--no-repack", m.no_repack,
               "keep weights in the file's layout (default: rewrite Q4_K matrices for the faster AVX2 kernel)");
}

Status apply_memory_flags(const MemoryFlags& m, int n_ctx, LoadOptions& load) {
  load.kv_type = m.kv_type;
  load.repack = !m.no_repack;
  if (m.budget.empty()) {
    if (m.mlock) return make_error("--mlock needs --mem-budget");
    return Status::Ok();
  }
  NX_ASSIGN_OR_RETURN(load.mem_budget, parse_size(m.budget));
  load.budget_ctx = n_ctx;
  load.io_backend = m.io_backend;
  load.mlock = m.mlock;
  return Status::Ok();
}

Result<LoadedModel> load_model(const ModelFlags& f) {
  LoadOptions load;
  load.threads = f.threads;
  NX_TRY(apply_memory_flags(f.memory, f.n_ctx, load));
  Result<std::shared_ptr<Model>> model = Model::load(f.model, load);
  if (!model.ok()) return model.error();
  if (f.verbose && load.mem_budget > 0) std::fprintf(stderr, "%s", describe_memory_plan(**model).c_str());
  Result<std::unique_ptr<Session>> session = Session::create(*model, f.n_ctx);
  if (!session.ok()) return make_error(session.error().message);
  return LoadedModel{std::move(*model), std::move(*session)};
}

}  // namespace nexus::cli
