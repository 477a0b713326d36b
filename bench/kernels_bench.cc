// Matmul / dot throughput per weight type and instruction set (Google Benchmark).
// Reports weight bytes streamed per second (the decode roofline is memory bandwidth) and
// multiply-adds per second. Build: link libnexus + benchmark::benchmark (see bench/README
// or the top-level CMake once wired). Run: kernels_bench --benchmark_filter=Q4_K
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "kernels/kernel_table.h"
#include "kernels/matmul.h"
#include "runtime/cpu_features.h"
#include "runtime/thread_pool.h"
#include "tensor/interleaved_rows.h"
#include "tensor/quants.h"

namespace nexus {
namespace {

const DType kTypes[] = {DType::F32,  DType::F16,  DType::BF16, DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::Q5_0,
                        DType::Q5_1, DType::Q2_K, DType::Q3_K, DType::Q4_K, DType::Q5_K, DType::Q6_K};

// A rows x cols weight matrix quantized from Gaussian floats (realistic block scales).
struct Weights {
  std::vector<uint8_t> bytes;
  TensorView view;
};

Weights make_weights(DType t, int64_t rows, int64_t cols) {
  std::mt19937 rng(1);
  std::normal_distribution<float> g(0.0f, 0.02f);
  std::vector<float> row(cols);
  Weights w;
  w.bytes.resize(row_bytes(t, cols) * rows);
  for (int64_t r = 0; r < rows; ++r) {
    for (auto& v : row) v = g(rng);
    quantize_row(t, row.data(), w.bytes.data() + r * row_bytes(t, cols), cols);
  }
  w.view = TensorView::matrix(t, rows, cols, w.bytes.data());
  return w;
}

// make_weights of t's plain type, rows interleaved by 8 when t is a run-time layout.
Weights make_any_weights(DType t, int64_t rows, int64_t cols) {
  for (const InterleavedLayout& l : kInterleavedLayouts) {
    if (l.interleaved != t) continue;
    Weights w = make_weights(l.plain, rows, cols);
    std::vector<uint8_t> x(w.bytes.size());
    const size_t group = 8 * row_bytes(l.plain, cols);
    for (int64_t g = 0; g < rows / 8; ++g) l.interleave(&w.bytes[g * group], cols, &x[g * group]);
    w.bytes = std::move(x);
    w.view = TensorView::matrix(t, rows, cols, w.bytes.data());
    return w;
  }
  return make_weights(t, rows, cols);
}

// One dot product on a cache-resident row: the kernel's compute speed, per ISA level.
void BM_Dot(benchmark::State& state, DType t, SimdLevel level) {
  const int64_t n = 4096;
  const Weights w = make_weights(t, 1, n);
  const DotKernel& k = kernels_for(level).entry(t);
  std::vector<float> x(n, 0.5f);
  std::vector<uint8_t> act(row_bytes(k.act_type, n));
  k.quantize_act(static_cast<int>(n), x.data(), act.data());
  for (auto _ : state) benchmark::DoNotOptimize(k.dot(static_cast<int>(n), w.bytes.data(), act.data()));
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(w.bytes.size()));
  state.counters["MAC/s"] = benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsIterationInvariantRate);
}

// Times matmul of w against n_tokens activation rows on `threads` threads; reports weight
// bytes and multiply-adds per second.
void time_matmul(benchmark::State& state, const Weights& w, int64_t n_tokens, int threads) {
  const int64_t rows = w.view.rows(), cols = w.view.cols();
  ThreadPool pool(threads);
  std::vector<float> x(n_tokens * cols, 0.5f), y(n_tokens * rows);
  for (auto _ : state) {
    matmul(w.view, x.data(), n_tokens, y.data(), pool);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(w.bytes.size()));
  state.counters["MAC/s"] = benchmark::Counter(static_cast<double>(rows * cols * n_tokens),
                                               benchmark::Counter::kIsIterationInvariantRate);
}

// Full matmul at the process's SIMD level: args = (n_tokens, threads). 4096 x 4096 weights
// do not fit in cache, so decode (n_tokens = 1) measures achieved memory bandwidth.
void BM_Matmul(benchmark::State& state, DType t) {
  static std::vector<Weights> cache(kNumDTypeIds);
  Weights& w = cache[static_cast<int>(t)];
  if (w.bytes.empty()) w = make_weights(t, 4096, 4096);
  time_matmul(state, w, state.range(0), static_cast<int>(state.range(1)));
}

// Single-threaded matmul timed by CPU time, so figures stay comparable on a loaded
// machine: args = n_tokens; 1024 x 2048 weights (one B1-sized projection slice).
void BM_MatmulCpu(benchmark::State& state, DType t) {
  const int64_t rows = 1024, cols = 2048, n_tokens = state.range(0);
  const Weights w = make_any_weights(t, rows, cols);
  ThreadPool pool(1);
  std::vector<float> x(n_tokens * cols), y(n_tokens * rows);
  std::mt19937 rng(2);
  std::normal_distribution<float> g(0.0f, 1.0f);
  for (auto& v : x) v = g(rng);
  for (auto _ : state) {
    matmul(w.view, x.data(), n_tokens, y.data(), pool);
    benchmark::ClobberMemory();
  }
  state.counters["MAC/s"] = benchmark::Counter(static_cast<double>(rows * cols * n_tokens),
                                               benchmark::Counter::kIsIterationInvariantRate);
}

// Decode-shaped matmul on a matrix far larger than the caches (16384 x 5632, a B1-sized
// ffn_down four times over) on every thread, by wall time: args = n_tokens. One token
// measures the bandwidth a layout's kernel draws from DRAM; 8 tokens, its speed when the
// weights stream from DRAM.
void BM_MatmulDram(benchmark::State& state, DType t) {
  time_matmul(state, make_any_weights(t, 16384, 5632), state.range(0), default_thread_count());
}

int register_all() {
  for (DType t : kTypes) {
    const std::string name(dtype_name(t));
    for (int l = 0; l <= static_cast<int>(max_simd_level(cpu_features())); ++l) {
      const auto level = static_cast<SimdLevel>(l);
      benchmark::RegisterBenchmark(("dot/" + name + "/" + std::string(simd_level_name(level))).c_str(), BM_Dot, t,
                                   level);
    }
    const int max_threads = default_thread_count();
    auto* b = benchmark::RegisterBenchmark(("matmul/" + name).c_str(), BM_Matmul, t);
    for (int64_t tokens : {1, 32})
      for (int64_t threads : {1, max_threads}) b->Args({tokens, threads});
    b->UseRealTime();
    benchmark::RegisterBenchmark(("matmul_cpu/" + name).c_str(), BM_MatmulCpu, t)->Arg(1)->Arg(8)->Arg(64);
  }
  // The interleaved layouts where this level has their kernel (the plain types' figures
  // above are the comparison).
  for (const InterleavedLayout& l : kInterleavedLayouts) {
    std::vector<DType> types = {l.plain};
    if (kernels().entry(l.interleaved).gemm != nullptr) {
      types.push_back(l.interleaved);
      benchmark::RegisterBenchmark(("matmul_cpu/" + std::string(dtype_name(l.interleaved))).c_str(), BM_MatmulCpu,
                                   l.interleaved)
          ->Arg(1)
          ->Arg(8)
          ->Arg(64);
    }
    for (DType t : types)
      benchmark::RegisterBenchmark(("matmul_dram/" + std::string(dtype_name(t))).c_str(), BM_MatmulDram, t)
          ->Arg(1)
          ->Arg(8)
          ->UseRealTime();
  }
  benchmark::AddCustomContext("nexus_simd", simd_description());
  return 0;
}

const int registered = register_all();

}  // namespace
}  // namespace nexus

BENCHMARK_MAIN();
