// KL divergence between a base model and a current (e.g. quantized) model on the same tokens.
// A perplexity run with --kl-divergence-base OUT saves, for every scored position, the base
// model's log-probabilities; a later run with --kl-divergence reads them back and compares.
//
// Base file layout (little-endian):
//   char[8]  magic "NXKLDIV1"
//   u32      version (1)
//   u32      n_vocab, n_ctx, n_chunks
//   i32      tokens[n_chunks * n_ctx]        exactly the tokens evaluated (BOS-substituted)
//   then, per chunk, per scored position (scored_per_chunk(n_ctx) of them):
//   i32      argmax of the base logits
//   f32      base log-probability of the actual next token
//   f16      log_softmax(base logits)[n_vocab]
// F16 keeps ~3 significant digits of each log-probability, most precise near 0 where the
// probable tokens (which dominate the KL sum) are; the reader renormalises after decoding.
#pragma once

#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <vector>

#include "nexus/result.h"

namespace nexus::eval {

// out[i] = logits[i] - log_sum_exp(logits), in double. out.size() == logits.size().
void log_softmax(std::span<const float> logits, std::span<double> out);

// KL(P || Q) = sum_i p_i (log p_i - log q_i) from normalised log-probabilities.
double kl_divergence(std::span<const double> log_p, std::span<const double> log_q);

// Running mean and standard error of a per-position statistic. Welford's update: the
// textbook sum-of-squares form cancels catastrophically when the spread is tiny next to
// the mean (NLLs of ~10 varying by 1e-6).
class MeanAccumulator {
 public:
  void add(double x) {
    ++n_;
    const double d = x - mean_;
    mean_ += d / static_cast<double>(n_);
    m2_ += d * (x - mean_);
  }
  int64_t count() const { return n_; }
  double mean() const { return mean_; }
  double mean_stderr() const;  // sqrt(var / (n - 1)), var = population variance; 0 for n < 2

 private:
  int64_t n_ = 0;
  double mean_ = 0, m2_ = 0;  // m2_ = sum of squared deviations from the mean
};

struct KldHeader {
  uint32_t n_vocab = 0;
  uint32_t n_ctx = 0;
  uint32_t n_chunks = 0;
  std::vector<int32_t> tokens;  // n_chunks * n_ctx
};

// One scored position as stored in the base file.
struct KldRecord {
  int32_t argmax = 0;
  float target_logprob = 0;
  std::vector<double> logprobs;  // n_vocab, renormalised after F16 decoding
};

class KldWriter {
 public:
  static Result<KldWriter> create(const std::string& path, const KldHeader& header);
  KldWriter(KldWriter&& other) noexcept;
  KldWriter& operator=(KldWriter&&) = delete;
  ~KldWriter();

  // logprobs: log_softmax of the base logits (n_vocab values).
  Status write(std::span<const double> logprobs, int32_t argmax, double target_logprob);
  Status close();  // flushes; errors when the disk is full

 private:
  KldWriter(std::FILE* f, std::string path, uint32_t n_vocab) : f_(f), path_(std::move(path)), n_vocab_(n_vocab) {}
  std::FILE* f_ = nullptr;
  std::string path_;
  uint32_t n_vocab_ = 0;
  std::vector<uint16_t> buf_;
};

class KldReader {
 public:
  // Reads and validates the header and token list; the file size must match the header
  // exactly (truncated or foreign files are rejected before anything large is allocated).
  static Result<KldReader> open(const std::string& path);
  KldReader(KldReader&& other) noexcept;
  KldReader& operator=(KldReader&&) = delete;
  ~KldReader();

  const KldHeader& header() const { return header_; }
  // Error unless the base was made with a model of this vocabulary size.
  Status check_vocab(int32_t n_vocab) const;
  Status read(KldRecord& record);

 private:
  KldReader(std::FILE* f, std::string path) : f_(f), path_(std::move(path)) {}
  std::FILE* f_ = nullptr;
  std::string path_;
  KldHeader header_;
  std::vector<uint16_t> buf_;
};

}  // namespace nexus::eval
