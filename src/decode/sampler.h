// Picks the next token from logits: penalties, then top-k, top-p, min-p, temperature and a
// seeded random draw (the order llama.cpp uses), or argmax when temperature <= 0.
#pragma once

#include <cstdint>
#include <deque>
#include <random>
#include <span>
#include <vector>

#include "nexus/nexus.h"

namespace nexus {

// A token still in the running: its id, logit and (after softmax) probability.
struct Candidate {
  int32_t id;
  float logit;
  float p;
};

// Each step below takes and returns the candidate list, so a test can drive one step on
// hand-made logits.

// Repetition penalty (llama.cpp): each distinct token of `recent` has its logit divided by
// `repeat` when positive, multiplied when negative. Presence / frequency (OpenAI):
// logit -= count * frequency + (count > 0) * presence.
void apply_penalties(std::vector<Candidate>& c, std::span<const int32_t> recent, float repeat,
                     float presence, float frequency);

// Sorts by logit, descending, and keeps the k best (k <= 0: all).
void top_k(std::vector<Candidate>& c, int k);

// Sets p = softmax(logit) over the candidates; leaves them sorted by logit, descending.
void softmax(std::vector<Candidate>& c);

// Keeps the smallest prefix (by descending probability) whose mass reaches top_p (>= 1: all).
void top_p(std::vector<Candidate>& c, float p);

// Keeps candidates with probability >= min_p * the highest probability (<= 0: all).
void min_p(std::vector<Candidate>& c, float p);

// Divides every logit by the temperature (> 0).
void apply_temperature(std::vector<Candidate>& c, float t);

class Sampler {
 public:
  explicit Sampler(const SamplingParams& params);

  // Chooses a token from logits[0..n_vocab). Uses the tokens passed to accept() for penalties.
  int32_t sample(std::span<const float> logits);

  // Records a token of the sequence (prompt or generated) for the penalties' window.
  void accept(int32_t token);

  const SamplingParams& params() const { return params_; }
  uint64_t seed() const { return seed_; }  // the actual seed (a random one when asked for)

 private:
  // Uniform double in [0, 1) from 53 random bits: same stream on every platform, unlike
  // std::uniform_real_distribution.
  double uniform();

  SamplingParams params_;
  uint64_t seed_;
  std::mt19937_64 rng_;
  std::deque<int32_t> recent_;  // last repeat_last_n accepted tokens (all when < 0)
  std::vector<Candidate> candidates_;
  std::vector<int32_t> recent_scratch_;
};

}  // namespace nexus
