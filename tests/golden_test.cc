// Golden logits against Hugging Face transformers (data written by tools/make_golden.py):
// each tiny random model in tests/data/golden/<name>/ is converted with `nexus convert`, run
// through Session::eval, and must reproduce transformers' logits at every position.
// TinyStories-656K (from shared/) must also reproduce transformers' greedy continuation exactly.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "gguf/hf_import.h"
#include "nexus/nexus.h"
#include "test_util.h"

namespace nexus {
namespace {

using json = nlohmann::json;
using test::run_nexus;
using test::source_dir;
using test::temp_dir;

constexpr float kTolerance = 1e-3f;  // max |logit difference|, float32 on both sides

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string golden_dir() { return source_dir() + "/tests/data/golden"; }

// Converts `hf_dir` to a fresh GGUF file and loads it.
std::shared_ptr<Model> convert_and_load(const std::string& hf_dir, const std::string& extra_args = "") {
  const std::string out = temp_dir() + "/model.gguf";
  test::CommandResult r = run_nexus("convert '" + hf_dir + "' '" + out + "' " + extra_args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  if (r.exit_code != 0) return nullptr;
  Result<std::shared_ptr<Model>> m = Model::load(out);
  EXPECT_TRUE(m.ok()) << (m.ok() ? "" : m.error().message);
  return m.ok() ? *m : nullptr;
}

// Max |a - b| over n floats.
float max_abs_diff(const float* a, const float* b, size_t n) {
  float m = 0;
  for (size_t i = 0; i < n; ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

class GoldenModel : public ::testing::TestWithParam<std::string> {};

TEST_P(GoldenModel, LogitsMatchTransformers) {
  const std::string dir = golden_dir() + "/" + GetParam();
  const json index = json::parse(read_file(dir + "/logits.json"));
  const std::string blob = read_file(dir + "/logits.f32");
  const int vocab = index["vocab"].get<int>();
  std::shared_ptr<Model> model = convert_and_load(dir);
  ASSERT_NE(model, nullptr);
  ASSERT_EQ(model->info().n_vocab, vocab);

  size_t offset = 0;  // floats into logits.f32
  float worst = 0;
  for (const json& prompt : index["prompts"]) {
    const std::vector<int32_t> ids = prompt.get<std::vector<int32_t>>();
    const size_t n = ids.size() * static_cast<size_t>(vocab);
    ASSERT_LE((offset + n) * sizeof(float), blob.size()) << "logits.f32 is shorter than logits.json says";
    const float* want = reinterpret_cast<const float*>(blob.data()) + offset;
    offset += n;

    Result<std::unique_ptr<Session>> s = Session::create(model, 64);
    ASSERT_TRUE(s.ok()) << s.error().message;
    Result<std::span<const float>> got = (*s)->eval(ids, /*all_logits=*/true);
    ASSERT_TRUE(got.ok()) << got.error().message;
    ASSERT_EQ(got->size(), n);
    for (size_t p = 0; p < ids.size(); ++p) {
      const float d = max_abs_diff(got->data() + p * vocab, want + p * vocab, vocab);
      worst = std::max(worst, d);
      EXPECT_LE(d, kTolerance) << GetParam() << ": prompt of " << ids.size() << " tokens, position " << p;
    }
  }
  EXPECT_EQ(offset * sizeof(float), blob.size()) << "logits.f32 holds more than logits.json describes";
  std::printf("[ golden ] %-18s max |dlogit| = %.3g\n", GetParam().c_str(), worst);
}

INSTANTIATE_TEST_SUITE_P(Transformers, GoldenModel,
                         ::testing::Values("llama", "llama_rope_linear", "mistral", "qwen2", "qwen3", "gemma3"),
                         [](const auto& info) { return info.param; });

// Gemma3ForConditionalGeneration keeps the language model in text_config, and save_pretrained
// leaves out fields at their Gemma3TextConfig default (here heads, head_dim, vocab, window):
// the converter must fill them in. Transformers 4 style RoPE keys, linear scaling on the global
// layers only.
TEST(GoldenGemma3, ParsesConditionalGenerationTextConfig) {
  Result<hf::HfConfig> c = hf::parse_config(R"({"architectures":["Gemma3ForConditionalGeneration"],
      "model_type":"gemma3","text_config":{"hidden_size":2560,"intermediate_size":10240,"model_type":"gemma3_text",
      "num_hidden_layers":34,"rope_scaling":{"factor":8.0,"rope_type":"linear"},"sliding_window":1024},
      "vision_config":{"hidden_size":1152}})");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->gguf_arch, "gemma3");
  EXPECT_EQ(c->vocab_size, 262208);
  EXPECT_EQ(c->n_head, 8);
  EXPECT_EQ(c->n_head_kv, 4);
  EXPECT_EQ(c->head_dim, 256);
  EXPECT_EQ(c->sliding_window, 1024);
  EXPECT_EQ(c->swa_period, 6);
  EXPECT_DOUBLE_EQ(c->query_pre_attn_scalar, 256);
  EXPECT_DOUBLE_EQ(c->rope_theta, 1e6);
  EXPECT_DOUBLE_EQ(c->rope_linear_factor, 8.0);
  EXPECT_DOUBLE_EQ(c->rope_local_theta, 10000.0);
  EXPECT_TRUE(c->tie_word_embeddings);
  EXPECT_EQ(c->bos_id, 2);

  const std::pair<const char*, const char*> bad[] = {
      {R"({"architectures":["Gemma3ForCausalLM"],"hidden_activation":"silu"})", "'silu'"},
      {R"({"architectures":["Gemma3ForCausalLM"],"num_hidden_layers":3,
          "layer_types":["full_attention","sliding_attention","full_attention"]})", "not periodic"},
      {R"({"architectures":["Gemma3ForCausalLM"],"use_bidirectional_attention":true})", "bidirectional"},
      {R"({"architectures":["Gemma3ForConditionalGeneration"]})", "text_config"},
  };
  for (const auto& [text, expect] : bad) {
    Result<hf::HfConfig> r = hf::parse_config(text);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_NE(r.error().message.find(expect), std::string::npos) << r.error().message;
  }
}

// A quantized conversion stays close to the float logits (coarse: catches a broken encoder or a
// wrong tensor layout, not quantization quality).
TEST(GoldenQuantized, Q8_0LogitsStayClose) {
  const std::string dir = golden_dir() + "/llama";
  const json index = json::parse(read_file(dir + "/logits.json"));
  const std::string blob = read_file(dir + "/logits.f32");
  const int vocab = index["vocab"].get<int>();
  std::shared_ptr<Model> model = convert_and_load(dir, "--type Q8_0");
  ASSERT_NE(model, nullptr);
  const std::vector<int32_t> ids = index["prompts"][0].get<std::vector<int32_t>>();
  Result<std::unique_ptr<Session>> s = Session::create(model, 64);
  ASSERT_TRUE(s.ok()) << s.error().message;
  Result<std::span<const float>> got = (*s)->eval(ids, true);
  ASSERT_TRUE(got.ok()) << got.error().message;
  const float d = max_abs_diff(got->data(), reinterpret_cast<const float*>(blob.data()), ids.size() * vocab);
  std::printf("[ golden ] llama Q8_0 max |dlogit| = %.3g\n", d);
  EXPECT_LE(d, 0.5f);
  EXPECT_GT(d, 0.0f) << "Q8_0 conversion produced exactly the float logits: was it quantized?";
}

int argmax(std::span<const float> x) {
  return static_cast<int>(std::max_element(x.begin(), x.end()) - x.begin());
}

TEST(GoldenTinyStories, GreedyAndLogitsMatchTransformers) {
  NEXUS_REQUIRE_SHARED("models/TinyStories-656K/model.safetensors");
  const json g = json::parse(read_file(golden_dir() + "/tinystories656k.json"));
  std::shared_ptr<Model> model = convert_and_load(test::shared_file("models/TinyStories-656K"));
  ASSERT_NE(model, nullptr);
  const int vocab = model->info().n_vocab;
  ASSERT_EQ(vocab, 2048);

  // Logits of the fixed prompt at every position.
  const std::vector<int32_t> prompt = g["prompt"].get<std::vector<int32_t>>();
  // The converted vocabulary (SPM scores from BPE merge ranks) tokenizes like transformers.
  EXPECT_EQ(model->tokenize(g["prompt_text"].get<std::string>(), /*add_bos=*/true), prompt);
  const std::vector<std::vector<float>> want = g["prompt_logits"].get<std::vector<std::vector<float>>>();
  ASSERT_EQ(want.size(), prompt.size());
  Result<std::unique_ptr<Session>> s = Session::create(model);
  ASSERT_TRUE(s.ok()) << s.error().message;
  Result<std::span<const float>> got = (*s)->eval(prompt, true);
  ASSERT_TRUE(got.ok()) << got.error().message;
  float worst = 0;
  for (size_t p = 0; p < prompt.size(); ++p) {
    ASSERT_EQ(want[p].size(), static_cast<size_t>(vocab));
    // Stored with 6 decimals: allow that rounding on top of the tolerance.
    const float d = max_abs_diff(got->data() + p * vocab, want[p].data(), vocab);
    worst = std::max(worst, d);
    EXPECT_LE(d, kTolerance) << "position " << p;
  }
  std::printf("[ golden ] tinystories656k max |dlogit| = %.3g\n", worst);

  // Greedy from BOS, one token at a time through the KV cache.
  const std::vector<int32_t> expected = g["greedy_from_bos"].get<std::vector<int32_t>>();
  (*s)->reset();
  std::vector<int32_t> generated;
  int32_t next = g["bos"].get<int32_t>();
  for (size_t i = 0; i < expected.size(); ++i) {
    Result<std::span<const float>> l = (*s)->eval(std::span<const int32_t>(&next, 1));
    ASSERT_TRUE(l.ok()) << l.error().message;
    next = argmax(*l);
    generated.push_back(next);
  }
  EXPECT_EQ(generated, expected);
  std::string text;
  for (int32_t id : generated) text += model->token_to_piece(id);
  std::printf("[ golden ] tinystories656k greedy: %s\n", text.c_str());
  EXPECT_NE(text.find("Once upon a time"), std::string::npos) << text;
}

}  // namespace
}  // namespace nexus
