// Vocab's text -> id index (an open-addressing table of ids) against a std::map built the
// same way: every text finds its last id, absent texts find -1, whatever the table's load.
#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <random>
#include <string>

#include "tokenizer/vocab.h"

namespace nexus::tokenizer {
namespace {

TEST(VocabIndex, FindsEveryTextAndItsLastIdLikeAMap) {
  std::mt19937 rng(7);
  for (int n : {0, 1, 2, 7, 8, 9, 1000, 40000}) {
    Vocab v;
    std::map<std::string, int32_t> want;
    std::uniform_int_distribution<int> len(0, 6), ch('a', 'd');  // short texts over 4 letters: many repeats
    for (int i = 0; i < n; ++i) {
      std::string s;
      for (int k = len(rng); k > 0; --k) s += static_cast<char>(ch(rng));
      v.tokens.push_back({.text = s});
      want[s] = i;
    }
    v.index();
    for (const auto& [text, id] : want) EXPECT_EQ(v.find(text), id) << "n " << n << " '" << text << "'";
    EXPECT_EQ(v.find("zzzzzzzz"), -1);
    EXPECT_EQ(v.find("abcdabcd"), -1);  // longer than any token
  }
}

// from_gguf builds the same index from the file's strings on a second thread.
TEST(VocabIndex, FromGgufFindsEveryTextAndItsLastId) {
  std::mt19937 rng(11);
  std::uniform_int_distribution<int> len(1, 5), ch('a', 'c');
  std::vector<std::string> texts;
  std::map<std::string, int32_t> want;
  for (int i = 0; i < 5000; ++i) {
    std::string s;
    for (int k = len(rng); k > 0; --k) s += static_cast<char>(ch(rng));
    want[s] = i;
    texts.push_back(std::move(s));
  }
  gguf::Writer w;
  w.set_string("tokenizer.ggml.model", "llama");
  w.set_strings("tokenizer.ggml.tokens", texts);
  const std::string path = testing::TempDir() + "/vocab_index.gguf";
  ASSERT_TRUE(w.write(path).ok());
  Result<gguf::File> f = gguf::File::open(path);
  ASSERT_TRUE(f.ok()) << f.error().message;
  Result<Vocab> v = Vocab::from_gguf(*f);
  ASSERT_TRUE(v.ok()) << v.error().message;
  for (const auto& [text, id] : want) EXPECT_EQ(v->find(text), id) << "'" << text << "'";
  EXPECT_EQ(v->find("dddd"), -1);
  std::remove(path.c_str());
}

TEST(VocabIndex, EmptyUntilIndexed) {
  Vocab v;
  v.tokens.push_back({.text = "a"});
  EXPECT_EQ(v.find("a"), -1);
  v.index();
  EXPECT_EQ(v.find("a"), 0);
}

}  // namespace
}  // namespace nexus::tokenizer
