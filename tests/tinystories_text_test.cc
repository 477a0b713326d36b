// End to end on the real TinyStories-656K checkpoint: Hugging Face safetensors ->
// `nexus convert` -> greedy generation from BOS, decoded by the converted tokenizer.
// The token ids are checked against transformers in golden_test; this checks the text.
#include <gtest/gtest.h>

#include "test_util.h"

namespace nexus::test {
namespace {

TEST(TinyStoriesText, GreedyFromBosMatchesReferenceText) {
  NEXUS_REQUIRE_SHARED("models/TinyStories-656K/config.json");
  const std::string out = temp_dir() + "/ts656.gguf";
  CommandResult conv = run_nexus("convert '" + shared_file("models/TinyStories-656K") + "' '" + out + "'");
  ASSERT_EQ(conv.exit_code, 0) << conv.err;
  // An empty prompt is BOS alone, so this is greedy generation from BOS.
  CommandResult run = run_nexus("run -m '" + out + "' -p '' -n 30 --temp 0");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const std::string expected =
      "Once upon a time, there was a little girl named Lily. She had a toy car that she loved very much";
  EXPECT_EQ(run.out.substr(0, expected.size()), expected) << run.out;
}

}  // namespace
}  // namespace nexus::test
