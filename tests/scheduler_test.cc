// Continuous batching: sequences decoded together give exactly what each gives alone, prefix
// blocks are reused, preemption under a small pool is invisible, cancellation frees blocks.
#include "server/scheduler.h"

#include <gtest/gtest.h>

#include <cstring>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "kv/kv_cache.h"
#include "kv/kv_pool.h"
#include "nexus/nexus.h"
#include "test_util.h"

namespace nexus {
namespace {

constexpr const char* kModel = "models/stories260K.gguf";

std::shared_ptr<Model> load(int threads = 2) {
  LoadOptions o;
  o.threads = threads;
  auto m = Model::load(test::shared_file(kModel), o);
  EXPECT_TRUE(m.ok()) << (m.ok() ? "" : m.error().message);
  return m.ok() ? m.value() : nullptr;
}

// Greedy output of one prompt in a session of its own: the reference.
std::string alone(const std::shared_ptr<Model>& model, const std::string& prompt, int max_tokens,
                  const std::vector<std::string>& stop = {}) {
  auto session = Session::create(model, 256);
  EXPECT_TRUE(session.ok());
  GenerateOptions o;
  o.max_tokens = max_tokens;
  o.sampling.temperature = 0;
  o.stop = stop;
  auto text = generate(*session.value(), prompt, o);
  EXPECT_TRUE(text.ok());
  return text.ok() ? text.value() : "";
}

// Collects one request's events; wait() returns its text and result.
struct Collector {
  std::mutex mu;
  std::condition_variable cv;
  std::string text;
  int n_tokens = 0;
  std::vector<SampledToken> tokens;
  bool done = false;
  GenerationResult result;
  int cancel_after = -1;  // return false from on_event after this many tokens

  std::function<bool(const GenerationEvent&)> on_event() {
    return [this](const GenerationEvent& e) {
      std::lock_guard<std::mutex> lock(mu);
      text += e.text;
      n_tokens += static_cast<int>(e.tokens.size());
      tokens.insert(tokens.end(), e.tokens.begin(), e.tokens.end());
      return cancel_after < 0 || n_tokens < cancel_after;
    };
  }
  std::function<void(const GenerationResult&)> on_done() {
    return [this](const GenerationResult& r) {
      std::lock_guard<std::mutex> lock(mu);
      result = r;
      done = true;
      cv.notify_all();
    };
  }
  void wait() {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(60), [&] { return done; })) << "request never finished";
  }
};

GenerationRequest greedy(const std::shared_ptr<Model>& model, const std::string& prompt, int max_tokens) {
  GenerationRequest r;
  r.prompt = model->tokenize(prompt, true);
  r.max_tokens = max_tokens;
  r.sampling.temperature = 0;
  return r;
}

void wait_idle(Scheduler& s) {
  for (int i = 0; i < 500; ++i) {
    const SchedulerMetrics m = s.metrics();
    if (m.active_sequences == 0 && m.queue_depth == 0 && m.kv_blocks_used == 0) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  FAIL() << "scheduler never went idle";
}

const std::vector<std::string> kPrompts = {
    "Once upon a time", "Lily and Tom went to the park", "The dog", "One day, a little bird",
    "There was a big red ball in the garden. The ball was", "Sam had a toy",
    "Mom said", "The sun was shining and the children"};

TEST(KvPool, BlocksAreCountedCachedAndReclaimed) {
  KvPool pool(2, 8, 4, 3);
  const int a = pool.allocate(), b = pool.allocate();
  EXPECT_EQ(pool.blocks_in_use(), 2);
  const uint64_t h = KvPool::hash_block(0, std::vector<int32_t>{1, 2, 3, 4});
  pool.publish(a, h);
  pool.release(a);  // cached: keeps its prefix
  EXPECT_EQ(pool.blocks_cached(), 1);
  EXPECT_EQ(pool.find_cached(h), a);
  EXPECT_EQ(pool.blocks_in_use(), 2);
  pool.release(a);
  pool.release(b);  // no prefix: plain free
  EXPECT_EQ(pool.blocks_cached(), 1);
  EXPECT_NE(pool.allocate(), -1);
  EXPECT_NE(pool.allocate(), -1);
  // Only the cached block is left: taking it forgets its prefix.
  EXPECT_EQ(pool.allocate(), a);
  EXPECT_EQ(pool.find_cached(h), -1);
  EXPECT_EQ(pool.allocate(), -1);
  EXPECT_NE(KvPool::hash_block(0, std::vector<int32_t>{1, 2, 3, 4}), KvPool::hash_block(h, std::vector<int32_t>{1, 2, 3, 4}));
}

TEST(KvCache, MapsPositionsThroughBlocks) {
  KvPool pool(1, 2, 4, 4);
  KvCache a(pool), b(pool);
  ASSERT_TRUE(a.reserve(1));
  ASSERT_TRUE(b.reserve(5));
  ASSERT_TRUE(a.reserve(6));  // a gets blocks 0 and 3, b blocks 1 and 2
  EXPECT_EQ(a.capacity(), 8);
  EXPECT_FALSE(b.reserve(9));
  for (int p = 0; p < 8; ++p) {
    const float k[2] = {static_cast<float>(p), 0.5f}, v[2] = {-static_cast<float>(p), 2.0f};
    a.store(0, p, k, v);
  }
  const float minus[2] = {-1.0f, -1.0f};
  for (int p = 0; p < 8; ++p) b.store(0, p, minus, minus);
  for (int p = 0; p < 8; ++p) {
    float k[2], v[2];
    std::memcpy(k, a.k(0, p), sizeof(k));
    std::memcpy(v, a.v(0, p), sizeof(v));
    EXPECT_EQ(k[0], static_cast<float>(p));
    EXPECT_EQ(v[0], -static_cast<float>(p));
    EXPECT_EQ(v[1], 2.0f);
  }
  a.shrink(3);
  EXPECT_EQ(a.capacity(), 4);
  EXPECT_EQ(pool.blocks_in_use(), 3);
}

TEST(Scheduler, ConcurrentGreedyRequestsMatchRunningAlone) {
  NEXUS_REQUIRE_SHARED(kModel);
  auto model = load();
  SchedulerOptions o;
  o.n_ctx = 2048;
  o.parallel = 4;  // 8 requests: half wait in the queue, then join mid-flight
  auto sched = Scheduler::create(model, o);
  ASSERT_TRUE(sched.ok()) << sched.error().message;
  std::vector<Collector> out(kPrompts.size());
  for (size_t i = 0; i < kPrompts.size(); ++i) {
    const SubmitResult r = sched.value()->submit(greedy(model, kPrompts[i], 20 + 5 * static_cast<int>(i)),
                                                 out[i].on_event(), out[i].on_done());
    ASSERT_EQ(r.refusal, Refusal::kNone) << r.message;
  }
  for (size_t i = 0; i < kPrompts.size(); ++i) {
    out[i].wait();
    EXPECT_EQ(out[i].text, alone(model, kPrompts[i], 20 + 5 * static_cast<int>(i))) << kPrompts[i];
    EXPECT_EQ(out[i].result.finish_reason, "length");
    EXPECT_EQ(out[i].result.completion_tokens, 20 + 5 * static_cast<int>(i));
    EXPECT_EQ(out[i].result.prompt_tokens, static_cast<int>(model->tokenize(kPrompts[i], true).size()));
  }
  wait_idle(*sched.value());
  EXPECT_GE(sched.value()->metrics().generated_tokens_total, 8u * 20);
}

// Requests queued together start in the same step: every stream has its first token before
// any has its second. A refused one among them does not stop the others.
TEST(Scheduler, SubmitTogetherStartsTheStreamsInOneStep) {
  NEXUS_REQUIRE_SHARED(kModel);
  auto model = load();
  SchedulerOptions o;
  o.parallel = 3;
  auto sched = Scheduler::create(model, o);
  ASSERT_TRUE(sched.ok()) << sched.error().message;
  std::atomic<int> events{0};
  std::vector<std::vector<int>> order(3);  // each stream's event numbers, in arrival order
  std::vector<Collector> out(3);
  std::vector<Submission> subs;
  for (int i = 0; i < 3; ++i) {
    auto collect = out[i].on_event();
    subs.push_back({greedy(model, kPrompts[i], 6), [&, i, collect](const GenerationEvent& e) {
                      order[i].push_back(events++);
                      return collect(e);
                    },
                    out[i].on_done()});
    if (i == 1) subs.push_back({GenerationRequest{}, nullptr, nullptr});  // empty prompt: refused
  }
  const std::vector<SubmitResult> r = sched.value()->submit_together(std::move(subs));
  ASSERT_EQ(r.size(), 4u);
  EXPECT_EQ(r[0].refusal, Refusal::kNone);
  EXPECT_EQ(r[1].refusal, Refusal::kNone);
  EXPECT_EQ(r[2].refusal, Refusal::kInvalid);
  EXPECT_EQ(r[3].refusal, Refusal::kNone);
  int last_first = -1, first_second = 1 << 30;
  for (int i = 0; i < 3; ++i) {
    out[i].wait();
    EXPECT_EQ(out[i].text, alone(model, kPrompts[i], 6)) << kPrompts[i];
    ASSERT_GE(order[i].size(), 2u);
    last_first = std::max(last_first, order[i][0]);
    first_second = std::min(first_second, order[i][1]);
  }
  EXPECT_LT(last_first, first_second) << "a stream had its second token before another had its first";
  wait_idle(*sched.value());
}

TEST(Scheduler, SharedPrefixIsReusedAndGivesTheSameText) {
  NEXUS_REQUIRE_SHARED(kModel);
  auto model = load();
  auto sched = Scheduler::create(model, SchedulerOptions{});
  ASSERT_TRUE(sched.ok());
  const std::string prefix =
      "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. "
      "One day, she saw a big, red ball. She wanted to play with it.";
  Collector first, second;
  ASSERT_EQ(sched.value()->submit(greedy(model, prefix + " Lily", 16), first.on_event(), first.on_done()).refusal,
            Refusal::kNone);
  first.wait();
  ASSERT_EQ(sched.value()->submit(greedy(model, prefix + " Tom", 16), second.on_event(), second.on_done()).refusal,
            Refusal::kNone);
  second.wait();
  EXPECT_EQ(first.result.cached_tokens, 0);
  const int shared_tokens = static_cast<int>(model->tokenize(prefix, true).size());
  EXPECT_GE(second.result.cached_tokens, shared_tokens / 16 * 16 - 16);
  EXPECT_GT(second.result.cached_tokens, 0);
  EXPECT_EQ(second.text, alone(model, prefix + " Tom", 16));
  EXPECT_GE(sched.value()->metrics().prompt_tokens_reused_total, static_cast<uint64_t>(second.result.cached_tokens));
  wait_idle(*sched.value());
  EXPECT_GT(sched.value()->metrics().kv_blocks_cached, 0);
}

TEST(Scheduler, PreemptionUnderASmallPoolIsInvisible) {
  NEXUS_REQUIRE_SHARED(kModel);
  auto model = load();
  SchedulerOptions o;
  o.n_ctx = 128;  // 8 blocks of 16 for 4 sequences growing to ~50 positions each
  o.parallel = 4;
  auto sched = Scheduler::create(model, o);
  ASSERT_TRUE(sched.ok());
  std::vector<Collector> out(4);
  for (int i = 0; i < 4; ++i)
    ASSERT_EQ(sched.value()->submit(greedy(model, kPrompts[i], 40), out[i].on_event(), out[i].on_done()).refusal,
              Refusal::kNone);
  for (int i = 0; i < 4; ++i) {
    out[i].wait();
    EXPECT_EQ(out[i].text, alone(model, kPrompts[i], 40)) << kPrompts[i];
  }
  EXPECT_GT(sched.value()->metrics().requests_preempted_total, 0u);
  wait_idle(*sched.value());
}

TEST(Scheduler, CancelledRequestsFreeTheirBlocks) {
  NEXUS_REQUIRE_SHARED(kModel);
  auto model = load();
  auto sched = Scheduler::create(model, SchedulerOptions{});
  ASSERT_TRUE(sched.ok());
  Collector by_callback, by_id, survivor;
  by_callback.cancel_after = 3;
  ASSERT_EQ(sched.value()->submit(greedy(model, kPrompts[0], 200), by_callback.on_event(), by_callback.on_done()).refusal,
            Refusal::kNone);
  const SubmitResult r = sched.value()->submit(greedy(model, kPrompts[1], 200), by_id.on_event(), by_id.on_done());
  ASSERT_EQ(r.refusal, Refusal::kNone);
  ASSERT_EQ(sched.value()->submit(greedy(model, kPrompts[2], 30), survivor.on_event(), survivor.on_done()).refusal,
            Refusal::kNone);
  sched.value()->cancel(r.id);
  by_callback.wait();
  by_id.wait();
  survivor.wait();
  EXPECT_EQ(by_callback.result.finish_reason, "cancelled");
  EXPECT_EQ(by_callback.n_tokens, 3);
  EXPECT_EQ(by_id.result.finish_reason, "cancelled");
  EXPECT_EQ(survivor.text, alone(model, kPrompts[2], 30));
  wait_idle(*sched.value());
}

TEST(Scheduler, StopStringsLogprobsAndRefusals) {
  NEXUS_REQUIRE_SHARED(kModel);
  auto model = load();
  SchedulerOptions o;
  o.n_ctx = 256;
  o.max_queue = 0;  // nothing may wait: a second request while one runs is refused
  o.parallel = 1;
  auto sched = Scheduler::create(model, o);
  ASSERT_TRUE(sched.ok());

  GenerationRequest r = greedy(model, kPrompts[0], 40);
  r.stop = {"Lily"};
  r.top_logprobs = 3;
  Collector c;
  ASSERT_EQ(sched.value()->submit(r, c.on_event(), c.on_done()).refusal, Refusal::kNone);
  c.wait();
  EXPECT_EQ(c.text, alone(model, kPrompts[0], 40, {"Lily"}));
  EXPECT_EQ(c.result.finish_reason, "stop");
  ASSERT_FALSE(c.tokens.empty());
  for (const SampledToken& t : c.tokens) {
    ASSERT_EQ(t.top.size(), 3u);
    EXPECT_EQ(t.top[0].id, t.chosen.id);  // greedy picks the most likely token
    EXPECT_LE(t.chosen.logprob, 0.0f);
    EXPECT_GE(t.top[0].logprob, t.top[1].logprob);
  }

  GenerationRequest too_long;
  too_long.prompt.assign(256, model->bos());
  EXPECT_EQ(sched.value()->submit(too_long, {}, {}).refusal, Refusal::kPromptTooLong);
  GenerationRequest bad_id;
  bad_id.prompt = {1, 1 << 30};
  EXPECT_EQ(sched.value()->submit(bad_id, {}, {}).refusal, Refusal::kInvalid);
  EXPECT_EQ(sched.value()->submit(GenerationRequest{}, {}, {}).refusal, Refusal::kInvalid);

  // One slot, no queue: while a long request holds the slot, another is refused as busy.
  Collector running;
  const SubmitResult a = sched.value()->submit(greedy(model, kPrompts[1], -1), running.on_event(), running.on_done());
  ASSERT_EQ(a.refusal, Refusal::kNone);
  EXPECT_EQ(sched.value()->submit(greedy(model, kPrompts[2], 5), {}, {}).refusal, Refusal::kBusy);
  sched.value()->cancel(a.id);
  running.wait();
}

TEST(Scheduler, ShutdownLetsRunningRequestsFinishThenRefuses) {
  NEXUS_REQUIRE_SHARED(kModel);
  auto model = load();
  auto sched = Scheduler::create(model, SchedulerOptions{});
  ASSERT_TRUE(sched.ok());
  Collector c;
  ASSERT_EQ(sched.value()->submit(greedy(model, kPrompts[0], 20), c.on_event(), c.on_done()).refusal, Refusal::kNone);
  sched.value()->shutdown(std::chrono::seconds(30));
  c.wait();
  EXPECT_EQ(c.result.finish_reason, "length");
  EXPECT_EQ(sched.value()->submit(greedy(model, kPrompts[1], 5), {}, {}).refusal, Refusal::kShuttingDown);
  // A deadline that has passed cancels what is still running.
  auto sched2 = Scheduler::create(model, SchedulerOptions{});
  Collector endless;
  ASSERT_EQ(sched2.value()->submit(greedy(model, kPrompts[0], -1), endless.on_event(), endless.on_done()).refusal,
            Refusal::kNone);
  sched2.value()->shutdown(std::chrono::milliseconds(50));
  endless.wait();
  EXPECT_TRUE(endless.result.finish_reason == "cancelled" || endless.result.finish_reason == "length");
}

}  // namespace
}  // namespace nexus
