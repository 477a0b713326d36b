// nexus bench: prompt-processing and generation throughput, with the memory roofline.
#include <cstdio>

#include "cli/command.h"
#include "eval/bench.h"
#include "memory/size_parse.h"
#include "eval/serve_bench.h"

namespace nexus::cli {
namespace {

CommandRun setup_bench(CLI::App& sub) {
  auto o = std::make_shared<eval::BenchOptions>();
  auto bw_mib = std::make_shared<int>(1024);
  sub.add_option("-m,--model", o->model_path, "GGUF model file")->required();
  sub.add_option("-t,--threads", o->threads, "thread counts, comma separated (default: physical cores)")
      ->delimiter(',');
  sub.add_option("-p,--n-prompt", o->n_prompt, "prompt sizes for pp tests, comma separated (0 = none)")
      ->delimiter(',')
      ->default_str("512");
  sub.add_option("-n,--n-gen", o->n_gen, "token counts for tg tests, comma separated (0 = none)")
      ->delimiter(',')
      ->default_str("128");
  sub.add_option("-d,--depth", o->depths, "context depth filled before each test, comma separated")
      ->delimiter(',')
      ->default_str("0");
  sub.add_option("-r,--repetitions", o->reps, "repetitions of each test")->default_val(3);
  sub.add_option("--bw-mib", *bw_mib, "buffer for the memory bandwidth test in MiB (0 = skip)")
      ->default_val(1024)
      ->check(CLI::Range(0, 65536));
  sub.add_flag("--json", o->json, "one JSON object per line per test");
  auto budget = std::make_shared<std::string>();
  sub.add_option("--mem-budget", *budget,
                 "memory budget (e.g. 1.5G): stream what does not fit; reports disk bandwidth and the streaming roofline");
  sub.add_option("-c,--ctx-size", o->n_ctx, "session context (default: depth + largest test)")
      ->check(CLI::NonNegativeNumber);
  sub.add_option("--io-backend", o->io_backend, "reads of streamed weights: auto, io_uring, pread")
      ->capture_default_str();
  sub.add_option("--stream-slots", o->stream_slots, "most layer slots in the streaming ring (0: default)")
      ->check(CLI::Range(0, 64));
  sub.add_option("--kv-type", o->kv_type, "KV cache element type: f32, f16, q8_0")->capture_default_str();
  auto no_repack = std::make_shared<bool>(false);
  sub.add_flag("--no-repack", *no_repack, "keep weights in the file's layout (LoadOptions::repack)");
  sub.add_flag("--resident-read-only", o->resident_read_only,
               "with --mem-budget: instead of loading and testing, time reading the part the load would keep "
               "resident alone into fresh memory");
  auto serve = std::make_shared<eval::ServeBenchOptions>();
  sub.add_option("--parallel", serve->parallel,
                 "stream counts for a continuous-batching decode test, comma separated (e.g. 1,8); "
                 "replaces the pp/tg tests")
      ->delimiter(',');
  sub.add_option("--prefix-reuse", serve->prefix_tokens,
                 "time to first token of two requests sharing a system prompt of this many tokens; "
                 "replaces the pp/tg tests")
      ->check(CLI::Range(1, 1 << 20));
  return [o, bw_mib, budget, serve, no_repack]() -> int {
    o->repack = !*no_repack;
    if (!serve->parallel.empty() || serve->prefix_tokens > 0) {
      serve->model_path = o->model_path;
      serve->threads = o->threads.empty() ? 0 : o->threads.front();
      if (!o->n_gen.empty()) serve->n_gen = o->n_gen.front();
      serve->json = o->json;
      serve->kv_type = o->kv_type;
      serve->repack = o->repack;
      for (int p : serve->parallel)
        if (p < 1 || p > 256) return fail(format("--parallel %d: expected 1..256", p));
      Status s = eval::run_serve_bench(*serve, stdout, stderr);
      if (!s.ok()) return fail(s.error().message);
      return 0;
    }
    if (!budget->empty()) {
      Result<uint64_t> b = parse_size(*budget);
      if (!b.ok()) return fail(b.error().message);
      o->mem_budget = *b;
    }
    if (o->n_prompt.empty()) o->n_prompt = {512};
    if (o->n_gen.empty()) o->n_gen = {128};
    if (o->depths.empty()) o->depths = {0};
    o->bandwidth_bytes = static_cast<size_t>(*bw_mib) << 20;
    Status s = eval::run_bench(*o, stdout, stderr);
    if (!s.ok()) return fail(s.error().message);
    return 0;
  };
}

NEXUS_COMMAND("bench", "measure prompt and generation throughput (tokens/s) and the memory roofline", setup_bench);

}  // namespace
}  // namespace nexus::cli
