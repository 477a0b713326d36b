#include "decode/sampler.h"

#include <algorithm>
#include <cmath>
#include <unordered_map>

namespace nexus {

namespace {
constexpr uint64_t kRandomSeed = 0xFFFFFFFFu;

bool by_logit_desc(const Candidate& a, const Candidate& b) {
  return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}
}  // namespace

void apply_penalties(std::vector<Candidate>& c, std::span<const int32_t> recent, float repeat,
                     float presence, float frequency) {
  if (recent.empty() || (repeat == 1.0f && presence == 0.0f && frequency == 0.0f)) return;
  std::unordered_map<int32_t, int> count;
  for (int32_t t : recent) ++count[t];
  for (Candidate& x : c) {
    auto it = count.find(x.id);
    if (it == count.end()) continue;
    // Dividing a negative logit would raise it; multiplying lowers it as intended.
    x.logit = x.logit > 0 ? x.logit / repeat : x.logit * repeat;
    x.logit -= static_cast<float>(it->second) * frequency + presence;
  }
}

void top_k(std::vector<Candidate>& c, int k) {
  if (k <= 0 || k >= static_cast<int>(c.size())) {
    std::sort(c.begin(), c.end(), by_logit_desc);
    return;
  }
  std::partial_sort(c.begin(), c.begin() + k, c.end(), by_logit_desc);
  c.resize(k);
}

void softmax(std::vector<Candidate>& c) {
  if (c.empty()) return;
  std::sort(c.begin(), c.end(), by_logit_desc);
  const float mx = c[0].logit;
  double sum = 0.0;
  for (Candidate& x : c) {
    x.p = std::exp(x.logit - mx);
    sum += x.p;
  }
  for (Candidate& x : c) x.p = static_cast<float>(x.p / sum);
}

void top_p(std::vector<Candidate>& c, float p) {
  if (p >= 1.0f || c.empty()) return;
  softmax(c);
  double mass = 0.0;
  size_t keep = c.size();
  for (size_t i = 0; i < c.size(); ++i) {
    mass += c[i].p;
    if (mass >= p) {
      keep = i + 1;
      break;
    }
  }
  c.resize(keep);
}

void min_p(std::vector<Candidate>& c, float p) {
  if (p <= 0.0f || c.empty()) return;
  // p_i >= min_p * p_max  <=>  logit_i >= logit_max + log(min_p): no softmax needed.
  float mx = c[0].logit;
  for (const Candidate& x : c) mx = std::max(mx, x.logit);
  const float threshold = mx + std::log(p);
  std::erase_if(c, [&](const Candidate& x) { return x.logit < threshold; });
}

void apply_temperature(std::vector<Candidate>& c, float t) {
  for (Candidate& x : c) x.logit /= t;
}

Sampler::Sampler(const SamplingParams& params)
    : params_(params), seed_(params.seed == kRandomSeed ? std::random_device{}() : params.seed), rng_(seed_) {}

double Sampler::uniform() { return static_cast<double>(rng_() >> 11) * 0x1.0p-53; }

void Sampler::accept(int32_t token) {
  recent_.push_back(token);
  const int n = params_.repeat_last_n;
  if (n >= 0)
    while (static_cast<int>(recent_.size()) > n) recent_.pop_front();
}

int32_t Sampler::sample(std::span<const float> logits) {
  candidates_.resize(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) candidates_[i] = {static_cast<int32_t>(i), logits[i], 0.0f};
  recent_scratch_.assign(recent_.begin(), recent_.end());
  apply_penalties(candidates_, recent_scratch_, params_.repeat_penalty, params_.presence_penalty,
                  params_.frequency_penalty);

  if (params_.temperature <= 0.0f) {  // greedy: the best logit, lowest id on ties
    return std::min_element(candidates_.begin(), candidates_.end(), by_logit_desc)->id;
  }
  top_k(candidates_, params_.top_k);
  top_p(candidates_, params_.top_p);
  min_p(candidates_, params_.min_p);
  apply_temperature(candidates_, params_.temperature);
  softmax(candidates_);

  // Draw u in [0, 1) and walk the cumulative distribution.
  const double u = uniform();
  double cum = 0.0;
  for (const Candidate& x : candidates_) {
    cum += x.p;
    if (u < cum) return x.id;
  }
  return candidates_.back().id;  // rounding left u just above the total mass
}

}  // namespace nexus
