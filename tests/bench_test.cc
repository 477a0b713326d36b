// nexus bench: statistics helpers, the bandwidth kernel, weight traffic, and the CLI's output.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <sstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "eval/bench.h"
#include "test_util.h"

namespace nexus::eval {
namespace {

using test::run_nexus;
using test::shared_file;

constexpr const char* kModel = "models/stories260K.gguf";

// One JSON object per line of `bench --json` output; a line that is not JSON fails the test.
std::vector<nlohmann::json> json_lines(const std::string& out) {
  std::istringstream in(out);
  std::string line;
  std::vector<nlohmann::json> rows;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) ADD_FAILURE() << "not JSON: " << line;
    rows.push_back(std::move(j));
  }
  return rows;
}

TEST(BenchStats, MeanAndSampleStddev) {
  std::vector<double> x = {2, 4, 4, 4, 5, 5, 7, 9};
  MeanStd m = mean_stddev(x);
  EXPECT_DOUBLE_EQ(m.mean, 5.0);
  EXPECT_NEAR(m.stddev, std::sqrt(32.0 / 7.0), 1e-12);
  std::vector<double> one = {3.5};
  EXPECT_DOUBLE_EQ(mean_stddev(one).mean, 3.5);
  EXPECT_DOUBLE_EQ(mean_stddev(one).stddev, 0.0);
  EXPECT_DOUBLE_EQ(mean_stddev({}).mean, 0.0);
}

TEST(BenchBandwidth, SumMatchesAccumulateAtOddSizes) {
  for (size_t n : {0, 1, 3, 4, 5, 17, 1001}) {
    std::vector<uint64_t> w(n);
    for (size_t i = 0; i < n; ++i) w[i] = (i + 1) * 0x9E3779B97F4A7C15ull;
    EXPECT_EQ(sum_u64(w), std::accumulate(w.begin(), w.end(), uint64_t{0})) << n;
  }
}

TEST(BenchBandwidth, MeasuresSomethingPlausible) {
  const double bw = measure_read_bandwidth(2, size_t{32} << 20, 2);
  EXPECT_GT(bw, 1e8);   // > 0.1 GB/s
  EXPECT_LT(bw, 1e13);  // < 10 TB/s
}

TEST(BenchTraffic, StoriesReadsAllButTheEmbedding) {
  NEXUS_REQUIRE_SHARED(kModel);
  auto w = weight_traffic(shared_file(kModel));
  ASSERT_TRUE(w.ok()) << w.error().message;
  EXPECT_EQ(w->main_type, "F32");
  // token_embd is [64, 512] F32 = 131072 bytes with a separate output.weight: only one
  // 256-byte row of it is read per token.
  EXPECT_EQ(w->file_tensor_bytes - w->bytes_per_token, 131072u - 256u);
  EXPECT_FALSE(weight_traffic("/nonexistent/model.gguf").ok());
}

TEST(BenchCli, JsonLinesHaveTheDocumentedFields) {
  NEXUS_REQUIRE_SHARED(kModel);
  auto r = run_nexus("bench -m '" + shared_file(kModel) + "' -p 16 -n 4 -r 1 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::vector<nlohmann::json> rows = json_lines(r.out);
  ASSERT_EQ(rows.size(), 2u) << r.out;
  EXPECT_EQ(rows[0]["test"], "pp16");
  EXPECT_EQ(rows[1]["test"], "tg4");
  for (const auto& j : rows) {
    for (const char* k : {"test", "depth", "threads", "tokens_per_s", "stddev", "bandwidth_gbs", "model_bytes"})
      EXPECT_TRUE(j.contains(k)) << k << " missing in " << j.dump();
    EXPECT_EQ(j["depth"], 0);
    EXPECT_GE(j["threads"].get<int>(), 1);
    EXPECT_GT(j["tokens_per_s"].get<double>(), 0.0);
    EXPECT_GE(j["stddev"].get<double>(), 0.0);
    EXPECT_GT(j["bandwidth_gbs"].get<double>(), 0.0);
    EXPECT_EQ(j["model_bytes"].get<uint64_t>(), 1171200u);  // sum of stories260K's tensors
  }
  EXPECT_FALSE(rows[0].contains("roofline_fraction"));
  ASSERT_TRUE(rows[1].contains("roofline_fraction"));
  const double roof = rows[1]["roofline_fraction"].get<double>();
  EXPECT_TRUE(std::isfinite(roof));
  EXPECT_GT(roof, 0.0);
}

// --parallel: one JSON line per stream count; the decode window holds only tokens made
// while every stream ran, so it is at most P * (n - 1) tokens and at least one per stream.
TEST(BenchCli, ParallelDecodeCountsTokensWhileAllStreamsRun) {
  NEXUS_REQUIRE_SHARED(kModel);
  auto r = run_nexus("bench -m '" + shared_file(kModel) + "' --parallel 1,4 -n 12 -t 2 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::vector<nlohmann::json> rows = json_lines(r.out);
  ASSERT_EQ(rows.size(), 2u) << r.out;
  for (int i = 0; i < 2; ++i) {
    const int p = i == 0 ? 1 : 4;
    EXPECT_EQ(rows[i]["streams"], p);
    const int tokens = rows[i]["window_tokens"].get<int>();
    EXPECT_LE(tokens, p * 11) << rows[i].dump();
    EXPECT_GE(tokens, p) << rows[i].dump();
    EXPECT_GT(rows[i]["window_s"].get<double>(), 0.0);
    EXPECT_NEAR(rows[i]["tokens_per_s"].get<double>(), tokens / rows[i]["window_s"].get<double>(), 1e-6);
  }
  EXPECT_EQ(rows[0]["window_tokens"], 11);  // one stream: every token after its first
  EXPECT_TRUE(rows[1].contains("speedup_vs_1"));
}

TEST(BenchCli, TableAndDepthAndErrors) {
  NEXUS_REQUIRE_SHARED(kModel);
  auto r = run_nexus("bench -m '" + shared_file(kModel) + "' -p 8 -n 2 -r 2 -d 0,8 -t 1 --bw-mib 0");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* s : {"| model", "t/s", "pp8 ", "tg2 ", "pp8 @ d8", "tg2 @ d8", "llama F32"})
    EXPECT_NE(r.out.find(s), std::string::npos) << s << " missing in\n" << r.out;

  auto bad = run_nexus("bench -m '" + shared_file(kModel) + "' -r 0");
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("repetitions"), std::string::npos) << bad.err;
  auto missing = run_nexus("bench -m /nonexistent.gguf --bw-mib 0");
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("nexus: error:"), std::string::npos) << missing.err;
}

}  // namespace
}  // namespace nexus::eval
