#include "eval/bench.h"

#include <algorithm>
#include <barrier>
#include <chrono>
#include <cmath>
#include <map>
#include <memory>
#include <new>
#include <random>
#include <thread>

#include <nlohmann/json.hpp>

#include "gguf/gguf.h"
#include "memory/mem_report.h"
#include "memory/mem_stats.h"
#include "memory/size_parse.h"
#include "nexus/nexus.h"
#include "runtime/cpu_features.h"
#include "runtime/thread_pool.h"

namespace nexus::eval {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::string human_bytes(uint64_t b) {
  const double d = static_cast<double>(b);
  if (d >= 1024.0 * 1024 * 1024) return format("%.2f GiB", d / (1024.0 * 1024 * 1024));
  if (d >= 1024.0 * 1024) return format("%.2f MiB", d / (1024.0 * 1024));
  return format("%.2f KiB", d / 1024.0);
}

std::string human_params(uint64_t n) {
  const double d = static_cast<double>(n);
  if (d >= 1e9) return format("%.2f B", d / 1e9);
  if (d >= 1e6) return format("%.2f M", d / 1e6);
  return format("%.2f K", d / 1e3);
}

struct AlignedFree {
  void operator()(uint64_t* p) const { ::operator delete[](p, std::align_val_t{64}); }
};

// Evaluates `n` tokens in batches of at most 512 (depth fill before a test; not timed).
Status fill_context(Session& s, std::span<const int32_t> tokens) {
  for (size_t i = 0; i < tokens.size(); i += 512) {
    auto r = s.eval(tokens.subspan(i, std::min<size_t>(512, tokens.size() - i)));
    if (!r.ok()) return r.error();
  }
  return Status::Ok();
}

struct TestResult {
  std::string name;  // "pp512", "tg128"
  bool is_gen = false;
  int n_tokens = 0;
  int depth = 0;
  int threads = 0;
  std::vector<double> samples;  // tokens/s per repetition
  uint64_t stream_bytes_per_token = 0;  // budgeted runs: last repetition's streamed bytes per pass
  double io_bytes_per_token = 0;        // /proc/self/io read_bytes per token, same repetition
  std::vector<double> stream_io_only;   // budgeted decode: the I/O-only rate around each repetition
};

}  // namespace

MeanStd mean_stddev(std::span<const double> x) {
  MeanStd r;
  if (x.empty()) return r;
  double s = 0;
  for (double v : x) s += v;
  r.mean = s / static_cast<double>(x.size());
  if (x.size() > 1) {
    double ss = 0;
    for (double v : x) ss += (v - r.mean) * (v - r.mean);
    r.stddev = std::sqrt(ss / static_cast<double>(x.size() - 1));
  }
  return r;
}

uint64_t sum_u64(std::span<const uint64_t> w) {
  // Four independent chains so neither the adds nor the vector unit's latency limit the loop.
  uint64_t a = 0, b = 0, c = 0, d = 0;
  size_t i = 0;
  const size_t n = w.size();
  for (; i + 4 <= n; i += 4) {
    a += w[i];
    b += w[i + 1];
    c += w[i + 2];
    d += w[i + 3];
  }
  for (; i < n; ++i) a += w[i];
  return a + b + c + d;
}

double measure_read_bandwidth(int threads, size_t bytes, int passes) {
  threads = std::max(1, threads);
  passes = std::max(1, passes);
  const size_t words = std::max<size_t>(bytes / 8, static_cast<size_t>(threads) * 8);
  std::unique_ptr<uint64_t[], AlignedFree> buf(
      static_cast<uint64_t*>(::operator new[](words * 8, std::align_val_t{64})));
  auto slice = [&](int t) {
    const size_t per = words / threads;
    const size_t begin = per * t;
    const size_t end = t == threads - 1 ? words : begin + per;
    return std::span<uint64_t>(buf.get() + begin, end - begin);
  };
  std::vector<uint64_t> sums(threads);
  // Each worker stamps its own start and end: the main thread may not even be scheduled
  // while the workers run (threads == cores), so its clock would miss the pass.
  std::vector<Clock::time_point> starts(threads), ends(threads);
  // The fill touches the pages from the thread that later reads them (first-touch NUMA
  // placement) and is not timed; the barrier lines all threads up before each timed pass.
  std::barrier sync(threads + 1);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      std::span<uint64_t> s = slice(t);
      for (size_t i = 0; i < s.size(); ++i) s[i] = i * 0x9E3779B97F4A7C15ull + t;
      for (int p = 0; p < passes; ++p) {
        sync.arrive_and_wait();  // start
        starts[t] = Clock::now();
        sums[t] += sum_u64(s);
        ends[t] = Clock::now();
        sync.arrive_and_wait();  // done
      }
    });
  }
  double best = 0;
  for (int p = 0; p < passes; ++p) {
    sync.arrive_and_wait();
    sync.arrive_and_wait();
    const double secs = std::chrono::duration<double>(*std::max_element(ends.begin(), ends.end()) -
                                                      *std::min_element(starts.begin(), starts.end()))
                            .count();
    if (secs > 0) best = std::max(best, static_cast<double>(words * 8) / secs);
  }
  for (auto& th : pool) th.join();
  // Consume the sums so the reads cannot be optimised away.
  uint64_t total = 0;
  for (uint64_t s : sums) total += s;
  volatile uint64_t sink = total;
  (void)sink;
  return best;
}

Result<WeightTraffic> weight_traffic(const std::string& path) {
  NX_ASSIGN_OR_RETURN(gguf::File f, gguf::File::open(path));
  WeightTraffic w;
  std::map<std::string, uint64_t> by_type;
  const gguf::TensorInfo* embd = nullptr;
  bool has_output = false;
  for (const gguf::TensorInfo& t : f.tensors()) {
    w.file_tensor_bytes += t.nbytes;
    by_type[std::string(dtype_name(t.type))] += t.nbytes;
    if (t.name == "token_embd.weight") embd = &t;
    else if (t.name == "output.weight") has_output = true;
  }
  w.bytes_per_token = w.file_tensor_bytes;
  if (embd && has_output && embd->ne[1] > 0) {
    // A token's forward pass gathers one row of the embedding table.
    w.bytes_per_token -= embd->nbytes - embd->nbytes / static_cast<uint64_t>(embd->ne[1]);
  }
  uint64_t most = 0;
  for (const auto& [name, bytes] : by_type)
    if (bytes > most) {
      most = bytes;
      w.main_type = name;
    }
  return w;
}

namespace {

// --resident-read-only: in place of the load, the resident part that load would copy, read
// alone into fresh memory by a child (measure_planned_resident_read), this process having done
// what a bench run does before its load. Another process's first token is held against it: a
// run of its own starts where a bench run's load starts, while a child of the bench process
// after its load gets memory in another state, and a child before the load hands the load
// memory in another state (bench/NOTES.md section 15).
Status resident_read_only(const BenchOptions& o, const LoadOptions& lo, std::FILE* out) {
  NX_ASSIGN_OR_RETURN(const ResidentReadTime r, measure_planned_resident_read(o.model_path, lo));
  auto rate = [&](double s) { return s > 0 ? static_cast<double>(r.bytes) / s / 1e9 : 0.0; };
  if (o.json) {
    nlohmann::json j;
    j["test"] = "resident_read";
    j["mem_budget"] = o.mem_budget;
    j["n_ctx"] = lo.budget_ctx;
    j["resident_bytes"] = r.bytes;
    j["resident_fresh_read_s"] = r.fresh_read_s;
    j["resident_touch_s"] = r.warm_touch_s;
    j["resident_read_s"] = r.read_s;
    std::fprintf(out, "%s\n", j.dump().c_str());
  } else {
    std::fprintf(out, "resident part (%s) read alone: %.3f s into fresh memory (%.2f GB/s); apart, touching memory just "
                 "handed back %.3f s and the reads into it %.3f s (%.2f GB/s)\n", format_size(r.bytes).c_str(),
                 r.fresh_read_s, rate(r.fresh_read_s), r.warm_touch_s, r.read_s, rate(r.read_s));
  }
  return Status::Ok();
}

}  // namespace

Status run_bench(const BenchOptions& o, std::FILE* out, std::FILE* log) {
  if (o.reps < 1) return make_error(format("repetitions must be >= 1 (got %d)", o.reps));
  if (o.resident_read_only && o.mem_budget == 0) return make_error("--resident-read-only needs --mem-budget");
  std::vector<int> threads = o.threads.empty() ? std::vector<int>{default_thread_count()} : o.threads;
  for (int t : threads)
    if (t < 1 || t > 1024) return make_error(format("thread count %d out of range 1..1024", t));
  for (int v : o.n_prompt)
    if (v < 0 || v > (1 << 20)) return make_error(format("prompt size %d out of range", v));
  for (int v : o.n_gen)
    if (v < 0 || v > (1 << 20)) return make_error(format("generation length %d out of range", v));
  for (int v : o.depths)
    if (v < 0 || v > (1 << 20)) return make_error(format("depth %d out of range", v));

  NX_ASSIGN_OR_RETURN(WeightTraffic traffic, weight_traffic(o.model_path));

  double bandwidth = 0;  // bytes/s; 0 = not measured
  const int bw_threads = std::max(*std::max_element(threads.begin(), threads.end()), default_thread_count());
  const bool budgeted = o.mem_budget > 0;
  // Budgeted runs print their disk figures as text lines, which would break --json's one
  // object per line: they go to the log there.
  std::FILE* info_out = o.json ? log : out;
  double seq_bw = 0;  // bytes/s, O_DIRECT sequential read of the model file: a reference only
  if (budgeted) {
    NX_ASSIGN_OR_RETURN(seq_bw, measure_file_read_bandwidth(o.model_path, uint64_t{1} << 31));
    std::fprintf(info_out, "sequential read of the model file: %.2f GB/s (O_DIRECT, 32 x 2 MiB in flight; reference, "
                 "not the roofline)\n", seq_bw / 1e9);
    NX_TRY(drop_file_cache(o.model_path));  // a cold start: the load reads the resident part from disk
  } else if (o.bandwidth_bytes > 0) {
    bandwidth = measure_read_bandwidth(bw_threads, o.bandwidth_bytes, 3);
    std::fprintf(log, "bench: memory read bandwidth %.2f GB/s (%d threads, %s buffer, best of 3)\n",
                 bandwidth / 1e9, bw_threads, human_bytes(o.bandwidth_bytes).c_str());
  }
  const std::string simd(simd_description());

  int max_tokens = 1;
  for (int v : o.n_prompt) max_tokens = std::max(max_tokens, v);
  for (int v : o.n_gen) max_tokens = std::max(max_tokens, v);
  const int max_depth = *std::max_element(o.depths.begin(), o.depths.end());

  bool header_done = false;
  const int n_ctx = o.n_ctx > 0 ? o.n_ctx : max_depth + max_tokens;
  if (n_ctx < max_depth + max_tokens)
    return make_error(format("context %d is smaller than depth + test size (%d)", n_ctx, max_depth + max_tokens));
  for (int nt : threads) {
    LoadOptions lo;
    lo.threads = nt;
    lo.mem_budget = o.mem_budget;
    lo.budget_ctx = n_ctx;
    lo.io_backend = o.io_backend;
    lo.stream_slots = o.stream_slots;
    lo.kv_type = o.kv_type;
    lo.repack = o.repack;
    if (budgeted) NX_TRY(drop_file_cache(o.model_path));
    if (o.resident_read_only) return resident_read_only(o, lo, out);
    const auto load_t0 = Clock::now();
    NX_ASSIGN_OR_RETURN(std::shared_ptr<Model> model, Model::load(o.model_path, lo));
    const double load_s = seconds_since(load_t0);
    const ModelInfo& info = model->info();
    if (info.n_vocab <= 0) return make_error("model reports an empty vocabulary");
    const auto session_t0 = Clock::now();
    NX_ASSIGN_OR_RETURN(std::unique_ptr<Session> session, Session::create(model, n_ctx));
    const double session_s = seconds_since(session_t0);
    std::mt19937_64 rng(o.seed);
    std::uniform_int_distribution<int32_t> dist(0, info.n_vocab - 1);
    auto random_tokens = [&](int n) {
      std::vector<int32_t> v(n);
      for (int32_t& t : v) t = dist(rng);
      return v;
    };

    if (!o.json && !header_done) {
      std::fprintf(out, "model: %s (%s), %s, %s params, weights read per token %s, simd %s\n",
                   o.model_path.c_str(), info.arch.c_str(), human_bytes(traffic.file_tensor_bytes).c_str(),
                   human_params(info.n_params).c_str(), human_bytes(traffic.bytes_per_token).c_str(), simd.c_str());
      if (bandwidth > 0)
        std::fprintf(out, "memory read bandwidth: %.2f GB/s (%d threads)\n", bandwidth / 1e9, bw_threads);
      std::fprintf(out, "\n| %-16s | %10s | %9s | %7s | %14s | %20s | %8s |\n", "model", "size", "params", "threads",
                   "test", "t/s", "roofline");
      std::fprintf(out, "| %s | %s: | %s: | %s: | %s: | %s: | %s: |\n", std::string(16, '-').c_str(),
                   std::string(9, '-').c_str(), std::string(8, '-').c_str(), std::string(6, '-').c_str(),
                   std::string(13, '-').c_str(), std::string(19, '-').c_str(), std::string(7, '-').c_str());
      std::fflush(out);
      header_done = true;
    }

    // Time to first token under a budget: load, session creation and one single-token pass,
    // during which the resident copy lands beside the first streamed pass. It is held against
    // the time to read the resident part alone plus one streamed decode pass (after the tg
    // test). The resident part is read alone in a child process right after the first token
    // (measure_resident_read): the same ranges, as the copy reads them, into fresh memory.
    // Its time is the reads plus the touch of that memory at the least it costs on this
    // machine (memory just handed back); the reads alone and the reads into fresh memory as
    // the system gives it after the load are shown beside (in a VM that hands free pages back
    // to its host, a fresh page's first touch can cost more than its read: bench/NOTES.md
    // section 13; the same reads in the state a load starts from need a process of their own,
    // --resident-read-only: section 15). Then the stream's I/O-only rate: the same reader,
    // slots and byte ranges with no compute, after a warm-up pass so any cache below the file
    // is in the state decode sees. Each decode repetition's roofline is measured against that
    // rate taken again right before and after it.
    double stream_bw = 0;  // bytes/s, the stream's I/O-only rate
    double ttft = 0;
    ResidentReadTime alone;
    if (budgeted) {
      const auto t0 = Clock::now();
      const int32_t first = 1;
      auto r = session->eval(std::span<const int32_t>(&first, 1));
      if (!r.ok()) return make_error(format("first token: %s", r.error().message.c_str()));
      const double first_s = seconds_since(t0);
      ttft = load_s + session_s + first_s;
      // The resident copy lands during the first pass: its figures are known from here on.
      const MemoryReport before = memory_report(*model, o.model_path);
      std::fprintf(log, "%s", describe_memory_plan(*model).c_str());
      NX_ASSIGN_OR_RETURN(alone, measure_resident_read_alone(*model, o.model_path));
      std::fprintf(info_out, "time to first token: %.3f s (load %.3f s + session %.3f s + first pass %.3f s, the resident copy "
                   "landing meanwhile in %.3f s); the resident part (%s) read alone: %.3f s = reads %.3f s (%.2f GB/s) + "
                   "touching its fresh pages %.3f s (into fresh memory: %.3f s); the bound, with a measured streamed decode pass, "
                   "follows the tg test\n",
                   ttft, load_s, session_s, first_s, before.resident_read_s, format_size(before.resident_weight_bytes).c_str(),
                   alone.read_s + alone.warm_touch_s, alone.read_s,
                   alone.read_s > 0 ? static_cast<double>(before.resident_weight_bytes) / alone.read_s / 1e9 : 0.0,
                   alone.warm_touch_s, alone.fresh_read_s);
      NX_ASSIGN_OR_RETURN(IoOnlyRate io, measure_stream_io_only(*model, 1, 3));
      stream_bw = io.bandwidth();
      if (stream_bw > 0) {
        std::fprintf(info_out, "stream bandwidth, I/O only: %.2f GB/s (%d passes, %s in %.2f s, after 1 warm-up pass; the "
                     "stream's reader, slots and ranges, no compute)\n", stream_bw / 1e9, io.passes,
                     format_size(io.bytes).c_str(), io.seconds);
      }
    }
    // Warm-up: page in the weights and let the thread pool spin up (not measured).
    session->reset();
    {
      std::vector<int32_t> w = random_tokens(std::min(max_tokens, 16));
      auto r = session->eval(w);
      if (!r.ok()) return make_error(format("warm-up: %s", r.error().message.c_str()));
    }

    for (int depth : o.depths) {
      std::vector<TestResult> tests;
      auto add_test = [&](std::string name, bool is_gen, int n_tokens) {
        TestResult& t = tests.emplace_back();
        t.name = std::move(name);
        t.is_gen = is_gen;
        t.n_tokens = n_tokens;
        t.depth = depth;
        t.threads = nt;
      };
      for (int p : o.n_prompt)
        if (p > 0) add_test(format("pp%d", p), false, p);
      for (int n : o.n_gen)
        if (n > 0) add_test(format("tg%d", n), true, n);
      for (TestResult& t : tests) {
        for (int rep = 0; rep < o.reps; ++rep) {
          session->reset();
          NX_TRY(fill_context(*session, random_tokens(depth)));
          std::vector<int32_t> toks = random_tokens(t.n_tokens);
          // The host's read rate drifts by +-15 % over seconds: the roofline of a repetition is
          // taken against the I/O-only rate measured right before and right after it.
          double io_only_before = 0;
          if (budgeted && t.is_gen) {
            NX_ASSIGN_OR_RETURN(IoOnlyRate io, measure_stream_io_only(*model, 1, 3));
            io_only_before = io.bandwidth();
          }
          reset_stream_stats(*model);
          const uint64_t io0 = process_read_bytes();
          const auto t0 = Clock::now();
          if (t.is_gen) {
            for (int i = 0; i < t.n_tokens; ++i) {
              auto r = session->eval(std::span<const int32_t>(&toks[i], 1));
              if (!r.ok()) return make_error(format("%s: %s", t.name.c_str(), r.error().message.c_str()));
            }
          } else {
            auto r = session->eval(toks);
            if (!r.ok()) return make_error(format("%s: %s", t.name.c_str(), r.error().message.c_str()));
          }
          const double secs = seconds_since(t0);
          t.samples.push_back(secs > 0 ? t.n_tokens / secs : 0.0);
          if (budgeted && t.is_gen) {
            const MemoryReport mr = memory_report(*model, o.model_path);
            const uint64_t per_token = mr.stream.bytes_per_pass();
            const double io_per_token = static_cast<double>(process_read_bytes() - io0) / t.n_tokens;
            NX_ASSIGN_OR_RETURN(IoOnlyRate io_after, measure_stream_io_only(*model, 1, 3));
            const double io_only = (io_only_before + io_after.bandwidth()) / 2;
            t.stream_io_only.push_back(io_only);
            const double fraction = io_only > 0 ? (secs > 0 ? t.n_tokens / secs : 0) * per_token / io_only : 0;
            std::fprintf(info_out, "  %s rep %d: %.3f t/s, streamed %s/token (/proc/self/io %s/token; model %s - resident %s = %s, ratio %.3f), "
                         "read %.2f GB/s (reads in flight %.0f %% of the time), compute waited on I/O %.2f s, I/O waited on compute %.2f s, depth %d, I/O-only rate %.2f / %.2f GB/s before / after, streaming roofline %.1f %%\n",
                         t.name.c_str(), rep, t.n_tokens / secs, format_size(per_token).c_str(),
                         format_size(static_cast<uint64_t>(io_per_token)).c_str(), format_size(traffic.file_tensor_bytes).c_str(),
                         format_size(mr.resident_weight_bytes).c_str(),
                         format_size(traffic.file_tensor_bytes - std::min(traffic.file_tensor_bytes, mr.resident_weight_bytes)).c_str(),
                         static_cast<double>(per_token) / static_cast<double>(traffic.file_tensor_bytes - std::min(traffic.file_tensor_bytes, mr.resident_weight_bytes)),
                         mr.stream.read_bandwidth() / 1e9, secs > 0 ? 100.0 * mr.stream.io_busy_s / secs : 0.0, mr.stream.compute_wait_s, mr.stream.io_idle_s, mr.stream.depth, io_only_before / 1e9, io_after.bandwidth() / 1e9, 100.0 * fraction);
            t.stream_bytes_per_token = per_token;
            t.io_bytes_per_token = io_per_token;
          }
        }
        const MeanStd ms = mean_stddev(t.samples);
        // Time to first token against the resident part's read time plus one streamed pass as
        // decoding runs it at this budget (the mean time per token of this test).
        double ttft_bound = 0, ttft_bound_reads = 0;
        if (budgeted && t.is_gen && ms.mean > 0) {
          const double pass_s = 1.0 / ms.mean;
          ttft_bound_reads = alone.read_s + pass_s;
          ttft_bound = ttft_bound_reads + alone.warm_touch_s;
          const double fresh = alone.fresh_read_s + pass_s;
          auto verdict = [&](double bound) {
            return format("%s by %.0f ms", ttft <= bound ? "within" : "over", 1e3 * std::abs(bound - ttft));
          };
          std::fprintf(info_out, "time to first token %.3f s vs bound %.3f s = resident part read alone %.3f s + one streamed "
                       "decode pass %.3f s (%s mean): %s; the reads alone + the pass %.3f s: %s; with the reads into fresh "
                       "memory after the load instead %.3f s: %s\n", ttft, ttft_bound, alone.read_s + alone.warm_touch_s, pass_s, t.name.c_str(),
                       verdict(ttft_bound).c_str(), ttft_bound_reads, verdict(ttft_bound_reads).c_str(), fresh,
                       verdict(fresh).c_str());
        }
        // Decode reads every weight once per token: achieved bytes/s over what memory can give.
        // Streamed: the stream's I/O-only rate is the roofline, for the bytes streamed per token
        // (1.0: compute entirely hidden behind the reads).
        const double io_only = budgeted && t.is_gen ? mean_stddev(t.stream_io_only).mean : stream_bw;
        const bool has_roofline = t.is_gen && (budgeted ? io_only > 0 : bandwidth > 0);
        const double roofline = !has_roofline ? 0
                                : budgeted    ? ms.mean * static_cast<double>(t.stream_bytes_per_token) / io_only
                                              : ms.mean * static_cast<double>(traffic.bytes_per_token) / bandwidth;
        if (o.json) {
          nlohmann::json j;
          j["test"] = t.name;
          j["depth"] = t.depth;
          j["threads"] = t.threads;
          j["kv_type"] = o.kv_type;
          j["n_tokens"] = t.n_tokens;
          j["reps"] = o.reps;
          j["tokens_per_s"] = ms.mean;
          j["stddev"] = ms.stddev;
          j["samples"] = t.samples;
          if (t.is_gen) j["roofline_fraction"] = has_roofline ? nlohmann::json(roofline) : nlohmann::json(nullptr);
          j["bandwidth_gbs"] = bandwidth > 0 ? nlohmann::json(bandwidth / 1e9) : nlohmann::json(nullptr);
          if (budgeted) {
            j["mem_budget"] = o.mem_budget;
            j["stream_io_only_gbs"] = io_only / 1e9;
            j["sequential_read_gbs"] = seq_bw / 1e9;
            j["ttft_s"] = ttft;
            j["ttft_bound_s"] = ttft_bound > 0 ? nlohmann::json(ttft_bound) : nlohmann::json(nullptr);
            j["ttft_bound_reads_only_s"] = ttft_bound_reads > 0 ? nlohmann::json(ttft_bound_reads) : nlohmann::json(nullptr);
            j["resident_bytes"] = alone.bytes;
            j["resident_read_s"] = alone.read_s;
            j["resident_touch_s"] = alone.warm_touch_s;
            j["resident_fresh_read_s"] = alone.fresh_read_s;
            j["streamed_bytes_per_token"] = t.stream_bytes_per_token;
            j["proc_io_bytes_per_token"] = t.io_bytes_per_token;
          }
          j["model_bytes"] = traffic.file_tensor_bytes;
          j["bytes_per_token"] = traffic.bytes_per_token;
          j["n_params"] = info.n_params;
          j["model_type"] = traffic.main_type;
          j["arch"] = info.arch;
          j["simd"] = simd;
          std::fprintf(out, "%s\n", j.dump().c_str());
        } else {
          const std::string name = depth > 0 ? format("%s @ d%d", t.name.c_str(), depth) : t.name;
          const std::string model_name = info.arch + " " + traffic.main_type;
          // "±" is two bytes but one column wide, hence %21s.
          std::fprintf(out, "| %-16s | %10s | %9s | %7d | %14s | %21s | %8s |\n", model_name.c_str(),
                       human_bytes(traffic.file_tensor_bytes).c_str(), human_params(info.n_params).c_str(), nt,
                       name.c_str(), format("%.2f ± %.2f", ms.mean, ms.stddev).c_str(),
                       has_roofline ? format("%.1f %%", 100.0 * roofline).c_str() : "");
        }
        std::fflush(out);
      }
    }
    if (budgeted) {
      // Peak RSS + the model file's pages left in the page cache, against the budget.
      std::fprintf(info_out, "%s", format_memory_report(memory_report(*model, o.model_path)).c_str());
      std::fflush(out);
    }
  }
  return Status::Ok();
}

}  // namespace nexus::eval
