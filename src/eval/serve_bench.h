// Server-side benchmarks of `nexus bench`, run through the continuous-batching scheduler (the
// engine behind `nexus serve`, without HTTP):
//   - parallel decode: P streams generate n tokens each at once; total generated tokens/s
//     while all P run, against P = 1, shows what batching buys (weights read once per step
//     for all streams);
//   - prefix reuse: two requests share a long system prompt; the second's time to first token
//     against the first's shows what the prefix cache saves.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include "nexus/result.h"

namespace nexus::eval {

struct ServeBenchOptions {
  std::string model_path;
  int threads = 0;                 // 0: default
  std::vector<int> parallel;       // stream counts for the parallel decode test (empty: skip)
  int n_gen = 128;                 // tokens each stream generates
  int n_prompt = 8;                // prompt tokens of each stream (random ids)
  int prefix_tokens = 0;           // shared system prompt length for the prefix test (0: skip)
  int n_ctx = 4096;                // KV pool
  std::string kv_type = "f32";     // LoadOptions::kv_type
  bool repack = true;              // LoadOptions::repack
  bool json = false;
  uint64_t seed = 1234;
};

Status run_serve_bench(const ServeBenchOptions& options, std::FILE* out, std::FILE* log);

}  // namespace nexus::eval
