// Perplexity / KL-divergence: the scoring maths on hand-made logits, the base-file format,
// and end-to-end runs of `nexus perplexity` on the real stories260K model.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <random>
#include <sstream>
#include <vector>

#include "eval/kl_divergence.h"
#include "eval/perplexity.h"
#include "test_util.h"

namespace nexus::eval {
namespace {

using test::run_nexus;
using test::shared_file;
using test::temp_dir;

TEST(PerplexityMath, UniformLogitsGivePplEqualToVocabSize) {
  for (int v : {1, 2, 7, 512, 32000}) {
    std::vector<float> logits(v, 3.25f);
    NllAccumulator acc;
    for (int t = 0; t < 10; ++t) acc.add(nll_of_target(logits, t % v));
    EXPECT_NEAR(acc.ppl(), v, 1e-9 * v) << "vocab " << v;
    EXPECT_NEAR(acc.ppl_stderr(), 0.0, 1e-9);
  }
}

TEST(PerplexityMath, NllIsStableForHugeLogits) {
  // softmax([1000, 1000 + ln 3]) = [1/4, 3/4]; a naive exp() would overflow.
  std::vector<float> logits = {1000.0f, 1000.0f + static_cast<float>(std::log(3.0))};
  EXPECT_NEAR(nll_of_target(logits, 0), std::log(4.0), 1e-4);
  EXPECT_NEAR(nll_of_target(logits, 1), std::log(4.0 / 3.0), 1e-4);
  std::vector<float> neg = {-1e4f, -1e4f, -1e4f, -1e4f};
  EXPECT_NEAR(nll_of_target(neg, 2), std::log(4.0), 1e-9);
  EXPECT_NEAR(log_sum_exp(neg), -1e4 + std::log(4.0), 1e-9);
}

TEST(PerplexityMath, AccumulatorMeanAndStderr) {
  NllAccumulator acc;
  for (double x : {1.0, 2.0, 3.0, 4.0}) acc.add(x);
  EXPECT_DOUBLE_EQ(acc.mean(), 2.5);
  // population variance 1.25, stderr = sqrt(1.25 / 3)
  EXPECT_NEAR(acc.mean_stderr(), std::sqrt(1.25 / 3.0), 1e-12);
  EXPECT_NEAR(acc.ppl(), std::exp(2.5), 1e-9);
  EXPECT_NEAR(acc.ppl_stderr(), std::exp(2.5) * std::sqrt(1.25 / 3.0), 1e-9);
}

TEST(PerplexityMath, ArgmaxTakesFirstOnTies) {
  std::vector<float> logits = {1, 5, 2, 5, -1};
  EXPECT_EQ(argmax(logits), 1);
}

TEST(Chunking, ReplacesFirstTokenWithBosAndDropsTheTail) {
  std::vector<int32_t> toks(23);
  for (int i = 0; i < 23; ++i) toks[i] = 100 + i;
  auto r = make_chunks(toks, 10, 0, 1);
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->size(), 20u);
  EXPECT_EQ((*r)[0], 1);
  EXPECT_EQ((*r)[1], 101);
  EXPECT_EQ((*r)[10], 1);
  EXPECT_EQ((*r)[19], 119);
  auto one = make_chunks(toks, 10, 1, -1);  // no BOS: tokens kept as they are
  ASSERT_TRUE(one.ok());
  ASSERT_EQ(one->size(), 10u);
  EXPECT_EQ((*one)[0], 100);
  auto too_short = make_chunks(toks, 24, 0, 1);
  ASSERT_FALSE(too_short.ok());
  EXPECT_NE(too_short.error().message.find("fewer than one chunk"), std::string::npos);
  EXPECT_FALSE(make_chunks(toks, 2, 0, 1).ok());
  EXPECT_EQ(first_scored(512), 256);
  EXPECT_EQ(scored_per_chunk(512), 255);
  EXPECT_EQ(scored_per_chunk(7), 3);  // positions 3, 4, 5 predict 4, 5, 6
}

TEST(KlDivergence, IdenticalIsZeroAndKnownCase) {
  std::vector<float> logits = {0.5f, -2.0f, 3.0f, 1.0f, 0.0f};
  std::vector<double> lp(logits.size());
  log_softmax(logits, lp);
  double s = 0;
  for (double x : lp) s += std::exp(x);
  EXPECT_NEAR(s, 1.0, 1e-12);
  EXPECT_EQ(kl_divergence(lp, lp), 0.0);

  std::vector<double> p = {std::log(0.5), std::log(0.5)};
  std::vector<double> q = {std::log(0.25), std::log(0.75)};
  EXPECT_NEAR(kl_divergence(p, q), 0.5 * std::log(2.0) + 0.5 * std::log(0.5 / 0.75), 1e-12);
  EXPECT_GT(kl_divergence(q, p), 0.0);
}

TEST(KlDivergence, MeanAccumulatorTop1) {
  MeanAccumulator a;
  for (int i = 0; i < 10; ++i) a.add(1.0);
  EXPECT_DOUBLE_EQ(a.mean(), 1.0);  // 100 % agreement
  EXPECT_DOUBLE_EQ(a.mean_stderr(), 0.0);
}

// Writes a base file of `n_chunks` chunks with random logits; returns them (one row per
// scored position).
std::vector<std::vector<float>> write_random_base(const std::string& path, uint32_t vocab, uint32_t ctx,
                                                  uint32_t n_chunks) {
  KldHeader h;
  h.n_vocab = vocab;
  h.n_ctx = ctx;
  h.n_chunks = n_chunks;
  std::mt19937 rng(7);
  for (uint32_t i = 0; i < ctx * n_chunks; ++i) h.tokens.push_back(static_cast<int32_t>(rng() % vocab));
  auto w = KldWriter::create(path, h);
  EXPECT_TRUE(w.ok()) << w.error().message;
  std::normal_distribution<float> nd(0.0f, 3.0f);
  std::vector<std::vector<float>> rows;
  for (uint32_t c = 0; c < n_chunks; ++c)
    for (int j = 0; j < scored_per_chunk(static_cast<int>(ctx)); ++j) {
      std::vector<float> logits(vocab);
      for (float& x : logits) x = nd(rng);
      std::vector<double> lp(vocab);
      log_softmax(logits, lp);
      EXPECT_TRUE(w->write(lp, argmax(logits), lp[3]).ok());
      rows.push_back(logits);
    }
  EXPECT_TRUE(w->close().ok());
  return rows;
}

TEST(KldFile, RoundTripGivesNearZeroKlAndExactArgmax) {
  const std::string path = temp_dir() + "/base.kld";
  const uint32_t vocab = 37, ctx = 9, chunks = 3;
  auto rows = write_random_base(path, vocab, ctx, chunks);
  auto r = KldReader::open(path);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->header().n_vocab, vocab);
  EXPECT_EQ(r->header().n_ctx, ctx);
  EXPECT_EQ(r->header().n_chunks, chunks);
  EXPECT_EQ(r->header().tokens.size(), ctx * chunks);
  EXPECT_TRUE(r->check_vocab(vocab).ok());
  KldRecord rec;
  for (const auto& logits : rows) {
    ASSERT_TRUE(r->read(rec).ok());
    std::vector<double> lp(vocab);
    log_softmax(logits, lp);
    EXPECT_EQ(rec.argmax, argmax(logits));
    EXPECT_NEAR(rec.target_logprob, lp[3], 1e-5);
    EXPECT_LT(kl_divergence(rec.logprobs, lp), 1e-5);  // F16 storage error only
  }
  EXPECT_FALSE(r->read(rec).ok());  // past the end
}

TEST(KldFile, MismatchesAndCorruptionAreErrors) {
  const std::string dir = temp_dir();
  const std::string path = dir + "/base.kld";
  write_random_base(path, 37, 9, 2);
  auto r = KldReader::open(path);
  ASSERT_TRUE(r.ok());
  Status s = r->check_vocab(512);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("37"), std::string::npos) << s.error().message;

  std::string bytes;
  {
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    bytes = ss.str();
  }
  auto write = [&](const std::string& p, const std::string& b) { std::ofstream(p, std::ios::binary) << b; };
  write(dir + "/trunc.kld", bytes.substr(0, bytes.size() - 1));
  auto t = KldReader::open(dir + "/trunc.kld");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.error().message.find("truncated"), std::string::npos) << t.error().message;

  std::string bad = bytes;
  bad[0] = 'X';
  write(dir + "/magic.kld", bad);
  EXPECT_FALSE(KldReader::open(dir + "/magic.kld").ok());

  std::string huge = bytes;  // n_vocab = 0xFFFFFFFF must not allocate anything
  huge[12] = huge[13] = huge[14] = huge[15] = '\xff';
  write(dir + "/huge.kld", huge);
  EXPECT_FALSE(KldReader::open(dir + "/huge.kld").ok());
  EXPECT_FALSE(KldReader::open(dir + "/missing.kld").ok());
}

// ---- end to end on the real model ----

constexpr const char* kModel = "models/stories260K.gguf";
constexpr const char* kText = "corpus/wikitext-2-raw-test.txt";

std::string last_line(const std::string& s) {
  std::string t = s;
  while (!t.empty() && t.back() == '\n') t.pop_back();
  const size_t nl = t.rfind('\n');
  return nl == std::string::npos ? t : t.substr(nl + 1);
}

double parse_ppl(const std::string& line) {
  EXPECT_EQ(line.rfind("PPL = ", 0), 0u) << line;
  return std::strtod(line.c_str() + 6, nullptr);
}

TEST(PerplexityCli, StoriesOnWikitextPrintsFinitePpl) {
  NEXUS_REQUIRE_SHARED(kModel);
  NEXUS_REQUIRE_SHARED(kText);
  auto r = run_nexus("perplexity -m '" + shared_file(kModel) + "' -f '" + shared_file(kText) +
                     "' --chunks 2 -c 128 -t 1");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("[1]"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("[2]"), std::string::npos) << r.out;
  const double ppl = parse_ppl(last_line(r.out));
  EXPECT_TRUE(std::isfinite(ppl));
  // A 512-token vocabulary: anything outside (1, 512) would be a scoring bug (the model is
  // far better than uniform even on out-of-domain text).
  EXPECT_GT(ppl, 1.0);
  EXPECT_LT(ppl, 512.0);
  EXPECT_NE(r.err.find("tokens/s"), std::string::npos) << r.err;

  // Splitting each chunk into several eval calls must score the same positions the same way.
  auto b = run_nexus("perplexity -m '" + shared_file(kModel) + "' -f '" + shared_file(kText) +
                     "' --chunks 2 -c 128 -b 48 -t 1");
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_NEAR(parse_ppl(last_line(b.out)), ppl, 1e-3 * ppl);
}

TEST(PerplexityCli, KlDivergenceOfTheSameModelIsZero) {
  NEXUS_REQUIRE_SHARED(kModel);
  NEXUS_REQUIRE_SHARED(kText);
  const std::string base = temp_dir() + "/base.kld";
  const std::string model = "-m '" + shared_file(kModel) + "' ";
  auto a = run_nexus("perplexity " + model + "-f '" + shared_file(kText) + "' --chunks 2 -c 64 -t 1 --kl-divergence-base '" + base + "'");
  ASSERT_EQ(a.exit_code, 0) << a.err;
  auto b = run_nexus("perplexity " + model + "--kl-divergence --kl-divergence-base '" + base + "' -t 1");
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_NEAR(parse_ppl(last_line(b.out)), parse_ppl(last_line(a.out)), 1e-3);
  const size_t k = b.out.find("Mean KLD = ");
  ASSERT_NE(k, std::string::npos) << b.out;
  EXPECT_LT(std::strtod(b.out.c_str() + k + 11, nullptr), 1e-4);
  EXPECT_NE(b.out.find("Same top-1 = 100.000%"), std::string::npos) << b.out;
  // Same text given again: accepted; different context: rejected.
  auto c = run_nexus("perplexity " + model + "-f '" + shared_file(kText) + "' --kl-divergence --kl-divergence-base '" + base + "' -t 1");
  EXPECT_EQ(c.exit_code, 0) << c.err;
  auto d = run_nexus("perplexity " + model + "-c 128 --kl-divergence --kl-divergence-base '" + base + "' -t 1");
  EXPECT_EQ(d.exit_code, 1);
  EXPECT_NE(d.err.find("context"), std::string::npos) << d.err;
}

TEST(PerplexityCli, MismatchedBaseAndShortFileAreClearErrors) {
  NEXUS_REQUIRE_SHARED(kModel);
  const std::string dir = temp_dir();
  write_random_base(dir + "/other.kld", 37, 16, 1);
  auto r = run_nexus("perplexity -m '" + shared_file(kModel) + "' --kl-divergence --kl-divergence-base '" + dir +
                     "/other.kld'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("vocabulary of 37 tokens"), std::string::npos) << r.err;
  // The error is one line, the last one.
  const size_t at = r.err.find("nexus: error: ");
  ASSERT_NE(at, std::string::npos) << r.err;
  EXPECT_EQ(r.err.find('\n', at), r.err.size() - 1) << r.err;

  std::ofstream(dir + "/short.txt") << "Once upon a time there was a cat.\n";
  auto s = run_nexus("perplexity -m '" + shared_file(kModel) + "' -f '" + dir + "/short.txt' -c 128");
  EXPECT_EQ(s.exit_code, 1);
  EXPECT_NE(s.err.find("fewer than one chunk of 128"), std::string::npos) << s.err;

  auto e = run_nexus("perplexity -m '" + shared_file(kModel) + "' -f '" + dir + "/none.txt'");
  EXPECT_EQ(e.exit_code, 1);
  EXPECT_NE(e.err.find("cannot open"), std::string::npos) << e.err;
}

}  // namespace
}  // namespace nexus::eval
