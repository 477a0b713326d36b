// safetensors parser (valid files, hostile headers) and the Hugging Face -> GGUF converter.
#include "gguf/safetensors.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gguf/gguf.h"
#include "gguf/hf_import.h"
#include "gguf/hf_tokenizer.h"
#include "test_util.h"
#include "util/fp16.h"

namespace nexus {
namespace {

using safetensors::File;

// Builds a safetensors image: length prefix, `header`, then `data`.
std::vector<uint8_t> image(const std::string& header, const std::vector<uint8_t>& data = {}) {
  std::string s;
  for (int i = 0; i < 8; ++i) s.push_back(static_cast<char>(static_cast<uint64_t>(header.size()) >> (8 * i)));
  s += header;
  s.append(reinterpret_cast<const char*>(data.data()), data.size());
  return std::vector<uint8_t>(s.begin(), s.end());
}

std::vector<uint8_t> float_bytes(const std::vector<float>& v) {
  std::vector<uint8_t> b(v.size() * 4);
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

std::string error_of(const std::vector<uint8_t>& bytes) {
  Result<File> r = File::parse(bytes);
  return r.ok() ? std::string("(no error)") : r.error().message;
}

TEST(Safetensors, ParsesValidFile) {
  std::vector<uint8_t> data = float_bytes({1, 2, 3, 4, 5, 6});
  const uint16_t h[2] = {f32_to_fp16(0.5f), f32_to_fp16(-2.0f)};
  const uint16_t bf[1] = {f32_to_bf16(3.0f)};
  data.insert(data.end(), reinterpret_cast<const uint8_t*>(h), reinterpret_cast<const uint8_t*>(h) + 4);
  data.insert(data.end(), reinterpret_cast<const uint8_t*>(bf), reinterpret_cast<const uint8_t*>(bf) + 2);
  const std::string header =
      R"({"__metadata__":{"format":"pt","n":3},"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},)"
      R"("h":{"dtype":"F16","shape":[2],"data_offsets":[24,28]},"b":{"dtype":"BF16","shape":[],"data_offsets":[28,30]},)"
      R"("e":{"dtype":"F32","shape":[0,4],"data_offsets":[30,30]}}   )";  // trailing padding is allowed
  const std::vector<uint8_t> bytes = image(header, data);
  Result<File> f = File::parse(bytes);
  ASSERT_TRUE(f.ok()) << f.error().message;
  ASSERT_EQ(f->tensors().size(), 4u);
  EXPECT_EQ(f->metadata().at("format"), "pt");
  EXPECT_EQ(f->metadata().count("n"), 0u);  // non-string metadata skipped

  const safetensors::Tensor* w = f->find("w");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->dtype, DType::F32);
  EXPECT_EQ(w->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(w->elements(), 6);
  EXPECT_EQ(safetensors::to_f32(*w), (std::vector<float>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(safetensors::to_f32(*f->find("h")), (std::vector<float>{0.5f, -2.0f}));
  EXPECT_EQ(safetensors::to_f32(*f->find("b")), (std::vector<float>{3.0f}));  // scalar: shape []
  EXPECT_EQ(f->find("e")->elements(), 0);
  EXPECT_TRUE(safetensors::to_f32(*f->find("e")).empty());  // fuzzer find: memcpy of 0 bytes from null
  EXPECT_EQ(f->find("missing"), nullptr);
}

TEST(Safetensors, RejectsCorruptHeaders) {
  const std::vector<uint8_t> data = float_bytes({1, 2, 3, 4});
  const std::string ok_entry = R"("t":{"dtype":"F32","shape":[4],"data_offsets":[0,16]})";
  ASSERT_EQ(error_of(image("{" + ok_entry + "}", data)), "(no error)");

  struct Case {
    std::vector<uint8_t> bytes;
    std::string expect;  // substring of the error
  };
  std::vector<uint8_t> huge = image("{}");
  huge[7] = 0x7f;  // header length ~ 2^62
  std::vector<uint8_t> past_end = image("{}");
  past_end[0] = 200;  // longer than the file
  const std::vector<Case> cases = {
      {{}, "at least 8"},
      {{1, 2, 3}, "at least 8"},
      {huge, "exceeds the"},
      {past_end, "exceeds the file"},
      {image("{\"t\": [", data), "not valid JSON"},
      {image("[1,2]", data), "not an object"},
      {image(R"({"t":{"dtype":"F32","shape":[4],"data_offsets":[0,20]}})", data), "beyond the data section"},
      {image(R"({"t":{"dtype":"F32","shape":[4],"data_offsets":[8,4]}})", data), "begin 8 > end 4"},
      {image(R"({"t":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}})", data), "shape x dtype needs 12"},
      {image(R"({"t":{"dtype":"I64","shape":[2],"data_offsets":[0,16]}})", data), "unsupported dtype 'I64'"},
      {image(R"({"t":{"dtype":7,"shape":[4],"data_offsets":[0,16]}})", data), "'dtype'"},
      {image(R"({"t":{"dtype":"F32","shape":[-4],"data_offsets":[0,16]}})", data), "non-negative"},
      {image(R"({"t":{"dtype":"F32","shape":[4.5],"data_offsets":[0,16]}})", data), "non-negative"},
      {image(R"({"t":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,16]}})", data),
       "overflows"},
      {image(R"({"t":{"dtype":"F32","shape":[4],"data_offsets":[0]}})", data), "data_offsets"},
      {image(R"({"t":{"dtype":"F32","shape":[4],"data_offsets":[0,18446744073709551615]}})", data), "beyond"},
      {image(R"({"t":{"dtype":"F32","shape":[4]}})", data), "data_offsets"},
      {image(R"({"t":"F32"})", data), "not an object"},
      {image(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", data),
       "overlap"},
  };
  for (const Case& c : cases) {
    const std::string err = error_of(c.bytes);
    EXPECT_NE(err.find(c.expect), std::string::npos) << "expected '" << c.expect << "', got: " << err;
    EXPECT_EQ(err.find('\n'), std::string::npos) << err;
  }
  // Errors name the tensor.
  EXPECT_NE(error_of(image(R"({"my.weight":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}})", data)).find("'my.weight'"),
            std::string::npos);
}

TEST(Safetensors, EveryTruncationIsAnError) {
  const std::vector<uint8_t> bytes =
      image(R"({"t":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", float_bytes({1, 2, 3, 4}));
  for (size_t n = 0; n < bytes.size(); ++n) {
    Result<File> r = File::parse(std::span<const uint8_t>(bytes.data(), n));
    EXPECT_FALSE(r.ok()) << "truncated to " << n << " bytes";
  }
}

TEST(HfImport, RopePermutationInterleavesHalves) {
  // 2 heads of head_dim 4, 1 column: rows [a0 a1 b0 b1 | c0 c1 d0 d1] -> [a0 b0 a1 b1 | c0 d0 c1 d1]
  std::vector<float> x = {0, 1, 2, 3, 10, 11, 12, 13};
  hf::permute_rope_rows_to_interleaved(x.data(), 8, 1, 4);
  EXPECT_EQ(x, (std::vector<float>{0, 2, 1, 3, 10, 12, 11, 13}));
  // With 2 columns whole rows move.
  std::vector<float> y = {0, 0, 1, 1, 2, 2, 3, 3};
  hf::permute_rope_rows_to_interleaved(y.data(), 4, 2, 4);
  EXPECT_EQ(y, (std::vector<float>{0, 0, 2, 2, 1, 1, 3, 3}));
}

TEST(HfImport, ParsesConfigVariants) {
  Result<hf::HfConfig> c = hf::parse_config(R"({"architectures":["Qwen3ForCausalLM"],"vocab_size":300,
      "hidden_size":64,"num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,"head_dim":32,
      "intermediate_size":128,"rope_parameters":{"rope_type":"linear","factor":4.0,"rope_theta":500000.0},
      "eos_token_id":[7,8]})");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->gguf_arch, "qwen3");
  EXPECT_EQ(c->head_dim, 32);
  EXPECT_TRUE(c->head_dim_explicit);
  EXPECT_DOUBLE_EQ(c->rope_theta, 500000.0);
  EXPECT_DOUBLE_EQ(c->rope_linear_factor, 4.0);
  EXPECT_EQ(c->eos_id, 7);

  c = hf::parse_config(R"({"architectures":["MistralForCausalLM"],"vocab_size":300,"hidden_size":64,
      "num_hidden_layers":2,"num_attention_heads":4,"intermediate_size":128,"rope_theta":1e6,
      "rope_scaling":{"type":"linear","factor":2}})");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->gguf_arch, "llama");
  EXPECT_EQ(c->n_head_kv, 4);
  EXPECT_EQ(c->head_dim, 16);
  EXPECT_DOUBLE_EQ(c->rope_linear_factor, 2.0);

  const std::pair<const char*, const char*> bad[] = {
      {R"({"architectures":["GPT2LMHeadModel"]})", "GPT2LMHeadModel"},
      {R"({"architectures":["LlamaForCausalLM"],"vocab_size":300})", "'hidden_size'"},
      {R"({"architectures":["LlamaForCausalLM"],"vocab_size":300,"hidden_size":"64"})", "'hidden_size' is not an integer"},
      {R"({"architectures":["LlamaForCausalLM"],"vocab_size":300,"hidden_size":64,"num_hidden_layers":2,
          "num_attention_heads":4,"num_key_value_heads":3,"intermediate_size":8})", "not a multiple"},
      {R"({"architectures":["LlamaForCausalLM"],"vocab_size":300,"hidden_size":64,"num_hidden_layers":2,
          "num_attention_heads":4,"intermediate_size":8,"rope_scaling":{"rope_type":"yarn","factor":4}})", "'yarn'"},
      {"{not json", "not a valid JSON"},
  };
  for (const auto& [text, expect] : bad) {
    Result<hf::HfConfig> r = hf::parse_config(text);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_NE(r.error().message.find(expect), std::string::npos) << r.error().message;
  }
}

TEST(HfImport, ConvertsTinyStories656K) {
  NEXUS_REQUIRE_SHARED("models/TinyStories-656K/model.safetensors");
  const std::string src = test::shared_file("models/TinyStories-656K");
  const std::string out = test::temp_dir() + "/ts.gguf";
  test::CommandResult r = test::run_nexus("convert '" + src + "' '" + out + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Result<gguf::File> f = gguf::File::open(out);
  ASSERT_TRUE(f.ok()) << f.error().message;
  EXPECT_EQ(f->get_string("general.architecture"), "llama");
  EXPECT_EQ(f->get_int("llama.embedding_length"), 128);
  EXPECT_EQ(f->get_int("llama.block_count"), 2);
  EXPECT_EQ(f->get_int("llama.attention.head_count"), 8);
  EXPECT_EQ(f->get_int("llama.attention.head_count_kv"), 4);
  EXPECT_EQ(f->get_int("llama.feed_forward_length"), 384);
  EXPECT_EQ(f->get_int("llama.rope.dimension_count"), 16);
  EXPECT_EQ(f->get_string("tokenizer.ggml.model"), "llama");
  EXPECT_EQ(f->get_int("tokenizer.ggml.bos_token_id"), 1);
  EXPECT_EQ(f->get_int("tokenizer.ggml.eos_token_id"), 2);
  const gguf::Array* tokens = f->get_array("tokenizer.ggml.tokens");
  ASSERT_NE(tokens, nullptr);
  ASSERT_EQ(tokens->strings.size(), 2048u);
  EXPECT_EQ(tokens->strings[80], "\xE2\x96\x81");  // "▁"

  const gguf::TensorInfo* embd = f->find_tensor("token_embd.weight");
  ASSERT_NE(embd, nullptr);
  EXPECT_EQ(embd->type, DType::F32);
  EXPECT_EQ(embd->ne[0], 128);
  EXPECT_EQ(embd->ne[1], 2048);
  EXPECT_EQ(f->find_tensor("output.weight"), nullptr);  // tied
  const gguf::TensorInfo* down = f->find_tensor("blk.1.ffn_down.weight");
  ASSERT_NE(down, nullptr);
  EXPECT_EQ(down->ne[0], 384);
  EXPECT_EQ(down->ne[1], 128);
  EXPECT_EQ(f->tensors().size(), 20u);

  // Values: the embedding is lm_head.weight verbatim; Q rows are permuted per head.
  Result<File> st = File::open(src + "/model.safetensors");
  ASSERT_TRUE(st.ok()) << st.error().message;
  const std::vector<float> head = safetensors::to_f32(*st->find("lm_head.weight"));
  const TensorView ev = f->view(*embd);
  ASSERT_EQ(ev.nbytes, head.size() * 4);
  EXPECT_EQ(std::memcmp(ev.data, head.data(), ev.nbytes), 0);
  std::vector<float> q = safetensors::to_f32(*st->find("model.layers.0.self_attn.q_proj.weight"));
  hf::permute_rope_rows_to_interleaved(q.data(), 128, 128, 16);
  const TensorView qv = f->view(*f->find_tensor("blk.0.attn_q.weight"));
  ASSERT_EQ(qv.nbytes, q.size() * 4);
  EXPECT_EQ(std::memcmp(qv.data, q.data(), qv.nbytes), 0);
}

void write_file(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

TEST(Safetensors, ShardedCheckpoint) {
  const std::string dir = test::temp_dir();
  write_file(dir + "/a.safetensors", image(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", float_bytes({1, 2})));
  write_file(dir + "/b.safetensors", image(R"({"y":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", float_bytes({3})));
  std::ofstream(dir + "/model.safetensors.index.json")
      << R"({"metadata":{},"weight_map":{"x":"a.safetensors","y":"b.safetensors"}})";
  Result<safetensors::Checkpoint> c = safetensors::Checkpoint::open_dir(dir);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->names(), (std::vector<std::string>{"x", "y"}));
  ASSERT_NE(c->find("y"), nullptr);
  EXPECT_EQ(safetensors::to_f32(*c->find("y")), (std::vector<float>{3}));
  // Moving the checkpoint keeps tensor pointers valid.
  safetensors::Checkpoint moved = std::move(*c);
  EXPECT_EQ(safetensors::to_f32(*moved.find("x")), (std::vector<float>{1, 2}));

  // Hostile shard names and duplicated tensors are errors.
  std::ofstream(dir + "/model.safetensors.index.json") << R"({"weight_map":{"x":"../a.safetensors"}})";
  Result<safetensors::Checkpoint> bad = safetensors::Checkpoint::open_dir(dir);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("bad shard"), std::string::npos) << bad.error().message;
  write_file(dir + "/b.safetensors", image(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", float_bytes({3})));
  std::ofstream(dir + "/model.safetensors.index.json") << R"({"weight_map":{"x":"a.safetensors","y":"b.safetensors"}})";
  bad = safetensors::Checkpoint::open_dir(dir);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("more than one shard"), std::string::npos) << bad.error().message;
}

// Byte-level BPE tokenizers (Qwen 3, Llama 3) become tokenizer.ggml.model "gpt2" with merges.
TEST(HfImport, ByteLevelTokenizers) {
  NEXUS_REQUIRE_SHARED("tokenizer-tests/hf-qwen3/tokenizer.json");
  struct Case {
    const char* dir;
    hf::Arch arch;
    int64_t n_vocab;  // embedding rows (larger than the tokenizer: padded)
    const char* pre;
    int64_t eos;
    bool add_bos;
    int last_type;  // token type of the last id: 5 (unused) where the vocabulary is padded
  };
  const Case cases[] = {
      {"tokenizer-tests/hf-qwen3", hf::Arch::kQwen3, 151936, "qwen2", 151645, false, 5},
      {"tokenizer-tests/hf-llama3", hf::Arch::kLlama, 128256, "llama-bpe", 128001, true, 3},
  };
  for (const Case& c : cases) {
    hf::HfConfig config;
    config.arch = c.arch;
    gguf::Writer w;
    w.set_string("general.architecture", "x");
    Status s = hf::write_tokenizer(test::shared_file(c.dir), config, c.n_vocab, w, {});
    ASSERT_TRUE(s.ok()) << s.error().message;
    const std::string out = test::temp_dir() + "/tok.gguf";
    ASSERT_TRUE(w.write(out).ok());
    Result<gguf::File> f = gguf::File::open(out);
    ASSERT_TRUE(f.ok()) << f.error().message;
    EXPECT_EQ(f->get_string("tokenizer.ggml.model"), "gpt2");
    EXPECT_EQ(f->get_string("tokenizer.ggml.pre"), c.pre);
    const gguf::Array* tokens = f->get_array("tokenizer.ggml.tokens");
    const gguf::Array* types = f->get_array("tokenizer.ggml.token_type");
    const gguf::Array* merges = f->get_array("tokenizer.ggml.merges");
    ASSERT_TRUE(tokens && types && merges);
    EXPECT_EQ(tokens->size(), static_cast<size_t>(c.n_vocab));
    EXPECT_EQ(types->size(), static_cast<size_t>(c.n_vocab));
    EXPECT_GT(merges->size(), 100000u);
    EXPECT_EQ(f->get_int("tokenizer.ggml.eos_token_id"), c.eos);
    EXPECT_EQ(f->get_bool("tokenizer.ggml.add_bos_token"), c.add_bos);
    EXPECT_EQ(types->ints[c.eos], 3) << "special tokens are control tokens";
    EXPECT_EQ(types->ints[c.n_vocab - 1], c.last_type);
  }
  // A tokenizer larger than the embedding is an error, not a silent truncation.
  gguf::Writer w;
  Status s = hf::write_tokenizer(test::shared_file("tokenizer-tests/hf-qwen3"), hf::HfConfig{}, 1000, w, {});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("only 1000 rows"), std::string::npos) << s.error().message;
}

TEST(HfImport, ConvertErrorsAreOneLine) {
  const std::string dir = test::temp_dir();
  test::CommandResult r = test::run_nexus("convert '" + dir + "' '" + dir + "/out.gguf'");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("config.json"), std::string::npos) << r.err;

  // A config without weights.
  std::ofstream(dir + "/config.json") << R"({"architectures":["LlamaForCausalLM"],"vocab_size":300,"hidden_size":64,
      "num_hidden_layers":2,"num_attention_heads":4,"intermediate_size":128})";
  r = test::run_nexus("convert '" + dir + "' '" + dir + "/out.gguf'");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("model.safetensors"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir + "/out.gguf"));

  r = test::run_nexus("convert '" + dir + "' '" + dir + "/out.gguf' --type Q9_9");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("Q9_9"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace nexus
