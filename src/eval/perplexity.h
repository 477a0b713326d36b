// Perplexity over a text file, llama.cpp-compatible: the text is tokenized once (BOS first),
// cut into non-overlapping chunks of n_ctx tokens whose first token is replaced by BOS, each
// chunk is evaluated in a fresh context, and only the second half of each chunk is scored
// (logits at positions n_ctx/2 .. n_ctx-2 predicting the following token), so every scored
// token has at least n_ctx/2 tokens of context.
// Optionally saves the base model's log-probabilities for a later KL-divergence run
// (eval/kl_divergence.h), or compares against such a file.
#pragma once

#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <vector>

#include "eval/kl_divergence.h"
#include "nexus/nexus.h"
#include "nexus/result.h"

namespace nexus::eval {

// ---- scoring maths (double precision, numerically stable) ----

// log(sum_i exp(logits[i])), computed as max + log(sum exp(x - max)) in double.
double log_sum_exp(std::span<const float> logits);

// Negative log-likelihood of `target` under softmax(logits): log_sum_exp(logits) - logits[target].
double nll_of_target(std::span<const float> logits, int32_t target);

// Index of the largest logit (the first one on ties).
int32_t argmax(std::span<const float> logits);

// Running mean and standard error of per-token negative log-likelihoods.
class NllAccumulator {
 public:
  void add(double nll) { nll_.add(nll); }
  int64_t count() const { return nll_.count(); }
  double mean() const { return nll_.mean(); }
  double mean_stderr() const { return nll_.mean_stderr(); }
  double ppl() const;  // exp(mean NLL)
  // Uncertainty of the PPL by error propagation: ppl * stderr(mean NLL).
  double ppl_stderr() const { return ppl() * mean_stderr(); }

 private:
  MeanAccumulator nll_;
};

// ---- chunking ----

// Positions of one chunk that are scored: logits at [first, last) predict token at +1.
inline int first_scored(int n_ctx) { return n_ctx / 2; }
inline int scored_per_chunk(int n_ctx) { return n_ctx - 1 - first_scored(n_ctx); }

// Cuts `tokens` (the whole tokenized file, BOS first) into up to max_chunks (<= 0: all)
// chunks of n_ctx tokens each and returns them concatenated, the first token of every chunk
// replaced by `bos` (when bos >= 0). Error when not even one chunk fits.
Result<std::vector<int32_t>> make_chunks(std::span<const int32_t> tokens, int n_ctx, int max_chunks,
                                         int32_t bos);

// ---- the whole run ----

struct PerplexityOptions {
  std::string text_file;       // -f; may be empty when kl_divergence (tokens come from the base)
  int n_ctx = 0;               // 0: min(512, n_ctx_train)
  int max_chunks = -1;         // <= 0: all
  int n_batch = 512;           // tokens per eval call within a chunk
  std::string kld_base_file;   // --kl-divergence-base
  bool kl_divergence = false;  // compare against kld_base_file instead of writing it
};

struct PerplexityResult {
  double ppl = 0, ppl_stderr = 0;
  int64_t n_scored = 0;
  int n_chunks = 0;
  int n_ctx = 0;
  // Only with kl_divergence:
  double kld_mean = 0, kld_stderr = 0;
  double top1_agreement = 0, top1_stderr = 0;  // fractions in [0, 1]
  double base_ppl = 0;
};

// Runs the evaluation. Per-chunk running PPL and the summary go to `out` (last line
// "PPL = <ppl> +/- <err>"), timings and notes to `log`.
Result<PerplexityResult> run_perplexity(std::shared_ptr<Model> model, const PerplexityOptions& options,
                                        std::FILE* out, std::FILE* log);

}  // namespace nexus::eval
