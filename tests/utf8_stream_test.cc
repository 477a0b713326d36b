// Utf8Stream: characters split over tokens at every position come out whole, and ill-formed
// bytes become U+FFFD the same way however the input is cut.
#include "decode/utf8_stream.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "nexus/nexus.h"
#include "test_util.h"

namespace nexus {
namespace {

const std::string kFFFD = "\xEF\xBF\xBD";

// Independent strict check: every sequence well formed, shortest form, no surrogates, <= U+10FFFF.
bool is_valid_utf8(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    int n = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    uint32_t cp = n == 1 ? c : n == 2 ? (c & 0x1F) : n == 3 ? (c & 0x0F) : (c & 0x07);
    for (int k = 1; k < n; ++k) {
      const unsigned char d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3F);
    }
    const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n;
  }
  return true;
}

// Pushes `bytes` cut at the positions whose bit is set in `cuts` (bit k: cut after byte k),
// checking each chunk of output is valid on its own; returns all output.
std::string push_split(const std::string& bytes, uint32_t cuts, std::vector<std::string>* chunks = nullptr) {
  Utf8Stream s;
  std::string out;
  size_t start = 0;
  for (size_t k = 0; k < bytes.size(); ++k) {
    if (k + 1 == bytes.size() || (cuts >> k) & 1) {
      std::string piece = s.push(std::string_view(bytes).substr(start, k + 1 - start));
      EXPECT_TRUE(is_valid_utf8(piece)) << "chunk not valid UTF-8";
      if (chunks) chunks->push_back(piece);
      out += piece;
      start = k + 1;
    }
  }
  std::string tail = s.finish();
  EXPECT_TRUE(is_valid_utf8(tail));
  out += tail;
  EXPECT_EQ(s.pending(), 0u);
  return out;
}

TEST(Utf8Stream, ValidTextSplitAnywhereIsUnchanged) {
  // 2-, 3- and 4-byte characters between ASCII, alone and in a row.
  const std::vector<std::string> texts = {
      "a\xC3\xA9z",                           // é
      "a\xE2\x82\xACz",                       // €
      "a\xF0\x9F\x98\x80z",                   // 😀
      "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80",  // é€😀
      "\xF4\x8F\xBF\xBF\xED\x9F\xBF\xEE\x80\x80",  // U+10FFFF, U+D7FF, U+E000 (range edges)
  };
  for (const std::string& t : texts) {
    ASSERT_TRUE(is_valid_utf8(t));
    ASSERT_LE(t.size(), 31u);
    for (uint32_t cuts = 0; cuts < (1u << (t.size() - 1)); ++cuts)
      ASSERT_EQ(push_split(t, cuts), t) << "cuts=" << cuts;
  }
}

TEST(Utf8Stream, ByteFallbackTokensHoldBackUntilComplete) {
  // "€" as three byte-fallback tokens: nothing until the last byte, then the whole character.
  Utf8Stream s;
  EXPECT_EQ(s.push("\xE2"), "");
  EXPECT_EQ(s.pending(), 1u);
  EXPECT_EQ(s.push("\x82"), "");
  EXPECT_EQ(s.pending(), 2u);
  EXPECT_EQ(s.push("\xAC"), "\xE2\x82\xAC");
  EXPECT_EQ(s.pending(), 0u);
  // A complete character followed by the start of the next: the first goes out at once.
  EXPECT_EQ(s.push("x\xF0\x9F"), "x");
  EXPECT_EQ(s.push("\x98\x80!"), "\xF0\x9F\x98\x80!");
  EXPECT_EQ(s.finish(), "");
}

struct BadCase {
  std::string in;
  std::string want;
};

TEST(Utf8Stream, IllFormedBytesBecomeReplacementPerMaximalSubpart) {
  const std::vector<BadCase> cases = {
      {"\x80", kFFFD},                                    // stray continuation
      {"a\xBF" "b", "a" + kFFFD + "b"},
      {"\xC0\x80", kFFFD + kFFFD},                        // overlong NUL: C0 never valid
      {"\xC1\xBF", kFFFD + kFFFD},
      {"\xE0\x80\x80", kFFFD + kFFFD + kFFFD},            // overlong 3-byte
      {"\xED\xA0\x80", kFFFD + kFFFD + kFFFD},            // surrogate U+D800
      {"\xF4\x90\x80\x80", kFFFD + kFFFD + kFFFD + kFFFD},  // > U+10FFFF
      {"\xF5\xFF", kFFFD + kFFFD},
      {"\xE2\x82" "A", kFFFD + "A"},                      // cut short: one U+FFFD for E2 82
      {"\xF0\x9F\x98" "A", kFFFD + "A"},
      {"\xE2\x82\xE2\x82\xAC", kFFFD + "\xE2\x82\xAC"},   // a new lead ends the old sequence
      {"\xC3", kFFFD},                                    // incomplete at the end of the stream
      {"ok\xF0\x9F\x98", "ok" + kFFFD},
  };
  for (const BadCase& c : cases) {
    EXPECT_EQ(sanitize_utf8(c.in), c.want) << "input size " << c.in.size();
    // Any cutting of the input gives the same text.
    for (uint32_t cuts = 0; cuts < (1u << (c.in.size() - 1)); ++cuts)
      ASSERT_EQ(push_split(c.in, cuts), c.want) << "cuts=" << cuts;
  }
}

TEST(Utf8Stream, FinishResetsTheStream) {
  Utf8Stream s;
  EXPECT_EQ(s.push("\xE2\x82"), "");
  EXPECT_EQ(s.finish(), kFFFD);
  EXPECT_EQ(s.push("\xAC"), kFFFD);  // the old lead is gone: a lone continuation byte
  EXPECT_EQ(s.finish(), "");
}

// generate() on a random-weight model whose vocabulary is mostly byte tokens: the random
// byte stream splits and breaks characters everywhere, yet every streamed chunk is valid
// UTF-8 and the chunks add up to the returned text.
TEST(Utf8Stream, GenerateStreamsOnlyValidUtf8) {
  const std::string path = test::temp_dir() + "/bytes.gguf";
  auto synth = test::run_nexus("synth --dim 64 --layers 1 --ffn 96 --heads 2 --kv-heads 2 --vocab 300 --seed 3 '" +
                               path + "'");
  ASSERT_EQ(synth.exit_code, 0) << synth.err;
  Result<std::shared_ptr<Model>> model = Model::load(path);
  ASSERT_TRUE(model.ok()) << model.error().message;
  Result<std::unique_ptr<Session>> session = Session::create(*model, 512);
  ASSERT_TRUE(session.ok());
  GenerateOptions opts;
  opts.max_tokens = 400;
  opts.sampling = {.temperature = 2.0f, .top_k = 0, .top_p = 1.0f, .min_p = 0.0f, .seed = 5};
  std::string streamed;
  int chunks = 0;
  Result<std::string> text = generate(**session, "abc", opts, [&](std::string_view piece) {
    EXPECT_TRUE(is_valid_utf8(std::string(piece)));
    streamed += piece;
    ++chunks;
    return true;
  });
  ASSERT_TRUE(text.ok()) << text.error().message;
  EXPECT_TRUE(is_valid_utf8(*text));
  EXPECT_EQ(streamed, *text);
  EXPECT_GT(chunks, 10);
  // The stream did hit broken bytes, which came out as U+FFFD.
  EXPECT_NE(text->find(kFFFD), std::string::npos);
}

}  // namespace
}  // namespace nexus
