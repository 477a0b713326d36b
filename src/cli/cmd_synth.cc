// nexus synth --arch A --dim D ... OUT.gguf: writes a random-weight model of any size.
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include "cli/command.h"
#include "model/synthetic.h"
#include "runtime/thread_pool.h"

namespace nexus::cli {
namespace {

struct SynthArgs {
  SynthSpec spec;
  std::string type = "F32";
  std::string out;
  int threads = 0;
};

int run_synth(SynthArgs& a) {
  const auto mix = quant::mix_from_name(a.type);
  if (!mix) return fail(format("unknown --type '%s' (expected one of: %s)", a.type.c_str(), quant::mix_names().c_str()));
  a.spec.mix = *mix;
  ThreadPool pool(a.threads > 0 ? a.threads : default_thread_count());
  const auto t0 = std::chrono::steady_clock::now();
  const Status st = synth_model_file(a.spec, a.out, pool);
  if (!st.ok()) return fail(st.error().message);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::fprintf(stderr, "nexus: wrote %s (%s %s, %d layers, dim %d) in %.1f s\n", a.out.c_str(), a.spec.arch.c_str(),
               std::string(quant::mix_info(*mix).name).c_str(), a.spec.layers, a.spec.dim, secs);
  return 0;
}

NEXUS_COMMAND("synth", "write a random-weight model (for tests and benchmarks)", [](CLI::App& sub) {
  auto a = std::make_shared<SynthArgs>();
  SynthSpec& s = a->spec;
  sub.add_option("output", a->out, "output GGUF file")->required();
  sub.add_option("--arch", s.arch, "architecture: llama, qwen2, qwen3")->capture_default_str();
  sub.add_option("--dim", s.dim, "embedding width")->capture_default_str();
  sub.add_option("--layers", s.layers, "number of transformer blocks")->capture_default_str();
  sub.add_option("--ffn", s.ffn, "feed-forward hidden width")->capture_default_str();
  sub.add_option("--heads", s.heads, "attention (query) heads")->capture_default_str();
  sub.add_option("--kv-heads", s.kv_heads, "key/value heads")->capture_default_str();
  sub.add_option("--head-dim", s.head_dim, "per-head width (default dim / heads)");
  sub.add_option("--vocab", s.vocab, "vocabulary size (>= 259)")->capture_default_str();
  sub.add_option("--ctx", s.ctx, "training context length written to metadata")->capture_default_str();
  sub.add_option("--seed", s.seed, "random seed")->capture_default_str();
  sub.add_option("--name", s.name, "general.name (default synthetic-<arch>)");
  sub.add_option("--type", a->type, "storage type / mix: " + quant::mix_names())->capture_default_str();
  sub.add_option("-t,--threads", a->threads, "worker threads (default: physical cores)");
  return [a] { return run_synth(*a); };
});

}  // namespace
}  // namespace nexus::cli
