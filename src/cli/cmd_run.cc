// `nexus run`: generate a completion of a prompt. Prints only the completion on stdout,
// streamed as it is produced; load and speed figures go to stderr.
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include "cli/command.h"
#include "cli/model_flags.h"
#include "cli/sampling_flags.h"
#include "memory/mem_report.h"
#include "nexus/nexus.h"

namespace nexus::cli {

namespace {

struct RunArgs {
  ModelFlags model;
  std::string prompt;
  int n_predict = -1;
  bool no_bos = false;
  std::vector<std::string> stop;
  SamplingParams sampling;
};

int run(const RunArgs& a) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point t0 = Clock::now();
  Result<LoadedModel> loaded = load_model(a.model);
  if (!loaded.ok()) return fail(loaded.error().message);
  const double load_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();

  GenerateOptions opts;
  opts.max_tokens = a.n_predict;
  opts.sampling = a.sampling;
  opts.stop = a.stop;
  opts.add_bos = !a.no_bos;
  GenerateStats stats;
  Result<std::string> text = generate(*loaded->session, a.prompt, opts,
                                      [](std::string_view piece) {
                                        std::fwrite(piece.data(), 1, piece.size(), stdout);
                                        std::fflush(stdout);
                                        return true;
                                      },
                                      &stats);
  if (!text.ok()) return fail(text.error().message);
  std::fputc('\n', stdout);
  std::fflush(stdout);

  auto rate = [](int n, double s) { return s > 0 ? n / s : 0.0; };
  std::fprintf(stderr, "load: %.1f ms, seed: %llu\n", load_ms, static_cast<unsigned long long>(stats.seed));
  std::fprintf(stderr, "prompt: %d tokens, %.1f ms, %.2f tokens/s\n", stats.prompt_tokens,
               stats.prompt_seconds * 1e3, rate(stats.prompt_tokens, stats.prompt_seconds));
  std::fprintf(stderr, "generated: %d tokens, %.1f ms, %.2f tokens/s (%s)\n", stats.generated_tokens,
               stats.generate_seconds * 1e3, rate(stats.generated_tokens, stats.generate_seconds),
               stats.finish_reason.c_str());
  if (a.model.verbose || !a.model.memory.budget.empty())
    std::fprintf(stderr, "%s", format_memory_report(memory_report(*loaded->model, a.model.model)).c_str());
  return 0;
}

CommandRun setup(CLI::App& sub) {
  auto a = std::make_shared<RunArgs>();
  add_model_flags(sub, a->model);
  sub.add_option("-p,--prompt", a->prompt, "prompt text")->required();
  sub.add_option("-n,--n-predict", a->n_predict, "tokens to generate (-1: until end of generation or full context)")
      ->capture_default_str();
  add_sampling_flags(sub, a->sampling);
  sub.add_option("--stop", a->stop, "stop string (repeatable; not printed)");
  sub.add_flag("--no-bos", a->no_bos, "do not add the BOS token");
  sub.add_flag("-v,--verbose", a->model.verbose, "memory plan and memory/stream figures on stderr");
  return [a] { return run(*a); };
}

}  // namespace

NEXUS_COMMAND("run", "generate a completion of a prompt", setup);

}  // namespace nexus::cli
