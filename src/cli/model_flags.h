// The model options of every command that loads a model and opens a session on it (run,
// chat), declared once (STYLE.md #10), and the loading they lead to.
#pragma once

#include <CLI/CLI.hpp>

#include <memory>
#include <string>

#include "nexus/nexus.h"

namespace nexus::cli {

struct ModelFlags {
  std::string model;  // GGUF path
  int threads = 0;    // 0: one per core
  int n_ctx = 0;      // 0: the model's, at most 4096
};

// Adds -m/--model (required), -c/--ctx-size and -t/--threads to `app`, writing into `f`
// (which must outlive the parse).
void add_model_flags(CLI::App& app, ModelFlags& f);

struct LoadedModel {
  std::shared_ptr<Model> model;
  std::unique_ptr<Session> session;
};

// Loads f.model and opens a session of f.n_ctx tokens on it. A load error is prefixed with
// the model path.
Result<LoadedModel> load_model(const ModelFlags& f);

}  // namespace nexus::cli
