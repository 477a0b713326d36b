#include "cli/model_flags.h"

namespace nexus::cli {

void add_model_flags(CLI::App& app, ModelFlags& f) {
  app.add_option("-m,--model", f.model, "GGUF model file")->required();
  app.add_option("-c,--ctx-size", f.n_ctx, "context size in tokens (0: the model's, at most 4096)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("-t,--threads", f.threads, "threads (0: one per core)")->capture_default_str();
}

Result<LoadedModel> load_model(const ModelFlags& f) {
  LoadOptions load;
  load.threads = f.threads;
  Result<std::shared_ptr<Model>> model = Model::load(f.model, load);
  if (!model.ok()) return model.error();
  Result<std::unique_ptr<Session>> session = Session::create(*model, f.n_ctx);
  if (!session.ok()) return make_error(session.error().message);
  return LoadedModel{std::move(*model), std::move(*session)};
}

}  // namespace nexus::cli
