// nexus perplexity: PPL of a model over a text file, and KL divergence against a saved base.
#include <chrono>
#include <cstdio>

#include "cli/command.h"
#include "cli/model_flags.h"
#include "eval/perplexity.h"
#include "nexus/nexus.h"

namespace nexus::cli {
namespace {

struct PerplexityArgs {
  std::string model;
  int threads = 0;
  MemoryFlags memory;
  eval::PerplexityOptions opt;
};

CommandRun setup_perplexity(CLI::App& sub) {
  auto a = std::make_shared<PerplexityArgs>();
  sub.add_option("-m,--model", a->model, "GGUF model file")->required();
  sub.add_option("-f,--file", a->opt.text_file, "text file to evaluate (optional with --kl-divergence)");
  sub.add_option("-c,--ctx-size", a->opt.n_ctx, "tokens per chunk (default: min(512, training context))")
      ->check(CLI::NonNegativeNumber);
  sub.add_option("--chunks", a->opt.max_chunks, "evaluate at most this many chunks (default: all)");
  sub.add_option("-b,--batch-size", a->opt.n_batch, "tokens per model call within a chunk")
      ->default_val(512)
      ->check(CLI::PositiveNumber);
  sub.add_option("-t,--threads", a->threads, "threads (default: physical cores)")->check(CLI::NonNegativeNumber);
  sub.add_option("--kl-divergence-base", a->opt.kld_base_file,
                 "file of base log-probabilities: written by a plain run, read with --kl-divergence");
  sub.add_flag("--kl-divergence", a->opt.kl_divergence,
               "compare this model against --kl-divergence-base (mean KLD, top-1 agreement, PPL)");
  add_memory_flags(sub, a->memory);
  return [a]() -> int {
    if (!a->opt.kl_divergence && a->opt.text_file.empty()) return fail("perplexity needs a text file (-f FILE)");
    const auto t0 = std::chrono::steady_clock::now();
    LoadOptions lo;
    lo.threads = a->threads;
    // The chunk size is the session context; 0 plans for the model's default context.
    if (Status st = apply_memory_flags(a->memory, a->opt.n_ctx, lo); !st.ok())
      return fail(st.error().message);
    auto model = Model::load(a->model, lo);
    if (!model.ok()) return fail(model.error().message);
    std::fprintf(stderr, "perplexity: loaded '%s' in %.2f s\n", a->model.c_str(),
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    auto r = eval::run_perplexity(*model, a->opt, stdout, stderr);
    if (!r.ok()) return fail(r.error().message);
    return 0;
  };
}

NEXUS_COMMAND("perplexity", "measure perplexity over a text file, or KL divergence against a base model",
              setup_perplexity);

}  // namespace
}  // namespace nexus::cli
