// `nexus run` end to end: the stories260K golden continuation and one-line errors.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "test_util.h"

namespace nexus {
namespace {

using nexus::test::run_nexus;
using nexus::test::shared_file;

constexpr const char* kStories = "models/stories260K.gguf";

// Shell-quoted path of stories260K.
std::string stories() {
  std::string quoted = "'";
  quoted += shared_file(kStories);
  quoted += "'";
  return quoted;
}

int count_lines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

TEST(RunCli, GreedyStoriesContinuation) {
  NEXUS_REQUIRE_SHARED(kStories);
  auto r = run_nexus("run -m " + stories() + " -p 'Once upon a time' -n 40 --temp 0");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind(", there was a little girl named Lily. She loved to play outside in the park.", 0), 0u)
      << r.out;
  EXPECT_EQ(r.out.find("Once upon a time"), std::string::npos);  // completion only
  ASSERT_FALSE(r.out.empty());
  EXPECT_EQ(r.out.back(), '\n');
  EXPECT_NE(r.err.find("prompt: 5 tokens"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("generated: 40 tokens"), std::string::npos) << r.err;
}

TEST(RunCli, ThreadsAndSeedAreDeterministic) {
  NEXUS_REQUIRE_SHARED(kStories);
  auto a = run_nexus("run -m " + stories() + " -p 'Once upon a time' -n 30 --seed 42 -t 1");
  auto b = run_nexus("run -m " + stories() + " -p 'Once upon a time' -n 30 --seed 42 -t 2");
  ASSERT_EQ(a.exit_code, 0) << a.err;
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_EQ(a.out, b.out);
}

TEST(RunCli, StopStringIsNotPrinted) {
  NEXUS_REQUIRE_SHARED(kStories);
  auto r = run_nexus("run -m " + stories() + " -p 'Once upon a time' -n 40 --temp 0 --stop Lily");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, ", there was a little girl named \n");
}

TEST(RunCli, PromptLongerThanContextIsAnError) {
  NEXUS_REQUIRE_SHARED(kStories);
  auto r = run_nexus("run -m " + stories() + " -p 'Once upon a time there was a girl' -c 4 --temp 0");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err.rfind("nexus: error: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find("context holds 4"), std::string::npos) << r.err;
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
}

TEST(RunCli, MissingAndCorruptFilesAreOneLineErrors) {
  auto r = run_nexus("run -m /nonexistent/x.gguf -p hi");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err.rfind("nexus: error: ", 0), 0u) << r.err;
  EXPECT_EQ(count_lines(r.err), 1) << r.err;

  const std::string bad = nexus::test::temp_dir() + "/bad.gguf";
  std::ofstream(bad, std::ios::binary) << "GGUF\x03\0\0\0garbage";
  auto c = run_nexus("run -m '" + bad + "' -p hi");
  EXPECT_EQ(c.exit_code, 1);
  EXPECT_EQ(c.err.rfind("nexus: error: ", 0), 0u) << c.err;
  EXPECT_EQ(count_lines(c.err), 1) << c.err;
}

}  // namespace
}  // namespace nexus
