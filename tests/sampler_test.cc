// Each sampling step on hand-made logits, and the Sampler as a whole.
#include "decode/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <vector>

namespace nexus {
namespace {

std::vector<Candidate> make(std::vector<float> logits) {
  std::vector<Candidate> c;
  for (size_t i = 0; i < logits.size(); ++i) c.push_back({static_cast<int32_t>(i), logits[i], 0.0f});
  return c;
}

std::vector<int32_t> ids(const std::vector<Candidate>& c) {
  std::vector<int32_t> r;
  for (const Candidate& x : c) r.push_back(x.id);
  return r;
}

float logit_of(const std::vector<Candidate>& c, int32_t id) {
  for (const Candidate& x : c)
    if (x.id == id) return x.logit;
  return NAN;
}

TEST(Sampler, RepetitionPenaltyDividesPositiveMultipliesNegative) {
  auto c = make({2.0f, -2.0f, 1.0f, 3.0f});
  const int32_t recent[] = {0, 1, 0};  // token 0 twice: penalised once (distinct tokens)
  apply_penalties(c, recent, 2.0f, 0.0f, 0.0f);
  EXPECT_FLOAT_EQ(logit_of(c, 0), 1.0f);
  EXPECT_FLOAT_EQ(logit_of(c, 1), -4.0f);
  EXPECT_FLOAT_EQ(logit_of(c, 2), 1.0f);
  EXPECT_FLOAT_EQ(logit_of(c, 3), 3.0f);
}

TEST(Sampler, PresenceAndFrequencyPenalties) {
  auto c = make({5.0f, 5.0f, 5.0f});
  const int32_t recent[] = {0, 0, 0, 1};
  apply_penalties(c, recent, 1.0f, 0.5f, 0.25f);
  EXPECT_FLOAT_EQ(logit_of(c, 0), 5.0f - 3 * 0.25f - 0.5f);
  EXPECT_FLOAT_EQ(logit_of(c, 1), 5.0f - 1 * 0.25f - 0.5f);
  EXPECT_FLOAT_EQ(logit_of(c, 2), 5.0f);
}

TEST(Sampler, TopKKeepsBestSorted) {
  auto c = make({0.1f, 3.0f, -1.0f, 2.0f, 2.5f});
  top_k(c, 3);
  EXPECT_EQ(ids(c), (std::vector<int32_t>{1, 4, 3}));
  auto all = make({0.1f, 3.0f, -1.0f});
  top_k(all, 0);
  EXPECT_EQ(ids(all), (std::vector<int32_t>{1, 0, 2}));
}

TEST(Sampler, SoftmaxSumsToOne) {
  auto c = make({1.0f, 2.0f, 3.0f});
  softmax(c);
  const double e1 = std::exp(1.0), e2 = std::exp(2.0), e3 = std::exp(3.0), s = e1 + e2 + e3;
  EXPECT_EQ(ids(c), (std::vector<int32_t>{2, 1, 0}));
  EXPECT_NEAR(c[0].p, e3 / s, 1e-6);
  EXPECT_NEAR(c[1].p, e2 / s, 1e-6);
  EXPECT_NEAR(c[2].p, e1 / s, 1e-6);
}

TEST(Sampler, TopPKeepsSmallestPrefixReachingMass) {
  // probabilities 0.5, 0.25, 0.125, 0.125
  const float l2 = std::log(2.0f);
  auto c = make({3 * l2, 2 * l2, l2, l2});
  top_p(c, 0.7f);  // 0.5 < 0.7 <= 0.75
  EXPECT_EQ(ids(c), (std::vector<int32_t>{0, 1}));
  auto c2 = make({3 * l2, 2 * l2, l2, l2});
  top_p(c2, 0.5f);  // the first alone reaches 0.5
  EXPECT_EQ(ids(c2), (std::vector<int32_t>{0}));
  auto c3 = make({3 * l2, 2 * l2, l2, l2});
  top_p(c3, 1.0f);
  EXPECT_EQ(c3.size(), 4u);
}

TEST(Sampler, MinPRelativeToBest) {
  // probabilities proportional to 1, 0.5, 0.1, 0.01
  auto c = make({0.0f, std::log(0.5f), std::log(0.1f), std::log(0.01f)});
  min_p(c, 0.2f);
  std::vector<int32_t> got = ids(c);
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<int32_t>{0, 1}));
  auto c2 = make({0.0f, std::log(0.5f), std::log(0.1f), std::log(0.01f)});
  min_p(c2, 0.0f);
  EXPECT_EQ(c2.size(), 4u);
}

TEST(Sampler, TemperatureScalesLogits) {
  auto c = make({2.0f, -4.0f});
  apply_temperature(c, 0.5f);
  EXPECT_FLOAT_EQ(c[0].logit, 4.0f);
  EXPECT_FLOAT_EQ(c[1].logit, -8.0f);
}

TEST(Sampler, GreedyTakesArgmaxAfterPenalties) {
  SamplingParams p;
  p.temperature = 0.0f;
  p.repeat_penalty = 4.0f;
  Sampler s(p);
  const std::vector<float> logits = {1.0f, 3.0f, 2.0f};
  EXPECT_EQ(s.sample(logits), 1);
  s.accept(1);  // 3 / 4 = 0.75 now loses to token 2
  EXPECT_EQ(s.sample(logits), 2);
}

TEST(Sampler, RepeatLastNLimitsTheWindow) {
  SamplingParams p;
  p.temperature = 0.0f;
  p.repeat_penalty = 4.0f;
  p.repeat_last_n = 1;
  Sampler s(p);
  const std::vector<float> logits = {1.0f, 3.0f, 2.0f};
  s.accept(1);
  s.accept(0);  // pushes token 1 out of the window
  EXPECT_EQ(s.sample(logits), 1);
}

TEST(Sampler, SameSeedSameTokensDifferentSeedDiffers) {
  SamplingParams p;
  p.temperature = 1.0f;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  std::vector<float> logits(50, 0.0f);  // uniform over 50 tokens
  auto draw = [&](uint64_t seed) {
    p.seed = seed;
    Sampler s(p);
    std::vector<int32_t> out;
    for (int i = 0; i < 40; ++i) out.push_back(s.sample(logits));
    return out;
  };
  EXPECT_EQ(draw(42), draw(42));
  EXPECT_NE(draw(42), draw(43));
}

TEST(Sampler, DrawsFollowTheDistribution) {
  SamplingParams p;
  p.temperature = 1.0f;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.seed = 7;
  Sampler s(p);
  const std::vector<float> logits = {std::log(0.7f), std::log(0.2f), std::log(0.1f)};
  std::map<int32_t, int> count;
  const int n = 20000;
  for (int i = 0; i < n; ++i) ++count[s.sample(logits)];
  EXPECT_NEAR(count[0] / double(n), 0.7, 0.02);
  EXPECT_NEAR(count[1] / double(n), 0.2, 0.02);
  EXPECT_NEAR(count[2] / double(n), 0.1, 0.02);
}

TEST(Sampler, FiltersRestrictTheDraw) {
  SamplingParams p;
  p.temperature = 1.5f;
  p.top_k = 2;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.seed = 1;
  Sampler s(p);
  const std::vector<float> logits = {0.0f, 1.0f, 0.9f, -1.0f, 0.5f};
  for (int i = 0; i < 500; ++i) {
    const int32_t t = s.sample(logits);
    EXPECT_TRUE(t == 1 || t == 2) << t;
  }
  p.top_k = 0;
  p.min_p = 0.5f;  // keeps p >= 0.5 * p_max: logits >= 1 - ln 2 = 0.307
  Sampler m(p);
  for (int i = 0; i < 500; ++i) {
    const int32_t t = m.sample(logits);
    EXPECT_TRUE(t == 1 || t == 2 || t == 4) << t;
  }
}

TEST(Sampler, LowTemperatureConcentrates) {
  SamplingParams p;
  p.temperature = 0.01f;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.seed = 3;
  Sampler s(p);
  const std::vector<float> logits = {0.0f, 1.0f, 0.5f};
  for (int i = 0; i < 100; ++i) EXPECT_EQ(s.sample(logits), 1);
}

}  // namespace
}  // namespace nexus
