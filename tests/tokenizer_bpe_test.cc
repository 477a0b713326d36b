// Byte-pair encoding: exact ids against the reference vectors in shared/tokenizer-tests (GGUF
// vocabularies by tokenizer.ggml.pre, and Qwen's tokenizer.json), goldens from the Python
// `tokenizers` library for Llama 3 / Qwen 3 / TinyStories tokenizer.json, the merge algorithm
// on hand-made vocabularies, pre-tokenizer splits, Unicode helpers, tokenizer.json errors and
// `nexus tokenize -m tokenizer.json`.
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <random>

#include "gguf/gguf.h"
#include "test_util.h"
#include "tokenizer/bpe_tokenizer.h"
#include "tokenizer/hf_json.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"
#include "tokenizer/vocab.h"
#include "tokenizer_vectors.h"

namespace nexus {
namespace {

using test::escaped;
using test::join_ids;
using tokenizer::BpeConfig;
using tokenizer::BpeTokenizer;
using tokenizer::PreTokenizer;
using tokenizer::TokenType;
using tokenizer::Vocab;
namespace unicode = tokenizer::unicode;

std::unique_ptr<Tokenizer> load_gguf(const std::string& path) {
  Result<gguf::File> f = gguf::File::open(path);
  EXPECT_TRUE(f.ok()) << path << ": " << (f.ok() ? "" : f.error().message);
  if (!f.ok()) return nullptr;
  Result<std::unique_ptr<Tokenizer>> t = Tokenizer::from_gguf(*f);
  EXPECT_TRUE(t.ok()) << path << ": " << (t.ok() ? "" : t.error().message);
  return t.ok() ? std::move(t).value() : nullptr;
}

std::unique_ptr<Tokenizer> load_json(const std::string& path) {
  Result<std::unique_ptr<Tokenizer>> t = Tokenizer::from_hf_json(test::read_whole_file(path));
  EXPECT_TRUE(t.ok()) << path << ": " << (t.ok() ? "" : t.error().message);
  return t.ok() ? std::move(t).value() : nullptr;
}

// ---- conformance ------------------------------------------------------------------------

struct VectorCase {
  const char* name;       // test name
  const char* vectors;    // shared/tokenizer-tests/ggml-vocab-<vectors>.gguf.{inp,out}
  const char* json;       // tokenizer.json under shared/ instead of the GGUF vocabulary
};

class BpeConformance : public ::testing::TestWithParam<VectorCase> {};

TEST_P(BpeConformance, MatchesReferenceIds) {
  const VectorCase& c = GetParam();
  const std::string base = std::string("tokenizer-tests/ggml-vocab-") + c.vectors + ".gguf";
  const std::string model = c.json ? c.json : base;
  NEXUS_REQUIRE_SHARED(model);
  NEXUS_REQUIRE_SHARED(base + ".inp");
  NEXUS_REQUIRE_SHARED(base + ".out");
  std::unique_ptr<Tokenizer> tok = c.json ? load_json(test::shared_file(model)) : load_gguf(test::shared_file(model));
  ASSERT_TRUE(tok);
  const auto inputs = test::split_vocab_inputs(test::read_whole_file(test::shared_file(base + ".inp")));
  const auto expected = test::parse_vocab_outputs(test::read_whole_file(test::shared_file(base + ".out")));
  ASSERT_EQ(inputs.size(), expected.size());
  ASSERT_GT(inputs.size(), 40u);
  int passed = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const std::vector<int32_t> got = tok->encode(inputs[i], /*add_bos=*/false);
    if (got == expected[i]) ++passed;
    EXPECT_EQ(join_ids(got), join_ids(expected[i])) << "input #" << i << " " << escaped(inputs[i]);
    // Byte-level BPE loses nothing: decoding gives the text back.
    EXPECT_EQ(tok->decode(got), inputs[i]) << "input #" << i << " " << escaped(inputs[i]);
    // Streaming: concatenated decode_token bytes are the same text.
    std::string streamed;
    for (int32_t id : got) streamed += tok->decode_token(id);
    EXPECT_EQ(streamed, inputs[i]) << "input #" << i;
  }
  std::printf("[ conformance ] %s: %d/%zu strings exact\n", c.name, passed, inputs.size());
  EXPECT_EQ(passed, static_cast<int>(inputs.size()));
}

INSTANTIATE_TEST_SUITE_P(Vocabs, BpeConformance,
                         ::testing::Values(VectorCase{"gpt2", "gpt-2", nullptr}, VectorCase{"mpt", "mpt", nullptr},
                                           VectorCase{"refact", "refact", nullptr},
                                           VectorCase{"deepseek_coder", "deepseek-coder", nullptr},
                                           VectorCase{"qwen2_json", "qwen2", "tokenizer-tests/hf-qwen3/tokenizer.json"}),
                         [](const auto& info) { return std::string(info.param.name); });

// ---- goldens from the Python tokenizers library (tools/make_tokenizer_goldens.py) ---------

TEST(BpeGoldens, MatchPythonTokenizers) {
  const std::string path = test::source_dir() + "/tests/data/tokenizer/llama3_cases.json";
  const nlohmann::json cases = nlohmann::json::parse(test::read_whole_file(path), nullptr, false);
  ASSERT_TRUE(cases.is_array()) << path;
  ASSERT_GE(cases.size(), 30u);
  std::map<std::string, std::unique_ptr<Tokenizer>> loaded;
  std::map<std::string, std::pair<int, int>> counts;  // tokenizer -> (passed, total)
  int ran = 0;
  for (const nlohmann::json& c : cases) {
    const std::string rel = c["tokenizer"].get<std::string>();
    if (test::shared_file(rel).empty()) continue;
    auto& tok = loaded[rel];
    if (!tok) {
      const std::string dir = test::shared_file(rel).substr(0, test::shared_file(rel).rfind('/'));
      const std::string config = test::read_whole_file(dir + "/tokenizer_config.json");
      Result<std::unique_ptr<Tokenizer>> t = Tokenizer::from_hf_json(test::read_whole_file(test::shared_file(rel)), config);
      ASSERT_TRUE(t.ok()) << rel << ": " << t.error().message;
      tok = std::move(t).value();
    }
    const std::string text = c["text"].get<std::string>();
    const std::vector<int32_t> want = c["ids"].get<std::vector<int32_t>>();
    // Hugging Face always matches added special tokens in text: parse_special.
    const std::vector<int32_t> got = tok->encode(text, c["add_special"].get<bool>(), /*parse_special=*/true);
    EXPECT_EQ(join_ids(got), join_ids(want)) << rel << " " << escaped(text);
    auto& [passed, total] = counts[rel];
    passed += got == want;
    ++total;
    ++ran;
  }
  if (ran == 0) GTEST_SKIP() << "none of the tokenizer.json files are in ../shared (set NEXUS_SHARED)";
  for (const auto& [rel, pt] : counts) std::printf("[ goldens ] %s: %d/%d exact\n", rel.c_str(), pt.first, pt.second);
}

// ---- behaviour on real vocabularies -----------------------------------------------------

TEST(BpeGpt2, BasicsSpecialTokensAndPartialUtf8) {
  NEXUS_REQUIRE_SHARED("tokenizer-tests/ggml-vocab-gpt-2.gguf");
  auto tok = load_gguf(test::shared_file("tokenizer-tests/ggml-vocab-gpt-2.gguf"));
  ASSERT_TRUE(tok);
  EXPECT_EQ(tok->vocab_size(), 50257);
  EXPECT_EQ(tok->eos(), 50256);
  EXPECT_TRUE(tok->is_end_of_generation(50256));
  EXPECT_EQ(tok->encode("Hello world", false), (std::vector<int32_t>{15496, 995}));
  // GPT-2 does not ask for BOS (no add_bos_token): add_bos changes nothing.
  EXPECT_EQ(tok->encode("Hello world", true), (std::vector<int32_t>{15496, 995}));
  EXPECT_EQ(tok->decode_token(995), " world");
  // <|endoftext|> is one token only with parse_special.
  EXPECT_EQ(tok->encode("a<|endoftext|>b", false, true), (std::vector<int32_t>{64, 50256, 65}));
  EXPECT_GT(tok->encode("a<|endoftext|>b", false, false).size(), 3u);
  EXPECT_EQ(tok->decode_token(50256), "");
  EXPECT_EQ(tok->decode_token(50256, true), "<|endoftext|>");
  EXPECT_EQ(tok->decode_token(-1), "");
  EXPECT_EQ(tok->decode_token(1 << 30), "");
  // A 4-byte emoji is several tokens, each carrying part of its UTF-8; together they are whole.
  const std::string emoji = "\xF0\x9F\xA6\x99";
  const std::vector<int32_t> ids = tok->encode(emoji, false);
  ASSERT_GT(ids.size(), 1u);
  std::string bytes;
  for (int32_t id : ids) {
    const std::string piece = tok->decode_token(id);
    EXPECT_LT(piece.size(), emoji.size());
    bytes += piece;
  }
  EXPECT_EQ(bytes, emoji);
  // Invalid UTF-8 survives the round trip byte for byte.
  const std::string junk = "ok \xFF\xFE\x80 x\xC3";
  EXPECT_EQ(tok->decode(tok->encode(junk, false)), junk);
  EXPECT_TRUE(tok->encode("", false).empty());
}

TEST(BpeMpt, UserDefinedSpaceRunsAreAlwaysWhole) {
  NEXUS_REQUIRE_SHARED("tokenizer-tests/ggml-vocab-mpt.gguf");
  auto tok = load_gguf(test::shared_file("tokenizer-tests/ggml-vocab-mpt.gguf"));
  ASSERT_TRUE(tok);
  // 50276 is the user-defined token "  " (two spaces): matched even without parse_special.
  const std::vector<int32_t> ids = tok->encode("a  b", false, false);
  EXPECT_NE(std::find(ids.begin(), ids.end(), 50276), ids.end()) << join_ids(ids);
  EXPECT_EQ(tok->decode(ids), "a  b");
}

TEST(BpeDeepseekCoder, AddsBosWhenAsked) {
  NEXUS_REQUIRE_SHARED("tokenizer-tests/ggml-vocab-deepseek-coder.gguf");
  auto tok = load_gguf(test::shared_file("tokenizer-tests/ggml-vocab-deepseek-coder.gguf"));
  ASSERT_TRUE(tok);
  EXPECT_EQ(tok->bos(), 32013);
  const std::vector<int32_t> ids = tok->encode("Hello", true);
  ASSERT_FALSE(ids.empty());
  EXPECT_EQ(ids[0], 32013);
  EXPECT_EQ(tok->encode("Hello", false), std::vector<int32_t>(ids.begin() + 1, ids.end()));
  // deepseek-coder splits digits one by one.
  EXPECT_EQ(tok->encode("123", false).size(), 3u);
}

TEST(BpeLlama3Json, DigitsInThreesAndSpecialTokens) {
  NEXUS_REQUIRE_SHARED("tokenizer-tests/hf-llama3/tokenizer.json");
  auto tok = load_json(test::shared_file("tokenizer-tests/hf-llama3/tokenizer.json"));
  ASSERT_TRUE(tok);
  EXPECT_EQ(tok->vocab_size(), 128256);
  EXPECT_EQ(tok->encode("12345", false), (std::vector<int32_t>{4513, 1774}));  // "123" "45"
  EXPECT_EQ(tok->encode("<|begin_of_text|>", false, true), std::vector<int32_t>{128000});
  EXPECT_GT(tok->encode("<|begin_of_text|>", false, false).size(), 1u);
  EXPECT_TRUE(tok->is_end_of_generation(128009));  // <|eot_id|>
  const std::string text = "Grüße, 世界! \n\n  x";
  EXPECT_EQ(tok->decode(tok->encode(text, false)), text);
}

TEST(BpeTinyStoriesJson, ByteFallbackSentencePieceStyle) {
  NEXUS_REQUIRE_SHARED("models/TinyStories-656K/tokenizer.json");
  auto tok = load_json(test::shared_file("models/TinyStories-656K/tokenizer.json"));
  ASSERT_TRUE(tok);
  EXPECT_EQ(tok->bos(), 1);
  EXPECT_EQ(tok->encode("Once upon a time", true), (std::vector<int32_t>{1, 80, 147, 201, 282, 57}));
  // Normalised with a "▁" in front; decode takes that space off again.
  const std::string story = "Once upon a time, there was a little girl named Lily.";
  EXPECT_EQ(tok->decode(tok->encode(story, true)), story);
  EXPECT_EQ(tok->decode_token(80), " ");  // "▁"
  // byte_fallback is set but this vocabulary has no <0xAB> tokens: characters it lacks are
  // <unk> (id 0), as in the reference.
  EXPECT_EQ(tok->encode("Zoë 🦙", false), (std::vector<int32_t>{80, 51, 67, 0, 80, 0}));
}

// ---- merge algorithm on hand-made vocabularies -------------------------------------------

std::unique_ptr<Tokenizer> tiny(std::vector<std::pair<std::string, std::string>> merges, bool ignore_merges = false) {
  Vocab v;
  v.model = "bpe";
  v.add_bos = false;
  for (const char* t : {"a", "b", "c", "ab", "bc", "abc", "aa", "aaa", "<s>"}) v.tokens.push_back({t});
  v.tokens.back().type = TokenType::kControl;
  v.bos_id = 8;
  v.index();
  BpeConfig cfg;
  cfg.merges = std::move(merges);
  cfg.ignore_merges = ignore_merges;
  return std::make_unique<BpeTokenizer>(std::move(v), std::move(cfg));
}

TEST(BpeMerge, LowestRankFirst) {
  EXPECT_EQ(tiny({{"b", "c"}, {"a", "b"}})->encode("abc", false), (std::vector<int32_t>{0, 4}));  // a bc
  EXPECT_EQ(tiny({{"a", "b"}, {"b", "c"}})->encode("abc", false), (std::vector<int32_t>{3, 2}));  // ab c
  EXPECT_EQ(tiny({{"a", "b"}, {"b", "c"}, {"ab", "c"}})->encode("abc", false), std::vector<int32_t>{5});
  // Equal candidates: the leftmost pair merges first.
  EXPECT_EQ(tiny({{"a", "a"}})->encode("aaa", false), (std::vector<int32_t>{6, 0}));
  EXPECT_EQ(tiny({{"a", "a"}})->encode("aaaa", false), (std::vector<int32_t>{6, 6}));
  // Merges naming unknown tokens are skipped; no merges leaves characters.
  EXPECT_EQ(tiny({{"x", "y"}})->encode("cab", false), (std::vector<int32_t>{2, 0, 1}));
  // ignore_merges: a piece that is a token is taken whole even with no merge path to it.
  EXPECT_EQ(tiny({}, true)->encode("aaa", false), std::vector<int32_t>{7});
  EXPECT_EQ(tiny({})->encode("aaa", false), (std::vector<int32_t>{0, 0, 0}));
  EXPECT_EQ(tiny({})->encode("a<s>b", false, true), (std::vector<int32_t>{0, 8, 1}));
}

TEST(BpeMerge, LongInputIsNotQuadratic) {
  std::vector<std::pair<std::string, std::string>> merges = {{"a", "a"}, {"aa", "a"}, {"b", "c"}};
  auto tok = tiny(merges);
  std::string text;
  std::mt19937 rng(7);
  for (int i = 0; i < 400000; ++i) text += "abc"[rng() % 3];
  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<int32_t> ids = tok->encode(text, false);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(s, 3.0);
  EXPECT_EQ(tok->decode(ids), text);
}

TEST(HfJson, ByteFallbackToByteTokens) {
  const char* json = R"({
    "model": {"type": "BPE", "byte_fallback": true, "unk_token": "<unk>",
              "vocab": {"<unk>": 0, "<0xC3>": 1, "<0xAB>": 2, "\u2581": 3, "a": 4, "\u2581a": 5},
              "merges": ["\u2581 a"]},
    "normalizer": {"type": "Sequence", "normalizers": [
        {"type": "Prepend", "prepend": "\u2581"}, {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
    "decoder": {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
        {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}
  })";
  Result<std::unique_ptr<Tokenizer>> t = Tokenizer::from_hf_json(json);
  ASSERT_TRUE(t.ok()) << t.error().message;
  const Tokenizer& tok = **t;
  // "ë" is C3 AB: no token, so its two byte tokens; "x" has neither: unk.
  EXPECT_EQ(tok.encode("a ëx", false), (std::vector<int32_t>{5, 3, 1, 2, 0}));
  EXPECT_EQ(tok.decode(std::vector<int32_t>{5, 3, 1, 2}), "a ë");
  EXPECT_EQ(tok.decode_token(1), "\xC3");  // half a character: streaming callers join bytes
}

// ---- pre-tokenizers ----------------------------------------------------------------------

std::vector<std::string> pieces(const PreTokenizer& p, std::string_view text) {
  std::vector<std::string> out;
  for (const std::string& s : p.split(text, true)) out.push_back(unicode::byte_level_to_bytes(s));
  return out;
}

using Pieces = std::vector<std::string>;

TEST(PreTokenizer, GgufPresetsSplitDigitsExactly) {
  auto gpt2 = PreTokenizer::for_gguf("gpt-2");
  ASSERT_TRUE(gpt2.ok());
  EXPECT_EQ(pieces(*gpt2, "Hello world's 12345  x"), (Pieces{"Hello", " world", "'s", " 12345", " ", " x"}));
  auto llama3 = PreTokenizer::for_gguf("llama-bpe");
  ASSERT_TRUE(llama3.ok());
  EXPECT_EQ(pieces(*llama3, "I'LL 12345!\n\n"), (Pieces{"I", "'LL", " ", "123", "45", "!\n\n"}));
  auto qwen2 = PreTokenizer::for_gguf("qwen2");
  ASSERT_TRUE(qwen2.ok());
  EXPECT_EQ(pieces(*qwen2, "x 123"), (Pieces{"x", " ", "1", "2", "3"}));
  auto coder = PreTokenizer::for_gguf("deepseek-coder");
  ASSERT_TRUE(coder.ok());
  EXPECT_EQ(pieces(*coder, "ab 12\n"), (Pieces{"ab", " ", "1", "2", "\n"}));
  auto refact = PreTokenizer::for_gguf("refact");
  ASSERT_TRUE(refact.ok());
  EXPECT_EQ(pieces(*refact, "v 42"), (Pieces{"v", " ", "4", "2"}));
  auto llm = PreTokenizer::for_gguf("deepseek-llm");
  ASSERT_TRUE(llm.ok());
  EXPECT_EQ(pieces(*llm, "Hi 2024"), (Pieces{"Hi", " ", "2024"}));
  auto falcon = PreTokenizer::for_gguf("falcon");
  ASSERT_TRUE(falcon.ok());
  EXPECT_EQ(pieces(*falcon, "a 1234567"), (Pieces{"a", " ", "123", "456", "7"}));
  for (const char* name : {"", "default", "mpt", "starcoder", "gpt-neox", "olmo", "jais", "llama3", "dbrx", "smaug-bpe",
                           "stablelm2", "command-r", "smollm", "codeshell"}) {
    auto p = PreTokenizer::for_gguf(name);
    EXPECT_TRUE(p.ok()) << name << ": " << (p.ok() ? "" : p.error().message);
  }
  EXPECT_FALSE(PreTokenizer::for_gguf("no-such-pre").ok());
}

TEST(PreTokenizer, SplitBehaviours) {
  auto run = [](tokenizer::SplitBehavior b) {
    PreTokenizer p;
    EXPECT_TRUE(p.add_split("-", true, b, false).ok());
    return p.split("the-final--countdown", true);
  };
  using B = tokenizer::SplitBehavior;
  EXPECT_EQ(run(B::kIsolated), (Pieces{"the", "-", "final", "-", "-", "countdown"}));
  EXPECT_EQ(run(B::kRemoved), (Pieces{"the", "final", "countdown"}));
  EXPECT_EQ(run(B::kMergedWithPrevious), (Pieces{"the-", "final-", "-", "countdown"}));
  EXPECT_EQ(run(B::kMergedWithNext), (Pieces{"the", "-final", "-", "-countdown"}));
  EXPECT_EQ(run(B::kContiguous), (Pieces{"the", "-", "final", "--", "countdown"}));
  PreTokenizer meta;
  ASSERT_TRUE(meta.add_metaspace("\xE2\x96\x81", tokenizer::PrependScheme::kAlways, true).ok());
  EXPECT_EQ(meta.split("Hi there", true), (Pieces{"\xE2\x96\x81Hi", "\xE2\x96\x81there"}));
  PreTokenizer bad;
  EXPECT_FALSE(bad.add_split("(unclosed", false, B::kIsolated, false).ok());
}

// ---- Unicode helpers ---------------------------------------------------------------------

TEST(Unicode, ByteLevelMapping) {
  EXPECT_EQ(unicode::byte_to_text(' '), "\xC4\xA0");   // Ġ
  EXPECT_EQ(unicode::byte_to_text('\n'), "\xC4\x8A");  // Ċ
  EXPECT_EQ(unicode::byte_to_text('A'), "A");
  std::string all;
  for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
  EXPECT_EQ(unicode::byte_level_to_bytes(unicode::bytes_to_byte_level(all)), all);
  for (int b = 0; b < 256; ++b) {
    size_t off = 0;
    const std::string_view t = unicode::byte_to_text(static_cast<uint8_t>(b));
    EXPECT_EQ(unicode::byte_of_code_point(unicode::next_code_point(t, off)), b);
  }
}

TEST(Unicode, NfcAndLowercase) {
  EXPECT_EQ(unicode::nfc("e\xCC\x81"), "\xC3\xA9");                       // e + U+0301 -> é
  EXPECT_EQ(unicode::nfc("\xE1\x84\x80\xE1\x85\xA1"), "\xEA\xB0\x80");    // Hangul jamo -> 가
  EXPECT_EQ(unicode::nfc("a\xCC\xA3\xCC\x87"), "\xE1\xBA\xA1\xCC\x87");  // canonical order, then compose
  EXPECT_EQ(unicode::nfc("plain ascii"), "plain ascii");
  EXPECT_EQ(unicode::nfc("bad \xFF byte"), "bad \xFF byte");
  EXPECT_EQ(unicode::lowercase("ÀBÇ ΣΑ Ж x"), "àbç σα ж x");
}

// ---- tokenizer.json errors ---------------------------------------------------------------

TEST(HfJson, RejectsBadInputWithClearErrors) {
  const std::pair<const char*, const char*> cases[] = {
      {"", "not valid JSON"},
      {"[1,2", "not valid JSON"},
      {"[]", "not a JSON object"},
      {"{}", "missing object 'model'"},
      {R"({"model":{"type":"Unigram","vocab":[]}})", "Unigram"},
      {R"({"model":{"type":"BPE","vocab":{"a":"x"}}})", "not an integer id"},
      {R"({"model":{"type":"BPE","vocab":{"a":99999999999}}})", "out of range"},
      {R"({"model":{"type":"BPE","vocab":{"a":0},"merges":[1]}})", "merges entry"},
      {R"({"model":{"type":"BPE","vocab":{"a":0},"merges":"ab"}})", "not an array"},
      {R"({"model":{"type":"BPE","vocab":{"a":0}},"added_tokens":[{"id":"1"}]})", "added_tokens"},
      {R"({"model":{"type":"BPE","vocab":{"a":0}},"normalizer":{"type":"NFKC"}})", "NFKC"},
      {R"({"model":{"type":"BPE","vocab":{"a":0}},"pre_tokenizer":{"type":"Split","pattern":{"Regex":"(("}}})", "bad regex"},
      {R"({"model":{"type":"BPE","vocab":{"a":0}},"pre_tokenizer":{"type":"Bert"}})", "Bert"},
      {R"({"model":{"type":"BPE","vocab":{}}})", "empty vocabulary"},
  };
  for (const auto& [json, want] : cases) {
    Result<std::unique_ptr<Tokenizer>> t = Tokenizer::from_hf_json(json);
    ASSERT_FALSE(t.ok()) << json;
    EXPECT_NE(t.error().message.find(want), std::string::npos) << json << " -> " << t.error().message;
    EXPECT_EQ(t.error().message.find('\n'), std::string::npos);
  }
  std::string deep(100000, '[');
  EXPECT_FALSE(Tokenizer::from_hf_json(deep).ok());
  EXPECT_FALSE(Tokenizer::from_hf_json("{\"model\":{}}", "{oops").ok());
}

TEST(HfJson, MinimalByteLevelAndPairMerges) {
  const char* json = R"({
    "model": {"type": "BPE", "vocab": {"h": 0, "i": 1, "hi": 2, "\u0120": 3, "\u0120hi": 4},
              "merges": [["h", "i"], ["\u0120", "hi"]]},
    "added_tokens": [{"id": 5, "content": "<eos>", "special": true}],
    "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true}
  })";
  Result<std::unique_ptr<Tokenizer>> t = Tokenizer::from_hf_json(json);
  ASSERT_TRUE(t.ok()) << t.error().message;
  const Tokenizer& tok = **t;
  EXPECT_EQ(tok.encode("hi hi", false), (std::vector<int32_t>{2, 4}));
  EXPECT_EQ(tok.encode("hi<eos>", false, true), (std::vector<int32_t>{2, 5}));
  EXPECT_EQ(tok.eos(), 5);
  EXPECT_EQ(tok.decode(std::vector<int32_t>{2, 4, 5}), "hi hi");
}

// ---- CLI ---------------------------------------------------------------------------------

TEST(TokenizeCli, ReadsTokenizerJson) {
  NEXUS_REQUIRE_SHARED("models/TinyStories-656K/tokenizer.json");
  const test::CommandResult r =
      test::run_nexus("tokenize -m '" + test::shared_file("models/TinyStories-656K/tokenizer.json") + "' -p 'Once upon a time'");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "1 80 147 201 282 57\n");
  const std::string dir = test::temp_dir();
  {
    std::ofstream(dir + "/tokenizer.json") << "{\"model\": 3}";
  }
  const test::CommandResult bad = test::run_nexus("tokenize -m '" + dir + "/tokenizer.json' -p x");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("missing object 'model'"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace nexus
