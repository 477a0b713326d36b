// Quantization mixes, the model quantizer and the synthetic model generator: per-tensor type
// choice (including the row-length fallback), metadata carried over, values preserved.
#include "quant/quantizer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "model/synthetic.h"
#include "quant/quant_mix.h"
#include "tensor/quants.h"
#include "test_util.h"

namespace nexus {
namespace {

using quant::Mix;

// ---- Mix rules

TEST(QuantMix, UseMoreBitsLayers) {
  std::vector<int> chosen;
  for (int i = 0; i < 32; ++i)
    if (quant::use_more_bits(i, 32)) chosen.push_back(i);
  // First eighth, last eighth, and every third layer from 6 on in between.
  const std::vector<int> expected = {0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31};
  EXPECT_EQ(chosen, expected);
}

TEST(QuantMix, NamesAndFileTypes) {
  EXPECT_EQ(quant::mix_from_name("q4_k_m"), Mix::Q4_K_M);
  EXPECT_EQ(quant::mix_from_name("F16"), Mix::F16);
  EXPECT_FALSE(quant::mix_from_name("Q7_K").has_value());
  EXPECT_EQ(quant::mix_info(Mix::F16).file_type, 1u);
  EXPECT_EQ(quant::mix_info(Mix::Q4_0).file_type, 2u);
  EXPECT_EQ(quant::mix_info(Mix::Q8_0).file_type, 7u);
  EXPECT_EQ(quant::mix_info(Mix::Q4_K_M).file_type, 15u);
  EXPECT_EQ(quant::mix_info(Mix::Q5_K_M).file_type, 17u);
  EXPECT_EQ(quant::mix_info(Mix::Q6_K).file_type, 18u);
}

TEST(QuantMix, Q4KMRecipe) {
  std::vector<std::string> names = {"token_embd.weight", "output.weight"};
  for (int l = 0; l < 32; ++l) {
    names.push_back("blk." + std::to_string(l) + ".attn_v.weight");
    names.push_back("blk." + std::to_string(l) + ".ffn_down.weight");
  }
  const quant::ModelLayout layout = quant::layout_from_names(names);
  EXPECT_EQ(layout.n_attn_v, 32);
  EXPECT_TRUE(layout.has_output);
  auto type = [&](Mix m, const std::string& name, int dims = 2, int64_t ne0 = 4096) {
    return quant::choose_type(m, layout, name, dims, ne0).type;
  };
  EXPECT_EQ(type(Mix::Q4_K_M, "output.weight"), DType::Q6_K);
  EXPECT_EQ(type(Mix::Q4_K_M, "token_embd.weight"), DType::Q4_K);
  EXPECT_EQ(type(Mix::Q4_K_M, "blk.0.attn_v.weight"), DType::Q6_K);
  EXPECT_EQ(type(Mix::Q4_K_M, "blk.4.attn_v.weight"), DType::Q4_K);
  EXPECT_EQ(type(Mix::Q4_K_M, "blk.6.ffn_down.weight"), DType::Q6_K);
  EXPECT_EQ(type(Mix::Q4_K_M, "blk.7.ffn_down.weight"), DType::Q4_K);
  EXPECT_EQ(type(Mix::Q4_K_M, "blk.31.ffn_down.weight"), DType::Q6_K);
  EXPECT_EQ(type(Mix::Q4_K_M, "blk.7.attn_q.weight"), DType::Q4_K);
  EXPECT_EQ(type(Mix::Q4_K_M, "blk.7.ffn_up.weight"), DType::Q4_K);
  EXPECT_EQ(type(Mix::Q4_K_M, "blk.7.attn_norm.weight", 1), DType::F32);
  EXPECT_EQ(type(Mix::Q4_K_M, "blk.7.attn_q.bias", 1), DType::F32);
  EXPECT_EQ(type(Mix::Q5_K_M, "blk.0.attn_v.weight"), DType::Q6_K);
  EXPECT_EQ(type(Mix::Q5_K_M, "blk.5.attn_v.weight"), DType::Q5_K);
  EXPECT_EQ(type(Mix::Q4_K_S, "blk.0.ffn_down.weight"), DType::Q5_K);
  EXPECT_EQ(type(Mix::Q4_K_S, "blk.9.ffn_down.weight"), DType::Q4_K);
  EXPECT_EQ(type(Mix::Q8_0, "output.weight"), DType::Q8_0);
  EXPECT_EQ(type(Mix::Q4_0, "output.weight"), DType::Q6_K);
  EXPECT_EQ(type(Mix::F16, "output.weight"), DType::F16);
  EXPECT_EQ(type(Mix::Q6_K, "blk.3.attn_q.weight"), DType::Q6_K);

  // Tied embeddings: token_embd acts as the output head.
  const quant::ModelLayout tied = quant::layout_from_names({"token_embd.weight", "blk.0.attn_v.weight"});
  EXPECT_EQ(quant::choose_type(Mix::Q4_K_M, tied, "token_embd.weight", 2, 4096).type, DType::Q6_K);
}

TEST(QuantMix, RowLengthFallback) {
  const quant::ModelLayout layout = quant::layout_from_names({"output.weight"});
  auto c = quant::choose_type(Mix::Q4_K_M, layout, "blk.0.attn_q.weight", 2, 96);
  EXPECT_EQ(c.type, DType::Q5_0);
  EXPECT_EQ(c.wanted, DType::Q4_K);
  EXPECT_TRUE(c.fallback);
  EXPECT_EQ(quant::fallback_type(DType::Q5_K, 96), DType::Q5_1);
  EXPECT_EQ(quant::fallback_type(DType::Q6_K, 96), DType::Q8_0);
  EXPECT_EQ(quant::fallback_type(DType::Q4_0, 100), DType::F16);
  EXPECT_EQ(quant::fallback_type(DType::Q4_K, 100), DType::F16);
  EXPECT_EQ(quant::choose_type(Mix::Q4_K_M, layout, "output.weight", 2, 96).type, DType::Q8_0);
  EXPECT_FALSE(quant::choose_type(Mix::Q4_K_M, layout, "blk.0.attn_q.weight", 2, 512).fallback);
}

TEST(QuantMix, LayerOf) {
  EXPECT_EQ(quant::layer_of("blk.12.attn_v.weight"), 12);
  EXPECT_EQ(quant::layer_of("blk.x.attn_v.weight"), -1);
  EXPECT_EQ(quant::layer_of("output.weight"), -1);
  EXPECT_EQ(quant::layer_of("blk.3"), -1);
}

// ---- Synthetic models

SynthSpec tiny_spec(int dim = 256) {
  SynthSpec s;
  s.arch = "llama";
  s.dim = dim;
  s.layers = 3;
  s.ffn = 512;
  s.heads = 4;
  s.kv_heads = 2;
  s.vocab = 320;
  s.ctx = 128;
  s.seed = 7;
  return s;
}

// Writes a synth model to a temp file and reopens it.
gguf::File synth_file(const SynthSpec& s, ThreadPool& pool, std::string* path_out = nullptr) {
  const std::string path = test::temp_dir() + "/synth.gguf";
  const Status st = synth_model_file(s, path, pool);
  EXPECT_TRUE(st.ok()) << st.error().message;
  auto f = gguf::File::open(path);
  EXPECT_TRUE(f.ok()) << f.error().message;
  if (path_out) *path_out = path;
  return std::move(f).value();
}

std::vector<float> dequantize_tensor(const gguf::File& f, const gguf::TensorInfo& t) {
  const TensorView v = f.view(t);
  std::vector<float> out(static_cast<size_t>(v.elements()));
  for (int64_t r = 0; r < v.rows(); ++r) dequantize_row(v.type, v.row(r), out.data() + r * v.cols(), v.cols());
  return out;
}

TEST(Synth, VocabularyIsValid) {
  const SynthVocab v = synth_vocab(2000);
  ASSERT_EQ(v.tokens.size(), 2000u);
  ASSERT_EQ(v.scores.size(), 2000u);
  ASSERT_EQ(v.types.size(), 2000u);
  EXPECT_EQ(v.tokens[0], "<unk>");
  EXPECT_EQ(v.types[0], 2);
  EXPECT_EQ(v.tokens[1], "<s>");
  EXPECT_EQ(v.types[1], 3);
  EXPECT_EQ(v.tokens[2], "</s>");
  EXPECT_EQ(v.tokens[3], "<0x00>");
  EXPECT_EQ(v.tokens[3 + 0x41], "<0x41>");
  EXPECT_EQ(v.tokens[258], "<0xFF>");
  EXPECT_EQ(v.types[258], 6);
  EXPECT_EQ(v.types[259], 1);
  const std::set<std::string> unique(v.tokens.begin(), v.tokens.end());
  EXPECT_EQ(unique.size(), v.tokens.size());
  EXPECT_TRUE(unique.count("a"));
  EXPECT_TRUE(unique.count("\xe2\x96\x81" "a"));
}

TEST(Synth, LlamaMetadataAndShapes) {
  ThreadPool pool(2);
  const SynthSpec s = tiny_spec();
  const gguf::File f = synth_file(s, pool);
  EXPECT_EQ(f.get_string("general.architecture"), "llama");
  EXPECT_EQ(f.get_int("llama.embedding_length"), 256);
  EXPECT_EQ(f.get_int("llama.block_count"), 3);
  EXPECT_EQ(f.get_int("llama.feed_forward_length"), 512);
  EXPECT_EQ(f.get_int("llama.attention.head_count"), 4);
  EXPECT_EQ(f.get_int("llama.attention.head_count_kv"), 2);
  EXPECT_EQ(f.get_int("llama.context_length"), 128);
  EXPECT_EQ(f.get_int("llama.rope.dimension_count"), 64);
  EXPECT_NEAR(*f.get_float("llama.rope.freq_base"), 10000.0, 1e-3);
  EXPECT_NEAR(*f.get_float("llama.attention.layer_norm_rms_epsilon"), 1e-5, 1e-9);
  EXPECT_EQ(f.get_string("tokenizer.ggml.model"), "llama");
  ASSERT_NE(f.get_array("tokenizer.ggml.tokens"), nullptr);
  EXPECT_EQ(f.get_array("tokenizer.ggml.tokens")->size(), 320u);
  EXPECT_EQ(f.get_int("tokenizer.ggml.bos_token_id"), 1);
  EXPECT_EQ(f.get_int("tokenizer.ggml.eos_token_id"), 2);

  const gguf::TensorInfo* q = f.find_tensor("blk.1.attn_q.weight");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->ne[0], 256);
  EXPECT_EQ(q->ne[1], 256);
  const gguf::TensorInfo* k = f.find_tensor("blk.1.attn_k.weight");
  ASSERT_NE(k, nullptr);
  EXPECT_EQ(k->ne[1], 128);  // 2 kv heads x 64
  const gguf::TensorInfo* down = f.find_tensor("blk.2.ffn_down.weight");
  ASSERT_NE(down, nullptr);
  EXPECT_EQ(down->ne[0], 512);
  EXPECT_EQ(down->ne[1], 256);
  const gguf::TensorInfo* emb = f.find_tensor("token_embd.weight");
  ASSERT_NE(emb, nullptr);
  EXPECT_EQ(emb->ne[0], 256);
  EXPECT_EQ(emb->ne[1], 320);
  EXPECT_EQ(f.tensors().size(), 3u + 3u * 9u);

  // Norms are ones; weights have std ~ 1/sqrt(fan_in).
  const auto norm = dequantize_tensor(f, *f.find_tensor("output_norm.weight"));
  for (float v : norm) ASSERT_EQ(v, 1.0f);
  const auto w = dequantize_tensor(f, *down);
  double ss = 0;
  for (float v : w) ss += static_cast<double>(v) * v;
  EXPECT_NEAR(std::sqrt(ss / static_cast<double>(w.size())), 1.0 / std::sqrt(512.0), 0.005);
}

TEST(Synth, QwenVariants) {
  ThreadPool pool(2);
  SynthSpec s = tiny_spec();
  s.arch = "qwen2";
  gguf::File f2 = synth_file(s, pool);
  EXPECT_NEAR(*f2.get_float("qwen2.rope.freq_base"), 1e6, 1);
  ASSERT_NE(f2.find_tensor("blk.0.attn_q.bias"), nullptr);
  EXPECT_EQ(f2.find_tensor("blk.0.attn_k.bias")->ne[0], 128);
  EXPECT_EQ(f2.find_tensor("blk.0.attn_q_norm.weight"), nullptr);

  s.arch = "qwen3";
  s.head_dim = 128;  // Qwen3 decouples head width from dim / heads
  gguf::File f3 = synth_file(s, pool);
  ASSERT_NE(f3.find_tensor("blk.2.attn_k_norm.weight"), nullptr);
  EXPECT_EQ(f3.find_tensor("blk.2.attn_k_norm.weight")->ne[0], 128);
  EXPECT_EQ(f3.find_tensor("blk.2.attn_q.weight")->ne[1], 512);
  EXPECT_EQ(f3.get_int("qwen3.attention.key_length"), 128);
  EXPECT_EQ(f3.find_tensor("blk.0.attn_q.bias"), nullptr);
}

TEST(Synth, RejectsBadSpecs) {
  ThreadPool pool(1);
  gguf::Writer w;
  SynthSpec s = tiny_spec();
  s.arch = "gpt5";
  EXPECT_FALSE(synth_model(s, w, pool).ok());
  s = tiny_spec();
  s.kv_heads = 3;
  EXPECT_FALSE(synth_model(s, w, pool).ok());
  s = tiny_spec();
  s.vocab = 100;
  EXPECT_FALSE(synth_model(s, w, pool).ok());
  s = tiny_spec();
  s.dim = 1 << 20;
  s.layers = 4000;
  const Status st = synth_model(s, w, pool);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("parameters"), std::string::npos);
}

TEST(Synth, QuantizedTiledTensorsAreValid) {
  // token_embd and output have 1024 x 1100 elements, above the direct-quantization limit:
  // tiled from the block pool.
  ThreadPool pool(2);
  SynthSpec s = tiny_spec(1024);
  s.vocab = 1100;
  s.layers = 1;
  s.ffn = 256;
  s.heads = 8;
  s.kv_heads = 8;
  s.mix = Mix::Q4_K_M;
  const gguf::File f = synth_file(s, pool);
  const gguf::TensorInfo* emb = f.find_tensor("token_embd.weight");
  const gguf::TensorInfo* out = f.find_tensor("output.weight");
  ASSERT_TRUE(emb && out);
  EXPECT_EQ(emb->type, DType::Q4_K);
  EXPECT_EQ(out->type, DType::Q6_K);
  EXPECT_EQ(f.get_int("general.file_type"), 15);
  for (const gguf::TensorInfo* t : {emb, out}) {
    const auto v = dequantize_tensor(f, *t);
    double ss = 0;
    for (float x : v) {
      ASSERT_TRUE(std::isfinite(x));
      ss += static_cast<double>(x) * x;
    }
    EXPECT_NEAR(std::sqrt(ss / static_cast<double>(v.size())), 1.0 / 32.0, 0.004) << t->name;
  }
}

// ---- Quantizing a model

double rel_rmse(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num += (static_cast<double>(a[i]) - b[i]) * (static_cast<double>(a[i]) - b[i]);
    den += static_cast<double>(a[i]) * a[i];
  }
  return std::sqrt(num / std::max(den, 1e-30));
}

double bound_for(DType t) {
  switch (t) {
    case DType::F32: return 0;
    case DType::F16: case DType::BF16: return 0.005;
    case DType::Q8_0: return 0.01;
    case DType::Q6_K: return 0.025;
    case DType::Q5_K: case DType::Q5_0: case DType::Q5_1: return 0.06;
    case DType::Q4_K: return 0.1;
    case DType::Q4_0: return 0.13;
    default: return 0.35;
  }
}

TEST(Quantizer, EveryMixFromF32) {
  ThreadPool pool(2);
  std::string src_path;
  const gguf::File src = synth_file(tiny_spec(), pool, &src_path);
  const quant::ModelLayout layout = [&] {
    std::vector<std::string> names;
    for (const auto& t : src.tensors()) names.push_back(t.name);
    return quant::layout_from_names(names);
  }();
  for (Mix m : {Mix::Q8_0, Mix::Q4_0, Mix::Q4_K_M, Mix::Q5_K_M, Mix::Q6_K, Mix::F16, Mix::Q4_K_S, Mix::Q5_K_S}) {
    SCOPED_TRACE(std::string(quant::mix_info(m).name));
    const std::string out_path = test::temp_dir() + "/q.gguf";
    quant::QuantizeOptions opts;
    opts.mix = m;
    std::vector<std::string> logs;
    opts.log = [&](const std::string& s) { logs.push_back(s); };
    std::vector<quant::TensorResult> results;
    const Status st = quant::quantize_file(src_path, out_path, opts, pool, &results);
    ASSERT_TRUE(st.ok()) << st.error().message;
    EXPECT_TRUE(logs.empty());  // 256/512 rows fit every block size: no fallback notes
    auto qf = gguf::File::open(out_path);
    ASSERT_TRUE(qf.ok()) << qf.error().message;
    const gguf::File& q = *qf;

    // Metadata carried over, file type set.
    EXPECT_EQ(q.get_string("general.architecture"), "llama");
    EXPECT_EQ(q.get_int("llama.block_count"), 3);
    EXPECT_EQ(q.get_array("tokenizer.ggml.tokens")->size(), 320u);
    EXPECT_EQ(q.get_int("general.file_type"), static_cast<int64_t>(quant::mix_info(m).file_type));
    ASSERT_EQ(q.tensors().size(), src.tensors().size());
    ASSERT_EQ(results.size(), src.tensors().size());

    for (const gguf::TensorInfo& t : src.tensors()) {
      const gguf::TensorInfo* o = q.find_tensor(t.name);
      ASSERT_NE(o, nullptr) << t.name;
      const DType expected = quant::choose_type(m, layout, t.name, t.n_dims, t.ne[0]).type;
      EXPECT_EQ(o->type, expected) << t.name;
      for (int d = 0; d < 4; ++d) EXPECT_EQ(o->ne[d], t.ne[d]) << t.name;
      const auto a = dequantize_tensor(src, t);
      const auto b = dequantize_tensor(q, *o);
      EXPECT_LE(rel_rmse(a, b), bound_for(o->type)) << t.name << " as " << dtype_name(o->type);
    }
    if (m == Mix::Q4_K_M) {
      // With 3 layers the first eighth is empty and the last eighth is layer 2 (7*3/8 = 2);
      // the "every third" rule (layer - 0) % 3 == 2 also picks only layer 2.
      EXPECT_EQ(q.find_tensor("output.weight")->type, DType::Q6_K);
      EXPECT_EQ(q.find_tensor("token_embd.weight")->type, DType::Q4_K);
      EXPECT_EQ(q.find_tensor("blk.0.attn_norm.weight")->type, DType::F32);
      for (int l = 0; l < 3; ++l) {
        const DType want = l == 2 ? DType::Q6_K : DType::Q4_K;
        EXPECT_EQ(q.find_tensor("blk." + std::to_string(l) + ".ffn_down.weight")->type, want);
        EXPECT_EQ(q.find_tensor("blk." + std::to_string(l) + ".attn_v.weight")->type, want);
      }
    }
  }
}

TEST(Quantizer, OddRowLengthsFallBack) {
  // dim 96: rows of 96 fit 32-blocks but not 256-blocks.
  ThreadPool pool(2);
  SynthSpec s = tiny_spec(96);
  s.heads = 3;
  s.kv_heads = 1;  // head_dim 32
  s.ffn = 256;
  std::string src_path;
  const gguf::File src = synth_file(s, pool, &src_path);
  const std::string out_path = test::temp_dir() + "/q.gguf";
  quant::QuantizeOptions opts;
  opts.mix = Mix::Q4_K_M;
  std::vector<std::string> logs;
  opts.log = [&](const std::string& l) { logs.push_back(l); };
  ASSERT_TRUE(quant::quantize_file(src_path, out_path, opts, pool).ok());
  auto q = gguf::File::open(out_path);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->find_tensor("blk.1.attn_q.weight")->type, DType::Q5_0);   // Q4_K wanted
  EXPECT_EQ(q->find_tensor("blk.0.attn_v.weight")->type, DType::Q5_0);   // Q4_K wanted
  EXPECT_EQ(q->find_tensor("blk.2.attn_v.weight")->type, DType::Q8_0);   // Q6_K wanted (last layer)
  EXPECT_EQ(q->find_tensor("output.weight")->type, DType::Q8_0);
  EXPECT_EQ(q->find_tensor("blk.1.ffn_up.weight")->type, DType::Q5_0);
  EXPECT_EQ(q->find_tensor("blk.1.ffn_down.weight")->type, DType::Q4_K);  // rows of 256 fit
  ASSERT_FALSE(logs.empty());
  bool mentioned = false;
  for (const auto& l : logs) mentioned |= l.find("blk.1.attn_q.weight") != std::string::npos &&
                                          l.find("Q5_0") != std::string::npos;
  EXPECT_TRUE(mentioned);
}

TEST(Quantizer, RequantizesQuantizedInputWithWarning) {
  ThreadPool pool(2);
  SynthSpec s = tiny_spec();
  s.mix = Mix::Q8_0;
  std::string src_path;
  const gguf::File src = synth_file(s, pool, &src_path);
  EXPECT_EQ(src.find_tensor("blk.0.attn_q.weight")->type, DType::Q8_0);
  const std::string out_path = test::temp_dir() + "/q.gguf";
  quant::QuantizeOptions opts;
  opts.mix = Mix::Q4_K_M;
  std::vector<std::string> logs;
  opts.log = [&](const std::string& l) { logs.push_back(l); };
  ASSERT_TRUE(quant::quantize_file(src_path, out_path, opts, pool).ok());
  bool warned = false;
  for (const auto& l : logs) warned |= l.find("requantized") != std::string::npos;
  EXPECT_TRUE(warned);
  auto q = gguf::File::open(out_path);
  ASSERT_TRUE(q.ok());
  const auto a = dequantize_tensor(src, *src.find_tensor("blk.0.attn_q.weight"));
  const auto b = dequantize_tensor(*q, *q->find_tensor("blk.0.attn_q.weight"));
  EXPECT_LT(rel_rmse(a, b), 0.1);
}

TEST(Quantizer, DeterministicAcrossThreadCounts) {
  ThreadPool one(1), two(2);
  gguf::Writer w1, w2;
  SynthSpec s = tiny_spec();
  s.mix = Mix::Q4_K_M;
  ASSERT_TRUE(synth_model(s, w1, one).ok());
  const std::string d = test::temp_dir();
  ASSERT_TRUE(w1.write(d + "/a.gguf").ok());
  ASSERT_TRUE(synth_model(s, w2, two).ok());
  ASSERT_TRUE(w2.write(d + "/b.gguf").ok());
  auto a = gguf::File::open(d + "/a.gguf");
  auto b = gguf::File::open(d + "/b.gguf");
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ(a->file_size(), b->file_size());
  for (const auto& t : a->tensors()) {
    const TensorView va = a->view(t), vb = b->view(*b->find_tensor(t.name));
    ASSERT_EQ(std::memcmp(va.data, vb.data, va.nbytes), 0) << t.name;
  }
}

// ---- Command line

TEST(QuantizeCli, ConvertsAndReportsErrors) {
  ThreadPool pool(2);
  std::string src_path;
  (void)synth_file(tiny_spec(), pool, &src_path);
  const std::string out_path = test::temp_dir() + "/cli.gguf";
  auto r = test::run_nexus("quantize '" + src_path + "' '" + out_path + "' Q4_K_M -t 2");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(gguf::File::open(out_path).ok());
  EXPECT_EQ(r.err.find("["), std::string::npos);  // no progress lines when piped

  r = test::run_nexus("quantize '" + src_path + "' '" + out_path + "' Q9_X");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("unknown quantization type 'Q9_X'"), std::string::npos) << r.err;

  r = test::run_nexus("quantize /nonexistent/in.gguf '" + out_path + "' Q8_0");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("error"), std::string::npos);
}

TEST(SynthCli, WritesModel) {
  const std::string out_path = test::temp_dir() + "/s.gguf";
  auto r = test::run_nexus("synth --arch qwen3 --dim 128 --layers 2 --ffn 256 --heads 4 --kv-heads 2 "
                           "--vocab 400 --type Q8_0 --seed 3 '" + out_path + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto f = gguf::File::open(out_path);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->get_string("general.architecture"), "qwen3");
  EXPECT_EQ(f->find_tensor("blk.0.attn_q.weight")->type, DType::Q8_0);
  EXPECT_EQ(f->find_tensor("blk.0.attn_q_norm.weight")->type, DType::F32);

  r = test::run_nexus("synth --arch llama --dim 100 --heads 3 --kv-heads 3 '" + out_path + "'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("--heads"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace nexus
