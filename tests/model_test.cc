// The Llama-family forward pass: ops against hand-computed values, attention against a naive
// reference, and whole-model properties on stories260K and on small random qwen2 / qwen3
// models (batched prefill == token by token, context limits, reset / truncate, threads).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "gguf/gguf.h"
#include "kernels/attention.h"
#include "kernels/ops.h"
#include "kv/kv_cache.h"
#include "nexus/nexus.h"
#include "tensor/quants.h"
#include "test_util.h"

namespace nexus {
namespace {

constexpr const char* kStories = "models/stories260K.gguf";

std::vector<float> random_vector(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

// ---------------------------------------------------------------- ops

TEST(Ops, RmsNorm) {
  const float x[4] = {1, 2, 3, 4};
  const float w[4] = {1, 0.5f, 2, -1};
  float y[4];
  rmsnorm(x, w, 0.0f, 4, y);
  const float inv = 1.0f / std::sqrt((1 + 4 + 9 + 16) / 4.0f);
  EXPECT_NEAR(y[0], 1 * inv, 1e-6);
  EXPECT_NEAR(y[1], 2 * inv * 0.5f, 1e-6);
  EXPECT_NEAR(y[2], 3 * inv * 2, 1e-6);
  EXPECT_NEAR(y[3], -4 * inv, 1e-6);
}

TEST(Ops, SiluMulAndSoftmax) {
  float g[2] = {0.0f, 2.0f};
  const float u[2] = {3.0f, 0.5f};
  silu_mul_inplace(g, u, 2);
  EXPECT_FLOAT_EQ(g[0], 0.0f);
  EXPECT_NEAR(g[1], 2.0f / (1.0f + std::exp(-2.0f)) * 0.5f, 1e-6);
  float s[3] = {1000.0f, 1000.0f, 999.0f};  // large values must not overflow
  softmax_inplace(s, 3);
  const double e = std::exp(-1.0), z = 2 + e;
  EXPECT_NEAR(s[0], 1 / z, 1e-6);
  EXPECT_NEAR(s[2], e / z, 1e-6);
}

TEST(Ops, RopeNormalRotatesAdjacentPairs) {
  RopeParams p;
  p.n_rot = 4;
  p.freq_base = 100.0f;
  float c[2], s[2];
  rope_angles(3, p, c, s);
  // theta_0 = 3, theta_1 = 3 * 100^(-2/4) = 0.3
  EXPECT_NEAR(c[0], std::cos(3.0), 1e-6);
  EXPECT_NEAR(s[1], std::sin(0.3), 1e-6);
  float x[6] = {1, 2, 3, 4, 5, 6};  // head_dim 6: dims 4, 5 pass through
  rope_inplace(x, 1, 6, c, s, p);
  EXPECT_NEAR(x[0], 1 * std::cos(3.0) - 2 * std::sin(3.0), 1e-5);
  EXPECT_NEAR(x[1], 1 * std::sin(3.0) + 2 * std::cos(3.0), 1e-5);
  EXPECT_NEAR(x[2], 3 * std::cos(0.3) - 4 * std::sin(0.3), 1e-5);
  EXPECT_NEAR(x[3], 3 * std::sin(0.3) + 4 * std::cos(0.3), 1e-5);
  EXPECT_EQ(x[4], 5);
  EXPECT_EQ(x[5], 6);
}

TEST(Ops, RopeNeoxEqualsNormalOnPermutedDims) {
  // NeoX pairs (i, i + d/2) are normal pairs (2i, 2i+1) after de-interleaving the head.
  const int hd = 16, heads = 3;
  RopeParams p;
  p.n_rot = hd;
  p.freq_scale = 0.5f;  // linear scaling applies to both orderings alike
  std::vector<float> c(hd / 2), s(hd / 2);
  rope_angles(37, p, c.data(), s.data());
  std::vector<float> normal = random_vector(hd * heads, 1), neox(hd * heads);
  for (int h = 0; h < heads; ++h)
    for (int i = 0; i < hd / 2; ++i) {
      neox[h * hd + i] = normal[h * hd + 2 * i];
      neox[h * hd + i + hd / 2] = normal[h * hd + 2 * i + 1];
    }
  rope_inplace(normal.data(), heads, hd, c.data(), s.data(), p);
  p.ordering = RopeOrdering::kNeox;
  rope_inplace(neox.data(), heads, hd, c.data(), s.data(), p);
  for (int h = 0; h < heads; ++h)
    for (int i = 0; i < hd / 2; ++i) {
      EXPECT_FLOAT_EQ(neox[h * hd + i], normal[h * hd + 2 * i]);
      EXPECT_FLOAT_EQ(neox[h * hd + i + hd / 2], normal[h * hd + 2 * i + 1]);
    }
}

// The value the cache holds for element d of position j's key (or value) row in `layer`.
float cached(const KvCache& cache, bool key, int layer, int j, int d) {
  const int hd = cache.pool().head_dim();
  std::vector<float> row(hd);
  dequantize_row(cache.type(), key ? cache.k(layer, j, d / hd) : cache.v(layer, j, d / hd), row.data(), hd);
  return row[d % hd];
}

TEST(Attention, MatchesNaiveGqaReference) {
  // Plain causal attention, then Gemma's variant: own scale, a sliding window of 5 keys (shorter
  // than the 13 cached positions) and soft-capped scores; in every KV cache type (Q8_0 needs
  // heads of a multiple of 32; head size 10 also takes the kernels' non-multiple-of-8 path).
  // The reference reads what the cache holds.
  for (DType kv_type : {DType::F32, DType::F16, DType::Q8_0}) {
  const int hd = kv_type == DType::Q8_0 ? 32 : 10;
  for (const AttentionShape& sh : {AttentionShape{6, 2, hd}, AttentionShape{6, 2, hd, 0.3f, 5, 2.0f}}) {
  const int n_ctx = 40, pos0 = 13, n = 9, kv_dim = sh.n_head_kv * sh.head_dim, q_dim = sh.n_head * sh.head_dim;
  // Blocks of 4 positions, handed out out of order (a decoy sequence takes every other one),
  // so positions cross block boundaries the way a shared pool lays them out.
  KvPool kv_pool(2, kv_dim, 4, 2 * n_ctx / 4, kv_type, sh.head_dim);
  KvCache decoy(kv_pool), cache(kv_pool);
  for (int j = 0; j < n_ctx; j += 4) ASSERT_TRUE(decoy.reserve(j + 1) && cache.reserve(j + 1));
  const int layer = 1;
  std::vector<float> kv = random_vector(2 * (pos0 + n) * kv_dim, 5);
  for (int j = 0; j < pos0 + n; ++j) cache.store(layer, j, &kv[j * kv_dim], &kv[(pos0 + n + j) * kv_dim]);
  std::vector<float> q = random_vector(n * q_dim, 6);
  const double scale = sh.scale > 0 ? sh.scale : 1.0 / std::sqrt(double(sh.head_dim));
  for (int threads : {1, 3}) {
    ThreadPool pool(threads);
    const int group = sh.n_head / sh.n_head_kv;
    std::vector<float> out(n * q_dim), scratch(threads * group * n_ctx);
    std::vector<AttentionQuery> queries;
    for (int t = 0; t < n; ++t) queries.push_back({&cache, pos0 + t});
    attention(q.data(), queries, layer, sh, out.data(), scratch.data(), group * n_ctx, pool);
    for (int t = 0; t < n; ++t)
      for (int h = 0; h < sh.n_head; ++h) {
        const int g = h / group;
        const int first = sh.window > 0 ? std::max(0, pos0 + t - sh.window + 1) : 0;
        std::vector<double> w(pos0 + t + 1, 0.0);
        double mx = -1e30, sum = 0;
        for (int j = first; j <= pos0 + t; ++j) {
          double dot = 0;
          for (int d = 0; d < sh.head_dim; ++d)
            dot += double(q[t * q_dim + h * sh.head_dim + d]) * cached(cache, true, layer, j, g * sh.head_dim + d);
          w[j] = dot * scale;
          if (sh.softcap > 0) w[j] = sh.softcap * std::tanh(w[j] / sh.softcap);
          mx = std::max(mx, w[j]);
        }
        for (int j = first; j <= pos0 + t; ++j) sum += (w[j] = std::exp(w[j] - mx));
        for (int d = 0; d < sh.head_dim; ++d) {
          double ref = 0;
          for (int j = first; j <= pos0 + t; ++j) ref += w[j] / sum * cached(cache, false, layer, j, g * sh.head_dim + d);
          EXPECT_NEAR(out[t * q_dim + h * sh.head_dim + d], ref, 1e-5)
              << dtype_name(kv_type) << " t " << t << " h " << h << " window " << sh.window;
        }
      }
  }
  }
  }
}

TEST(Ops, GeluTanhMulAndSoftcap) {
  float g[3] = {0.0f, 1.0f, -3.0f};
  const float u[3] = {2.0f, 0.5f, 1.0f};
  gelu_tanh_mul_inplace(g, u, 3);
  auto gelu = [](double a) { return 0.5 * a * (1 + std::tanh(std::sqrt(2 / M_PI) * (a + 0.044715 * a * a * a))); };
  EXPECT_FLOAT_EQ(g[0], 0.0f);
  EXPECT_NEAR(g[1], gelu(1.0) * 0.5, 1e-6);  // 0.4206
  EXPECT_NEAR(g[2], gelu(-3.0), 1e-6);       // -0.0036: tanh-GELU is not SiLU
  float x[3] = {0.0f, 10.0f, -1000.0f};
  softcap_inplace(x, 30.0f, 3);
  EXPECT_FLOAT_EQ(x[0], 0.0f);
  EXPECT_NEAR(x[1], 30 * std::tanh(1.0 / 3), 1e-5);
  EXPECT_NEAR(x[2], -30.0f, 1e-5);
}

// ---------------------------------------------------------------- whole model

std::shared_ptr<Model> load_ok(const std::string& path, int threads = 1) {
  LoadOptions o;
  o.threads = threads;
  auto m = Model::load(path, o);
  EXPECT_TRUE(m.ok()) << m.error().message;
  return m.ok() ? *m : nullptr;
}

std::vector<int32_t> some_tokens(int n, int vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> t(n);
  for (int32_t& x : t) x = static_cast<int32_t>(rng() % (vocab - 3)) + 3;
  return t;
}

// Batched prefill with all_logits equals feeding the same tokens one at a time.
void expect_prefill_matches_steps(const std::shared_ptr<Model>& model, int n, int n_ctx, float tol) {
  const std::vector<int32_t> tokens = some_tokens(n, model->info().n_vocab, 11);
  const size_t V = model->info().n_vocab;
  auto batch = Session::create(model, n_ctx);
  ASSERT_TRUE(batch.ok()) << batch.error().message;
  auto r = (*batch)->eval(tokens, /*all_logits=*/true);
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->size(), n * V);
  const std::vector<float> all(r->begin(), r->end());
  EXPECT_EQ((*batch)->n_past(), n);

  auto step = Session::create(model, n_ctx);
  ASSERT_TRUE(step.ok());
  float worst = 0;
  for (int t = 0; t < n; ++t) {
    auto one = (*step)->eval(std::span<const int32_t>(&tokens[t], 1));
    ASSERT_TRUE(one.ok()) << one.error().message;
    ASSERT_EQ(one->size(), V);
    for (size_t i = 0; i < V; ++i) worst = std::max(worst, std::fabs((*one)[i] - all[t * V + i]));
  }
  EXPECT_LT(worst, tol);

  // Without all_logits: the last token's logits only.
  auto last = Session::create(model, n_ctx);
  auto l = (*last)->eval(tokens);
  ASSERT_TRUE(l.ok());
  ASSERT_EQ(l->size(), V);
  for (size_t i = 0; i < V; ++i) EXPECT_NEAR((*l)[i], all[(n - 1) * V + i], tol);
}

TEST(Model, LoadsStories260K) {
  NEXUS_REQUIRE_SHARED(kStories);
  auto m = load_ok(nexus::test::shared_file(kStories));
  ASSERT_TRUE(m);
  const ModelInfo& i = m->info();
  EXPECT_EQ(i.arch, "llama");
  EXPECT_EQ(i.n_vocab, 512);
  EXPECT_EQ(i.n_embd, 64);
  EXPECT_EQ(i.n_layer, 5);
  EXPECT_EQ(i.n_head, 8);
  EXPECT_EQ(i.n_head_kv, 4);
  EXPECT_EQ(i.n_ff, 172);
  EXPECT_GT(i.n_params, 250000u);
  EXPECT_EQ(m->bos(), 1);
  EXPECT_EQ(m->eos(), 2);
}

TEST(Model, PrefillEqualsTokenByToken) {
  NEXUS_REQUIRE_SHARED(kStories);
  auto m = load_ok(nexus::test::shared_file(kStories));
  ASSERT_TRUE(m);
  expect_prefill_matches_steps(m, 37, 64, 1e-4f);
}

TEST(Model, LongPromptRunsInChunks) {
  NEXUS_REQUIRE_SHARED(kStories);
  auto m = load_ok(nexus::test::shared_file(kStories));
  ASSERT_TRUE(m);
  expect_prefill_matches_steps(m, 530, 1024, 1e-4f);  // chunks of 512 + 18 tokens
}

TEST(Model, ContextOverflowIsAnError) {
  NEXUS_REQUIRE_SHARED(kStories);
  auto m = load_ok(nexus::test::shared_file(kStories));
  ASSERT_TRUE(m);
  auto huge = Session::create(m, 1 << 21);
  ASSERT_FALSE(huge.ok());
  EXPECT_NE(huge.error().message.find("context size"), std::string::npos) << huge.error().message;

  auto s = Session::create(m, 8);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ((*s)->n_ctx(), 8);
  const std::vector<int32_t> nine = some_tokens(9, 512, 1);
  auto r = (*s)->eval(nine);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("context"), std::string::npos) << r.error().message;
  EXPECT_EQ((*s)->n_past(), 0);
  ASSERT_TRUE((*s)->eval(std::span(nine).first(5)).ok());
  EXPECT_FALSE((*s)->eval(std::span(nine).first(4)).ok());
  EXPECT_EQ((*s)->n_past(), 5);
  EXPECT_TRUE((*s)->eval(std::span(nine).first(3)).ok());
  EXPECT_EQ((*s)->n_past(), 8);

  const int32_t bad[] = {512};
  auto b = Session::create(m, 8);
  auto e = (*b)->eval(bad);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.error().message.find("512"), std::string::npos);

  // generate(): a prompt longer than the context names both counts.
  GenerateOptions o;
  auto g = generate(**b, "Once upon a time there was a little girl named Lily", o);
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.error().message.find("context holds 8"), std::string::npos) << g.error().message;
}

TEST(Model, ResetAndTruncate) {
  NEXUS_REQUIRE_SHARED(kStories);
  auto m = load_ok(nexus::test::shared_file(kStories));
  ASSERT_TRUE(m);
  const std::vector<int32_t> a = some_tokens(10, 512, 2), b = some_tokens(4, 512, 3);
  std::vector<int32_t> a6b(a.begin(), a.begin() + 6);
  a6b.insert(a6b.end(), b.begin(), b.end());

  auto fresh = Session::create(m, 64);
  auto ref = (*fresh)->eval(a6b);
  ASSERT_TRUE(ref.ok());
  const std::vector<float> want(ref->begin(), ref->end());

  auto s = Session::create(m, 64);
  ASSERT_TRUE((*s)->eval(a).ok());
  (*s)->truncate(6);
  EXPECT_EQ((*s)->n_past(), 6);
  auto got = (*s)->eval(b);
  ASSERT_TRUE(got.ok());
  for (size_t i = 0; i < want.size(); ++i) ASSERT_NEAR((*got)[i], want[i], 1e-4);

  (*s)->reset();
  EXPECT_EQ((*s)->n_past(), 0);
  auto again = (*s)->eval(a6b);
  ASSERT_TRUE(again.ok());
  for (size_t i = 0; i < want.size(); ++i) ASSERT_NEAR((*again)[i], want[i], 1e-4);
}

std::string greedy(const std::shared_ptr<Model>& m, const std::string& prompt, int n, GenerateStats* st = nullptr) {
  auto s = Session::create(m, 256);
  EXPECT_TRUE(s.ok());
  GenerateOptions o;
  o.max_tokens = n;
  o.sampling.temperature = 0;
  auto r = generate(**s, prompt, o, {}, st);
  EXPECT_TRUE(r.ok()) << r.error().message;
  return r.ok() ? *r : "";
}

TEST(Model, OneAndTwoThreadsGiveSameGreedyText) {
  NEXUS_REQUIRE_SHARED(kStories);
  auto m1 = load_ok(nexus::test::shared_file(kStories), 1);
  auto m2 = load_ok(nexus::test::shared_file(kStories), 2);
  ASSERT_TRUE(m1 && m2);
  const std::string t1 = greedy(m1, "Once upon a time", 60);
  EXPECT_EQ(t1, greedy(m2, "Once upon a time", 60));
  EXPECT_EQ(t1.rfind(", there was a little girl named Lily.", 0), 0u) << t1;
}

TEST(Generate, StopStringsAreCutAndHeldBack) {
  NEXUS_REQUIRE_SHARED(kStories);
  auto m = load_ok(nexus::test::shared_file(kStories));
  ASSERT_TRUE(m);
  const std::string full = greedy(m, "Once upon a time", 40);
  const size_t at = full.find("Lily");
  ASSERT_NE(at, std::string::npos) << full;

  auto s = Session::create(m, 256);
  GenerateOptions o;
  o.max_tokens = 40;
  o.sampling.temperature = 0;
  o.stop = {"Lily", "zzz-never"};
  std::string streamed;
  GenerateStats st;
  auto r = generate(**s, "Once upon a time", o, [&](std::string_view p) { streamed += p; return true; }, &st);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, full.substr(0, at));
  EXPECT_EQ(streamed, *r);
  EXPECT_EQ(st.finish_reason, "stop");
  EXPECT_EQ(st.prompt_tokens, 5);  // BOS + 4

  // A stop string that never completes: its held-back prefix is flushed at the end.
  auto s2 = Session::create(m, 256);
  o.stop = {full.substr(full.size() - 3) + "#"};
  streamed.clear();
  auto r2 = generate(**s2, "Once upon a time", o, [&](std::string_view p) { streamed += p; return true; }, &st);
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(*r2, full);
  EXPECT_EQ(streamed, full);
  EXPECT_EQ(st.finish_reason, "length");
  EXPECT_EQ(st.generated_tokens, 40);
}

TEST(Generate, SeededSamplingIsReproducible) {
  NEXUS_REQUIRE_SHARED(kStories);
  auto m = load_ok(nexus::test::shared_file(kStories));
  ASSERT_TRUE(m);
  auto run = [&](uint64_t seed) {
    auto s = Session::create(m, 256);
    GenerateOptions o;
    o.max_tokens = 30;
    o.sampling.temperature = 1.0f;
    o.sampling.seed = seed;
    return *generate(**s, "Once upon a time", o);
  };
  EXPECT_EQ(run(123), run(123));
  EXPECT_NE(run(123), run(124));
}

// ---------------------------------------------------------------- load errors and variants

TEST(ModelLoad, MissingFileAndCorruptFile) {
  auto m = Model::load("/nonexistent/model.gguf");
  ASSERT_FALSE(m.ok());
  EXPECT_FALSE(m.error().message.empty());
  const std::string path = nexus::test::temp_dir() + "/bad.gguf";
  std::ofstream(path, std::ios::binary) << "GGUF this is not a model";
  auto c = Model::load(path);
  ASSERT_FALSE(c.ok());
  EXPECT_FALSE(c.error().message.empty());
}

// Writes a small random model of `arch` with stories260K's vocabulary. `skip` names a tensor
// to leave out; `bad_shape` one to write with a wrong shape.
std::string write_random_model(const std::string& arch, const std::string& skip = "",
                               const std::string& bad_shape = "") {
  auto vocab = gguf::File::open(nexus::test::shared_file(kStories));
  EXPECT_TRUE(vocab.ok());
  gguf::Writer w;
  for (const auto& [k, v] : vocab->metadata())
    if (k.rfind("tokenizer.", 0) == 0) w.set(k, v);
  const bool qk_norm = arch == "qwen3" || arch == "gemma3";
  const int E = 48, L = 2, H = 4, HKV = 2, HD = qk_norm ? 16 : 12, F = 80, V = 512;
  w.set_string("general.architecture", arch);
  w.set_u32(arch + ".embedding_length", E);
  w.set_u32(arch + ".block_count", L);
  w.set_u32(arch + ".feed_forward_length", F);
  w.set_u32(arch + ".attention.head_count", H);
  w.set_u32(arch + ".attention.head_count_kv", HKV);
  w.set_u32(arch + ".context_length", 256);
  w.set_f32(arch + ".attention.layer_norm_rms_epsilon", 1e-6f);
  w.set_f32(arch + ".rope.freq_base", 1000000.0f);
  if (qk_norm) w.set_u32(arch + ".attention.key_length", HD);
  if (arch == "gemma3") {  // layer 0 local with a 5-token window, layer 1 global
    w.set_u32(arch + ".attention.sliding_window", 5);
    w.set_u32(arch + ".attention.sliding_window_pattern", 2);
  }
  uint32_t seed = 100;
  auto add = [&](const std::string& name, std::vector<int64_t> ne, float scale, float mean = 0.0f) {
    if (name == skip) return;
    if (name == bad_shape) ne[0] += 1;
    size_t n = 1;
    for (int64_t d : ne) n *= d;
    std::vector<float> data = random_vector(n, seed++, scale);
    for (float& x : data) x += mean;
    w.add_tensor(name, DType::F32, ne, data.data(), n * sizeof(float));
  };
  add("token_embd.weight", {E, V}, 1.0f);
  add("output_norm.weight", {E}, 0.1f, 1.0f);  // no output.weight: tied
  for (int l = 0; l < L; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".";
    add(b + "attn_norm.weight", {E}, 0.1f, 1.0f);
    add(b + "attn_q.weight", {E, H * HD}, 0.2f);
    add(b + "attn_k.weight", {E, HKV * HD}, 0.2f);
    add(b + "attn_v.weight", {E, HKV * HD}, 0.2f);
    add(b + "attn_output.weight", {H * HD, E}, 0.2f);
    if (arch == "qwen2") {
      add(b + "attn_q.bias", {H * HD}, 0.5f);
      add(b + "attn_k.bias", {HKV * HD}, 0.5f);
      add(b + "attn_v.bias", {HKV * HD}, 0.5f);
    }
    if (qk_norm) {
      add(b + "attn_q_norm.weight", {HD}, 0.1f, 1.0f);
      add(b + "attn_k_norm.weight", {HD}, 0.1f, 1.0f);
    }
    if (arch == "gemma3") {
      add(b + "post_attention_norm.weight", {E}, 0.1f, 1.0f);
      add(b + "post_ffw_norm.weight", {E}, 0.1f, 1.0f);
    }
    add(b + "ffn_norm.weight", {E}, 0.1f, 1.0f);
    add(b + "ffn_gate.weight", {E, F}, 0.2f);
    add(b + "ffn_up.weight", {E, F}, 0.2f);
    add(b + "ffn_down.weight", {F, E}, 0.2f);
  }
  const std::string path = nexus::test::temp_dir() + "/" + arch + ".gguf";
  Status st = w.write(path);
  EXPECT_TRUE(st.ok()) << st.error().message;
  return path;
}

TEST(ModelLoad, UnknownArchitecture) {
  NEXUS_REQUIRE_SHARED(kStories);
  const std::string path = write_random_model("xyz");
  auto m = Model::load(path);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().message,
            "unsupported architecture 'xyz' (supported: llama, qwen2, qwen3, gemma3) (in '" + path + "')");
}

TEST(ModelLoad, MissingAndMisShapedTensorsAreNamed) {
  NEXUS_REQUIRE_SHARED(kStories);
  const std::string pa = write_random_model("qwen2", "blk.1.attn_k.bias");
  auto a = Model::load(pa);
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error().message, "missing tensor 'blk.1.attn_k.bias' (in '" + pa + "')");
  const std::string pb = write_random_model("qwen3", "", "blk.0.ffn_down.weight");
  auto b = Model::load(pb);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.error().message,
            "tensor 'blk.0.ffn_down.weight' has shape [81, 48], expected [80, 48] (in '" + pb + "')");
}

TEST(ModelVariants, Qwen2PrefillEqualsTokenByToken) {
  NEXUS_REQUIRE_SHARED(kStories);
  auto m = load_ok(write_random_model("qwen2"), 2);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->info().arch, "qwen2");
  expect_prefill_matches_steps(m, 21, 64, 1e-4f);
}

TEST(ModelVariants, Qwen3PrefillEqualsTokenByToken) {
  NEXUS_REQUIRE_SHARED(kStories);
  auto m = load_ok(write_random_model("qwen3"), 2);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->info().arch, "qwen3");
  expect_prefill_matches_steps(m, 21, 64, 1e-4f);
}

// Gemma 3 layout; 21 tokens run past the local layer's 5-token window, so the windowed
// attention over cached keys must agree between one batch and single steps.
TEST(ModelVariants, Gemma3PrefillEqualsTokenByToken) {
  NEXUS_REQUIRE_SHARED(kStories);
  auto m = load_ok(write_random_model("gemma3"), 2);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->info().arch, "gemma3");
  expect_prefill_matches_steps(m, 21, 64, 1e-4f);
}

// stories260K with every matrix whose rows are whole blocks of `type` stored as `type`.
// With back_to_f32 the quantized values are stored dequantized, as F32.
std::string requantized_stories(DType type, bool back_to_f32 = false) {
  auto f = gguf::File::open(nexus::test::shared_file(kStories));
  EXPECT_TRUE(f.ok());
  gguf::Writer w;
  w.copy_metadata_from(*f);
  for (const gguf::TensorInfo& t : f->tensors()) {
    const TensorView v = f->view(t);
    std::vector<int64_t> ne(t.ne, t.ne + t.n_dims);
    if (t.n_dims == 2 && t.ne[0] % dtype_traits(type).block_elems == 0) {
      std::vector<uint8_t> out(row_bytes(type, t.ne[0]) * t.ne[1]);
      for (int64_t r = 0; r < t.ne[1]; ++r)
        quantize_row(type, reinterpret_cast<const float*>(v.row(r)), out.data() + r * row_bytes(type, t.ne[0]), t.ne[0]);
      if (back_to_f32) {
        std::vector<float> deq(t.ne[0] * t.ne[1]);
        for (int64_t r = 0; r < t.ne[1]; ++r)
          dequantize_row(type, out.data() + r * row_bytes(type, t.ne[0]), deq.data() + r * t.ne[0], t.ne[0]);
        w.add_tensor(t.name, DType::F32, ne, deq.data(), deq.size() * 4);
      } else {
        w.add_tensor(t.name, type, ne, out.data(), out.size());
      }
    } else {
      w.add_tensor(t.name, t.type, ne, v.data, v.nbytes);
    }
  }
  const std::string path = nexus::test::temp_dir() + "/stories_" + std::string(dtype_name(type)) +
                           (back_to_f32 ? "_f32" : "") + ".gguf";
  Status st = w.write(path);
  EXPECT_TRUE(st.ok()) << st.error().message;
  return path;
}

std::vector<float> last_logits(const std::shared_ptr<Model>& m, const std::vector<int32_t>& tokens) {
  auto s = Session::create(m, 64);
  auto l = (*s)->eval(tokens);
  EXPECT_TRUE(l.ok());
  return l.ok() ? std::vector<float>(l->begin(), l->end()) : std::vector<float>(m->info().n_vocab);
}

float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  float worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::fabs(a[i] - b[i]));
  return worst;
}

// A quantized model against the same weights dequantized to F32 (rows of 64 are whole Q8_0 /
// Q4_0 blocks; k-quants need 256): the difference is only
// the activation quantization of the dot products, so it stays small; and the greedy text of
// the finer formats matches the original F32 model's.
TEST(ModelVariants, QuantizedWeightsMatchTheirDequantizedTwin) {
  NEXUS_REQUIRE_SHARED(kStories);
  auto ref = load_ok(nexus::test::shared_file(kStories));
  ASSERT_TRUE(ref);
  const std::string want = greedy(ref, "Once upon a time", 30);
  const std::vector<int32_t> tokens = ref->tokenize("Once upon a time, there was a little girl", true);
  for (DType type : {DType::F16, DType::Q8_0, DType::Q4_0}) {
    SCOPED_TRACE(std::string(dtype_name(type)));
    auto q = load_ok(requantized_stories(type), 2);
    auto twin = load_ok(requantized_stories(type, /*back_to_f32=*/true), 1);
    ASSERT_TRUE(q && twin);
    const float diff = max_abs_diff(last_logits(q, tokens), last_logits(twin, tokens));
    std::printf("%s: max |logit - dequantized twin's| = %g\n", std::string(dtype_name(type)).c_str(), diff);
    EXPECT_LT(diff, type == DType::F16 ? 1e-4f : 0.3f);  // Q8_0 activations: ~0.14 measured
    if (type == DType::F16 || type == DType::Q8_0) {
      EXPECT_EQ(greedy(q, "Once upon a time", 30), want);
    }
  }
}

}  // namespace
}  // namespace nexus
