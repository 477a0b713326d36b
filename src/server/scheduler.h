// Continuous batching: many generation requests share one model and one paged KV pool. A
// single scheduler thread runs steps; each step builds one batch out of every running
// sequence (one token for a sequence that is decoding, a chunk of its prompt for one that is
// still prefilling), runs it through the model in one forward pass, so the weights are read
// once per step for all of them, then samples and delivers text. Requests join and leave
// between steps.
//
// KV memory comes in fixed-size blocks from one pool; a prompt whose leading blocks are
// already cached (same system prompt, earlier turns) reuses them instead of recomputing.
// When the pool runs dry mid-generation the youngest sequence is preempted: its blocks are
// freed and it is recomputed later from its tokens, invisibly to its client.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "nexus/nexus.h"

namespace nexus {

struct SchedulerOptions {
  int n_ctx = 4096;          // KV pool size in tokens, shared by all sequences
  int n_ctx_seq = 0;         // longest sequence (prompt + output); 0: min(n_ctx, model's training context)
  int parallel = 8;          // sequences running at once
  int max_queue = 64;        // waiting requests past which submit() refuses (kBusy)
  int step_tokens = 512;     // tokens per forward pass, all sequences together
  int prefill_chunk = 256;   // prompt tokens one sequence may add to one step
};

struct GenerationRequest {
  std::vector<int32_t> prompt;    // non-empty
  int max_tokens = -1;            // < 0: until an end-of-generation token or the context is full
  SamplingParams sampling;
  std::vector<std::string> stop;  // stop strings, cut from the output
  int top_logprobs = -1;          // < 0: no logprobs; k >= 0: each token's logprob and the k best alternatives
  bool ignore_eos = false;        // end-of-generation tokens do not end it (benchmarks)
};

struct TokenLogprob {
  int32_t id = 0;
  std::string piece;  // the token's bytes (may be part of a UTF-8 character)
  float logprob = 0;  // log softmax of the raw logits (before penalties and temperature)
};

struct SampledToken {
  TokenLogprob chosen;
  std::vector<TokenLogprob> top;  // top_logprobs alternatives, best first
};

// Output produced by one step for one request.
struct GenerationEvent {
  std::string text;  // new valid UTF-8 text (may be empty while a stop-string prefix is held back)
  std::vector<SampledToken> tokens;  // the tokens sampled this step, with logprobs when asked
};

struct GenerationResult {
  std::string finish_reason;  // "stop" (EOS or stop string), "length", "cancelled", "error"
  std::string error;          // for "error"
  int prompt_tokens = 0;
  int completion_tokens = 0;
  int cached_tokens = 0;       // prompt tokens whose KV came from the prefix cache
  double time_to_first_token_s = 0;
  uint64_t seed = 0;
};

enum class Refusal {
  kNone,
  kInvalid,        // empty prompt, token id out of range: 400
  kPromptTooLong,  // prompt (+ max_tokens) > n_ctx_seq: 400; message gives the counts
  kBusy,           // queue full: 503 with Retry-After
  kShuttingDown,   // 503
};

struct SubmitResult {
  uint64_t id = 0;  // valid when refusal == kNone
  Refusal refusal = Refusal::kNone;
  std::string message;
};

struct SchedulerMetrics {
  int active_sequences = 0;
  int queue_depth = 0;
  int kv_blocks_used = 0;    // blocks held by running sequences
  int kv_blocks_cached = 0;  // free blocks still holding a reusable prefix
  int kv_blocks_total = 0;
  int kv_block_tokens = 0;
  uint64_t prompt_tokens_total = 0;       // prompt tokens of finished and running requests
  uint64_t prompt_tokens_reused_total = 0;  // of which served from the prefix cache
  uint64_t generated_tokens_total = 0;
  uint64_t requests_preempted_total = 0;
  double decode_tokens_per_s = 0;  // generated tokens per second over the last steps
};

// A request with its callbacks, as submit() takes them.
struct Submission {
  GenerationRequest request;
  std::function<bool(const GenerationEvent&)> on_event;
  std::function<void(const GenerationResult&)> on_done;
};

class SchedulerImpl;

class Scheduler {
 public:
  static Result<std::unique_ptr<Scheduler>> create(std::shared_ptr<Model> model, const SchedulerOptions& options);
  ~Scheduler();  // cancels everything still running and joins the scheduler thread

  // Queues a request. on_event runs on the scheduler thread after each step that produced
  // output for it; returning false cancels the request (a client that went away). on_done runs
  // exactly once, last, on the scheduler thread (or before submit returns, never, when refused).
  // Callbacks must be quick: they hold up every sequence.
  SubmitResult submit(GenerationRequest request, std::function<bool(const GenerationEvent&)> on_event,
                      std::function<void(const GenerationResult&)> on_done);

  // Queues several requests under one lock, so none starts before all are queued: with
  // free slots they begin in the same step (benchmarks of P streams at once). Each is
  // accepted or refused as submit() would, in order.
  std::vector<SubmitResult> submit_together(std::vector<Submission> subs);

  // Cancels a queued or running request; its blocks are freed within one step. Unknown ids are ignored.
  void cancel(uint64_t id);

  SchedulerMetrics metrics() const;
  const SchedulerOptions& options() const;

  // Refuses new requests (kShuttingDown), lets running ones finish for up to `deadline`, then
  // cancels the rest. Returns when none is left.
  void shutdown(std::chrono::milliseconds deadline);

 private:
  explicit Scheduler(std::unique_ptr<SchedulerImpl> impl);
  std::unique_ptr<SchedulerImpl> impl_;
};

}  // namespace nexus
