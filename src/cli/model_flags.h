// The model options of every command that loads a model and opens a session on it (run,
// chat), declared once (STYLE.md #10), and the loading they lead to.
#pragma once

#include <CLI/CLI.hpp>

#include <memory>
#include <string>

#include "nexus/nexus.h"

namespace nexus::cli {

// --mem-budget and its companions (run, chat, perplexity; bench has its own options).
struct MemoryFlags {
  std::string budget;  // "" = unlimited
  std::string io_backend = "auto";
  bool mlock = false;
  std::string kv_type = "f32";  // LoadOptions::kv_type
  bool no_repack = false;       // LoadOptions::repack = false
};

struct ModelFlags {
  std::string model;  // GGUF path
  int threads = 0;    // 0: one per core
  int n_ctx = 0;      // 0: the model's, at most 4096
  MemoryFlags memory;
  bool verbose = false;           // print the memory plan (set by commands with -v/--verbose)
};

// Adds --mem-budget, --io-backend and --mlock (commands that load a model without
// add_model_flags).
void add_memory_flags(CLI::App& app, MemoryFlags& m);

// Fills the memory fields of `load` from the flags: budget, the context it is planned for.
Status apply_memory_flags(const MemoryFlags& m, int n_ctx, LoadOptions& load);

// Adds -m/--model (required), -c/--ctx-size, -t/--threads and the memory flags to `app`, writing into `f`
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
