// `nexus bench`: prompt-processing (pp) and text-generation (tg) throughput, plus the
// sustained memory read bandwidth of this machine, so decode speed can be reported as a
// fraction of its memory roofline (decode reads every weight once per token).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <vector>

#include "nexus/result.h"

namespace nexus::eval {

struct MeanStd {
  double mean = 0;
  double stddev = 0;  // sample standard deviation (n - 1); 0 for one sample
};
MeanStd mean_stddev(std::span<const double> samples);

// Sum of the 64-bit words of `words` (wrapping). The streaming kernel of the bandwidth test:
// a plain loop with independent accumulators, which -O3 vectorises with the baseline ISA —
// enough to saturate memory, which is the point.
uint64_t sum_u64(std::span<const uint64_t> words);

// Sustained read bandwidth in bytes/s: `threads` threads stream over disjoint slices of a
// `bytes`-sized buffer (make it far larger than the last-level cache); best of `passes`.
double measure_read_bandwidth(int threads, size_t bytes, int passes);

// What a GGUF model's weights cost per decoded token.
struct WeightTraffic {
  uint64_t file_tensor_bytes = 0;  // all tensors as stored
  uint64_t bytes_per_token = 0;    // all tensors but token_embd, plus one embedding row
                                   // (all of token_embd when it doubles as the output matrix)
  std::string main_type;           // the dtype holding most bytes ("Q4_0", "F32", ...)
};
Result<WeightTraffic> weight_traffic(const std::string& gguf_path);

struct BenchOptions {
  std::string model_path;
  std::vector<int> threads;          // empty: default_thread_count()
  std::vector<int> n_prompt{512};    // pp test sizes (0 = skip)
  std::vector<int> n_gen{128};       // tg test sizes (0 = skip)
  std::vector<int> depths{0};        // context filled before each test
  int reps = 3;
  size_t bandwidth_bytes = size_t{1} << 30;  // 0: skip the bandwidth test
  bool json = false;
  uint64_t seed = 1234;  // for the random token ids
  // Memory budget (LoadOptions::mem_budget; 0 = unlimited). With a budget the bench also
  // measures the disk's sequential O_DIRECT read bandwidth on the model file and reports the
  // streaming roofline (tokens/s x streamed bytes per token / that bandwidth), the streamed
  // bytes per token, time to first token and peak RSS + the file's cached pages. The memory
  // bandwidth test is skipped then (its buffer alone would break the budget).
  uint64_t mem_budget = 0;
  int n_ctx = 0;  // session context (0: depth + the largest test); the budget is planned for it
  std::string io_backend = "auto";
  int stream_slots = 0;  // LoadOptions::stream_slots
  std::string kv_type = "f32";  // LoadOptions::kv_type
  bool repack = true;            // LoadOptions::repack
  // With a budget: no load and no tests. What a run does before its load, then the resident
  // part that load would copy read alone into fresh memory (time to first token's bound,
  // measured in a process of its own: bench/first_token.sh).
  bool resident_read_only = false;
};

// Runs every (threads, depth, test) combination; results to `out` (table or JSON lines),
// notes to `log`.
Status run_bench(const BenchOptions& options, std::FILE* out, std::FILE* log);

}  // namespace nexus::eval
