// The scheduler thread's loop: admit, build one batch from every running sequence, run it,
// sample, deliver, retire. Everything a step touches belongs to this thread; submit(),
// cancel() and metrics() only touch the queue and counters under the mutex.
#include "server/scheduler.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_set>

#include "decode/sampler.h"
#include "decode/text_stream.h"
#include "kv/kv_cache.h"
#include "kv/kv_pool.h"
#include "kv/kv_type.h"
#include "model/model_impl.h"

namespace nexus {

namespace {

using Clock = std::chrono::steady_clock;

constexpr int kBlockTokens = SessionImpl::kKvBlockTokens;

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

}  // namespace

// One request from submit() to on_done.
struct Sequence {
  Sequence(uint64_t id_, GenerationRequest req, KvPool& pool)
      : id(id_), request(std::move(req)), kv(pool), sampler(request.sampling), text(request.stop) {}

  uint64_t id;
  GenerationRequest request;
  std::function<bool(const GenerationEvent&)> on_event;
  std::function<void(const GenerationResult&)> on_done;
  KvCache kv;
  Sampler sampler;
  TextStream text;
  // The prompt, then each sampled token. The cache holds the first n_cached; the rest (the
  // prompt's remainder, or the one token just sampled) are fed in coming steps.
  std::vector<int32_t> tokens;
  int n_cached = 0;
  int n_generated = 0;
  int cached_tokens = 0;    // prompt tokens reused from the prefix cache at first admission
  int n_published = 0;      // leading blocks recorded in the prefix cache
  uint64_t chain_hash = 0;  // hash of those blocks
  bool admitted_once = false;
  Clock::time_point t_submit;
  double ttft = -1;
};

class SchedulerImpl {
 public:
  SchedulerImpl(std::shared_ptr<Model> model, const SchedulerOptions& options);
  ~SchedulerImpl();

  std::vector<SubmitResult> submit_together(std::vector<Submission> subs);
  void cancel(uint64_t id);
  SchedulerMetrics metrics() const;
  void shutdown(std::chrono::milliseconds deadline);

  SchedulerOptions options;

 private:
  // The refusals that do not depend on the scheduler's state (kNone: acceptable).
  SubmitResult check_request(const GenerationRequest& request) const;
  // Queues a checked request unless the server is stopping or the queue is full; mu_ held.
  SubmitResult enqueue_locked(Submission&& sub);
  void loop();
  // One step: false when there was nothing to do.
  bool step();
  void admit();
  // Reuses cached blocks of the sequence's leading full blocks (never its last token, whose
  // logits are needed).
  void attach_prefix(Sequence& s);
  void publish_blocks(Sequence& s);
  // Frees the youngest running sequence other than those in `keep` and queues it for
  // recomputation; false when there is none.
  bool preempt_youngest(const std::vector<Sequence*>& keep);
  void finish(std::unique_ptr<Sequence> s, const std::string& reason, const std::string& error = {});
  void finish_running(Sequence* s, const std::string& reason, const std::string& error = {});
  // Samples the sequence's next token and delivers it; retires the sequence when it is done.
  // Returns the number of tokens generated (0 for an end-of-generation token).
  int emit_sample(Sequence& s, std::span<const float> logits);

  std::shared_ptr<Model> model_;
  const ModelImpl& m_;
  ThreadPool pool_;
  KvPool kv_pool_;
  RunState state_;
  std::vector<float> logits_;  // [parallel][n_vocab]
  std::vector<float> logprob_scratch_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Sequence>> waiting_;  // guarded by mu_
  std::unordered_set<uint64_t> cancelled_;          // guarded by mu_
  bool stopping_ = false;                           // guarded by mu_: refuse new requests
  bool quit_ = false;                               // guarded by mu_: cancel all, end the loop
  uint64_t next_id_ = 1;                            // guarded by mu_
  SchedulerMetrics metrics_;                        // guarded by mu_
  std::deque<std::pair<Clock::time_point, int>> recent_tokens_;  // scheduler thread: tokens per step

  std::vector<std::unique_ptr<Sequence>> running_;  // scheduler thread only, in admission order
  std::thread thread_;
};

SchedulerImpl::SchedulerImpl(std::shared_ptr<Model> model, const SchedulerOptions& o)
    : options(o),
      model_(std::move(model)),
      m_(model_->impl()),
      pool_(m_.threads),
      kv_pool_(m_.config.n_layer, m_.config.kv_dim(), kBlockTokens, o.n_ctx / kBlockTokens, m_.kv_type,
               m_.config.head_dim),
      state_(m_.config, o.step_tokens, o.n_ctx_seq, pool_.size()),
      logits_(static_cast<size_t>(o.parallel) * m_.config.n_vocab),
      logprob_scratch_(m_.config.n_vocab) {
  metrics_.kv_blocks_total = kv_pool_.n_blocks();
  metrics_.kv_block_tokens = kBlockTokens;
  thread_ = std::thread([this] { loop(); });
}

SchedulerImpl::~SchedulerImpl() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = quit_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

SubmitResult SchedulerImpl::check_request(const GenerationRequest& request) const {
  const int n = static_cast<int>(request.prompt.size());
  if (n == 0) return {0, Refusal::kInvalid, "the prompt is empty (no tokens to start from)"};
  for (int32_t t : request.prompt)
    if (t < 0 || t >= m_.config.n_vocab)
      return {0, Refusal::kInvalid, format("token id %d out of range [0, %d)", t, m_.config.n_vocab)};
  // One position must stay free for the first generated token to be fed back... or at least
  // sampled: a prompt filling the whole context leaves nothing to generate.
  if (n >= options.n_ctx_seq)
    return {0, Refusal::kPromptTooLong,
            format("the prompt is %d tokens but the context holds %d; shorten it to at most %d tokens", n,
                   options.n_ctx_seq, options.n_ctx_seq - 1)};
  return {0, Refusal::kNone, {}};
}

SubmitResult SchedulerImpl::enqueue_locked(Submission&& sub) {
  if (stopping_) return {0, Refusal::kShuttingDown, "the server is shutting down"};
  // Requests a free slot will take at the next step do not count as queued.
  const int free_slots = std::max(0, options.parallel - metrics_.active_sequences);
  if (static_cast<int>(waiting_.size()) >= options.max_queue + free_slots)
    return {0, Refusal::kBusy, format("%d requests are already waiting; try again later", options.max_queue)};
  const uint64_t id = next_id_++;
  const int n = static_cast<int>(sub.request.prompt.size());
  auto s = std::make_unique<Sequence>(id, std::move(sub.request), kv_pool_);
  s->on_event = std::move(sub.on_event);
  s->on_done = std::move(sub.on_done);
  s->tokens = s->request.prompt;
  for (int32_t t : s->tokens) s->sampler.accept(t);
  s->t_submit = Clock::now();
  metrics_.prompt_tokens_total += n;
  waiting_.push_back(std::move(s));
  metrics_.queue_depth = static_cast<int>(waiting_.size());
  return {id, Refusal::kNone, {}};
}

std::vector<SubmitResult> SchedulerImpl::submit_together(std::vector<Submission> subs) {
  std::vector<SubmitResult> results;
  for (const Submission& sub : subs) results.push_back(check_request(sub.request));  // outside the lock
  std::lock_guard<std::mutex> lock(mu_);  // the step loop takes new requests under this lock
  for (size_t i = 0; i < subs.size(); ++i)
    if (results[i].refusal == Refusal::kNone) results[i] = enqueue_locked(std::move(subs[i]));
  cv_.notify_all();
  return results;
}

void SchedulerImpl::cancel(uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  cancelled_.insert(id);
  cv_.notify_all();
}

SchedulerMetrics SchedulerImpl::metrics() const {
  std::lock_guard<std::mutex> lock(mu_);
  return metrics_;
}

void SchedulerImpl::shutdown(std::chrono::milliseconds deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  stopping_ = true;
  const bool drained = cv_.wait_for(lock, deadline, [&] {
    return waiting_.empty() && metrics_.active_sequences == 0;
  });
  if (!drained) {
    quit_ = true;
    cv_.notify_all();
    cv_.wait(lock, [&] { return waiting_.empty() && metrics_.active_sequences == 0; });
  }
}

void SchedulerImpl::loop() {
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return quit_ || !waiting_.empty() || !running_.empty() || !cancelled_.empty(); });
      if (quit_ && waiting_.empty() && running_.empty()) return;
    }
    step();
  }
}

void SchedulerImpl::finish(std::unique_ptr<Sequence> s, const std::string& reason, const std::string& error) {
  s->kv.clear();
  GenerationResult r;
  r.finish_reason = reason;
  r.error = error;
  r.prompt_tokens = static_cast<int>(s->request.prompt.size());
  r.completion_tokens = s->n_generated;
  r.cached_tokens = s->cached_tokens;
  r.time_to_first_token_s = std::max(0.0, s->ttft);
  r.seed = s->sampler.seed();
  if (s->on_done) s->on_done(r);
}

void SchedulerImpl::finish_running(Sequence* s, const std::string& reason, const std::string& error) {
  auto it = std::find_if(running_.begin(), running_.end(), [&](const auto& p) { return p.get() == s; });
  NX_CHECK(it != running_.end(), "finishing a sequence that is not running");
  std::unique_ptr<Sequence> owned = std::move(*it);
  running_.erase(it);
  {
    // The slot is free before the client hears it is done: a request it sends next is
    // admitted, not refused as busy because the step's counters are not yet updated.
    std::lock_guard<std::mutex> lock(mu_);
    metrics_.active_sequences = static_cast<int>(running_.size());
  }
  finish(std::move(owned), reason, error);
}

void SchedulerImpl::attach_prefix(Sequence& s) {
  const int reusable_blocks = (static_cast<int>(s.tokens.size()) - 1) / kBlockTokens;
  uint64_t hash = 0;
  int matched = 0;
  for (; matched < reusable_blocks; ++matched) {
    hash = KvPool::hash_block(hash, std::span(s.tokens).subspan(matched * kBlockTokens, kBlockTokens));
    const int block = kv_pool_.find_cached(hash);
    if (block < 0) break;
    s.kv.append_shared(block);
    s.chain_hash = hash;
  }
  s.n_cached = matched * kBlockTokens;
  s.n_published = matched;  // already in the cache under these hashes
}

void SchedulerImpl::publish_blocks(Sequence& s) {
  while ((s.n_published + 1) * kBlockTokens <= s.n_cached) {
    s.chain_hash = KvPool::hash_block(s.chain_hash, std::span(s.tokens).subspan(s.n_published * kBlockTokens, kBlockTokens));
    kv_pool_.publish(s.kv.blocks()[s.n_published], s.chain_hash);
    ++s.n_published;
  }
}

void SchedulerImpl::admit() {
  std::lock_guard<std::mutex> lock(mu_);
  while (!waiting_.empty() && static_cast<int>(running_.size()) < options.parallel) {
    Sequence& s = *waiting_.front();
    // Admit only when the whole remaining prompt fits in the blocks free now (cached ones
    // count: they are reclaimed on demand), so a prefill is never starved half way.
    attach_prefix(s);
    const int needed = (static_cast<int>(s.tokens.size()) + kBlockTokens - 1) / kBlockTokens -
                       static_cast<int>(s.kv.blocks().size());
    if (needed > kv_pool_.blocks_available() && !running_.empty()) {
      s.kv.clear();  // give the prefix back; retry next step
      s.n_cached = s.n_published = 0;
      s.chain_hash = 0;
      break;
    }
    if (!s.admitted_once) {
      s.admitted_once = true;
      s.cached_tokens = s.n_cached;
      metrics_.prompt_tokens_reused_total += s.n_cached;
    }
    running_.push_back(std::move(waiting_.front()));
    waiting_.pop_front();
  }
  // submit() counts free slots from these: keep them in step with the move, under the lock.
  metrics_.active_sequences = static_cast<int>(running_.size());
  metrics_.queue_depth = static_cast<int>(waiting_.size());
}

bool SchedulerImpl::preempt_youngest(const std::vector<Sequence*>& keep) {
  for (auto it = running_.rbegin(); it != running_.rend(); ++it) {
    Sequence* s = it->get();
    if (std::find(keep.begin(), keep.end(), s) != keep.end()) continue;
    // Its tokens stay; only the cache goes. It is recomputed when readmitted (the prefix
    // cache usually gives most of it back).
    s->kv.clear();
    s->n_cached = s->n_published = 0;
    s->chain_hash = 0;
    std::unique_ptr<Sequence> owned = std::move(*it);
    running_.erase(std::next(it).base());
    std::lock_guard<std::mutex> lock(mu_);
    waiting_.push_front(std::move(owned));
    ++metrics_.requests_preempted_total;
    return true;
  }
  return false;
}

int SchedulerImpl::emit_sample(Sequence& s, std::span<const float> logits) {
  const Model& model = *model_;
  const int32_t token = s.sampler.sample(logits);
  if (s.ttft < 0) s.ttft = seconds_between(s.t_submit, Clock::now());
  if (model.is_end_of_generation(token) && !s.request.ignore_eos) {
    GenerationEvent ev;
    ev.text = s.text.finish();
    bool keep = true;
    if (!ev.text.empty() && s.on_event) keep = s.on_event(ev);
    finish_running(&s, keep ? "stop" : "cancelled");
    return 0;
  }
  s.sampler.accept(token);
  s.tokens.push_back(token);
  ++s.n_generated;

  GenerationEvent ev;
  SampledToken sampled;
  sampled.chosen.id = token;
  sampled.chosen.piece = model.token_to_piece(token);
  if (s.request.top_logprobs >= 0) {
    // log softmax of the raw logits: logit - (max + log sum exp(logit - max))
    const float mx = *std::max_element(logits.begin(), logits.end());
    double sum = 0;
    for (float l : logits) sum += std::exp(static_cast<double>(l - mx));
    const float lse = mx + static_cast<float>(std::log(sum));
    sampled.chosen.logprob = logits[token] - lse;
    const int k = std::min<int>(s.request.top_logprobs, static_cast<int>(logits.size()));
    std::vector<int32_t> ids(logits.size());
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>(i);
    std::partial_sort(ids.begin(), ids.begin() + k, ids.end(),
                      [&](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); });
    for (int i = 0; i < k; ++i) sampled.top.push_back({ids[i], model.token_to_piece(ids[i]), logits[ids[i]] - lse});
  }
  ev.text = s.text.push(sampled.chosen.piece);
  ev.tokens.push_back(std::move(sampled));

  const bool out_of_tokens = s.request.max_tokens >= 0 && s.n_generated >= s.request.max_tokens;
  const bool context_full = static_cast<int>(s.tokens.size()) >= options.n_ctx_seq;  // no position left for it
  const bool done = s.text.stopped() || out_of_tokens || context_full;
  if (done && !s.text.stopped()) ev.text += s.text.finish();
  const bool keep = s.on_event ? s.on_event(ev) : true;
  if (!keep) {
    finish_running(&s, "cancelled");
  } else if (s.text.stopped()) {
    finish_running(&s, "stop");
  } else if (done) {
    finish_running(&s, "length");
  }
  return 1;
}

bool SchedulerImpl::step() {
  // Cancellations first: their blocks are free for this step's batch.
  std::unordered_set<uint64_t> cancelled;
  bool quit;
  {
    std::lock_guard<std::mutex> lock(mu_);
    cancelled.swap(cancelled_);
    quit = quit_;
  }
  std::vector<std::unique_ptr<Sequence>> dropped;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = waiting_.begin(); it != waiting_.end();) {
      if (quit || cancelled.count((*it)->id)) {
        dropped.push_back(std::move(*it));
        it = waiting_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& s : dropped) finish(std::move(s), "cancelled");
  for (size_t i = running_.size(); i-- > 0;)
    if (quit || cancelled.count(running_[i]->id)) finish_running(running_[i].get(), "cancelled");

  admit();

  // Batch: one token for every decoding sequence, then prompt chunks, oldest first.
  std::vector<Sequence*> batch;
  std::vector<SeqBatch> runs;
  std::vector<int32_t> tokens;
  int budget = options.step_tokens;
  auto add = [&](Sequence* s, int n) {
    std::vector<Sequence*> keep = batch;
    keep.push_back(s);
    while (!s->kv.reserve(s->n_cached + n))
      if (!preempt_youngest(keep)) return;  // s waits for blocks to come free
    const bool completes = s->n_cached + n == static_cast<int>(s->tokens.size());
    runs.push_back({&s->kv, s->n_cached, n, completes ? LogitsWanted::kLast : LogitsWanted::kNone});
    tokens.insert(tokens.end(), s->tokens.begin() + s->n_cached, s->tokens.begin() + s->n_cached + n);
    batch.push_back(s);
    budget -= n;
  };
  for (int pass = 0; pass < 2; ++pass) {
    for (size_t i = 0; i < running_.size() && budget > 0; ++i) {
      Sequence* s = running_[i].get();
      if (std::find(batch.begin(), batch.end(), s) != batch.end()) continue;
      const int pending = static_cast<int>(s->tokens.size()) - s->n_cached;
      const bool decoding = pending == 1;
      if (decoding != (pass == 0)) continue;
      add(s, std::min({pending, options.prefill_chunk, budget}));
    }
  }

  if (!batch.empty()) {
    const Status st = llama_forward(m_.config, m_.weights, state_, pool_, tokens, runs, logits_.data(), m_.layer_source());
    if (!st.ok()) {
      for (Sequence* s : batch) finish_running(s, "error", st.error().message);
    } else {
      int row = 0, generated = 0;
      for (size_t i = 0; i < batch.size(); ++i) {
        Sequence* s = batch[i];
        s->n_cached += runs[i].n;
        publish_blocks(*s);
        if (runs[i].logits == LogitsWanted::kNone) continue;
        const std::span<const float> logits(&logits_[static_cast<size_t>(row++) * m_.config.n_vocab],
                                            m_.config.n_vocab);
        generated += emit_sample(*s, logits);  // may retire s
      }
      const Clock::time_point now = Clock::now();
      recent_tokens_.emplace_back(now, generated);
      std::lock_guard<std::mutex> lock(mu_);
      metrics_.generated_tokens_total += generated;
      while (!recent_tokens_.empty() && seconds_between(recent_tokens_.front().first, now) > 5.0) recent_tokens_.pop_front();
    }
  }

  // Counters for metrics(), and wake shutdown() when all is done.
  std::lock_guard<std::mutex> lock(mu_);
  metrics_.active_sequences = static_cast<int>(running_.size());
  metrics_.queue_depth = static_cast<int>(waiting_.size());
  metrics_.kv_blocks_used = kv_pool_.blocks_in_use();
  metrics_.kv_blocks_cached = kv_pool_.blocks_cached();
  int gen = 0;
  for (const auto& [t, n] : recent_tokens_) gen += n;
  const double window = recent_tokens_.size() >= 2
                            ? seconds_between(recent_tokens_.front().first, recent_tokens_.back().first)
                            : 0.0;
  metrics_.decode_tokens_per_s = window > 0 ? gen / window : 0.0;
  cv_.notify_all();
  return !batch.empty();
}

// ---- public wrapper ----

Scheduler::Scheduler(std::unique_ptr<SchedulerImpl> impl) : impl_(std::move(impl)) {}
Scheduler::~Scheduler() = default;

Result<std::unique_ptr<Scheduler>> Scheduler::create(std::shared_ptr<Model> model, const SchedulerOptions& options) {
  if (!model) return make_error("Scheduler::create: no model");
  SchedulerOptions o = options;
  if (o.parallel < 1 || o.parallel > 256) return make_error(format("--parallel %d: expected 1..256", o.parallel));
  if (o.n_ctx < kBlockTokens || o.n_ctx > (1 << 22))
    return make_error(format("context size %d: expected %d..%d", o.n_ctx, kBlockTokens, 1 << 22));
  o.n_ctx = o.n_ctx / kBlockTokens * kBlockTokens;
  const int train = model->info().n_ctx_train > 0 ? model->info().n_ctx_train : o.n_ctx;
  if (o.n_ctx_seq <= 0) o.n_ctx_seq = std::min(o.n_ctx, train);
  o.n_ctx_seq = std::min(o.n_ctx_seq, o.n_ctx);  // one sequence can always grow to its limit alone
  o.step_tokens = std::max(o.step_tokens, o.parallel);
  o.prefill_chunk = std::clamp(o.prefill_chunk, 1, o.step_tokens);
  if (o.max_queue < 0) o.max_queue = 0;
  const ModelConfig& c = model->impl().config;
  const double kv_mib =
      static_cast<double>(kv_cache_bytes(model->impl().kv_type, c.n_layer, c.kv_dim(), o.n_ctx)) / (1 << 20);
  try {
    return std::unique_ptr<Scheduler>(new Scheduler(std::make_unique<SchedulerImpl>(std::move(model), o)));
  } catch (const std::bad_alloc&) {
    return make_error(format("out of memory allocating the KV pool (%.0f MiB) for %d tokens", kv_mib, o.n_ctx));
  }
}

SubmitResult Scheduler::submit(GenerationRequest request, std::function<bool(const GenerationEvent&)> on_event,
                               std::function<void(const GenerationResult&)> on_done) {
  std::vector<Submission> one;
  one.push_back({std::move(request), std::move(on_event), std::move(on_done)});
  return impl_->submit_together(std::move(one))[0];
}
std::vector<SubmitResult> Scheduler::submit_together(std::vector<Submission> subs) {
  return impl_->submit_together(std::move(subs));
}
void Scheduler::cancel(uint64_t id) { impl_->cancel(id); }
SchedulerMetrics Scheduler::metrics() const { return impl_->metrics(); }
const SchedulerOptions& Scheduler::options() const { return impl_->options; }
void Scheduler::shutdown(std::chrono::milliseconds deadline) { impl_->shutdown(deadline); }

}  // namespace nexus
