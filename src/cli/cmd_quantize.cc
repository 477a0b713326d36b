// nexus quantize IN.gguf OUT.gguf TYPE [-t N]: converts a model to a quantization mix.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "cli/command.h"
#include "quant/quantizer.h"
#include "runtime/thread_pool.h"

namespace nexus::cli {
namespace {

struct QuantizeArgs {
  std::string in, out, type;
  int threads = 0;
};

int run_quantize(const QuantizeArgs& a) {
  const auto mix = quant::mix_from_name(a.type);
  if (!mix) return fail(format("unknown quantization type '%s' (expected one of: %s)", a.type.c_str(),
                               quant::mix_names().c_str()));
  if (a.in == a.out) return fail("output path must differ from the input path");
  ThreadPool pool(a.threads > 0 ? a.threads : default_thread_count());

  // One line per tensor on a terminal; nothing when stderr is piped (logs stay clean).
  const bool tty = isatty(STDERR_FILENO);
  quant::QuantizeOptions opts;
  opts.mix = *mix;
  opts.on_tensor = [&](const quant::TensorResult& r) {
    if (!tty) return;
    const int w = static_cast<int>(std::to_string(r.total).size());
    std::fprintf(stderr, "[%*d/%*d] %-36s %-5s -> %s\n", w, r.index, w, r.total, r.name.c_str(),
                 std::string(dtype_name(r.from)).c_str(), std::string(dtype_name(r.to)).c_str());
  };

  const auto t0 = std::chrono::steady_clock::now();
  std::vector<quant::TensorResult> results;
  const Status st = quant::quantize_file(a.in, a.out, opts, pool, &results);
  if (!st.ok()) return fail(st.error().message);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::fprintf(stderr, "nexus: wrote %s (%s, %zu tensors) in %.1f s\n", a.out.c_str(),
               std::string(quant::mix_info(*mix).name).c_str(), results.size(), secs);
  return 0;
}

NEXUS_COMMAND("quantize", "convert a GGUF model to another quantization type", [](CLI::App& sub) {
  auto args = std::make_shared<QuantizeArgs>();
  sub.add_option("input", args->in, "input GGUF model")->required();
  sub.add_option("output", args->out, "output GGUF file")->required();
  sub.add_option("type", args->type, "target type: " + quant::mix_names())->required();
  sub.add_option("-t,--threads", args->threads, "worker threads (default: physical cores)");
  return [args] { return run_quantize(*args); };
});

}  // namespace
}  // namespace nexus::cli
