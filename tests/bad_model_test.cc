// End to end: every command that loads a model must turn a bad model file into exit code 1
// and exactly one "nexus: error: ..." line on stderr (no crash, no stack of messages).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <iterator>

#include "gguf/gguf.h"
#include "test_util.h"

namespace nexus {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

void write_file(const std::string& path, const std::vector<uint8_t>& b) {
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(b.data()),
                                              static_cast<std::streamsize>(b.size()));
}

// A structurally valid one-layer llama-shaped GGUF (weights are zeros; enough to get past
// parsing to the architecture and shape checks).
std::vector<uint8_t> tiny_model(const std::string& arch) {
  gguf::Writer w;
  w.set_string("general.architecture", arch);
  w.set_u32(arch + ".block_count", 1);
  w.set_u32(arch + ".embedding_length", 8);
  w.set_u32(arch + ".feed_forward_length", 16);
  w.set_u32(arch + ".attention.head_count", 2);
  w.set_u32(arch + ".context_length", 32);
  w.set_strings("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", "h", "i"});
  const std::vector<float> emb(8 * 5, 0.0f);
  w.add_tensor("token_embd.weight", DType::F32, {8, 5}, emb.data(), emb.size() * 4);
  const std::string path = test::temp_dir() + "/m.gguf";
  const Status s = w.write(path);
  EXPECT_TRUE(s.ok()) << s.error().message;
  return read_file(path);
}

size_t find_bytes(const std::vector<uint8_t>& b, std::string_view needle) {
  auto it = std::search(b.begin(), b.end(), needle.begin(), needle.end());
  EXPECT_NE(it, b.end());
  return static_cast<size_t>(it - b.begin());
}

// Field offsets of the token_embd.weight tensor info (2 dims).
size_t embd_dims_at(const std::vector<uint8_t>& b) { return find_bytes(b, "token_embd.weight") + 17 + 4; }
size_t embd_offset_at(const std::vector<uint8_t>& b) { return embd_dims_at(b) + 16 + 4; }

std::string save(const std::string& name, const std::vector<uint8_t>& b) {
  const std::string path = test::temp_dir() + "/" + name;
  write_file(path, b);
  return path;
}

// One line on stderr, starting "nexus: error:", exit code 1.
void expect_one_error_line(const std::string& args, const std::string& must_mention) {
  SCOPED_TRACE("nexus " + args);
  const test::CommandResult r = test::run_nexus(args);
  EXPECT_EQ(r.exit_code, 1) << "stderr: " << r.err;
  EXPECT_THAT(r.err, StartsWith("nexus: error:"));
  ASSERT_FALSE(r.err.empty());
  EXPECT_EQ(r.err.back(), '\n');
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "stderr: " << r.err;
  if (!must_mention.empty()) {
    EXPECT_THAT(r.err, HasSubstr(must_mention));
  }
}

// The bad files, each with a phrase its error message must contain.
struct BadCase {
  std::string path;
  std::string must_mention;
};

BadCase make_case(const std::string& name) {
  std::vector<uint8_t> b = tiny_model("llama");
  if (name == "Truncated") {
    b.resize(b.size() / 2);
    return {save("truncated.gguf", b), "gguf:"};
  }
  if (name == "TruncatedInHeader") {
    b.resize(13);
    return {save("trunc_header.gguf", b), "too small for a GGUF header"};
  }
  if (name == "WrongMagic") {
    std::memcpy(b.data(), "GGML", 4);
    return {save("magic.gguf", b), "expected magic 'GGUF', found 'GGML'"};
  }
  if (name == "TensorOffsetPastEnd") {
    const uint64_t off = 1 << 20;
    std::memcpy(b.data() + embd_offset_at(b), &off, 8);
    return {save("offset.gguf", b), "runs past end of file"};
  }
  if (name == "HugeDimension") {
    const uint64_t ne = uint64_t{1} << 40;
    std::memcpy(b.data() + embd_dims_at(b) + 8, &ne, 8);
    return {save("dim.gguf", b), "dimension 1 is 1099511627776 elements"};
  }
  if (name == "EmptyFile") return {save("empty.gguf", {}), "too small"};
  if (name == "Directory") return {test::temp_dir(), "Is a directory"};
  if (name == "MissingPath")
    return {"/nonexistent/nexus/model.gguf", "cannot open '/nonexistent/nexus/model.gguf': No such file or directory"};
  ADD_FAILURE() << "no case " << name;
  return {};
}

class BadModel : public ::testing::TestWithParam<std::string> {};

TEST_P(BadModel, InspectFailsWithOneLine) {
  const BadCase c = make_case(GetParam());
  expect_one_error_line("inspect '" + c.path + "'", c.must_mention);
}

TEST_P(BadModel, RunFailsWithOneLine) {
  const BadCase c = make_case(GetParam());
  expect_one_error_line("run -m '" + c.path + "' -p hi -n 1", c.must_mention);
}

INSTANTIATE_TEST_SUITE_P(Files, BadModel,
                         ::testing::Values("Truncated", "TruncatedInHeader", "WrongMagic", "TensorOffsetPastEnd",
                                           "HugeDimension", "EmptyFile", "Directory", "MissingPath"),
                         [](const auto& info) { return info.param; });

TEST(BadModelArch, InspectAcceptsUnknownArchitecture) {
  // inspect does not judge architecture support: the file itself is well formed.
  const std::string path = save("arch.gguf", tiny_model("nosucharch"));
  const test::CommandResult r = test::run_nexus("inspect '" + path + "'");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("\"nosucharch\""));
}

TEST(BadModelArch, RunRefusesUnknownArchitecture) {
  const std::string path = save("arch.gguf", tiny_model("nosucharch"));
  expect_one_error_line("run -m '" + path + "' -p hi -n 1", "nosucharch");
}

TEST(GoodModel, ValidTinyModelInspects) {
  const std::string path = save("ok.gguf", tiny_model("llama"));
  const test::CommandResult r = test::run_nexus("inspect '" + path + "'");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_THAT(r.out, HasSubstr("version 3, alignment 32"));
  EXPECT_THAT(r.out, HasSubstr("general.architecture"));
  EXPECT_THAT(r.out, HasSubstr("array<string>[5]"));
  EXPECT_THAT(r.out, HasSubstr("token_embd.weight"));
  EXPECT_THAT(r.out, HasSubstr("[8, 5]"));
  EXPECT_THAT(r.out, HasSubstr("totals: 1 tensors, 40 parameters, 160 bytes"));
}

TEST(GoodModel, InspectStories260K) {
  NEXUS_REQUIRE_SHARED("models/stories260K.gguf");
  const test::CommandResult r = test::run_nexus("inspect '" + test::shared_file("models/stories260K.gguf") + "'");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("llama.block_count"));
  EXPECT_THAT(r.out, HasSubstr("array<string>[512] [\"<unk>\", \"<s>\", \"</s>\""));
  EXPECT_THAT(r.out, HasSubstr("blk.4.ffn_down.weight"));
  EXPECT_THAT(r.out, HasSubstr("totals: 48 tensors, 292800 parameters, 1171200 bytes"));
}

}  // namespace
}  // namespace nexus
