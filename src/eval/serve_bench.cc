#include "eval/serve_bench.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <random>

#include <nlohmann/json.hpp>

#include "nexus/nexus.h"
#include "server/scheduler.h"

namespace nexus::eval {

namespace {

using Clock = std::chrono::steady_clock;

// Waits for a set of requests to finish; keeps each one's result.
class Completion {
 public:
  explicit Completion(int n) : results_(n), pending_(n) {}
  std::function<void(const GenerationResult&)> on_done(int i) {
    return [this, i](const GenerationResult& r) {
      std::lock_guard<std::mutex> lock(mu_);
      results_[i] = r;
      if (--pending_ == 0) cv_.notify_all();
    };
  }
  const std::vector<GenerationResult>& wait() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return pending_ == 0; });
    return results_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<GenerationResult> results_;
  int pending_;
};

Status check(const SubmitResult& r) {
  if (r.refusal != Refusal::kNone) return make_error("request refused: " + r.message);
  return Status::Ok();
}

Status check(const std::vector<GenerationResult>& results) {
  for (const GenerationResult& r : results)
    if (r.finish_reason == "error") return make_error("request failed: " + r.error);
  return Status::Ok();
}

}  // namespace

Status run_serve_bench(const ServeBenchOptions& o, std::FILE* out, std::FILE* log) {
  LoadOptions lo;
  lo.threads = o.threads;
  lo.kv_type = o.kv_type;
  lo.repack = o.repack;
  NX_ASSIGN_OR_RETURN(std::shared_ptr<Model> model, Model::load(o.model_path, lo));
  const int n_vocab = model->info().n_vocab;
  std::mt19937_64 rng(o.seed);
  std::uniform_int_distribution<int32_t> dist(0, n_vocab - 1);
  auto random_tokens = [&](int n) {
    std::vector<int32_t> v(n);
    for (int32_t& t : v) t = dist(rng);
    return v;
  };
  auto request = [&](std::vector<int32_t> prompt, int n_gen) {
    GenerationRequest r;
    r.prompt = std::move(prompt);
    r.max_tokens = n_gen;
    r.ignore_eos = true;
    r.sampling.temperature = 0;
    return r;
  };

  // Parallel decode: P streams at once, total generated tokens over the wall time.
  double single = 0;
  for (int p : o.parallel) {
    SchedulerOptions so;
    so.parallel = p;
    so.n_ctx = std::max(o.n_ctx, p * (o.n_prompt + o.n_gen + 16));
    so.n_ctx_seq = o.n_prompt + o.n_gen + 1;
    NX_ASSIGN_OR_RETURN(std::unique_ptr<Scheduler> sched, Scheduler::create(model, so));
    {  // warm-up: page the weights in
      Completion warm(1);
      NX_TRY(check(sched->submit(request(random_tokens(8), 4), {}, warm.on_done(0))));
      NX_TRY(check(warm.wait()));
    }
    // Each stream's token arrival times (written on the scheduler thread before its
    // on_done, read here after wait()).
    std::vector<std::vector<Clock::time_point>> arrivals(p);
    auto record = [&arrivals](int i) {
      return [&arrivals, i](const GenerationEvent& ev) {
        arrivals[i].insert(arrivals[i].end(), ev.tokens.size(), Clock::now());
        return true;
      };
    };
    Completion done(p);
    const auto t0 = Clock::now();
    std::vector<Submission> subs;
    for (int i = 0; i < p; ++i) subs.push_back({request(random_tokens(o.n_prompt), o.n_gen), record(i), done.on_done(i)});
    for (const SubmitResult& r : sched->submit_together(std::move(subs))) NX_TRY(check(r));
    NX_TRY(check(done.wait()));
    // Decode with all p streams running: from the moment the last stream has its first
    // token (every prompt processed) to the moment the first stream ends, counting the
    // tokens that arrive in between. The streams are queued together, but a step's token
    // budget can split their prompts over steps, and then the first and last steps of the
    // run have fewer streams: they are not "p streams at once".
    Clock::time_point all_running = t0, first_done = Clock::time_point::max();
    for (const auto& a : arrivals) {
      if (a.empty()) return make_error("parallel decode: a stream produced no tokens");
      all_running = std::max(all_running, a.front());
      first_done = std::min(first_done, a.back());
    }
    if (first_done <= all_running)
      return make_error(format("parallel decode: the %d streams never ran together (use more tokens, -n)", p));
    int generated = 0;
    for (const auto& a : arrivals)
      generated += static_cast<int>(std::count_if(a.begin(), a.end(), [&](Clock::time_point t) {
        return t > all_running && t <= first_done;
      }));
    const double window = std::chrono::duration<double>(first_done - all_running).count();
    const double prefill_end = std::chrono::duration<double>(all_running - t0).count();
    const double tps = generated / window;
    if (p == 1) single = tps;
    if (o.json) {
      nlohmann::json j{{"test", format("tg%d", o.n_gen)}, {"streams", p}, {"prompt_tokens", o.n_prompt},
                       {"tokens_per_s", tps}, {"window_s", window}, {"window_tokens", generated},
                       {"prompt_seconds", prefill_end}};
      if (single > 0) j["speedup_vs_1"] = tps / single;
      std::fprintf(out, "%s\n", j.dump().c_str());
    } else {
      std::fprintf(out, "parallel decode: %2d streams x %d tokens (prompt %d, %.2f s): %8.2f t/s total, %6.2f t/s per stream "
                   "(%d tokens in %.2f s with all %d running)",
                   p, o.n_gen, o.n_prompt, prefill_end, tps, tps / p, generated, window, p);
      if (single > 0) std::fprintf(out, ", %.2fx one stream", tps / single);
      std::fprintf(out, "\n");
    }
    std::fflush(out);
  }

  // Prefix reuse: two requests with the same long system prompt and different endings.
  if (o.prefix_tokens > 0) {
    SchedulerOptions so;
    so.parallel = 1;
    so.n_ctx = std::max(o.n_ctx, o.prefix_tokens + 64);
    NX_ASSIGN_OR_RETURN(std::unique_ptr<Scheduler> sched, Scheduler::create(model, so));
    const std::vector<int32_t> system = random_tokens(o.prefix_tokens);
    double ttft[2];
    int cached[2];
    for (int i = 0; i < 2; ++i) {
      std::vector<int32_t> prompt = system;
      const std::vector<int32_t> question = random_tokens(16);
      prompt.insert(prompt.end(), question.begin(), question.end());
      Completion done(1);
      NX_TRY(check(sched->submit(request(prompt, 1), {}, done.on_done(0))));
      const GenerationResult r = done.wait()[0];
      NX_TRY(check(std::vector<GenerationResult>{r}));
      ttft[i] = r.time_to_first_token_s;
      cached[i] = r.cached_tokens;
    }
    if (o.json) {
      std::fprintf(out, "%s\n",
                   nlohmann::json{{"test", "prefix_reuse"}, {"prefix_tokens", o.prefix_tokens},
                                  {"ttft_first_s", ttft[0]}, {"ttft_second_s", ttft[1]},
                                  {"cached_tokens_second", cached[1]}, {"speedup", ttft[0] / ttft[1]}}
                       .dump()
                       .c_str());
    } else {
      std::fprintf(out,
                   "prefix reuse: %d-token shared prompt: first request %.3f s to first token, second %.3f s "
                   "(%d tokens from the cache): %.1fx sooner\n",
                   o.prefix_tokens, ttft[0], ttft[1], cached[1], ttft[0] / ttft[1]);
    }
  }
  (void)log;
  return Status::Ok();
}

}  // namespace nexus::eval
