// Nexus public API: load a model, open a session, evaluate tokens, sample, generate.
// Contract used by the CLI, tests and tools; implementations live in src/.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "nexus/result.h"

namespace nexus {

struct LoadOptions {
  int threads = 0;  // 0 = default_thread_count()
  // Memory budget in bytes for everything the process keeps (resident weights, streaming
  // buffers, KV cache, scratch); 0 = unlimited (the whole file is mapped). With a budget the
  // weights that do not fit are streamed from disk each forward pass (src/memory/).
  uint64_t mem_budget = 0;
  // The context the budget must leave KV-cache room for (0: the model's training context,
  // capped at 4096, as Session::create's default). Sessions on a budgeted model may not use a
  // larger context.
  int budget_ctx = 0;
  // Read backend for streamed weights: "auto" (io_uring, else pread threads), "io_uring", "pread".
  std::string io_backend = "auto";
  // Most layer slots in the streaming ring (0: the planner's default, 2). More slots smooth
  // out uneven reads at the cost of resident weights.
  int stream_slots = 0;
  // With a budget: mlock the resident weights and the ring's slots (an error when the
  // RLIMIT_MEMLOCK does not allow it).
  bool mlock = false;
  // Element type of the KV cache of every session (and server pool) on this model: "f32"
  // (exact), "f16" (half the memory) or "q8_0" (about a quarter; heads of a multiple of 32).
  // Long-context decode reads the whole cache per token, so a smaller one is faster there.
  std::string kv_type = "f32";
  // Without a budget: rewrite matrices into the layouts this CPU's kernels compute faster
  // (Q4_K rows interleaved by 8 with AVX2), in memory of their own. Same numbers either way;
  // false keeps every weight in the file mapping (llama.cpp's --no-repack).
  bool repack = true;
};

struct ModelInfo {
  std::string arch;  // "llama", "qwen2", "qwen3"
  std::string name;
  int32_t n_vocab = 0;
  int32_t n_ctx_train = 0;
  int32_t n_embd = 0;
  int32_t n_layer = 0;
  int32_t n_head = 0;
  int32_t n_head_kv = 0;
  int32_t n_ff = 0;
  uint64_t n_params = 0;
  uint64_t weight_bytes = 0;  // bytes of all tensors as stored
};

class ModelImpl;
class SessionImpl;

class Model {
 public:
  // Loads a GGUF model (mmap). Errors: missing file, corrupt GGUF, unknown architecture,
  // missing or mis-shaped tensors: one line naming the problem.
  static Result<std::shared_ptr<Model>> load(const std::string& path, const LoadOptions& options = {});
  ~Model();

  const ModelInfo& info() const;
  std::vector<int32_t> tokenize(std::string_view text, bool add_bos, bool parse_special = false) const;
  std::string token_to_piece(int32_t id) const;
  int32_t bos() const;
  int32_t eos() const;
  bool is_end_of_generation(int32_t id) const;

  ModelImpl& impl() { return *impl_; }

 private:
  explicit Model(std::unique_ptr<ModelImpl> impl);
  std::unique_ptr<ModelImpl> impl_;
  friend class Session;
};

// One sequence's state: KV cache of n_ctx positions plus scratch buffers.
class Session {
 public:
  // n_ctx = 0: the model's training context, capped at 4096.
  static Result<std::unique_ptr<Session>> create(std::shared_ptr<Model> model, int n_ctx = 0);
  ~Session();

  // Appends `tokens` at position n_past() and runs them through the model in one batch.
  // Returns the logits (n_vocab floats) of the last token, or of every token in order when
  // all_logits (tokens.size() * n_vocab). Error when the context would overflow or a token id
  // is out of range (the session is then unchanged). The span stays valid until the next eval.
  Result<std::span<const float>> eval(std::span<const int32_t> tokens, bool all_logits = false);

  int n_past() const;
  int n_ctx() const;
  void reset();              // forget all tokens
  void truncate(int n_keep);  // keep the first n_keep positions
  Model& model();

 private:
  explicit Session(std::unique_ptr<SessionImpl> impl);
  std::unique_ptr<SessionImpl> impl_;
};

struct SamplingParams {
  float temperature = 0.8f;  // <= 0: greedy
  int top_k = 40;            // <= 0: off
  float top_p = 0.95f;       // >= 1: off
  float min_p = 0.05f;       // <= 0: off
  float repeat_penalty = 1.0f;  // 1: off
  int repeat_last_n = 64;
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  uint64_t seed = 0xFFFFFFFFu;  // 0xFFFFFFFF = random
};

struct GenerateOptions {
  int max_tokens = 128;  // < 0: until EOS or context full
  SamplingParams sampling;
  std::vector<std::string> stop;  // stop strings (not included in the output)
  bool add_bos = true;
};

struct GenerateStats {
  int prompt_tokens = 0;
  int generated_tokens = 0;
  double prompt_seconds = 0;
  double generate_seconds = 0;
  std::string finish_reason;  // "stop" (EOS / stop string / on_text returned false) or "length"
  uint64_t seed = 0;          // the sampler's seed (the drawn one when SamplingParams asked for random)
  std::vector<int32_t> tokens;  // ids sampled, end-of-generation token excluded (a chat keeps
                                // them to know what its KV cache holds)
};

// Tokenizes `prompt`, evaluates it after the session's n_past() tokens (reset() first for a
// fresh start), samples until a stop condition. `on_text` (may be empty)
// receives output text as it is produced; return false from it to stop early.
// Output text is always valid UTF-8: a character split over several tokens is passed on once
// whole, ill-formed bytes become U+FFFD (decode/utf8_stream.h).
// On return the session holds the prompt and the generated tokens that were fed back (all but
// the last one sampled, unless generation ended with an end-of-generation token).
Result<std::string> generate(Session& session, std::string_view prompt, const GenerateOptions& options,
                             const std::function<bool(std::string_view)>& on_text = {},
                             GenerateStats* stats = nullptr);

// generate() from prompt tokens already made (options.add_bos is not used): a chat evaluates
// only the tokens of its new turn this way. `prompt` must not be empty.
Result<std::string> generate_from_tokens(Session& session, std::span<const int32_t> prompt,
                                         const GenerateOptions& options,
                                         const std::function<bool(std::string_view)>& on_text = {},
                                         GenerateStats* stats = nullptr);

}  // namespace nexus
