// KV cache element types (kv_type.h): names, the Q8_0 head-size rule, row sizes, the encoding's
// error, and end to end: F16 and Q8_0 caches give logits close to the F32 cache's on a
// synthetic model, and the CLI refuses what a model cannot use.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "kv/kv_type.h"
#include "model/synthetic.h"
#include "nexus/nexus.h"
#include "tensor/quants.h"
#include "test_util.h"

namespace nexus {
namespace {

TEST(KvType, ParsesNamesAndChecksHeads) {
  EXPECT_EQ(*parse_kv_type("f32"), DType::F32);
  EXPECT_EQ(*parse_kv_type("f16"), DType::F16);
  EXPECT_EQ(*parse_kv_type("q8_0"), DType::Q8_0);
  const Result<DType> bad = parse_kv_type("q4");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("expected f32, f16 or q8_0"), std::string::npos);
  EXPECT_TRUE(check_kv_type(DType::Q8_0, 64).ok());
  EXPECT_TRUE(check_kv_type(DType::F16, 8).ok());
  const Status odd = check_kv_type(DType::Q8_0, 48);
  ASSERT_FALSE(odd.ok());
  EXPECT_NE(odd.error().message.find("multiple of 32"), std::string::npos);
  EXPECT_FALSE(check_kv_type(DType::Q4_K, 256).ok());
}

TEST(KvType, CacheBytes) {
  EXPECT_EQ(row_bytes(DType::F32, 512), 2048u);
  EXPECT_EQ(row_bytes(DType::F16, 512), 1024u);
  EXPECT_EQ(row_bytes(DType::Q8_0, 512), 16u * 34u);
  // B1 at 16384 positions: 16 layers x 8 KV heads x 64
  EXPECT_EQ(kv_cache_bytes(DType::F32, 16, 512, 16384), uint64_t{2} * 16 * 16384 * 2048);
  EXPECT_EQ(kv_cache_bytes(DType::Q8_0, 16, 512, 16384), uint64_t{2} * 16 * 16384 * 544);
}

TEST(KvType, EncodingErrorIsWithinTheFormatsStep) {
  std::mt19937 rng(11);
  std::normal_distribution<float> nd(0.0f, 2.0f);
  const int n = 96;
  std::vector<float> x(n);
  for (float& v : x) v = nd(rng);
  for (DType t : {DType::F32, DType::F16, DType::Q8_0}) {
    std::vector<uint8_t> row(row_bytes(t, n));
    std::vector<float> back(n);
    encode_kv_row(t, x.data(), row.data(), n);
    dequantize_row(t, row.data(), back.data(), n);
    for (int i = 0; i < n; ++i) {
      float bound = 0.0f;
      if (t == DType::F16) bound = std::fabs(x[i]) * 1e-3f;
      if (t == DType::Q8_0) {
        float m = 0.0f;
        for (int j = i / 32 * 32; j < i / 32 * 32 + 32; ++j) m = std::max(m, std::fabs(x[j]));
        bound = m / 127.0f * 0.5f * 1.01f;
      }
      EXPECT_LE(std::fabs(back[i] - x[i]), bound) << dtype_name(t) << " element " << i;
    }
  }
}

// head_dim 64 (Q8_0 allowed), grouped-query attention (4 query heads on 2 KV heads).
const std::string& model_path() {
  static const std::string path = [] {
    const std::string p = test::temp_dir() + "/kv_type_model.gguf";
    SynthSpec spec;
    spec.dim = 256;
    spec.layers = 3;
    spec.ffn = 512;
    spec.heads = 4;
    spec.kv_heads = 2;
    spec.vocab = 512;
    spec.ctx = 256;
    spec.seed = 8;
    ThreadPool pool(2);
    const Status st = synth_model_file(spec, p, pool);
    NX_CHECK(st.ok(), "synth: %s", st.error().message.c_str());
    return p;
  }();
  return path;
}

// Logits of every position of a 96-token prompt, evaluated in two chunks (prefill, then
// tokens attending over cached positions).
std::vector<float> prompt_logits(const std::string& kv_type) {
  LoadOptions lo;
  lo.threads = 2;
  lo.kv_type = kv_type;
  Result<std::shared_ptr<Model>> m = Model::load(model_path(), lo);
  NX_CHECK(m.ok(), "%s", m.ok() ? "" : m.error().message.c_str());
  Result<std::unique_ptr<Session>> s = Session::create(*m, 128);
  NX_CHECK(s.ok(), "session");
  std::vector<int32_t> tokens(96);
  for (int i = 0; i < 96; ++i) tokens[i] = (i * 37 + 11) % 512;
  std::vector<float> out;
  for (int part = 0; part < 2; ++part) {
    Result<std::span<const float>> l = (*s)->eval(std::span(tokens).subspan(48 * part, 48), true);
    NX_CHECK(l.ok(), "eval");
    out.insert(out.end(), l->begin(), l->end());
  }
  return out;
}

TEST(KvType, QuantizedCachesStayCloseToF32) {
  const std::vector<float> ref = prompt_logits("f32");
  float range = 0.0f;
  for (float v : ref) range = std::max(range, std::fabs(v));
  ASSERT_GT(range, 0.0f);
  for (const char* t : {"f16", "q8_0"}) {
    const std::vector<float> got = prompt_logits(t);
    ASSERT_EQ(got.size(), ref.size());
    double worst = 0.0;
    for (size_t i = 0; i < ref.size(); ++i) worst = std::max(worst, double(std::fabs(got[i] - ref[i])));
    std::printf("[ kv %s ] max |dlogit| %.3g (logit range %.3g)\n", t, worst, range);
    EXPECT_LT(worst, (std::string(t) == "f16" ? 2e-3 : 3e-2) * range) << t;
    EXPECT_GT(worst, 0.0) << t << ": the cache type had no effect";
  }
}

TEST(KvType, CliRefusesAnUnusableType) {
  NEXUS_REQUIRE_SHARED("models/stories260K.gguf");
  const std::string m = test::shared_file("models/stories260K.gguf");
  test::CommandResult r = test::run_nexus("run -m " + m + " -p hi -n 2 --kv-type q8_0");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("multiple of 32"), std::string::npos) << r.err;
  r = test::run_nexus("run -m " + m + " -p hi -n 2 --kv-type f8");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("expected f32, f16 or q8_0"), std::string::npos) << r.err;
  r = test::run_nexus("run -m " + m + " -p Once -n 4 --temp 0 --kv-type f16");
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

}  // namespace
}  // namespace nexus
